/*
 * imap/write.h — changing messages: flags, copy and move, deletion, append.
 *
 * Every operation touches exactly the messages the caller names, by UID,
 * and reports the state the server reports afterwards. The rules that keep
 * mail from being lost, whatever the server offers:
 *
 *   - A write selects its folder read-write (SELECT; an EXAMINEd selection
 *     is replaced) and, when the caller gives the UIDVALIDITY it holds,
 *     compares it with the SELECT answer before anything that changes state
 *     is sent: a mismatch is IMAP_ERR_STALE and nothing changes.
 *   - Messages are removed only by UID MOVE (RFC 6851) or by
 *     "UID EXPUNGE <the UIDs we flagged>" (UIDPLUS, RFC 4315). A plain
 *     EXPUNGE is never sent: it would also remove every other message that
 *     carries \Deleted, flagged by other clients. When neither MOVE nor
 *     UIDPLUS is offered, a move or a permanent delete is refused with
 *     IMAP_ERR_REFUSED before anything changes (a copy still works).
 *   - Without MOVE a move is COPY, then \Deleted and UID EXPUNGE of the
 *     UIDs the server reports copied (COPYUID), or found in the target by
 *     Message-ID. A message whose copy cannot be confirmed stays where it
 *     was: a duplicate is possible after a failure, a loss is not.
 *   - Nothing here retries. In particular an APPEND whose answer was lost
 *     may or may not have stored the message; the caller must not send it
 *     again blindly (the API layer runs writes with idempotent = false).
 *
 * New UIDs come from COPYUID / APPENDUID (UIDPLUS; not believed from a
 * server whose UIDPLUS is treated as not offered). When the server gives
 * none they are looked up in the target folder by Message-ID among the
 * UIDs at or above the folder's UIDNEXT from before the operation (0 when
 * the message has no Message-ID or is not found: unknown, not an error).
 *
 * All functions block on the session (one thread at a time, as ever), take
 * an absolute deadline, and return 0 or an imap_err with *err filled:
 * IMAP_ERR_NOT_FOUND (no such folder; the target folder of a copy, move or
 * append: NO [TRYCREATE] / [NONEXISTENT]), IMAP_ERR_STALE, IMAP_ERR_REFUSED,
 * IMAP_ERR_INVALID (an argument that cannot be sent: a bad flag, NUL in a
 * message), IMAP_ERR_NO / IMAP_ERR_BAD (the server refused; err->imap_code
 * has its response code, e.g. OVERQUOTA), or a transport error. UIDs that do
 * not exist are not an error: results say which were found.
 */
#ifndef IMAPGW_IMAP_WRITE_H
#define IMAPGW_IMAP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"

#define IMAP_FLAG_MAX 128          /* bytes of one flag or keyword */
#define IMAP_INTERNALDATE_MAX 32   /* buffer for "17-Jul-1996 02:44:25 -0700" */

/*
 * Check one flag a client wants stored: a system flag (RFC 3501 §2.3.2)
 * \Seen \Answered \Flagged \Deleted \Draft in any case, or a keyword
 *
 *   flag-keyword = atom            ; 1*ATOM-CHAR, 7-bit, none of
 *                                  ; ( ) { SP CTL % * " \ ]
 *
 * of at most IMAP_FLAG_MAX bytes. \Recent (server-managed), \* and any
 * other backslash word are refused. Returns 0 and sets *canonical (may be
 * NULL) to the spelling to send: the static RFC spelling of a system flag,
 * else `flag` itself; or IMAP_ERR_INVALID.
 */
int imap_flag_check(const char *flag, const char **canonical);

/* A message reference: the folder (UTF-8) and the UIDVALIDITY the caller
 * holds for it (0: not checked). */
struct imap_ref {
	const char *folder;
	uint32_t uidvalidity;
};

/* ---- flags ---- */

struct imap_msg_flags {
	uint32_t uid;
	bool found;      /* the message exists (the server reported its flags) */
	char **flags;    /* as the server reported them, \Recent left out */
	size_t nflags;
};

struct imap_flags_result {
	uint32_t uidvalidity;
	struct imap_msg_flags *v;  /* one per distinct UID asked for, ascending */
	size_t n;
};

void imap_flags_result_free(struct imap_flags_result *r);

/* The flags of uids[0..n) (n >= 1; duplicates collapse): one UID FETCH
 * (FLAGS) on the folder, selected read-only unless it is selected already.
 * Fills *out (free with imap_flags_result_free, also after a failure). */
int imap_flags_get(struct imap_session *s, const struct imap_ref *ref, const uint32_t *uids,
                   size_t n, int64_t deadline, struct imap_flags_result *out,
                   struct imap_error *err);

/* What to store. replace: the flags become exactly set[0..nset) (an empty
 * list clears them); otherwise add[] are added and remove[] removed (a flag
 * in both is the caller's mistake: IMAP_ERR_INVALID). Every flag must pass
 * imap_flag_check. */
struct imap_store {
	bool replace;
	const char *const *set;
	size_t nset;
	const char *const *add;
	size_t nadd;
	const char *const *remove;
	size_t nremove;
};

/* Store flags on uids[0..n) of ref's folder, then read them back: every
 * flag is checked first (nothing is sent for a bad one), the folder is
 * selected read-write and its UIDVALIDITY checked, then
 * UID STORE <uids> FLAGS.SILENT / +FLAGS.SILENT / -FLAGS.SILENT (...)
 * (one command per kind of change; each is atomic on the server, so
 * concurrent changes of other flags are kept) and one UID FETCH (FLAGS).
 * A UID the FETCH does not report does not exist (found = false): STORE on
 * a missing UID is answered OK and changes nothing. */
int imap_flags_store(struct imap_session *s, const struct imap_ref *ref, const uint32_t *uids,
                     size_t n, const struct imap_store *st, int64_t deadline,
                     struct imap_flags_result *out, struct imap_error *err);

/* ---- copy and move ---- */

struct imap_transferred {
	uint32_t uid;      /* in the source folder */
	bool found;        /* it existed and was copied (moved) */
	uint32_t new_uid;  /* in the target folder; 0 when not known */
};

struct imap_transfer_result {
	uint32_t uidvalidity;           /* the target folder's; 0 when not known */
	struct imap_transferred *v;     /* one per distinct UID asked for, ascending */
	size_t n;
};

void imap_transfer_result_free(struct imap_transfer_result *r);

/*
 * Copy (move = false) or move uids[0..n) of ref's folder to `to` (UTF-8,
 * another folder for a move). In order:
 *   1. a move on a server with neither MOVE nor UIDPLUS: IMAP_ERR_REFUSED,
 *      nothing sent;
 *   2. select the source (read-write for a move) and check UIDVALIDITY;
 *   3. UID FETCH (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]): which UIDs
 *      exist (none: done, nothing sent), and their Message-IDs for finding
 *      the copies when the server gives no COPYUID; without UIDPLUS also
 *      STATUS of the target (UIDNEXT UIDVALIDITY) to bound that search;
 *   4. UID MOVE, or UID COPY (+ UID STORE +FLAGS.SILENT (\Deleted) and
 *      UID EXPUNGE of exactly the UIDs whose copies are confirmed, for a
 *      move without MOVE). An unknown target is IMAP_ERR_NOT_FOUND and
 *      nothing changed.
 * Fills *out (free with imap_transfer_result_free, also after a failure).
 */
int imap_messages_transfer(struct imap_session *s, const struct imap_ref *ref,
                           const uint32_t *uids, size_t n, const char *to, bool move,
                           int64_t deadline, struct imap_transfer_result *out,
                           struct imap_error *err);

/* ---- delete ---- */

struct imap_delete_result {
	bool found;          /* the message existed */
	bool moved;          /* it went to the Trash folder (else: expunged) */
	char *trash;         /* the Trash folder's path (UTF-8) when moved; caller frees */
	uint32_t new_uid;    /* its UID there, 0 when not known */
	uint32_t uidvalidity;/* the Trash folder's, 0 when not known */
};

void imap_delete_result_free(struct imap_delete_result *r);

/*
 * Delete message `uid` of ref's folder. Unless `permanent`, it is moved to
 * the Trash folder (special use \Trash, else the usual names: see
 * imap/folders.h); when the folder is that Trash folder already, or when
 * `permanent`, it is flagged \Deleted and expunged alone with
 * UID EXPUNGE <uid>: other messages that carry \Deleted stay. Returns
 * IMAP_ERR_REFUSED without UIDPLUS (and, to move, without MOVE as well),
 * and when there is no Trash folder to move to (nothing changed: the caller
 * may ask for a permanent delete). A UID that does not exist gives 0 with
 * found = false.
 */
int imap_message_delete(struct imap_session *s, const struct imap_ref *ref, uint32_t uid,
                        bool permanent, int64_t deadline, struct imap_delete_result *out,
                        struct imap_error *err);

/* ---- append ---- */

struct imap_append {
	const char *folder;             /* UTF-8 */
	uint32_t uidvalidity;           /* checked with STATUS first when non-zero */
	const char *data;               /* the RFC 5322 message, stored as given */
	size_t len;
	const char *const *flags;       /* each must pass imap_flag_check */
	size_t nflags;
	const char *internaldate;       /* IMAP date-time (imap_internaldate_format) or NULL */
};

struct imap_appended {
	uint32_t uidvalidity;  /* of the folder */
	uint32_t uid;          /* 0 when not known (no APPENDUID, no Message-ID match) */
};

/*
 * APPEND a message as one literal: non-synchronizing when the server offers
 * LITERAL+ (or LITERAL- and it is small), else synchronizing (the data
 * goes only after the server's "+"). The UID comes from APPENDUID; without
 * it, STATUS (UIDNEXT UIDVALIDITY) is asked before the APPEND and the
 * message is found by Message-ID afterwards (EXAMINE + UID SEARCH).
 * A message holding NUL cannot be sent (IMAP_ERR_INVALID, nothing sent).
 */
int imap_message_append(struct imap_session *s, const struct imap_append *a, int64_t deadline,
                        struct imap_appended *out, struct imap_error *err);

/* Write the IMAP date-time (RFC 3501 §9, "17-Jul-1996 02:44:25 -0700") of
 * `epoch` at UTC offset tz_offset_min into out. Returns 0, or
 * IMAP_ERR_INVALID for a date outside years 1..9999 or an offset of a day
 * or more (out = ""). */
int imap_internaldate_format(int64_t epoch, int tz_offset_min, char out[IMAP_INTERNALDATE_MAX]);

#endif
