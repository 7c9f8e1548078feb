/*
 * imap/folder_ops.h — creating, renaming, subscribing and deleting folders.
 *
 * Paths are UTF-8 full names with the server's hierarchy delimiter, as
 * imap/folders.h lists them ("Projects/Alpha", "Données"); on the wire they
 * pass through imap_cmd_mailbox (modified UTF-7, or UTF-8 once UTF8=ACCEPT
 * is enabled). The delimiter is the server's (LIST "" ""). A path is
 * refused with IMAP_ERR_INVALID when it is empty, holds CR or LF, starts or
 * ends with the delimiter or has an empty segment; a new name (created, or
 * renamed to) also when it holds the LIST wildcards % or *.
 *
 * Servers differ in what they do with hierarchy; these functions give the
 * same result everywhere:
 *   - creating "a/b/c" CREATEs each missing ancestor first (Dovecot would
 *     make them itself; other servers refuse, or leave a gap); when the
 *     folder then cannot be made (or renamed to), the ancestors this call
 *     created are deleted again, deepest first, and only those;
 *   - a name the server refuses as a name ("a/../b", a segment too long,
 *     Dovecot's leading "~": see imap_session_name_refused) is
 *     IMAP_ERR_INVALID with the server's reason, not a server failure;
 *   - DELETE of a folder with sub-folders is refused by some servers,
 *     silently destroys the children on others and leaves them orphaned on
 *     the rest (RFC 3501 §6.3.4). So a folder that has sub-folders or holds
 *     messages is refused (IMAP_ERR_REFUSED) unless `force`; with it, the
 *     sub-folders are deleted one by one, deepest first, then the folder;
 *   - a folder this session has selected is deselected first by EXAMINE
 *     INBOX (which closes without expunging; CLOSE would expunge): Dovecot
 *     ends a session whose selected folder is deleted or renamed under it.
 *
 * INBOX is never renamed (RFC 3501 §6.3.5: that moves its messages out and
 * leaves it empty) or deleted: IMAP_ERR_REFUSED.
 *
 * All functions block on the session, take an absolute deadline and return
 * 0 or an imap_err with *err filled: IMAP_ERR_NOT_FOUND, IMAP_ERR_EXISTS,
 * IMAP_ERR_REFUSED, IMAP_ERR_STALE (the caller's UIDVALIDITY, when given,
 * is not the folder's: nothing changed), IMAP_ERR_INVALID, IMAP_ERR_NO /
 * IMAP_ERR_BAD from the server, or a transport error.
 */
#ifndef IMAPGW_IMAP_FOLDER_OPS_H
#define IMAPGW_IMAP_FOLDER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"

/* Create `path` and any missing ancestor, then SUBSCRIBE it when
 * `subscribe` (a refused SUBSCRIBE is not an error: a later listing shows
 * the truth). IMAP_ERR_EXISTS when it exists already (also as a \Noselect
 * name in the hierarchy). */
int imap_folder_create(struct imap_session *s, const char *path, bool subscribe,
                       int64_t deadline, struct imap_error *err);

/* RENAME `from` (with its sub-folders, as IMAP does) to `to`, creating
 * missing ancestors of `to` first; a subscription follows the folder.
 * IMAP_ERR_NOT_FOUND when `from` does not exist, IMAP_ERR_EXISTS when `to`
 * does, IMAP_ERR_INVALID when `to` is `from` or inside it. `uidvalidity`
 * (0: not checked) is compared with STATUS of `from` first. */
int imap_folder_rename(struct imap_session *s, const char *from, const char *to,
                       uint32_t uidvalidity, int64_t deadline, struct imap_error *err);

/* SUBSCRIBE (on) or UNSUBSCRIBE `path`. Subscribing a folder that does not
 * exist is IMAP_ERR_NOT_FOUND; unsubscribing one that is not subscribed
 * succeeds. */
int imap_folder_subscribe(struct imap_session *s, const char *path, bool on, int64_t deadline,
                          struct imap_error *err);

struct imap_folder_deleted {
	char **paths;   /* what was deleted, in order (sub-folders first) */
	size_t n;
};

void imap_folder_deleted_free(struct imap_folder_deleted *d);

/* DELETE `path` (see above for sub-folders and `force`), then UNSUBSCRIBE
 * what was deleted and subscribed. `uidvalidity` (0: not checked) is
 * compared with STATUS of `path` first. Fills *out with what was deleted,
 * also when a later DELETE failed (free it either way). */
int imap_folder_delete(struct imap_session *s, const char *path, bool force,
                       uint32_t uidvalidity, int64_t deadline,
                       struct imap_folder_deleted *out, struct imap_error *err);

#endif
