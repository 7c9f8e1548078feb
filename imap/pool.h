/*
 * imap/pool.h — a pool of authenticated IMAP sessions to one server, shared
 * by the worker threads.
 *
 * Sessions are grouped by key: (host, port, user, credential kind,
 * fingerprint of the secret). The host and port are the pool's (one pool per
 * configured server); the fingerprint is an HMAC-SHA256 of the secret under
 * a random key made for each pool, compared in constant time. The secret
 * itself is never stored: it is used for the one login and forgotten, so a
 * session is only ever handed to a caller that presented the very secret it
 * was opened with, and a wrong password always goes to the server.
 *
 * Limits: per_user sessions per key, max_sessions in all (idle + busy +
 * connecting). When the pool is full, the least recently used idle session
 * of another key is logged out to make room. A caller that finds neither an
 * idle session of its key nor room for a new one waits, up to its deadline,
 * for one to be released or a slot to free.
 *
 * Failed logins are remembered per (host, port, user), whatever the secret:
 * login_fail_max refusals within login_fail_window_s throttle the user for
 * login_fail_window_s, during which every acquire for that user (even with
 * the right secret, even when a session of the right key is idle) fails with
 * IMAP_ERR_THROTTLED without contacting the server. A successful login
 * clears the count. A login that times out after the credentials were sent
 * counts as a failure too when the user has failures in the window already
 * (servers delay refusals more and more: the slow ones are refusals too).
 * So that concurrent requests cannot race past the limit, at most
 * (login_fail_max - failures so far) logins of one user are in flight at
 * once, and only one once a login has failed; further ones wait like
 * callers of a full key. Other users' logins never wait for them. At most
 * IMAP_POOL_USERS_MAX users are remembered (the oldest record is dropped).
 *
 * Threads: every function may be called from any thread, except that
 * imap_pool_free must be the last call. The pool's lock is never held while
 * talking to a server: connect, login, ENABLE and LOGOUT run unlocked.
 * A borrowed session belongs to the borrowing thread until it is released.
 */
#ifndef IMAPGW_IMAP_POOL_H
#define IMAPGW_IMAP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/base/error.h"
#include "imap/client.h"

/* Defaults used for fields of struct imap_pool_config left at 0. */
#define IMAP_POOL_PER_USER_DEFAULT 4u
#define IMAP_POOL_MAX_SESSIONS_DEFAULT 256u
#define IMAP_POOL_IDLE_S_DEFAULT 300u
#define IMAP_POOL_CONNECT_TIMEOUT_MS_DEFAULT 10000u
#define IMAP_POOL_LOGIN_FAIL_MAX_DEFAULT 5u
#define IMAP_POOL_LOGIN_FAIL_WINDOW_S_DEFAULT 60u

/* Users whose failed logins are remembered at once (oldest dropped first). */
#define IMAP_POOL_USERS_MAX 10000u
/* Longest user name accepted by imap_pool_acquire (IMAP_ERR_INVALID above). */
#define IMAP_POOL_USER_MAX 1024u
/* Bound on the LOGOUT of a session closed by the pool (expired, evicted). */
#define IMAP_POOL_LOGOUT_MS 2000
/* Expired sessions an acquire logs out on its way (the timer does the rest). */
#define IMAP_POOL_ACQUIRE_REAP_MAX 2u

struct imap_pool_config {
	/* Server, TLS mode, parser limits, trace: copied. client.host is copied
	 * too; client.tls and client.trace_ctx are borrowed for the pool's life.
	 * client.trace is called on whichever thread uses a session, so from
	 * several threads at once. */
	struct imap_client_config client;
	unsigned per_user;            /* sessions per key (0: default 4) */
	unsigned max_sessions;        /* sessions in all: idle + busy + connecting (0: 256) */
	unsigned idle_s;              /* idle sessions older than this are logged out (0: 300) */
	unsigned connect_timeout_ms;  /* connect + TLS + greeting + login + ENABLE, also
	                                 bounded by the caller's deadline (0: 10000) */
	unsigned login_fail_max;      /* failed logins per user within the window
	                                 before THROTTLED (0: 5) */
	unsigned login_fail_window_s; /* (0: 60) */
	unsigned wait_ms;             /* longest wait for a free session, within the
	                                 caller's deadline (0: up to the deadline) */
};

enum imap_cred_kind {
	IMAP_CRED_PASSWORD, /* LOGIN or AUTHENTICATE PLAIN */
	IMAP_CRED_TOKEN,    /* OAuth 2.0 bearer token: OAUTHBEARER or XOAUTH2 */
};

struct imap_credentials {
	enum imap_cred_kind kind;
	const char *user;   /* borrowed for the call */
	const char *secret; /* borrowed for the call; never kept */
	/* The address of the client the credentials came from (an IP literal),
	 * told to the server before a login (imap_session_id_origin); NULL:
	 * none. Borrowed for the call; not part of the key. */
	const char *client_addr;
};

struct imap_pool;

/* A new, empty pool (nothing is connected yet). cfg is copied (see above).
 * Returns NULL when cfg has no host, or no TLS context while TLS is asked
 * for, or when memory, the random key or the lock cannot be had. */
struct imap_pool *imap_pool_new(const struct imap_pool_config *cfg);

/* Log out every idle session (each LOGOUT bounded by the deadline; past it
 * sessions are closed without one), free the pool and set *p to NULL.
 * NULL-safe. Every borrowed session must have been released and no thread
 * may still be in imap_pool_acquire: the pool aborts otherwise. Blocks. */
void imap_pool_free(struct imap_pool **p, int64_t deadline);

/*
 * Borrow an authenticated session for cred (ENABLE already sent for the
 * extensions the server offers; a NO to ENABLE is tolerated). In order:
 *   1. the user is throttled: IMAP_ERR_THROTTLED at once (err->msg says for
 *      how many more seconds; also in *retry_after_s when non-NULL);
 *   2. an idle session of the same key, the most recently used first
 *      (*fresh = false), once imap_session_check (no waiting, nothing
 *      sent) finds nothing wrong with it; one the server has left (BYE
 *      or EOF read) is dropped (counted as discarded) and the next tried;
 *   3. room for a new session of this key (fewer than per_user sessions and
 *      login budget left for the user; the pool below max_sessions, or an
 *      idle session of another key to evict, least recently used first):
 *      connect, log in or authenticate with OAuth, ENABLE, all outside the
 *      lock and bounded by min(deadline, now + connect_timeout_ms)
 *      (*fresh = true);
 *   4. otherwise wait until a session of this key is released or a slot
 *      frees, then try again; when the deadline passes, IMAP_ERR_BUSY.
 * A reused session can still turn out dead (the server left it after the
 * check): callers retry an idempotent request once on a fresh session, and
 * any request whose commands never left this process (see
 * imap_session_bytes_sent).
 *
 * Returns 0 and sets *out (borrowed until imap_pool_release; do not free
 * it, and do not change its owner pointer) and *fresh; or IMAP_ERR_AUTH
 * (the server refused the credentials; counted against the user),
 * IMAP_ERR_THROTTLED, IMAP_ERR_BUSY, IMAP_ERR_INVALID (no user or secret,
 * a user name longer than IMAP_POOL_USER_MAX), IMAP_ERR_UNSUPPORTED (no
 * mechanism for this kind of credential, or a PREAUTH greeting, under which
 * the credentials could not be checked; not counted), or a connection error
 * (IMAP_ERR_CONNECT, _RESOLVE, _TIMEOUT, _TLS, _TLS_VERIFY, _IO, _BYE,
 * _PROTOCOL ...), or IMAP_ERR_NOMEM. err (may be NULL) is filled on
 * failure. fresh and retry_after_s may be NULL. Blocks: for the wait, the
 * LOGOUT of sessions it closes on its way (expired, or evicted for room;
 * each bounded by IMAP_POOL_LOGOUT_MS and the deadline) and the login.
 */
int imap_pool_acquire(struct imap_pool *p, const struct imap_credentials *cred, int64_t deadline,
                      struct imap_session **out, bool *fresh, unsigned *retry_after_s,
                      struct imap_error *err);

/* Whether the server is known to accept cred now: the pool holds a session
 * (idle or borrowed) that logged in with exactly these credentials, and
 * the user is not throttled. What a reused session would prove, without
 * borrowing one. Blocks only for the pool's lock. */
bool imap_pool_vouches(struct imap_pool *p, const struct imap_credentials *cred);

/*
 * Borrow a session for work nobody waits for (loading an index), only when
 * that takes nothing from a request: an idle session of cred's key (never a
 * new login, so only credentials the server accepted already), while no
 * acquire waits in the pool and the user is not throttled. Never waits.
 * Returns 0 and sets *out (give it back with imap_pool_release, as soon as
 * imap_pool_wanted says so), or IMAP_ERR_BUSY, or IMAP_ERR_INVALID.
 */
int imap_pool_acquire_spare(struct imap_pool *p, const struct imap_credentials *cred,
                            struct imap_session **out);

/* Whether an acquire waits in the pool now (for a session or a slot): a
 * holder of a spare session should give it back. */
bool imap_pool_wanted(struct imap_pool *p);

/* Give back a session borrowed from p (the caller's pointer is dead
 * afterwards). A broken one (imap_session_state() == IMAP_SESSION_BROKEN)
 * is freed and its slot given up; otherwise it becomes idle, stamped now,
 * and one waiter is woken. Does not block on the network. */
void imap_pool_release(struct imap_pool *p, struct imap_session *s);

/* Log out sessions idle for longer than idle_s (for a periodic timer).
 * Blocks for the LOGOUTs, each bounded by IMAP_POOL_LOGOUT_MS, run outside
 * the lock. */
void imap_pool_reap(struct imap_pool *p);

struct imap_pool_stats {
	unsigned idle, busy, connecting, waiting;  /* now */
	unsigned long long created;        /* sessions opened */
	unsigned long long reused;         /* acquires answered with an idle session */
	unsigned long long evicted;        /* idle sessions closed to make room */
	unsigned long long expired;        /* idle sessions closed by reap */
	unsigned long long discarded;      /* broken sessions dropped on release */
	unsigned long long login_failures; /* IMAP_ERR_AUTH from the server */
	unsigned long long throttled;      /* acquires refused with IMAP_ERR_THROTTLED */
};

/* A consistent snapshot of the counters. */
void imap_pool_stats(struct imap_pool *p, struct imap_pool_stats *out);

/* For tests: the clock the pool stamps idle sessions and failed logins with
 * (milliseconds; default imap_now_ms). Deadlines are always imap_now_ms
 * based. NULL restores the default. Call before the pool is shared. */
typedef int64_t imap_pool_clock_fn(void *ctx);
void imap_pool_set_clock(struct imap_pool *p, imap_pool_clock_fn *now_ms, void *ctx);

#endif
