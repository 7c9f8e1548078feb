/*
 * imap/messages.h — pages of message summaries from one mailbox.
 *
 * Order: `arrival` is UID order (the gateway orders by UID itself); the
 * other keys use the server's UID SORT (RFC 5256) and break ties on UID.
 * `desc` is exactly the reverse of `asc`, ties included. A page costs:
 *   - arrival, no filter, no cursor: one FETCH by sequence range on the
 *     (usually already) selected mailbox;
 *   - filters or a cursor: one UID SEARCH, then one UID FETCH;
 *   - other keys: one UID SORT, then one UID FETCH;
 *   - has_unsubscribe: one more UID FETCH of the candidates' List-Unsubscribe
 *     headers, so that exactly the messages whose `unsub` is usable match
 *     (SEARCH alone matches any such header, also one that parses to nothing).
 */
#ifndef IMAPGW_IMAP_MESSAGES_H
#define IMAPGW_IMAP_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/bodystructure.h" /* imap_bodystructure_attachments */
#include "imap/client.h"
#include "imap/envelope.h"
#include "imap/mail/unsubscribe.h"

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,  /* UID */
	IMAP_SORT_RECEIVED, /* INTERNALDATE (SORT key ARRIVAL) */
	IMAP_SORT_DATE,     /* Date header (SORT key DATE) */
	IMAP_SORT_FROM,
	IMAP_SORT_TO,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_SIZE,
};

/* Filters, all optional, combined with AND (IMAP SEARCH keys). */
struct imap_filter {
	bool unseen, flagged, has_unsubscribe;
	const char *from, *to, *subject, *text; /* UTF-8 substrings, NULL: none */
	const char *list_id;                    /* substring of the List-Id header, NULL: none */
	const char *since, *before;             /* IMAP dates "1-Feb-2024", NULL: none */
	bool has_larger, has_smaller;
	uint64_t larger, smaller;
	const char *thread_of;  /* a message id "<...>": that message and those whose
	                           References or In-Reply-To name it; NULL: none */
};

struct imap_page_request {
	enum imap_sort_key sort;
	bool desc;
	struct imap_filter filter;
	uint32_t page;      /* 1-based; ignored with a cursor */
	uint32_t per_page;  /* >= 1 */
	bool has_cursor;    /* continue after `after_uid`, found at `after_pos` */
	uint32_t after_uid;
	uint32_t after_pos; /* 0-based position of after_uid in the last answer */
};

struct imap_summary_shared;

struct imap_summary {
	uint32_t uid;
	/* Non-NULL: every field but uid and flags is borrowed from this shared
	 * record (see imap_summary_borrow); imap_summary_free drops the
	 * reference and frees only the flags and `borrowed`. */
	struct imap_summary_shared *shared;
	void *borrowed;     /* the address and unsubscribe arrays of a borrow */
	uint64_t size;
	bool has_internaldate;
	int64_t internaldate;
	int internaldate_tz;
	char **flags;       /* as the server sent them, e.g. "\\Seen", "$Work" */
	size_t nflags;
	struct imap_envelope env;
	unsigned attachments;
	char *list_id;          /* List-Id header, unfolded and decoded; NULL if absent
	                           (imap_header_list_id) */
	char *from_address;     /* the From header's first address (imap_header_from),
	                           what /senders groups by; NULL if none */
	char *references;       /* References header, unfolded; NULL if absent */
	struct imap_unsubscribe unsub; /* empty when no usable List-Unsubscribe */
};

struct imap_page {
	uint32_t uidvalidity;
	uint32_t total;     /* messages matching the filter */
	uint32_t first_pos; /* 0-based position of msgs[0] in the whole order */
	struct imap_summary *msgs;
	size_t n;
};

/* One page of summaries from folder (UTF-8). Selects the folder read-only
 * unless the session has it selected already. When a cursor's UID is gone
 * the page continues from its old position. Returns 0 and fills *out (free
 * with imap_page_free); IMAP_ERR_NOT_FOUND for an unknown folder;
 * IMAP_ERR_UNSUPPORTED for a sort key on a server without SORT; other
 * errors as imap_session_run. */
int imap_messages_page(struct imap_session *s, const char *folder,
                       const struct imap_page_request *req, int64_t deadline,
                       struct imap_page *out, struct imap_error *err);

void imap_page_free(struct imap_page *p);

/* Sort flags as every summary lists them: the system flags \\Seen,
 * \\Answered, \\Flagged, \\Deleted, \\Draft, \\Recent in that order (any
 * other system flag after them), then keywords by name. */
void imap_flags_order(char **flags, size_t n);

/* Fill *m (zeroed by the caller, uid set) from the attributes of one FETCH
 * response (`att`, the list after "FETCH") carrying the summary items:
 * FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE and the header
 * fields List-Unsubscribe, List-Unsubscribe-Post, List-Id, References, From. Returns 0 or
 * IMAP_ERR_NOMEM. Free with imap_summary_free. */
int imap_summary_fill(struct imap_summary *m, const struct imap_value *att);
void imap_summary_free(struct imap_summary *m);

/*
 * Shared summaries (imap/summary_pack.c), what the folder index keeps of a
 * message: every field but uid and flags, packed into one allocation
 * (strings NUL-terminated and length-prefixed, a sender or reply-to equal
 * to the from list stored once), with a thread-safe reference count: a
 * record may be borrowed and released on any thread.
 */

/* A new record of m's fields but uid and flags, with a reference for the
 * caller; m is left as it is. NULL when memory runs out. */
struct imap_summary_shared *imap_summary_share(const struct imap_summary *m);

/* Fill dst (zeroed by the caller; its uid and flags are left alone) with
 * the fields of sh, taking a reference that imap_summary_free drops: its
 * strings point into sh, its address and unsubscribe arrays are made for
 * it (dst->borrowed). 0, or IMAP_ERR_NOMEM (dst unchanged). */
int imap_summary_borrow(struct imap_summary *dst, struct imap_summary_shared *sh);

/* Drop one reference; the last frees the record. Sets *sh to NULL. */
void imap_summary_shared_release(struct imap_summary_shared **sh);

/* imap_sort_key_number of the record's fields (RECEIVED, DATE, SIZE). */
int64_t imap_summary_shared_number(const struct imap_summary_shared *sh, enum imap_sort_key key);

/* The bytes the record holds, its allocation's overhead included. */
size_t imap_summary_shared_bytes(const struct imap_summary_shared *sh);

/* The RFC 5256 comparison form of a string sort key (FROM, TO: the first
 * address's mailbox from the ENVELOPE in `att`, a FETCH attribute list;
 * SUBJECT: imap_subject_sort_key of that ENVELOPE's raw subject, not of
 * m's display form), the same the local sort compares. New string, or NULL for the other keys or no memory. */
char *imap_sort_key_string(enum imap_sort_key key, const struct imap_value *att,
                           const struct imap_summary *m);

/* The number a numeric sort key compares (RECEIVED: INTERNALDATE; DATE:
 * the Date header, else INTERNALDATE; SIZE), 0 for the other keys. */
int64_t imap_sort_key_number(enum imap_sort_key key, const struct imap_summary *m);

/* The UIDs matching f (UID SEARCH, with CHARSET UTF-8 when f needs it),
 * ascending, into *uids (free()) and *n. The selected mailbox is searched.
 * Returns 0 or an error as imap_session_run. */
int imap_messages_search(struct imap_session *s, const struct imap_filter *f, int64_t deadline,
                         uint32_t **uids, size_t *n, struct imap_error *err);

/* The messages of folder matching f (SEARCH, with ESEARCH when offered,
 * and for has_unsubscribe the same check as a page makes), each with its
 * INTERNALDATE (one UID FETCH), ascending by UID. Selects the folder
 * read-only. Returns 0 and fills *out (free(out->v)); errors as
 * imap_messages_page. */
struct imap_match {
	uint32_t uid;
	int64_t received;   /* INTERNALDATE, seconds since the epoch (0: unknown) */
};
struct imap_matches {
	uint32_t uidvalidity;
	struct imap_match *v;
	size_t n;
};
int imap_messages_matches(struct imap_session *s, const char *folder, const struct imap_filter *f,
                          int64_t deadline, struct imap_matches *out, struct imap_error *err);

/* As imap_messages_matches, for the n UIDs found[] a search from outside
 * the folder (MULTISEARCH) answered under uidvalidity: they are used while
 * the folder still has that UIDVALIDITY (those it no longer holds are left
 * out), else the folder is searched again here. */
int imap_messages_matches_found(struct imap_session *s, const char *folder,
                                const struct imap_filter *f, const uint32_t *found, size_t n,
                                uint32_t uidvalidity, int64_t deadline,
                                struct imap_matches *out, struct imap_error *err);

/* Append f's SEARCH program to c: "CHARSET UTF-8" when f needs it, then
 * its keys ("ALL" when none). */
void imap_filter_criteria(struct imap_cmd *c, const struct imap_filter *f);

/* The summaries of uids[0..n) in folder (selected read-only), in that
 * order, leaving out those the server no longer has. Returns 0 and fills
 * *out (total = n found; free with imap_page_free), or an error as
 * imap_messages_page. */
int imap_messages_fetch(struct imap_session *s, const char *folder, const uint32_t *uids,
                        size_t n, int64_t deadline, struct imap_page *out,
                        struct imap_error *err);

/* A sequence set for the ascending UIDs uids[0..n) (runs become "a:b"),
 * appended to out. */
void imap_uid_set_format(const uint32_t *uids, size_t n, struct imap_buf *out);

/* The List-Id of a raw header block (as FETCH BODY[HEADER.FIELDS] returns
 * it): the identifier inside <...>, else the trimmed, RFC 2047 decoded
 * value; NULL when there is none or it is "<>". A new string. */
char *imap_header_list_id(const char *hdr, size_t len);

/* The first From address of a raw header block that has one (an entry
 * with an address; group names and name-only entries skipped), as
 * imap_address_parse_header reads it, and its display name: new strings
 * into *address and *name, or NULL (none, no name). Summaries and the
 * /senders scan both read the From header through this, so the two agree
 * on it byte for byte. Returns 0 or IMAP_ERR_NOMEM. */
int imap_header_from(const char *hdr, size_t len, char **name, char **address);

/* The FETCH items imap_summary_fill reads, as a parenthesised list. */
#define IMAP_SUMMARY_ITEMS \
	"UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE " \
	"BODY.PEEK[HEADER.FIELDS (LIST-UNSUBSCRIBE LIST-UNSUBSCRIBE-POST LIST-ID REFERENCES FROM)]"


#endif
