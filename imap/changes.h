/*
 * imap/changes.h — a folder's change state, and what changed since one.
 *
 * A state is what the server says of a folder at one moment: UIDVALIDITY,
 * UIDNEXT, the message count and HIGHESTMODSEQ (RFC 7162; 0 without
 * CONDSTORE). Taken before the data it goes with, it is never newer than
 * that data: changes after it are reported again, never lost.
 *
 * What changed since a state, by the cheapest exact means the server has:
 *   - QRESYNC: one UID FETCH 1:* (UID) (CHANGEDSINCE m VANISHED): every
 *     message changed or new since m (with its MODSEQ), and the UIDs
 *     expunged since m (VANISHED (EARLIER));
 *   - CONDSTORE alone: the same FETCH without VANISHED, and UID SEARCH ALL
 *     for the expunged ones (the count rule below);
 *   - neither: UID SEARCH ALL; every message that was there may have
 *     changed (its flags cannot be compared), so all of them are `updated`.
 * Created: UIDs at or above the state's UIDNEXT; updated: below it.
 *
 * The count rule (no QRESYNC): a state holds the number of messages e and
 * UIDNEXT u, not their UIDs. The messages of the state still present are
 * the current UIDs below u; e minus their number were expunged. When none
 * were, destroyed is empty; when every UID below u that is not present now
 * is one of them (the folder had no gaps in its UIDs below u), destroyed
 * is exactly those; otherwise the answer cannot be calculated.
 *
 * More than `max` changes (created + updated): the answer holds those of
 * the lowest MODSEQs (all of one MODSEQ together, so a single change of
 * more than max messages comes whole), every destroyed UID, and an
 * intermediate state from which the rest follows; has_more is set. A UID
 * may then come again (as created, or destroyed) in a later answer.
 * Without CONDSTORE there is no order to cut by: more than max is an
 * answer that cannot be calculated.
 */
#ifndef IMAPGW_IMAP_CHANGES_H
#define IMAPGW_IMAP_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/messages.h"

/* An exists count no one knows (an intermediate state of the QRESYNC
 * path): a server without QRESYNC cannot answer from it. */
#define IMAP_STATE_EXISTS_UNKNOWN UINT32_MAX
/* Most destroyed UIDs one answer lists; beyond it, it cannot be calculated. */
#define IMAP_CHANGES_DESTROYED_MAX (1u << 20)

struct imap_state {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;        /* or IMAP_STATE_EXISTS_UNKNOWN */
	uint64_t modseq;        /* HIGHESTMODSEQ; 0 without CONDSTORE */
};

/* The state of folder (UTF-8), never newer than what the session reads
 * from it next. Taken from what the session knows of its selected mailbox
 * when that is folder and all of it is known (no round trip) unless
 * `fresh`; otherwise one STATUS, with a NOOP after it when folder is the
 * selected mailbox (and one before it too when `fresh`: servers such as
 * Dovecot answer STATUS of the selected mailbox from what the session has
 * seen). Returns 0,
 * IMAP_ERR_NOT_FOUND for no such folder, or an error as imap_session_run. */
int imap_state_of(struct imap_session *s, const char *folder, bool fresh, int64_t deadline,
                  struct imap_state *out, struct imap_error *err);

enum imap_changes_verdict {
	IMAP_CHANGES_OK,
	IMAP_CHANGES_UIDVALIDITY,  /* the folder's UIDVALIDITY is not the state's */
	IMAP_CHANGES_CANNOT,       /* the server cannot say exactly (why says so) */
};

enum imap_changes_method {
	IMAP_CHANGES_QRESYNC,
	IMAP_CHANGES_CONDSTORE,
	IMAP_CHANGES_SEARCH,
};

struct imap_changes {
	enum imap_changes_verdict verdict;
	const char *why;                 /* static text, for IMAP_CHANGES_CANNOT */
	enum imap_changes_method method;
	struct imap_state state;         /* the new state */
	uint32_t *created, *updated, *destroyed; /* ascending, no repeats */
	size_t ncreated, nupdated, ndestroyed;
	bool has_more;
};

/* What changed in folder since `since` (see above), at most max (>= 1)
 * created + updated. Selects the folder read-only unless it is selected.
 * Returns 0 with out->verdict set (free with imap_changes_free), or
 * IMAP_ERR_NOT_FOUND, or an error as imap_session_run. */
int imap_changes(struct imap_session *s, const char *folder, const struct imap_state *since,
                 uint32_t max, int64_t deadline, struct imap_changes *out,
                 struct imap_error *err);

void imap_changes_free(struct imap_changes *c);

#endif
