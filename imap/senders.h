/*
 * imap/senders.h — mail grouped by who sends it: one group per mailing list
 * (List-Id), else per From address, or per From domain.
 *
 * A scan reads only header fields (IMAP_SENDERS_ITEMS, or for a light scan
 * IMAP_SENDERS_LIGHT_ITEMS and then the full items of each group's newest
 * message), never a body, in batches of UIDs the caller chooses: each batch is one UID FETCH on a
 * session the caller may give back between batches, so a large folder
 * never holds one session for long. Groups accumulate in a struct
 * imap_senders across batches and folders.
 *
 * A group's key is its identity, stable across scans, folders and servers:
 *   "l:<list-id>"    the List-Id (the part inside <...>), lower case
 *   "a:<address>"    the From address, lower case (no List-Id)
 *   "d:<domain>"     the From domain, lower case (grouping by domain)
 * A key is made of printable UTF-8 and bounded by IMAP_SENDERS_KEY_MAX.
 *
 * Not thread-safe: a struct imap_senders belongs to one request.
 */
#ifndef IMAPGW_IMAP_SENDERS_H
#define IMAPGW_IMAP_SENDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/mail/authres.h"
#include "imap/messages.h"

/* What one message's header fields are read for. */
#define IMAP_SENDERS_FIELDS                                                              \
	"FROM LIST-ID LIST-UNSUBSCRIBE LIST-UNSUBSCRIBE-POST DKIM-SIGNATURE "            \
	"AUTHENTICATION-RESULTS DATE"
#define IMAP_SENDERS_ITEMS \
	"(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (" IMAP_SENDERS_FIELDS ")])"
/* What a light scan reads of every message: enough to group and count. */
#define IMAP_SENDERS_LIGHT_ITEMS "(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM LIST-ID)])"

#define IMAP_SENDERS_KEY_MAX 512   /* bytes of a group key */
#define IMAP_SENDERS_SAMPLES 5     /* newest UIDs kept per group and folder */
#define IMAP_SENDERS_KEYWORD "$Unsubscribed"

enum imap_senders_grouping {
	IMAP_SENDERS_BY_LIST,    /* List-Id, else the From address */
	IMAP_SENDERS_BY_DOMAIN,  /* the From domain */
};

struct imap_sender_folder {
	char *folder;            /* UTF-8 path */
	uint32_t count;
	uint32_t uids[IMAP_SENDERS_SAMPLES]; /* the highest UIDs, descending */
	size_t nuids;
};

struct imap_sender_group {
	char *key;
	char *list_id;           /* of the newest message; NULL without */
	char *from_name;         /* of the newest message; NULL without */
	char *from_address;      /* of the newest message; "" without */
	uint32_t count, unseen;
	int64_t first, last;     /* INTERNALDATE of the oldest and newest, epoch s */
	int first_tz, last_tz;   /* their UTC offsets, minutes */
	bool has_dates;
	/* the newest message (latest INTERNALDATE, then highest UID) */
	char *unsub;             /* its List-Unsubscribe (NULL: none) */
	char *unsub_post;        /* its List-Unsubscribe-Post (NULL: none) */
	struct imap_sender_trust trust;
	bool unsubscribed;       /* it carries $Unsubscribed */
	const char *newest_folder; /* borrowed from folders[] */
	uint32_t newest_uid;
	struct imap_sender_folder *folders;
	size_t nfolders;
};

struct imap_senders {
	enum imap_senders_grouping grouping;
	const char *const *trusted;  /* authserv-ids believed (borrowed) */
	size_t ntrusted;
	const char *only_key;        /* non-NULL: messages of other groups are skipped */
	/* Light: batches read IMAP_SENDERS_LIGHT_ITEMS; the unsubscribe fields and
	 * trust of each group's newest message come from imap_senders_details. */
	bool light;
	struct imap_sender_group *v; /* in the order first seen */
	size_t n, cap;
	size_t *slots;               /* hash index into v (index + 1; 0: empty) */
	size_t nslots;
	/* with only_key: the UIDs of the matching messages of the last batch */
	uint32_t *matched;
	size_t nmatched, matched_cap;
};

/* An empty table. trusted is borrowed for the table's life. */
void imap_senders_init(struct imap_senders *g, enum imap_senders_grouping grouping,
                       const char *const *trusted, size_t ntrusted);
void imap_senders_free(struct imap_senders *g);

/* The group key of a header block's fields (raw, as FETCH returns them)
 * into out (cap >= IMAP_SENDERS_KEY_MAX + 1). Returns 0, or IMAP_ERR_NOMEM. */
int imap_senders_key(enum imap_senders_grouping grouping, const char *header, size_t len,
                     char *out, size_t cap);

/* Whether key is one imap_senders_key can make (kind prefix, bounded,
 * printable UTF-8): the check for keys that come back from clients. */
bool imap_senders_key_valid(const char *key, size_t len);

/* The UIDs of `folder` (UTF-8) worth scanning, ascending, into *uids
 * (free()) and *n, and its UIDVALIDITY: UID SEARCH ALL, or SINCE `since`
 * (an IMAP date "1-Feb-2024", NULL: none), after selecting it read-only
 * (when selected already, a NOOP instead, so the SEARCH sees what other
 * sessions did meanwhile). With only_key set, the search narrows to
 * candidates (HEADER List-Id or FROM holding the key's value); the batches
 * then keep exactly the key's messages. Returns 0 or an error as
 * imap_session_select / imap_session_run. */
int imap_senders_uids(struct imap_session *s, const struct imap_senders *g, const char *folder,
                      const char *since, int64_t deadline, uint32_t **uids, size_t *n,
                      uint32_t *uidvalidity, struct imap_error *err);

/* Read the header fields of uids[0..n) (ascending) of folder and add each
 * message to its group: one UID FETCH IMAP_SENDERS_ITEMS. The folder is
 * selected read-only unless it is selected already; when its UIDVALIDITY
 * is no longer `uidvalidity` the answer is IMAP_ERR_STALE and nothing is
 * added. UIDs gone meanwhile are skipped. With only_key, g->matched holds
 * the UIDs of this batch that matched (ascending). Returns 0 or an error. */
int imap_senders_batch(struct imap_senders *g, struct imap_session *s, const char *folder,
                       uint32_t uidvalidity, const uint32_t *uids, size_t n, int64_t deadline,
                       struct imap_error *err);

/* Count one message of `folder` from its summary (an index's entry: no
 * header fields are read) as imap_senders_batch counts one from the
 * server: the key comes from sum->list_id and sum->from_address, made by
 * the same functions the batches use (imap_header_list_id,
 * imap_header_from), so both ways give the same groups and ids. g must be
 * light: the details come from imap_senders_details. Returns 0 or
 * IMAP_ERR_NOMEM. */
int imap_senders_add_summary(struct imap_senders *g, const char *folder, uint32_t uid,
                             const struct imap_summary *sum, bool seen, bool unsubscribed);

/* After a light scan: the UIDs, ascending, of the newest messages of the
 * groups whose newest message is in `folder`, into *uids (free()), *n. */
int imap_senders_newest(const struct imap_senders *g, const char *folder, uint32_t **uids,
                        size_t *n);

/* After a light scan: read all of IMAP_SENDERS_ITEMS for uids[0..n) of
 * folder (the newest messages, imap_senders_newest) and set each group's
 * unsubscribe fields and trust from its newest message; nothing is
 * counted again. Selection and UIDVALIDITY as imap_senders_batch. A
 * newest message gone meanwhile leaves its group without them. */
int imap_senders_details(struct imap_senders *g, struct imap_session *s, const char *folder,
                         uint32_t uidvalidity, const uint32_t *uids, size_t n,
                         int64_t deadline, struct imap_error *err);

/* What scans have cost since the start, for /metrics (all threads). */
struct imap_senders_stats {
	unsigned long long count_fetches, count_fetched;     /* batches, and messages in them */
	unsigned long long details_fetches, details_fetched; /* the newest messages' fields */
	unsigned long long indexed;  /* messages counted from the index instead */
};
void imap_senders_stats(struct imap_senders_stats *out);

/* Order g->v by count, descending; ties by key (so pages are stable). */
void imap_senders_sort(struct imap_senders *g);

#endif
