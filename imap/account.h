/*
 * imap/account.h — what an account is, beyond its folders: the personal
 * namespace, the quota of INBOX, the server's ID answer, the APPENDLIMIT.
 *
 * Cost: the capabilities are the session's own (no command); NAMESPACE,
 * GETQUOTAROOT INBOX and ID go pipelined in one round trip, each only when
 * the server offers its extension; the special-use folders come from one
 * LIST (imap_folders_list, so the names serve where no attribute does).
 */
#ifndef IMAPGW_IMAP_ACCOUNT_H
#define IMAPGW_IMAP_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/folders.h"

#define IMAP_ACCOUNT_ID_MAX 32  /* ID fields kept */

struct imap_quota {
	char *root;                 /* the quota root, as the server names it */
	bool has_storage, has_messages;
	uint64_t storage_used, storage_limit;   /* bytes (STORAGE is in units of 1024) */
	uint64_t messages_used, messages_limit;
};

struct imap_account {
	bool has_namespace;          /* the server answered NAMESPACE */
	char *prefix;                /* personal namespace prefix ("" or "INBOX.") */
	char delimiter;              /* its hierarchy delimiter, '\0' when flat */
	bool has_quota;              /* quota below is filled (the server has a root for INBOX) */
	struct imap_quota quota;
	bool has_id;                 /* the server answered ID */
	char *id[IMAP_ACCOUNT_ID_MAX][2]; /* field, value (value NULL for NIL) */
	size_t nid;
	bool has_append_limit;       /* APPENDLIMIT=n offered */
	uint64_t append_limit;
	struct imap_folder_list folders; /* all folders, special use marked */
};

/* Fill *out (free with imap_account_free). Returns 0 or an error as
 * imap_session_run; a NO to one of the optional commands leaves its part
 * empty instead. */
int imap_account_get(struct imap_session *s, int64_t deadline, struct imap_account *out,
                     struct imap_error *err);

void imap_account_free(struct imap_account *a);

#endif
