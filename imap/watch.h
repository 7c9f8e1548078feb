/*
 * imap/watch.h — live changes of folders, for event streams.
 *
 * A subscriber (one event stream) watches one or more folders of one user.
 * Each (user, folder) being watched has one watch: a thread holding one
 * session of the pool (so it counts against the user's --pool-per-user),
 * shared by every subscriber of that user and folder. The thread waits in
 * IDLE (RFC 2177; re-issued every reissue_ms, before servers end it at 30
 * minutes), or without IDLE sleeps poll_ms, and then asks what changed
 * since its last state (imap/changes.h) and hands the created, updated and
 * destroyed UIDs, with the new state, to every subscriber. A subscriber
 * that joins with an older state (a resumed stream) first gets the changes
 * since that state. A lost session is replaced with back-off (1 s doubling
 * to 60 s); meanwhile subscribers get an error event and, once the session
 * is back, the changes they missed. Refused credentials end the streams.
 *
 * When the server offers NOTIFY (RFC 5465) and IDLE, one session per user
 * (the notifier) waits in IDLE after NOTIFY SET for all of the user's
 * watched folders, and a watch holds no session between rounds: woken by
 * the notifier, it borrows one for the round (the changes since its state)
 * and gives it back. Without NOTIFY, or once the server refuses it, each
 * watch waits in IDLE on its own session as above.
 *
 * Limits: at most max_subs subscribers, max_subs_per_user per user, and
 * per_user_watches watched folders per user (set it below --pool-per-user
 * so requests always have a session). A heartbeat goes to every subscriber
 * every heartbeat_ms, which also finds streams whose client has gone.
 *
 * Threads: subscribe, start and cancel from any thread; events are handed
 * over on the hub's threads, never while a hub lock is held; a callback
 * must not block (a full buffer drops its subscriber, never waits).
 */
#ifndef IMAPGW_IMAP_WATCH_H
#define IMAPGW_IMAP_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/changes.h"
#include "imap/pool.h"

#define IMAP_WATCH_KEY_LEN 32

struct imap_watch_config {
	struct imap_pool *pool;       /* borrowed */
	unsigned per_user_watches;    /* watched folders (IDLE sessions) per user */
	unsigned max_subs;            /* subscribers in all */
	unsigned max_subs_per_user;
	unsigned poll_ms;             /* between checks without IDLE */
	unsigned reissue_ms;          /* IDLE is ended and sent again after */
	unsigned heartbeat_ms;
	unsigned command_ms;          /* deadline of one exchange with the server */
	uint32_t changes_max;         /* UIDs asked for at once (imap_changes max) */
};

enum imap_watch_kind {
	IMAP_WATCH_CREATED,
	IMAP_WATCH_UPDATED,
	IMAP_WATCH_DESTROYED,
	IMAP_WATCH_FOLDER_CHANGED, /* changes cannot be told (new UIDVALIDITY ...): list again */
	IMAP_WATCH_HEARTBEAT,
	IMAP_WATCH_ERROR,          /* detail says what; final: the stream ends after it */
};

struct imap_watch_event {
	enum imap_watch_kind kind;
	size_t folder;                   /* index among the subscriber's folders */
	const uint32_t *uids;            /* CREATED, UPDATED, DESTROYED: ascending */
	size_t n;
	const struct imap_state *state;  /* the folder's state after it; NULL for
	                                    HEARTBEAT and ERROR */
	const char *detail;              /* ERROR */
	bool final;
};

/* Hand one event to the subscriber: 0, or -1 to be dropped (client gone,
 * buffer full). */
typedef int imap_watch_event_fn(void *ctx, const struct imap_watch_event *ev);
/* The subscriber is gone for good (dropped, cancelled, final error, hub
 * stopped): no event follows. Called once. */
typedef void imap_watch_release_fn(void *ctx);

struct imap_watch_hub;
struct imap_watch_sub;

/* NULL when memory or threads cannot be had. cfg is copied. */
struct imap_watch_hub *imap_watch_hub_new(const struct imap_watch_config *cfg);

/* End every subscriber (a final ERROR, "stopping"), refuse new ones, and
 * wait for the watch threads to give their sessions back. Idempotent. */
void imap_watch_hub_stop(struct imap_watch_hub *h);

/* imap_watch_hub_stop, then free; sets *h to NULL. NULL-safe. */
void imap_watch_hub_free(struct imap_watch_hub **h);

enum imap_watch_refusal {
	IMAP_WATCH_OK,
	IMAP_WATCH_USER_LIMIT,   /* this user has max_subs_per_user streams or per_user_watches folders */
	IMAP_WATCH_FULL,         /* max_subs in all, stopping, or no memory */
};

/* A subscriber for folders[0..n) (UTF-8) of the user of cred (copied and
 * kept, for the watch's logins) under key (the pool's fingerprint of
 * cred), from the states since[0..n). Nothing is handed over before
 * imap_watch_start. Returns IMAP_WATCH_OK with *out set, or why not. */
enum imap_watch_refusal imap_watch_subscribe(struct imap_watch_hub *h,
                                             const struct imap_credentials *cred,
                                             const unsigned char key[IMAP_WATCH_KEY_LEN],
                                             const char *const *folders,
                                             const struct imap_state *since, size_t n,
                                             imap_watch_event_fn *on_event,
                                             imap_watch_release_fn *on_release, void *ctx,
                                             struct imap_watch_sub **out);

/* Begin handing events to sub (the changes since its states first). */
void imap_watch_start(struct imap_watch_sub *sub);

/* Drop sub (on_release follows, maybe on another thread). */
void imap_watch_cancel(struct imap_watch_sub *sub);

struct imap_watch_stats {
	unsigned subs, watches, idling;
	unsigned notifiers;   /* users whose watches one NOTIFY session serves */
};
void imap_watch_stats(struct imap_watch_hub *h, struct imap_watch_stats *out);

#endif
