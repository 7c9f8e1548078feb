/*
 * imap/pool.c — the session pool. See pool.h for the contract.
 *
 * One mutex guards everything; the network is only touched with it
 * released. An acquire that needs a new session reserves its slot under the
 * lock (counted as "connecting", in its key's total and in its user's logins
 * in flight), connects and logs in unlocked, then publishes the result.
 * Sessions closed by the pool (evicted, expired) are unlinked under the lock
 * and logged out after it is released; from then on they no longer count.
 *
 * Waiting: each waiting acquire has its own condition variable (on
 * CLOCK_MONOTONIC, the clock deadlines are on) in one FIFO list. Every
 * event that may let a waiter go on (a session released, a slot freed, a
 * login finished) signals the first waiter that the new state lets go on,
 * preferring one waiting for an idle session of its own key, so a released
 * session goes back to its key before anyone would evict it, and a freed
 * slot goes to whichever key, of any user, can use it: a user whose
 * sessions are all busy does not hold up anyone else. A signalled waiter
 * re-examines the whole state, and passes the signal on when it leaves
 * without having used it, so no event is lost.
 */
#include "imap/pool.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "imap/conn.h"

#define MAC_KEY_LEN 32          /* per-pool random HMAC key */
#define FP_LEN 32               /* HMAC-SHA256 output */
#define GROUP_BUCKETS_MAX (1u << 16)
#define USER_BUCKETS 16384u     /* a power of two near IMAP_POOL_USERS_MAX */

/* ---- intrusive circular lists with a sentinel head ---- */

struct link {
	struct link *prev, *next;
};

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static void list_init(struct link *head)
{
	head->prev = head->next = head;
}

static bool list_empty(const struct link *head)
{
	return head->next == head;
}

static void list_insert(struct link *l, struct link *prev, struct link *next)
{
	l->prev = prev;
	l->next = next;
	prev->next = l;
	next->prev = l;
}

static void list_push_front(struct link *head, struct link *l)
{
	list_insert(l, head, head->next);
}

static void list_push_back(struct link *head, struct link *l)
{
	list_insert(l, head->prev, head);
}

static void list_unlink(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	list_init(l);
}

/* ---- the pool's records ---- */

/* All sessions of one key. Lives while it has sessions or an acquire holds it. */
struct pool_group {
	struct pool_group *hnext;   /* hash chain */
	uint64_t uhash;             /* keyed hash of the user: bucket, and its failure record */
	char *user;
	enum imap_cred_kind kind;
	unsigned char fp[FP_LEN];   /* HMAC of the secret */
	struct link idle;           /* idle entries, most recently used first */
	unsigned total;             /* idle + busy + connecting sessions */
	unsigned connecting;        /* of total: not logged in yet */
	unsigned refs;              /* acquires using it (waiting or connecting) */
};

/* One session; the session's owner pointer leads here. */
struct pool_entry {
	struct imap_pool *pool;
	struct pool_group *g;       /* NULL once detached for closing */
	struct imap_session *s;
	int64_t idle_since;         /* pool clock */
	bool idle;
	struct link in_group;       /* in g->idle while idle */
	struct link in_pool;        /* in pool->idle_lru while idle; a close list after */
};

/* Failed-login memory of one user, kept while it has failures or logins in
 * flight. A record with logins in flight is never dropped. */
struct pool_user {
	struct pool_user *hnext;
	uint64_t hash;
	char *name;
	struct link age;            /* in pool->users_age, least recently failed first */
	unsigned fails;             /* counted since window_start */
	unsigned inflight;          /* logins of this user under way */
	int64_t window_start;       /* pool clock of the first counted failure */
	int64_t throttled_until;    /* pool clock; 0: not throttled */
};

/* An acquire waiting for a session or a slot. */
struct pool_waiter {
	struct link link;           /* in pool->waiters, oldest first */
	struct pool_group *g;
	pthread_cond_t cond;
	bool signalled;
};

struct imap_pool {
	pthread_mutex_t lock;
	pthread_condattr_t condattr;   /* CLOCK_MONOTONIC */
	bool lock_ok, condattr_ok;

	struct imap_client_config client;  /* .host points at host */
	char *host;
	unsigned per_user, max_sessions, login_fail_max;
	int64_t idle_ms, connect_ms, fail_window_ms, wait_ms;

	EVP_MAC *mac;
	unsigned char mac_key[MAC_KEY_LEN];
	imap_pool_clock_fn *clock;
	void *clock_ctx;

	struct pool_group **groups;
	size_t group_mask;
	struct pool_user **users;
	unsigned nusers;
	struct link users_age;
	struct link idle_lru;          /* every idle entry, most recently released first */
	struct link waiters;

	unsigned idle, busy, connecting, waiting;
	struct imap_pool_stats st;     /* the counters; the four above are copied in */
};

static int64_t pool_now(const struct imap_pool *p)
{
	return p->clock ? p->clock(p->clock_ctx) : imap_now_ms();
}

static unsigned pool_total(const struct imap_pool *p)
{
	return p->idle + p->busy + p->connecting;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* HMAC-SHA256 of data under the pool's key. Returns 0 or -1. */
static int pool_mac(const struct imap_pool *p, const void *data, size_t len,
                    unsigned char out[FP_LEN])
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;
	int rc = -1;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(p->mac);
	if (!ctx)
		goto out;
	if (EVP_MAC_init(ctx, p->mac_key, sizeof p->mac_key, params) != 1 ||
	    EVP_MAC_update(ctx, data, len) != 1 ||
	    EVP_MAC_final(ctx, out, &outlen, FP_LEN) != 1 || outlen != FP_LEN)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

static uint64_t first64(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Small internal objects: out of memory here is not recoverable in any
 * useful way (STYLE: allocation policy). */
static void *xcalloc(size_t n, size_t size)
{
	void *q = calloc(n, size);
	if (!q)
		abort();
	return q;
}

static char *xstrdup(const char *s)
{
	char *q = strdup(s);
	if (!q)
		abort();
	return q;
}

/* ---- keys ---- */

/* The group of (user, kind, fp), created when missing. */
static struct pool_group *group_get(struct imap_pool *p, const char *user, uint64_t uhash,
                                    enum imap_cred_kind kind, const unsigned char fp[FP_LEN])
{
	/* The bucket depends on the user alone, so the fingerprint is only ever
	 * compared in constant time. */
	struct pool_group **bucket = &p->groups[uhash & p->group_mask];
	for (struct pool_group *g = *bucket; g; g = g->hnext)
		if (g->uhash == uhash && g->kind == kind && strcmp(g->user, user) == 0 &&
		    CRYPTO_memcmp(g->fp, fp, FP_LEN) == 0)
			return g;
	struct pool_group *g = xcalloc(1, sizeof *g);
	g->uhash = uhash;
	g->user = xstrdup(user);
	g->kind = kind;
	memcpy(g->fp, fp, FP_LEN);
	list_init(&g->idle);
	g->hnext = *bucket;
	*bucket = g;
	return g;
}

/* Free g when nothing refers to it any more. */
static void group_put(struct imap_pool *p, struct pool_group *g)
{
	if (g->total || g->refs)
		return;
	struct pool_group **pp = &p->groups[g->uhash & p->group_mask];
	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	free(g->user);
	free(g);
}

/* ---- failed-login memory ---- */

static struct pool_user *user_find(struct imap_pool *p, uint64_t hash, const char *name)
{
	for (struct pool_user *u = p->users[hash & (USER_BUCKETS - 1)]; u; u = u->hnext)
		if (u->hash == hash && strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

static void user_remove(struct imap_pool *p, struct pool_user *u)
{
	struct pool_user **pp = &p->users[u->hash & (USER_BUCKETS - 1)];
	while (*pp != u)
		pp = &(*pp)->hnext;
	*pp = u->hnext;
	list_unlink(&u->age);
	p->nusers--;
	free(u->name);
	free(u);
}

/* Drop u when it no longer remembers anything. Returns u, or NULL when dropped. */
static struct pool_user *user_put(struct imap_pool *p, struct pool_user *u)
{
	if (u->fails || u->inflight || u->throttled_until)
		return u;
	user_remove(p, u);
	return NULL;
}

/* Forget failures whose window (or throttle) has passed. */
static void user_refresh(const struct imap_pool *p, struct pool_user *u, int64_t now)
{
	if (u->throttled_until) {
		if (now < u->throttled_until)
			return;
		u->throttled_until = 0;
		u->fails = 0;
	} else if (u->fails && now - u->window_start >= p->fail_window_ms) {
		u->fails = 0;
	}
}

/* The record of a user, created when missing. When IMAP_POOL_USERS_MAX are
 * remembered, the oldest one without a login in flight is dropped; those
 * with one are bounded by the connecting slots. */
static struct pool_user *user_get(struct imap_pool *p, uint64_t hash, const char *name)
{
	struct pool_user *u = user_find(p, hash, name);
	if (u)
		return u;
	if (p->nusers >= IMAP_POOL_USERS_MAX) {
		for (struct link *l = p->users_age.next; l != &p->users_age; l = l->next) {
			struct pool_user *old = CONTAINER_OF(l, struct pool_user, age);
			if (!old->inflight) {
				user_remove(p, old);
				break;
			}
		}
	}
	u = xcalloc(1, sizeof *u);
	u->hash = hash;
	u->name = xstrdup(name);
	list_push_back(&p->users_age, &u->age);
	struct pool_user **bucket = &p->users[hash & (USER_BUCKETS - 1)];
	u->hnext = *bucket;
	*bucket = u;
	p->nusers++;
	return u;
}

static void user_failed(struct imap_pool *p, struct pool_user *u, int64_t now)
{
	user_refresh(p, u, now);
	if (!u->fails)
		u->window_start = now;
	u->fails++;
	if (u->fails >= p->login_fail_max && !u->throttled_until)
		u->throttled_until = now + p->fail_window_ms;
	list_unlink(&u->age);
	list_push_back(&p->users_age, &u->age);
}

/* May a new login for this user start (u may be NULL)? Once the server
 * has refused one, the user's logins go one at a time: a guesser's tries
 * then cost one connection and one wait at the server each, and a burst of
 * them cannot hold more of the pool than one login. */
static bool user_budget_left(const struct imap_pool *p, const struct pool_user *u)
{
	if (!u)
		return true;
	if (u->fails && u->inflight)
		return false;
	return u->fails + u->inflight < p->login_fail_max;
}

/* ---- waking waiters ---- */

static void signal_waiter(struct pool_waiter *w)
{
	w->signalled = true;
	pthread_cond_signal(&w->cond);
}

/* Could w go on now (take a session, open one, or learn it is throttled)? */
static bool waiter_can_go_on(struct imap_pool *p, const struct pool_waiter *w, int64_t now)
{
	const struct pool_group *g = w->g;
	if (!list_empty(&g->idle))
		return true;
	const struct pool_user *u = user_find(p, g->uhash, g->user);
	if (u && u->throttled_until && now < u->throttled_until)
		return true;
	if (g->total >= p->per_user || !user_budget_left(p, u))
		return false;
	return pool_total(p) < p->max_sessions || p->idle > 0;
}

/* Signal the first waiter (not signalled yet) that the state lets go on:
 * one waiting for an idle session of its own key first. */
static void wake_next(struct imap_pool *p)
{
	struct link *l;
	for (l = p->waiters.next; l != &p->waiters; l = l->next) {
		struct pool_waiter *w = CONTAINER_OF(l, struct pool_waiter, link);
		if (!w->signalled && !list_empty(&w->g->idle)) {
			signal_waiter(w);
			return;
		}
	}
	int64_t now = pool_now(p);
	for (l = p->waiters.next; l != &p->waiters; l = l->next) {
		struct pool_waiter *w = CONTAINER_OF(l, struct pool_waiter, link);
		if (!w->signalled && waiter_can_go_on(p, w, now)) {
			signal_waiter(w);
			return;
		}
	}
}

/* A login of g's user finished: its budget or throttle changed for every
 * waiter of that user, whatever the key. */
static void wake_user(struct imap_pool *p, const struct pool_group *g)
{
	for (struct link *l = p->waiters.next; l != &p->waiters; l = l->next) {
		struct pool_waiter *w = CONTAINER_OF(l, struct pool_waiter, link);
		if (w->g->uhash == g->uhash && strcmp(w->g->user, g->user) == 0)
			signal_waiter(w);
	}
}

/* ---- idle sessions ---- */

/* Take an idle entry out of the pool (for closing): it no longer counts. */
static void detach_idle(struct imap_pool *p, struct pool_entry *e)
{
	list_unlink(&e->in_group);
	list_unlink(&e->in_pool);
	e->idle = false;
	p->idle--;
	e->g->total--;
	group_put(p, e->g);
	e->g = NULL;
}

/* Move up to `max` entries idle for longer than idle_ms to `closing`. */
static void collect_expired(struct imap_pool *p, int64_t now, struct link *closing, unsigned max)
{
	for (unsigned n = 0; n < max && !list_empty(&p->idle_lru); n++) {
		struct pool_entry *e = CONTAINER_OF(p->idle_lru.prev, struct pool_entry, in_pool);
		if (now - e->idle_since <= p->idle_ms)
			break;
		detach_idle(p, e);
		list_push_back(closing, &e->in_pool);
		p->st.expired++;
		wake_next(p);  /* a slot is free */
	}
}

/* LOGOUT (each bounded by min(now + IMAP_POOL_LOGOUT_MS, deadline)) and
 * free the entries on `closing`. Called without the lock. */
static void close_entries(struct link *closing, int64_t deadline)
{
	while (!list_empty(closing)) {
		struct pool_entry *e = CONTAINER_OF(closing->next, struct pool_entry, in_pool);
		list_unlink(&e->in_pool);
		imap_session_logout(&e->s, min64(imap_now_ms() + IMAP_POOL_LOGOUT_MS, deadline));
		free(e);
	}
}

/* ---- creating and destroying ---- */

static unsigned or_default(unsigned v, unsigned def)
{
	return v ? v : def;
}

static void pool_destroy(struct imap_pool *p)
{
	if (!p)
		return;
	if (p->users) {
		for (unsigned b = 0; b < USER_BUCKETS; b++)
			while (p->users[b])
				user_remove(p, p->users[b]);
		free(p->users);
	}
	free(p->groups);  /* empty: groups go with their last session and acquire */
	EVP_MAC_free(p->mac);
	OPENSSL_cleanse(p->mac_key, sizeof p->mac_key);
	free(p->host);
	if (p->condattr_ok)
		pthread_condattr_destroy(&p->condattr);
	if (p->lock_ok)
		pthread_mutex_destroy(&p->lock);
	free(p);
}

struct imap_pool *imap_pool_new(const struct imap_pool_config *cfg)
{
	if (!cfg || !cfg->client.host ||
	    (cfg->client.tls_mode != IMAP_TLS_NONE && !cfg->client.tls))
		return NULL;
	struct imap_pool *p = calloc(1, sizeof *p);
	if (!p)
		goto fail;
	list_init(&p->users_age);
	list_init(&p->idle_lru);
	list_init(&p->waiters);
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto fail;
	p->lock_ok = true;
	if (pthread_condattr_init(&p->condattr) != 0)
		goto fail;
	p->condattr_ok = true;
	if (pthread_condattr_setclock(&p->condattr, CLOCK_MONOTONIC) != 0)
		goto fail;

	p->client = cfg->client;
	if (!(p->host = strdup(cfg->client.host)))
		goto fail;
	p->client.host = p->host;
	p->per_user = or_default(cfg->per_user, IMAP_POOL_PER_USER_DEFAULT);
	p->max_sessions = or_default(cfg->max_sessions, IMAP_POOL_MAX_SESSIONS_DEFAULT);
	p->login_fail_max = or_default(cfg->login_fail_max, IMAP_POOL_LOGIN_FAIL_MAX_DEFAULT);
	p->idle_ms = 1000 * (int64_t)or_default(cfg->idle_s, IMAP_POOL_IDLE_S_DEFAULT);
	p->connect_ms = or_default(cfg->connect_timeout_ms, IMAP_POOL_CONNECT_TIMEOUT_MS_DEFAULT);
	p->wait_ms = cfg->wait_ms;
	p->fail_window_ms = 1000 * (int64_t)or_default(cfg->login_fail_window_s,
	                                               IMAP_POOL_LOGIN_FAIL_WINDOW_S_DEFAULT);

	size_t nb = 16;
	while (nb < p->max_sessions && nb < GROUP_BUCKETS_MAX)
		nb *= 2;
	p->group_mask = nb - 1;
	if (!(p->groups = calloc(nb, sizeof *p->groups)) ||
	    !(p->users = calloc(USER_BUCKETS, sizeof *p->users)))
		goto fail;
	if (RAND_bytes(p->mac_key, sizeof p->mac_key) != 1 ||
	    !(p->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
		goto fail;
	return p;
fail:
	pool_destroy(p);
	return NULL;
}

void imap_pool_set_clock(struct imap_pool *p, imap_pool_clock_fn *now_ms, void *ctx)
{
	pthread_mutex_lock(&p->lock);
	p->clock = now_ms;
	p->clock_ctx = ctx;
	pthread_mutex_unlock(&p->lock);
}

void imap_pool_free(struct imap_pool **pp, int64_t deadline)
{
	if (!pp || !*pp)
		return;
	struct imap_pool *p = *pp;
	*pp = NULL;
	struct link closing;
	list_init(&closing);
	pthread_mutex_lock(&p->lock);
	if (p->busy || p->connecting || p->waiting) {
		fprintf(stderr, "imap_pool_free: %u sessions borrowed, %u connecting, %u waiting\n",
		        p->busy, p->connecting, p->waiting);
		abort();
	}
	while (!list_empty(&p->idle_lru)) {
		struct pool_entry *e = CONTAINER_OF(p->idle_lru.next, struct pool_entry, in_pool);
		detach_idle(p, e);
		list_push_back(&closing, &e->in_pool);
	}
	pthread_mutex_unlock(&p->lock);
	close_entries(&closing, deadline);
	pool_destroy(p);
}

/* ---- borrowing ---- */

/* Connect, authenticate and ENABLE. Returns 0 and sets *out, or an error
 * (nothing to free then); *in_login tells whether the error came while the
 * credentials were being checked (ID and the login itself). */
static int open_session(struct imap_pool *p, const struct imap_credentials *cred,
                        int64_t deadline, struct imap_session **out, bool *in_login,
                        struct imap_error *err)
{
	struct imap_session *s = NULL;
	*in_login = false;
	int rc = imap_session_connect(&s, &p->client, deadline, err);
	if (rc)
		goto out;
	if (imap_session_state(s) != IMAP_SESSION_NOT_AUTHENTICATED) {
		/* PREAUTH: whoever connects is let in, so the pool could not tell a
		 * right secret from a wrong one. */
		rc = imap_error_set(err, IMAP_ERR_UNSUPPORTED, "the server pre-authenticated "
		                    "the connection: credentials cannot be checked");
		goto out;
	}
	*in_login = true;
	/* Who is logging in, so the server throttles failed logins per real
	 * client rather than per gateway. */
	if (cred->client_addr && (rc = imap_session_id_origin(s, cred->client_addr, deadline, err)))
		goto out;
	if (cred->kind == IMAP_CRED_TOKEN)
		rc = imap_session_authenticate_oauth(s, IMAP_MECH_AUTO, cred->user, cred->secret,
		                                     deadline, err);
	else
		rc = imap_session_login(s, IMAP_MECH_AUTO, cred->user, cred->secret, deadline, err);
	if (rc)
		goto out;
	*in_login = false;  /* accepted: what follows says nothing of the credentials */
	rc = imap_session_enable(s, deadline, err);
	if (rc == IMAP_ERR_NO || rc == IMAP_ERR_BAD)
		rc = 0;  /* usable, only without CONDSTORE / UTF8=ACCEPT */
	if (rc)
		goto out;
	*out = s;
	s = NULL;
out:
	/* not logged in, or broken: nothing to log out of */
	imap_session_free(&s);
	return rc;
}

static void deadline_timespec(int64_t deadline, struct timespec *ts)
{
	if (deadline < 0)
		deadline = 0;
	ts->tv_sec = (time_t)(deadline / 1000);
	ts->tv_nsec = (long)(deadline % 1000) * 1000000L;
}

/* The fingerprint of cred's secret and the keyed hash of its user; false
 * for credentials no acquire would take. */
static bool cred_key(const struct imap_pool *p, const struct imap_credentials *cred,
                     unsigned char fp[FP_LEN], uint64_t *uhash)
{
	if (!p || !cred || !cred->user || !cred->secret ||
	    (cred->kind != IMAP_CRED_PASSWORD && cred->kind != IMAP_CRED_TOKEN))
		return false;
	size_t ulen = strlen(cred->user);
	unsigned char uh[FP_LEN];
	if (ulen > IMAP_POOL_USER_MAX || pool_mac(p, cred->secret, strlen(cred->secret), fp) != 0 ||
	    pool_mac(p, cred->user, ulen, uh) != 0)
		return false;
	*uhash = first64(uh);
	return true;
}

/* The group of cred's key as it is (lock held); NULL when there is none or
 * the user is throttled (as in imap_pool_acquire, a throttled user is
 * refused before any match). */
static struct pool_group *group_now(struct imap_pool *p, const struct imap_credentials *cred,
                                    uint64_t uhash, const unsigned char fp[FP_LEN])
{
	struct pool_user *u = user_find(p, uhash, cred->user);
	if (u) {
		user_refresh(p, u, pool_now(p));
		bool throttled = u->throttled_until != 0;
		user_put(p, u);
		if (throttled)
			return NULL;
	}
	for (struct pool_group *g = p->groups[uhash & p->group_mask]; g; g = g->hnext)
		if (g->uhash == uhash && g->kind == cred->kind && strcmp(g->user, cred->user) == 0 &&
		    CRYPTO_memcmp(g->fp, fp, FP_LEN) == 0)
			return g;
	return NULL;
}

/* The most recently used idle session of g, now borrowed (lock held). */
static struct pool_entry *take_idle(struct imap_pool *p, struct pool_group *g)
{
	struct pool_entry *e = CONTAINER_OF(g->idle.next, struct pool_entry, in_group);
	list_unlink(&e->in_group);
	list_unlink(&e->in_pool);
	e->idle = false;
	p->idle--;
	p->busy++;
	p->st.reused++;
	return e;
}

bool imap_pool_vouches(struct imap_pool *p, const struct imap_credentials *cred)
{
	unsigned char fp[FP_LEN];
	uint64_t uhash;
	if (!cred_key(p, cred, fp, &uhash))
		return false;
	pthread_mutex_lock(&p->lock);
	const struct pool_group *g = group_now(p, cred, uhash, fp);
	bool yes = g && g->total > g->connecting;
	pthread_mutex_unlock(&p->lock);
	return yes;
}

int imap_pool_acquire(struct imap_pool *p, const struct imap_credentials *cred, int64_t deadline,
                      struct imap_session **out, bool *fresh, unsigned *retry_after_s,
                      struct imap_error *err)
{
	if (out)
		*out = NULL;
	if (fresh)
		*fresh = false;
	if (retry_after_s)
		*retry_after_s = 0;
	if (!p || !cred || !cred->user || !cred->secret || !out ||
	    (cred->kind != IMAP_CRED_PASSWORD && cred->kind != IMAP_CRED_TOKEN))
		return imap_error_set(err, IMAP_ERR_INVALID, "no pool, credentials or result");
	size_t ulen = strlen(cred->user);
	if (ulen > IMAP_POOL_USER_MAX)
		return imap_error_set(err, IMAP_ERR_INVALID, "user name longer than %u bytes",
		                      IMAP_POOL_USER_MAX);
	unsigned char fp[FP_LEN], uh[FP_LEN];
	if (pool_mac(p, cred->secret, strlen(cred->secret), fp) != 0 ||
	    pool_mac(p, cred->user, ulen, uh) != 0)
		return imap_error_set(err, IMAP_ERR_NOMEM, "HMAC failed");
	uint64_t uhash = first64(uh);
	/* Waiting for a free session ends at wait_deadline; connecting may use
	 * the whole deadline. */
	int64_t wait_deadline = p->wait_ms ? min64(deadline, imap_now_ms() + p->wait_ms) : deadline;

again:;
	struct link closing;
	list_init(&closing);
	struct pool_waiter w = {.g = NULL};
	bool queued = false, reserved = false;
	struct pool_entry *e = NULL;
	unsigned retry_s = 0;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	collect_expired(p, pool_now(p), &closing, IMAP_POOL_ACQUIRE_REAP_MAX);
	struct pool_group *g = group_get(p, cred->user, uhash, cred->kind, fp);
	g->refs++;
	for (;;) {
		int64_t now = pool_now(p);
		/* 1. throttled: before anything else, even a matching idle session
		 * (else the fingerprint match would be a guessing oracle) */
		struct pool_user *u = user_find(p, uhash, cred->user);
		if (u) {
			user_refresh(p, u, now);
			if (u->throttled_until) {
				int64_t left = u->throttled_until - now;
				retry_s = (unsigned)((left + 999) / 1000);
				if (retry_s == 0)
					retry_s = 1;
				p->st.throttled++;
				rc = IMAP_ERR_THROTTLED;
				break;
			}
			u = user_put(p, u);
		}
		/* 2. an idle session of this key, most recently used first */
		if (!list_empty(&g->idle)) {
			e = take_idle(p, g);
			break;
		}
		/* 3. room for a new one, evicting another key's idle session if full */
		if (g->total < p->per_user && user_budget_left(p, u)) {
			if (pool_total(p) >= p->max_sessions && !list_empty(&p->idle_lru)) {
				struct pool_entry *victim =
					CONTAINER_OF(p->idle_lru.prev, struct pool_entry, in_pool);
				detach_idle(p, victim);
				list_push_back(&closing, &victim->in_pool);
				p->st.evicted++;
			}
			if (pool_total(p) < p->max_sessions) {
				g->total++;
				g->connecting++;
				p->connecting++;
				user_get(p, uhash, cred->user)->inflight++;
				reserved = true;
				break;
			}
		}
		/* 4. wait */
		if (imap_now_ms() >= wait_deadline) {
			rc = IMAP_ERR_BUSY;
			break;
		}
		if (!queued) {
			if (pthread_cond_init(&w.cond, &p->condattr) != 0) {
				rc = IMAP_ERR_NOMEM;
				break;
			}
			w.g = g;
			list_push_back(&p->waiters, &w.link);
			p->waiting++;
			queued = true;
		}
		w.signalled = false;
		struct timespec ts;
		deadline_timespec(wait_deadline, &ts);
		pthread_cond_timedwait(&w.cond, &p->lock, &ts);
	}
	if (queued) {
		list_unlink(&w.link);
		p->waiting--;
		if (w.signalled)
			wake_next(p);  /* what we were woken for may serve someone else */
		pthread_cond_destroy(&w.cond);
	}
	if (!reserved) {
		g->refs--;
		group_put(p, g);
	}
	pthread_mutex_unlock(&p->lock);

	close_entries(&closing, deadline);
	if (rc == 0 && !reserved) {
		/* An idle session the server has left (BYE, closed) is never
		 * handed out: dropped, and the next one tried, or a new one. */
		struct imap_error why;
		if (imap_session_check(e->s, &why) != 0) {
			imap_pool_release(p, e->s);
			goto again;
		}
		*out = e->s;
		return 0;
	}
	if (rc == IMAP_ERR_THROTTLED) {
		if (retry_after_s)
			*retry_after_s = retry_s;
		return imap_error_set(err, rc, "too many failed logins: retry in %u s", retry_s);
	}
	if (rc == IMAP_ERR_BUSY)
		return imap_error_set(err, rc, "no session for this user became free in time");
	if (rc)
		return imap_error_set(err, rc, "cannot wait for a session");

	/* The slot is ours: connect and log in without the lock. */
	struct imap_session *s = NULL;
	bool in_login = false;
	rc = open_session(p, cred, min64(deadline, imap_now_ms() + p->connect_ms), &s, &in_login,
	                  err);

	pthread_mutex_lock(&p->lock);
	int64_t now = pool_now(p);
	struct pool_user *u = user_get(p, uhash, cred->user);  /* found: inflight > 0 kept it */
	u->inflight--;
	p->connecting--;
	g->connecting--;
	if (rc == 0) {
		u->fails = 0;
		u->throttled_until = 0;
		e = xcalloc(1, sizeof *e);
		e->pool = p;
		e->g = g;
		e->s = s;
		list_init(&e->in_group);
		list_init(&e->in_pool);
		imap_session_set_owner(s, e);
		p->busy++;
		p->st.created++;
	} else {
		/* A server that answers refused logins ever more slowly (Dovecot's
		 * per-address penalty: 2, 4, 8, 15 s) makes the next tries time
		 * out instead: after a refusal, such a timeout counts as one too,
		 * or the throttle would never be reached. */
		user_refresh(p, u, now);
		if (rc == IMAP_ERR_AUTH || (rc == IMAP_ERR_TIMEOUT && in_login && u->fails)) {
			user_failed(p, u, now);
			p->st.login_failures++;
		}
		g->total--;
		wake_next(p);  /* the slot is free again */
	}
	user_put(p, u);
	wake_user(p, g);
	g->refs--;
	group_put(p, g);
	pthread_mutex_unlock(&p->lock);

	if (rc)
		return rc;
	*out = s;
	if (fresh)
		*fresh = true;
	return 0;
}

int imap_pool_acquire_spare(struct imap_pool *p, const struct imap_credentials *cred,
                            struct imap_session **out)
{
	unsigned char fp[FP_LEN];
	uint64_t uhash;
	if (out)
		*out = NULL;
	if (!out || !cred_key(p, cred, fp, &uhash))
		return IMAP_ERR_INVALID;
	struct pool_entry *e = NULL;
	pthread_mutex_lock(&p->lock);
	struct pool_group *g = p->waiting ? NULL : group_now(p, cred, uhash, fp);
	if (g && !list_empty(&g->idle))
		e = take_idle(p, g);
	pthread_mutex_unlock(&p->lock);
	if (!e)
		return IMAP_ERR_BUSY;
	struct imap_error why;
	if (imap_session_check(e->s, &why) != 0) {
		imap_pool_release(p, e->s);  /* the server has left it: dropped */
		return IMAP_ERR_BUSY;
	}
	*out = e->s;
	return 0;
}

bool imap_pool_wanted(struct imap_pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool wanted = p->waiting > 0;
	pthread_mutex_unlock(&p->lock);
	return wanted;
}

void imap_pool_release(struct imap_pool *p, struct imap_session *s)
{
	if (!p || !s)
		return;
	struct pool_entry *e = imap_session_owner(s);
	if (!e || e->pool != p || e->idle || e->s != s) {
		fprintf(stderr, "imap_pool_release: not a borrowed session of this pool\n");
		abort();
	}
	bool keep = imap_session_state(s) == IMAP_SESSION_AUTHENTICATED;
	pthread_mutex_lock(&p->lock);
	p->busy--;
	if (keep) {
		e->idle = true;
		e->idle_since = pool_now(p);
		list_push_front(&e->g->idle, &e->in_group);
		list_push_front(&p->idle_lru, &e->in_pool);
		p->idle++;
	} else {
		p->st.discarded++;
		e->g->total--;
		group_put(p, e->g);
		e->g = NULL;
	}
	wake_next(p);
	pthread_mutex_unlock(&p->lock);
	if (!keep) {
		imap_session_free(&e->s);
		free(e);
	}
}

void imap_pool_reap(struct imap_pool *p)
{
	if (!p)
		return;
	struct link closing;
	list_init(&closing);
	pthread_mutex_lock(&p->lock);
	collect_expired(p, pool_now(p), &closing, UINT_MAX);
	pthread_mutex_unlock(&p->lock);
	close_entries(&closing, INT64_MAX);
}

void imap_pool_stats(struct imap_pool *p, struct imap_pool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	out->idle = p->idle;
	out->busy = p->busy;
	out->connecting = p->connecting;
	out->waiting = p->waiting;
	pthread_mutex_unlock(&p->lock);
}
