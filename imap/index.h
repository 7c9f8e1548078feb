/*
 * imap/index.h — what the gateway keeps of a folder between requests, so a
 * listing is computed here instead of re-asked of the server.
 *
 * Contents, per (pool key, folder): uidvalidity, highestmodseq, uidnext,
 * the message count, and per UID the summary fields that never change for
 * a (uidvalidity, uid) (envelope, size, INTERNALDATE, attachment count,
 * List-Id, List-Unsubscribe; packed into one reference-counted record per
 * message that the pages showing it borrow, see imap_summary_share), the
 * RFC 5256 comparison strings of the FROM, TO and SUBJECT keys (one
 * allocation), and the flags, which change (a bit mask). The key is the caller's
 * fingerprint of the credentials (the pool's, or one made the same way):
 * an entry is only ever read through a session the pool handed out for
 * those credentials, so only after the server accepted them.
 *
 * Freshness: no page is built from a revalidation that began before the
 * request arrived. A revalidation runs on a request's own session, with
 * the cheapest commands the server offers:
 *   - NOOP, then STATUS (MESSAGES UIDNEXT [HIGHESTMODSEQ]) of the folder:
 *     two short commands whose cost does not grow with the folder;
 *     when nothing moved that is all;
 *   - with QRESYNC: UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED), which
 *     names flag changes and the UIDs expunged since m in one answer;
 *     with CONDSTORE alone the same without VANISHED; without either the
 *     flags of the page are fetched (UID FETCH <page> (FLAGS)) and the flag
 *     filters go to the server's SEARCH;
 *   - new UIDs: one UID FETCH uidnext:* of their summaries;
 *   - expunges not named so: UID SEARCH ALL, only when the count still
 *     says some are missing.
 * A new UIDVALIDITY drops what was held at once. No page is built from
 * data older than its own revalidation.
 *
 * Loading: a folder not yet held is answered exactly as without the index
 * (imap_messages_page; nothing is sent before or after the page). Its
 * loading is claimed by one caller (imap_index_load_claim) and done apart
 * from any request, in steps (imap_index_load) of batches of
 * IMAP_INDEX_LOAD_BATCH summaries for about IMAP_INDEX_LOAD_MS each, so no
 * step holds a session for a whole large folder and no request waits for
 * the loading. Once loaded, every sort order but subject (left to
 * the server's SORT), both directions, the
 * cursor and the unseen/flagged filters are computed here; other filters
 * still use the server's SEARCH and take the summaries from the index.
 *
 * Memory: bounded by max_bytes (an estimate of what entries hold); past it,
 * whole folders are dropped, least recently used first.
 *
 * Threads: every function may be called from any thread. One folder is
 * revalidated and read by one request at a time (a lock per folder, waited
 * for until the request's deadline; past it the request is answered
 * without the index). A request uses a revalidation that began after it
 * arrived (imap_index_arrival), whoever made it: concurrent requests for
 * one folder share one round of revalidation instead of one each, and
 * those a round answers need no IMAP session (imap_index_page_held).
 * Different folders and users go in parallel. No lock but the folder's is
 * held while talking to the server.
 */
#ifndef IMAPGW_IMAP_INDEX_H
#define IMAPGW_IMAP_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/changes.h"
#include "imap/client.h"
#include "imap/messages.h"

#define IMAP_INDEX_KEY_LEN 32
/* A step of imap_index_load fetches batches of IMAP_INDEX_LOAD_BATCH
 * summaries, starting batches for up to IMAP_INDEX_LOAD_MS. */
#define IMAP_INDEX_LOAD_BATCH 1000u
#define IMAP_INDEX_LOAD_MS 100

struct imap_index;

/* A new, empty index holding up to max_bytes. NULL when max_bytes is 0 (no
 * index: callers use imap_messages_page) or memory runs out. */
struct imap_index *imap_index_new(size_t max_bytes);

/* Free everything; no thread may be using the index. Sets *ix to NULL. */
void imap_index_free(struct imap_index **ix);

/* A request's place in the order revalidations begin in: take it when the
 * request arrives, before anything else. A revalidation that begins after
 * it sees every change made before the request arrived. 0 for a NULL ix. */
uint64_t imap_index_arrival(struct imap_index *ix);

/*
 * One page of folder, as imap_messages_page answers it (same arguments,
 * same results, same errors), served from the index of (key, folder) once
 * it is loaded and revalidated by a revalidation that began after
 * `arrived` (imap_index_arrival; 0: take one now). ix may be NULL: then
 * this is imap_messages_page. Blocks: for the folder's lock (until
 * deadline) and for the server.
 */
int imap_index_page(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder,
                    const struct imap_page_request *req, uint64_t arrived, int64_t deadline,
                    struct imap_page *out, struct imap_error *err);

/*
 * Loading a folder that is not held yet, apart from the requests that list
 * it. imap_index_load_claim makes the caller the folder's one loader: a
 * nonzero claim when the folder is neither loaded, nor being loaded, nor
 * known to be unindexable (else 0). Sends nothing; 0 for a NULL ix. The
 * caller vouches for the credentials behind key as for
 * imap_index_page_held: claim only after a request with them was served.
 *
 * imap_index_load runs one step of that loading on s: NOOP and STATUS (a
 * new UIDVALIDITY drops what was held), then batches of
 * IMAP_INDEX_LOAD_BATCH summaries for about IMAP_INDEX_LOAD_MS, or until
 * stop(stop_ctx) (may be NULL), asked before every batch but the first,
 * says someone else wants the session. Returns IMAP_INDEX_MORE when more
 * steps are needed (call again, with the same claim); 0 when the folder is
 * loaded, or the claim is no longer the folder's (dropped for room or
 * superseded), or the folder cannot be indexed; else an error as
 * imap_index_page. Whenever it does not return IMAP_INDEX_MORE the claim is
 * given up. Blocks for the server.
 *
 * imap_index_load_drop gives a claim up without a step (the caller cannot
 * go on): a later claim may then load the folder. Harmless when the claim
 * is already given up.
 */
#define IMAP_INDEX_MORE 2
typedef bool imap_index_stop_fn(void *ctx);
uint64_t imap_index_load_claim(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                               const char *folder);
int imap_index_load(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder, uint64_t claim,
                    imap_index_stop_fn *stop, void *stop_ctx, int64_t deadline,
                    struct imap_error *err);
void imap_index_load_drop(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                          const char *folder, uint64_t claim);

/*
 * The same page without a session, when the index alone can answer it: the
 * folder is loaded, its last revalidation used CONDSTORE and began after
 * `arrived`, and the request needs nothing of the server (no text filter;
 * not sorted by subject). A revalidation under way that began after
 * `arrived` is waited for (until deadline); one that began before is not.
 * Returns 0 with *out and *state (the folder state the page was computed
 * from) filled; otherwise IMAP_ERR_UNSUPPORTED (or IMAP_ERR_NOMEM) and
 * the caller takes a session and calls imap_index_page.
 *
 * The caller vouches for the credentials behind key: call this only while
 * the server is known to accept them (the pool holds a session that
 * logged in with them, imap_pool_vouches), as for a pooled session.
 */
int imap_index_page_held(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                         const char *folder, const struct imap_page_request *req,
                         uint64_t arrived, int64_t deadline, struct imap_page *out,
                         struct imap_state *state);

enum imap_index_reval {
	IMAP_INDEX_REVAL_STATUS,       /* STATUS: the probe of every revalidation */
	IMAP_INDEX_REVAL_CHANGEDSINCE, /* UID FETCH (FLAGS) (CHANGEDSINCE), CONDSTORE alone */
	IMAP_INDEX_REVAL_QRESYNC,      /* UID FETCH (FLAGS) (CHANGEDSINCE VANISHED): flags
	                                  and expunged UIDs in one command */
	IMAP_INDEX_REVAL_PAGE_FLAGS,   /* UID FETCH <page> (FLAGS), without CONDSTORE */
	IMAP_INDEX_REVAL_NEW,          /* UID FETCH of new messages' summaries */
	IMAP_INDEX_REVAL_EXPUNGE,      /* UID SEARCH ALL for expunges */
	IMAP_INDEX_REVAL_LOAD,         /* a batch of a folder being loaded */
	IMAP_INDEX_REVAL_ALL_FLAGS,    /* UID FETCH 1:* (FLAGS), imap_index_each without
	                                  CONDSTORE */
	IMAP_INDEX_REVAL_KINDS
};

/* imap_index_each's answer when the index cannot serve the folder (not
 * loaded yet, busy, dropped, or the server hides what revalidation needs):
 * the caller asks the server instead. Not an imap error code. */
#define IMAP_INDEX_UNUSED 1

/* Called for each message: its UID, its summary (shared fields only: uid
 * and flags are not set; valid during the call), whether it is \Seen and
 * whether it carries the caller's keyword. Nonzero (an IMAP_ERR_* code)
 * stops the walk. */
typedef int (*imap_index_visit_fn)(void *ctx, uint32_t uid, const struct imap_summary *sum,
                                   bool seen, bool keyword);

/*
 * Every message of folder, ascending by UID (only those in only[0..nonly),
 * ascending, when only is not NULL), handed to fn from the index of (key,
 * folder) after revalidating it on s as a page would: never from data
 * older than this call. Flags are current: with CONDSTORE through
 * CHANGEDSINCE, without it by one UID FETCH 1:* (FLAGS). *uidvalidity is
 * the folder's.
 *
 * Returns 0 when every message was handed over; IMAP_INDEX_UNUSED, with
 * nothing handed over, when the folder is not loaded and complete, or
 * another request holds it (this call does not wait), or the index cannot
 * be brought up to date here; else an error as imap_index_page (messages
 * may have been handed over: the caller drops what it counted). Blocks for
 * the server only. Counted in the stats as a page: a hit when served, else
 * a miss.
 */
int imap_index_each(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder, const uint32_t *only,
                    size_t nonly, const char *keyword, int64_t deadline,
                    imap_index_visit_fn fn, void *ctx, uint32_t *uidvalidity,
                    struct imap_error *err);

struct imap_index_stats {
	unsigned long long hits;      /* pages served from the index */
	unsigned long long misses;    /* pages answered without it (not loaded, busy) */
	unsigned long long held;      /* of the hits: served with no session (imap_index_page_held) */
	unsigned long long evicted;   /* folders dropped for room */
	unsigned long long dropped;   /* folders dropped for a new UIDVALIDITY */
	unsigned long long reval[IMAP_INDEX_REVAL_KINDS];
	size_t folders, messages, bytes, max_bytes;
};

/* A snapshot of the counters (all zero for a NULL ix). */
void imap_index_stats(struct imap_index *ix, struct imap_index_stats *out);

/* The name of a revalidation kind for metrics ("status", "changedsince" ...). */
const char *imap_index_reval_name(enum imap_index_reval kind);

#endif
