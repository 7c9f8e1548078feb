/*
 * imap/multisearch.h — one search over many folders (RFC 7377 MULTISEARCH).
 *
 *   C: A5 ESEARCH IN (mailboxes ("INBOX" "Projects/&ZeVnLIqe-")) RETURN (ALL) SUBJECT "x"
 *   S: * ESEARCH (TAG "A5" MAILBOX "INBOX" UIDVALIDITY 7) UID ALL 3:5,9
 *   S: A5 OK done
 *
 * One answer per folder that has matches (a folder without any may get none).
 * The answers are checked, not believed: one for a folder not asked for is
 * dropped; a second answer for a folder, or one without MAILBOX, fails the
 * command (IMAP_ERR_PROTOCOL); one without UIDVALIDITY leaves the folder's
 * uidvalidity 0 (its UIDs cannot be trusted later); more UIDs in all than
 * the caller allows fail with IMAP_ERR_LIMIT. Every failure leaves the
 * session usable.
 */
#ifndef IMAPGW_IMAP_MULTISEARCH_H
#define IMAPGW_IMAP_MULTISEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/command.h"
#include "imap/messages.h"

/* What the server answered for one of the folders asked. */
struct imap_multi_folder {
	bool answered;         /* an ESEARCH response named it */
	uint32_t uidvalidity;  /* from that response (0: none given) */
	uint32_t *uids;        /* its ALL set, in the order written */
	size_t n;
};

struct imap_multi {
	struct imap_multi_folder *v;  /* one per folder asked, in that order */
	size_t n;
	size_t total;                 /* UIDs in all */
	size_t foreign;               /* answers for folders not asked (dropped) */
};

/* Append "ESEARCH IN (mailboxes (...)) RETURN (ALL) <f's search program>"
 * to c, which holds just its tag: each of the n UTF-8 folder paths as a
 * mailbox name (quoted; modified UTF-7 unless UTF8=ACCEPT is on). */
void imap_multisearch_cmd(struct imap_cmd *c, const char *const *folders, size_t n,
                          const struct imap_filter *f);

/* The parsing of the untagged responses of one such command, apart from a
 * session (for tests): folders as asked, the command's tag, whether
 * mailbox names are UTF-8 (else modified UTF-7), the most UIDs kept. */
struct imap_multi_parse {
	const char *const *folders;
	size_t nfolders;
	const char *tag;
	bool utf8;
	size_t max_uids;
	struct imap_multi *out;   /* out->v has nfolders zeroed entries */
};
int imap_multisearch_on_response(void *ctx, const struct imap_response *r);

/* Search the n folders for f in one command (the server must offer
 * MULTISEARCH). Fills *out (free with imap_multi_free) or returns an error
 * as imap_session_run, or the ones above. */
int imap_multisearch(struct imap_session *s, const char *const *folders, size_t n,
                     const struct imap_filter *f, size_t max_uids, int64_t deadline,
                     struct imap_multi *out, struct imap_error *err);

void imap_multi_free(struct imap_multi *m);

#endif
