/*
 * imap/folders.h — the mailbox list of an IMAP account.
 */
#ifndef IMAPGW_IMAP_FOLDERS_H
#define IMAPGW_IMAP_FOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"

struct imap_folder {
	char *path;              /* full name in UTF-8 ("Archive/2024", "Données") */
	char *raw;               /* the name as the server spells it on the wire */
	char delimiter;          /* hierarchy delimiter, '\0' when the server has none */
	char **attrs;            /* LIST attributes as sent, e.g. "\\HasNoChildren"
	                            (\\Subscribed is in `subscribed` instead;
	                            \\Marked and \\Unmarked are left out) */
	size_t nattrs;
	const char *special_use; /* "\\Sent", "\\Trash", ... (static) or NULL */
	bool subscribed;
	bool selectable;
	bool has_status;         /* the four counts below are filled */
	uint32_t messages, unseen, uidnext, uidvalidity;
	uint64_t highestmodseq;  /* with CONDSTORE enabled; 0 when not known */
};

struct imap_folder_list {
	struct imap_folder *v;   /* sorted: INBOX first, then by path */
	size_t n;
};

/* List the folders matching `name` (UTF-8; NULL lists all of them; a name
 * lists that folder alone, wildcards in it taken literally), with their
 * counts when `counts`: one LIST ... RETURN (... STATUS ...) round trip when
 * the server offers LIST-STATUS, else LIST and LSUB pipelined and then the
 * STATUS commands pipelined. Special use comes from LIST attributes, else
 * (when the server marks none) from the usual names (Sent, Trash, Junk,
 * Spam, Drafts, Archive, "Sent Items", "Deleted Items" ...). Returns 0 and
 * fills *out (caller frees with imap_folder_list_free), or an error. */
int imap_folders_list(struct imap_session *s, const char *name, bool counts, int64_t deadline,
                      struct imap_folder_list *out, struct imap_error *err);

void imap_folder_list_free(struct imap_folder_list *l);

/* The folder's last path segment (borrowed from f->path). */
const char *imap_folder_name(const struct imap_folder *f);

/* Set f's counts from the item list of a STATUS response ("(MESSAGES 3
 * UIDVALIDITY 7)": MESSAGES, UNSEEN, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ; others are
 * ignored); has_status once any of them was read. */
void imap_folder_status_apply(struct imap_folder *f, const struct imap_value *items);

/* STATUS of the folder `path` (UTF-8) asking for `items` (a parenthesised
 * list of the four above, e.g. "(UIDNEXT UIDVALIDITY)") into out's counts
 * (out is zeroed first; only the counts are set). Returns 0;
 * IMAP_ERR_INVALID when the server refuses the name as a name
 * (imap_session_name_refused); IMAP_ERR_NOT_FOUND when it refuses otherwise
 * (no such folder: err says so); other errors as imap_session_run. */
int imap_folder_status(struct imap_session *s, const char *path, const char *items,
                       struct imap_folder *out, int64_t deadline, struct imap_error *err);

#endif
