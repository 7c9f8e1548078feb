/*
 * imap/watch.c — live changes of folders. See watch.h.
 *
 * One lock (hub->mu) guards the lists, every watch's members and the
 * counters; events are handed over outside it, to subscribers pinned by a
 * reference. A subscriber is referenced by the hub's list and by each
 * watch it is a member of; the last reference calls on_release.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "imap/watch.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define WATCH_STACK (256 * 1024)

struct member {
	struct imap_watch_sub *sub;
	size_t folder;            /* index in the subscriber's folders */
	bool caught_up;           /* the changes since its own state were handed over */
};

struct watch {
	struct imap_watch_hub *hub;
	unsigned char key[IMAP_WATCH_KEY_LEN];
	char *folder;
	enum imap_cred_kind kind;
	char *user, *secret;
	int wake[2];              /* a byte in wake[1] ends a wait */
	struct member *m;
	size_t n, cap;
	bool idling;
	bool notified;            /* the user's notifier wakes it (see below); hub->mu */
};

/* With NOTIFY (RFC 5465) one session per user waits for news of all the
 * user's watched folders: NOTIFY SET names them (the session has no mailbox
 * selected), IDLE waits, and a STATUS wakes the watch of that folder. Such
 * a watch holds no session while it waits: it borrows one from the pool for
 * each round (the changes, then back). A new set of folders gets a new
 * session (Dovecot 2.3 tells nothing after a second NOTIFY SET), and a
 * session that had NOTIFY is closed, never lent again. */
struct notifier {
	struct imap_watch_hub *hub;
	unsigned char key[IMAP_WATCH_KEY_LEN];
	enum imap_cred_kind kind;
	char *user, *secret;
	int wake[2];
	unsigned gen;             /* bumped when the user's notified folders change */
	bool idling;
};

struct imap_watch_sub {
	struct imap_watch_hub *hub;
	atomic_int refs;
	atomic_bool dead, started;
	unsigned char key[IMAP_WATCH_KEY_LEN];
	imap_watch_event_fn *on_event;
	imap_watch_release_fn *on_release;
	void *ctx;
	size_t n;
	struct imap_state *since;  /* per folder */
	struct watch **w;          /* per folder */
};

struct imap_watch_hub {
	struct imap_watch_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t changed;    /* threads ended, or stop asked */
	pthread_cond_t began;      /* a subscriber was started or cancelled */
	struct watch **w;
	size_t nw, capw;
	struct imap_watch_sub **s;
	size_t ns, caps;
	struct notifier **nt;
	size_t nnt, capnt;
	bool notify_refused;       /* the server refused NOTIFY or its IDLE once */
	unsigned threads;          /* watch and notifier threads running */
	bool stopping, stopped;
	pthread_t clock;
	bool clock_started;
};

/* ---- subscribers ---- */

static void sub_unref(struct imap_watch_sub *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	s->on_release(s->ctx);
	free(s->since);
	free(s->w);
	free(s);
}

/* Hand ev to s unless it is dead or not started; a refusal kills it. */
static void deliver(struct imap_watch_sub *s, const struct imap_watch_event *ev)
{
	if (atomic_load(&s->dead) || !atomic_load(&s->started))
		return;
	if (s->on_event(s->ctx, ev) != 0 || ev->final)
		atomic_store(&s->dead, true);
}

static void wake(struct watch *w)
{
	char b = 1;
	ssize_t rc = write(w->wake[1], &b, 1);  /* a full pipe is awake already */
	(void)rc;
}

/* ---- watches ---- */

static void watch_free(struct watch *w)
{
	if (w->secret)
		OPENSSL_cleanse(w->secret, strlen(w->secret));
	free(w->secret);
	free(w->user);
	free(w->folder);
	free(w->m);
	close(w->wake[0]);
	close(w->wake[1]);
	free(w);
}

/* The started members of w, pinned, into *out (caller unrefs and frees);
 * only those caught up, or only those not yet, as asked. */
static size_t members(struct watch *w, bool caught_up, struct member **out)
{
	struct imap_watch_hub *h = w->hub;
	pthread_mutex_lock(&h->mu);
	*out = malloc((w->n ? w->n : 1) * sizeof **out);
	size_t k = 0;
	for (size_t i = 0; *out && i < w->n; i++) {
		struct member *m = &w->m[i];
		if (m->caught_up != caught_up || !atomic_load(&m->sub->started) ||
		    atomic_load(&m->sub->dead))
			continue;
		atomic_fetch_add(&m->sub->refs, 1);
		(*out)[k++] = *m;
	}
	pthread_mutex_unlock(&h->mu);
	return k;
}

static void unpin(struct member *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sub_unref(v[i].sub);
	free(v);
}

static void send_all(struct member *v, size_t n, struct imap_watch_event ev)
{
	for (size_t i = 0; i < n; i++) {
		ev.folder = v[i].folder;
		deliver(v[i].sub, &ev);
	}
}

static void error_all(struct watch *w, const char *detail, bool final)
{
	struct member *v;
	size_t n = members(w, true, &v);
	send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_ERROR, .detail = detail,
	                                         .final = final});
	unpin(v, n);
	n = members(w, false, &v);
	send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_ERROR, .detail = detail,
	                                         .final = final});
	unpin(v, n);
}

/* True when v[0..n) (n > 0) were all dropped: nobody is left to tell. */
static bool all_dead(const struct member *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!atomic_load(&v[i].sub->dead))
			return false;
	return n > 0;
}

/* The changes of w's folder since *state, handed to v[0..n); *state
 * becomes the new one (an intermediate one when every member of v was
 * dropped before the end: the rest is asked for next time). Returns 0 or
 * an error of the session. */
static int catch_up(struct watch *w, struct imap_session *s, struct imap_state *state,
                    struct member *v, size_t n)
{
	const struct imap_watch_config *cfg = &w->hub->cfg;
	for (;;) {
		struct imap_changes c;
		struct imap_error err = {0};
		int rc = imap_changes(s, w->folder, state, cfg->changes_max,
		                      imap_now_ms() + cfg->command_ms, &c, &err);
		if (rc)
			return rc;
		if (c.verdict != IMAP_CHANGES_OK) {
			imap_changes_free(&c);
			rc = imap_state_of(s, w->folder, true, imap_now_ms() + cfg->command_ms, state, &err);
			if (rc)
				return rc;
			send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_FOLDER_CHANGED,
			                                         .state = state});
			return 0;
		}
		*state = c.state;
		if (c.ncreated)
			send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_CREATED,
			                                         .uids = c.created, .n = c.ncreated,
			                                         .state = state});
		/* Without CONDSTORE every old message counts as updated: that
		 * says nothing worth pushing. */
		if (c.nupdated && c.method != IMAP_CHANGES_SEARCH)
			send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_UPDATED,
			                                         .uids = c.updated, .n = c.nupdated,
			                                         .state = state});
		if (c.ndestroyed)
			send_all(v, n, (struct imap_watch_event){.kind = IMAP_WATCH_DESTROYED,
			                                         .uids = c.destroyed, .n = c.ndestroyed,
			                                         .state = state});
		bool more = c.has_more;
		imap_changes_free(&c);
		if (!more || all_dead(v, n))
			return 0;
	}
}

/* Members that joined: each from its own state, then caught up. */
static int join_new(struct watch *w, struct imap_session *s)
{
	struct member *v;
	size_t n = members(w, false, &v);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct imap_state st = v[i].sub->since[v[i].folder];
		if (!(rc = catch_up(w, s, &st, &v[i], 1))) {
			pthread_mutex_lock(&w->hub->mu);
			for (size_t k = 0; k < w->n; k++)
				if (w->m[k].sub == v[i].sub && w->m[k].folder == v[i].folder)
					w->m[k].caught_up = true;
			pthread_mutex_unlock(&w->hub->mu);
		}
	}
	unpin(v, n);
	return rc;
}

/* Ends IDLE on news of the mailbox; "* OK still here" and the like do not. */
static int on_idle(void *ctx, const struct imap_response *r)
{
	(void)ctx;
	if (!r->args || r->args->count < 1)
		return 0;
	if (imap_value_is_atom(imap_value_at(r->args, 0), "VANISHED"))
		return 1;
	const struct imap_value *what = imap_value_at(r->args, 1);
	return imap_value_is_atom(what, "EXISTS") || imap_value_is_atom(what, "EXPUNGE") ||
	       imap_value_is_atom(what, "FETCH");
}

/* Wait on a wake pipe for up to ms (a stop or a new member ends it). */
static void nap_fd(int fd, unsigned ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rc;
	while ((rc = poll(&p, 1, (int)ms)) < 0 && errno == EINTR)
		;
}

static void nap(struct watch *w, unsigned ms)
{
	nap_fd(w->wake[0], ms);
}

static void drain_fd(int fd)
{
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void drain(struct watch *w)
{
	drain_fd(w->wake[0]);
}

/* A pooled session of the user whose credentials these are. */
static int acquire_as(const struct imap_watch_config *cfg, enum imap_cred_kind kind, char *user,
                      char *secret, struct imap_session **s, struct imap_error *err)
{
	struct imap_credentials cred = {.kind = kind, .user = user, .secret = secret};
	return imap_pool_acquire(cfg->pool, &cred, imap_now_ms() + cfg->command_ms, s, NULL, NULL,
	                         err);
}

/* A detached thread of the hub (counted in h->threads by the caller). */
static bool spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WATCH_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

/* The end of a watch or notifier thread: hub_stop may be waiting. */
static void thread_done(struct imap_watch_hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->threads--;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->mu);
}

/* ---- the notifier of a user ---- */

static bool grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 8;
	while (c < need)
		c *= 2;
	void *nv = realloc(*v, c * size);
	if (!nv)
		return false;
	*v = nv;
	*cap = c;
	return true;
}


static void notifier_free(struct notifier *n)
{
	if (n->secret)
		OPENSSL_cleanse(n->secret, strlen(n->secret));
	free(n->secret);
	free(n->user);
	if (n->wake[0] >= 0)
		close(n->wake[0]);
	if (n->wake[1] >= 0)
		close(n->wake[1]);
	free(n);
}

static bool same_folder(const char *a, const char *b)
{
	return strcmp(a, b) == 0 || (strcasecmp(a, "INBOX") == 0 && strcasecmp(b, "INBOX") == 0);
}

/* Wake the notified watches of key: all of them, or those of `folder`.
 * With hub->mu held. */
static void wake_notified(struct imap_watch_hub *h, const unsigned char *key,
                          const char *folder)
{
	for (size_t i = 0; i < h->nw; i++) {
		struct watch *w = h->w[i];
		if (w->notified && memcmp(w->key, key, IMAP_WATCH_KEY_LEN) == 0 &&
		    (!folder || same_folder(w->folder, folder)))
			wake(w);
	}
}

/* The server cannot notify: every watch goes back to its own IDLE.
 * With hub->mu held. */
static void notify_give_up(struct imap_watch_hub *h)
{
	h->notify_refused = true;
	for (size_t i = 0; i < h->nw; i++) {
		if (h->w[i]->notified) {
			h->w[i]->notified = false;
			wake(h->w[i]);
		}
	}
}

struct heard {
	struct imap_session *s;
	char *names[16];
	size_t n;
	bool all;        /* more than fit: wake them all */
	bool selected;   /* news of a selected mailbox (there should be none) */
};

/* Ends IDLE on any news: a STATUS names its mailbox. */
static int on_notify(void *ctx, const struct imap_response *r)
{
	struct heard *hd = ctx;
	if (!r->args || r->args->count < 1)
		return 0;
	const struct imap_value *kw = imap_value_at(r->args, 0);
	if (imap_value_is_atom(kw, "STATUS")) {
		const struct imap_value *name = imap_value_at(r->args, 1);
		struct imap_buf b;
		imap_buf_init(&b, 0);
		int rc = !imap_value_is_string(name) ? IMAP_ERR_INVALID
		         : name->len == 5 && strncasecmp(name->str, "INBOX", 5) == 0
		                 ? imap_buf_puts(&b, "INBOX")
		                 : imap_session_mailbox_decode(hd->s, name->str, name->len, &b);
		if (rc == 0 && b.data && hd->n < sizeof hd->names / sizeof hd->names[0])
			hd->names[hd->n++] = imap_buf_steal(&b);
		else
			hd->all = true;
		imap_buf_free(&b);
		return 1;
	}
	if (imap_value_is_atom(kw, "VANISHED")) {
		hd->selected = true;
		return 1;
	}
	const struct imap_value *what = imap_value_at(r->args, 1);
	if (imap_value_is_atom(what, "EXISTS") || imap_value_is_atom(what, "EXPUNGE") ||
	    imap_value_is_atom(what, "FETCH")) {
		hd->selected = true;
		return 1;
	}
	return 0;
}

/* NOTIFY SET for names[0..n). No mailbox is selected first (a pooled
 * session may have one, and Dovecot tells nothing of a selected mailbox
 * named in MAILBOXES): an EXAMINE of the empty name fails, and after a
 * failed EXAMINE none is. */
static int notify_set(struct imap_session *s, char *const *names, size_t n, int64_t deadline,
                      struct imap_error *err)
{
	static const char events[] = "(MessageNew MessageExpunge FlagChange)";
	if (imap_session_mailbox(s)) {
		int rc = imap_session_select(s, "", true, deadline, err);
		if (rc != IMAP_ERR_NOT_FOUND && rc != IMAP_ERR_INVALID)
			return rc ? rc : imap_error_set(err, IMAP_ERR_NO, "EXAMINE \"\" succeeded");
		if (imap_session_mailbox(s))
			return imap_error_set(err, IMAP_ERR_NO, "a mailbox is still selected");
		memset(err, 0, sizeof *err);
	}
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "NOTIFY");
	imap_cmd_atom(&c, "SET");
	imap_cmd_open(&c);
	imap_cmd_atom(&c, "MAILBOXES");
	imap_cmd_open(&c);
	for (size_t i = 0; i < n; i++)
		imap_cmd_mailbox(&c, names[i], strlen(names[i]));
	imap_cmd_close(&c);
	imap_cmd_raw(&c, events);
	imap_cmd_close(&c);
	int rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

/* The folders of key's notified watches (strdup'd), with hub->mu held. */
static size_t notified_folders(struct imap_watch_hub *h, const unsigned char *key,
                               char ***out)
{
	size_t n = 0;
	*out = malloc((h->nw ? h->nw : 1) * sizeof **out);
	for (size_t i = 0; *out && i < h->nw; i++)
		if (h->w[i]->notified && memcmp(h->w[i]->key, key, IMAP_WATCH_KEY_LEN) == 0 &&
		    ((*out)[n] = strdup(h->w[i]->folder)))
			n++;
	return n;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	struct imap_watch_hub *h = n->hub;
	const struct imap_watch_config *cfg = &h->cfg;
	struct imap_session *s = NULL;
	unsigned sent = 0;
	bool have_sent = false;
	unsigned backoff = BACKOFF_MIN_MS;
	for (;;) {
		char **names = NULL;
		pthread_mutex_lock(&h->mu);
		size_t nn = h->stopping ? 0 : notified_folders(h, n->key, &names);
		unsigned gen = n->gen;
		if (nn == 0) {
			for (size_t i = 0; i < h->nnt; i++)
				if (h->nt[i] == n)
					h->nt[i] = h->nt[--h->nnt];
			pthread_mutex_unlock(&h->mu);
			free(names);
			break;
		}
		pthread_mutex_unlock(&h->mu);
		struct imap_error err = {0};
		int rc = 0;
		if (!s) {
			rc = acquire_as(cfg, n->kind, n->user, n->secret, &s, &err);
			have_sent = false;
		}
		bool refused = false;
		if (!rc && have_sent && sent != gen) {
			/* Another NOTIFY SET on the same session: Dovecot 2.3 then
			 * tells nothing at all. A session of its own for the new set. */
			imap_session_abandon(s);
			imap_pool_release(cfg->pool, s);
			s = NULL;
			have_sent = false;
			rc = acquire_as(cfg, n->kind, n->user, n->secret, &s, &err);
		}
		if (!rc && !have_sent) {
			rc = notify_set(s, names, nn, imap_now_ms() + cfg->command_ms, &err);
			refused = rc == IMAP_ERR_NO || rc == IMAP_ERR_BAD;
			if (!rc) {
				sent = gen;
				have_sent = true;
				/* what changed before NOTIFY took effect: one round each */
				pthread_mutex_lock(&h->mu);
				wake_notified(h, n->key, NULL);
				pthread_mutex_unlock(&h->mu);
			}
		}
		free_names(names, nn);
		if (!rc) {
			struct heard hd = {.s = s};
			pthread_mutex_lock(&h->mu);
			n->idling = true;
			pthread_mutex_unlock(&h->mu);
			int64_t until = imap_now_ms() + cfg->reissue_ms;
			rc = imap_session_idle(s, n->wake[0], until, on_notify, &hd,
			                       until + cfg->command_ms, &err);
			refused = rc == IMAP_ERR_NO || rc == IMAP_ERR_BAD;
			const struct imap_mailbox *mb = hd.selected && !rc ? imap_session_mailbox(s) : NULL;
			pthread_mutex_lock(&h->mu);
			n->idling = false;
			if (hd.all || (hd.selected && !mb))
				wake_notified(h, n->key, NULL);
			for (size_t i = 0; i < hd.n; i++)
				wake_notified(h, n->key, hd.names[i]);
			if (mb)
				wake_notified(h, n->key, mb->name);
			pthread_mutex_unlock(&h->mu);
			for (size_t i = 0; i < hd.n; i++)
				free(hd.names[i]);
		}
		drain_fd(n->wake[0]);
		if (refused) {
			pthread_mutex_lock(&h->mu);
			notify_give_up(h);
			pthread_mutex_unlock(&h->mu);
		} else if (rc) {
			/* the watches find out for themselves, each in its round */
			pthread_mutex_lock(&h->mu);
			wake_notified(h, n->key, NULL);
			pthread_mutex_unlock(&h->mu);
			if (s) {
				imap_session_abandon(s);
				imap_pool_release(cfg->pool, s);
			}
			s = NULL;
			nap_fd(n->wake[0], backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			drain_fd(n->wake[0]);
		} else {
			backoff = BACKOFF_MIN_MS;
		}
	}
	if (s) {  /* NOTIFY stays on it: no one else may have it */
		imap_session_abandon(s);
		imap_pool_release(cfg->pool, s);
	}
	notifier_free(n);
	thread_done(h);
	return NULL;
}

/* Tell key's notifier that its folders changed. With hub->mu held. */
static void notifier_poke(struct imap_watch_hub *h, const unsigned char *key)
{
	for (size_t i = 0; i < h->nnt; i++) {
		if (memcmp(h->nt[i]->key, key, IMAP_WATCH_KEY_LEN) == 0) {
			h->nt[i]->gen++;
			char b = 1;
			ssize_t rc = write(h->nt[i]->wake[1], &b, 1);
			(void)rc;
		}
	}
}

/* Make w notified: its user's notifier (started when there is none) is
 * told of its folder. False when none can be had. With hub->mu held. */
static bool notify_join(struct watch *w)
{
	struct imap_watch_hub *h = w->hub;
	struct notifier *n = NULL;
	for (size_t i = 0; i < h->nnt && !n; i++)
		if (memcmp(h->nt[i]->key, w->key, IMAP_WATCH_KEY_LEN) == 0)
			n = h->nt[i];
	if (!n) {
		if (h->stopping || !grow((void **)&h->nt, &h->capnt, h->nnt + 1, sizeof *h->nt) ||
		    !(n = calloc(1, sizeof *n)))
			return false;
		n->hub = h;
		memcpy(n->key, w->key, IMAP_WATCH_KEY_LEN);
		n->kind = w->kind;
		n->user = strdup(w->user);
		n->secret = strdup(w->secret);
		n->wake[0] = n->wake[1] = -1;
		if (!n->user || !n->secret || pipe2(n->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
			notifier_free(n);
			return false;
		}
		h->nt[h->nnt++] = n;
		w->notified = true;  /* so the new thread finds a folder */
		if (!spawn(notifier_main, n)) {
			h->nnt--;
			w->notified = false;
			notifier_free(n);
			return false;
		}
		h->threads++;
	}
	w->notified = true;
	notifier_poke(h, w->key);
	return true;
}

/* Drop dead members; true when none is left (the watch is then out of
 * the hub's list, and the thread ends). */
static bool prune(struct watch *w)
{
	struct imap_watch_hub *h = w->hub;
	struct imap_watch_sub *gone[64];
	size_t ngone = 0;
	bool empty;
	pthread_mutex_lock(&h->mu);
	size_t k = 0;
	for (size_t i = 0; i < w->n; i++) {
		if ((atomic_load(&w->m[i].sub->dead) || h->stopping) && ngone < 64) {
			gone[ngone++] = w->m[i].sub;
			w->m[i].sub->w[w->m[i].folder] = NULL;  /* this watch may end */
		} else
			w->m[k++] = w->m[i];
	}
	w->n = k;
	empty = w->n == 0;
	if (empty) {
		for (size_t i = 0; i < h->nw; i++)
			if (h->w[i] == w)
				h->w[i] = h->w[--h->nw];
		if (w->notified)
			notifier_poke(h, w->key);  /* one folder fewer to be told of */
	}
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < ngone; i++)
		sub_unref(gone[i]);
	return empty;
}

/* Whether s's server can notify of all a user's folders on one session. */
static bool notifiable(struct imap_session *s, const struct imap_watch_config *cfg)
{
	uint32_t caps = 0;
	struct imap_error err = {0};
	return imap_session_caps(s, &caps, imap_now_ms() + cfg->command_ms, &err) == 0 &&
	       (caps & IMAP_CAP_NOTIFY) && (caps & IMAP_CAP_IDLE);
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct imap_watch_hub *h = w->hub;
	const struct imap_watch_config *cfg = &h->cfg;
	struct imap_session *s = NULL;
	struct imap_state state = {0};
	bool have_state = false;
	/* imap_session_news once everything up to it was handed over: news
	 * taken in by other commands than IDLE (the NOOPs of a catch-up) would
	 * not wake IDLE, so a round with news in it is followed by another. */
	uint64_t quiet = 0;
	unsigned backoff = BACKOFF_MIN_MS;
	/* Begin once the subscriber that made this watch is started (or gone):
	 * it is then a member from the first round, whatever the timing. */
	pthread_mutex_lock(&h->mu);
	for (;;) {
		bool ready = h->stopping;
		for (size_t i = 0; i < w->n && !ready; i++)
			ready = atomic_load(&w->m[i].sub->started) || atomic_load(&w->m[i].sub->dead);
		if (ready)
			break;
		pthread_cond_wait(&h->began, &h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	while (!prune(w)) {
		struct imap_error err = {0};
		int rc = 0;
		if (!s) {
			rc = acquire_as(cfg, w->kind, w->user, w->secret, &s, &err);
			if (!rc)
				rc = imap_session_select(s, w->folder, true, imap_now_ms() + cfg->command_ms,
				                         &err);
			if (!rc)  /* after the EXAMINE's own EXISTS: news from here on count */
				quiet = imap_session_news(s);
			if (!rc && !have_state) {
				rc = imap_state_of(s, w->folder, true, imap_now_ms() + cfg->command_ms, &state,
				                   &err);
				have_state = rc == 0;
				if (!rc && notifiable(s, cfg)) {
					pthread_mutex_lock(&h->mu);
					if (!h->notify_refused)
						notify_join(w);
					pthread_mutex_unlock(&h->mu);
				}
			} else if (!rc) {
				/* back after a loss: what changed meanwhile */
				struct member *v;
				size_t n = members(w, true, &v);
				rc = catch_up(w, s, &state, v, n);
				unpin(v, n);
			}
			if (rc) {
				bool final = rc == IMAP_ERR_AUTH || rc == IMAP_ERR_NOT_FOUND ||
				             rc == IMAP_ERR_INVALID;
				error_all(w, err.msg[0] ? err.msg : imap_strerror(rc), final);
				if (s)
					imap_pool_release(cfg->pool, s);
				s = NULL;
				if (!final)
					nap(w, backoff);
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				drain(w);
				continue;
			}
			backoff = BACKOFF_MIN_MS;
		}
		pthread_mutex_lock(&h->mu);
		bool notified = w->notified;
		pthread_mutex_unlock(&h->mu);
		if (notified) {
			/* the notifier wakes it: no session held while waiting */
			if (!(rc = join_new(w, s))) {
				imap_pool_release(cfg->pool, s);
				s = NULL;
				nap(w, cfg->reissue_ms);
				drain(w);
				continue;
			}
		} else if (!(rc = join_new(w, s))) {
			uint32_t caps = 0;
			rc = imap_session_caps(s, &caps, imap_now_ms() + cfg->command_ms, &err);
			if (!rc && imap_session_news(s) != quiet) {
				/* news came meanwhile: no wait */
			} else if (!rc && (caps & IMAP_CAP_IDLE)) {
				pthread_mutex_lock(&h->mu);
				w->idling = true;
				pthread_mutex_unlock(&h->mu);
				int64_t until = imap_now_ms() + cfg->reissue_ms;
				rc = imap_session_idle(s, w->wake[0], until, on_idle, NULL,
				                       until + cfg->command_ms, &err);
				pthread_mutex_lock(&h->mu);
				w->idling = false;
				pthread_mutex_unlock(&h->mu);
			} else if (!rc) {
				nap(w, cfg->poll_ms);
			}
			drain(w);
		}
		if (!rc && !h->stopping && !notified) {
			struct member *v;
			size_t n = members(w, true, &v);
			uint64_t before = imap_session_news(s);
			rc = catch_up(w, s, &state, v, n);
			unpin(v, n);
			quiet = before;  /* news during the round: another round */
		}
		if (rc) {
			error_all(w, err.msg[0] ? err.msg : imap_strerror(rc), false);
			imap_pool_release(cfg->pool, s);  /* a broken one is freed */
			s = NULL;
		}
	}
	if (s)
		imap_pool_release(cfg->pool, s);
	watch_free(w);
	thread_done(h);
	return NULL;
}

/* ---- the hub ---- */

static void *clock_main(void *arg)
{
	struct imap_watch_hub *h = arg;
	pthread_mutex_lock(&h->mu);
	while (!h->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += h->cfg.heartbeat_ms / 1000;
		ts.tv_nsec += (long)(h->cfg.heartbeat_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		int rc = pthread_cond_timedwait(&h->changed, &h->mu, &ts);
		if (h->stopping || rc != ETIMEDOUT)
			continue;
		size_t n = h->ns;
		struct imap_watch_sub **v = malloc((n ? n : 1) * sizeof *v);
		for (size_t i = 0; v && i < n; i++) {
			v[i] = h->s[i];
			atomic_fetch_add(&v[i]->refs, 1);
		}
		pthread_mutex_unlock(&h->mu);
		struct imap_watch_event ev = {.kind = IMAP_WATCH_HEARTBEAT};
		for (size_t i = 0; v && i < n; i++)
			deliver(v[i], &ev);
		/* the dead leave the hub's list; their watches drop them */
		pthread_mutex_lock(&h->mu);
		for (size_t i = 0; v && i < n; i++) {
			if (!atomic_load(&v[i]->dead))
				continue;
			for (size_t k = 0; k < h->ns; k++) {
				if (h->s[k] == v[i]) {
					h->s[k] = h->s[--h->ns];
					atomic_fetch_sub(&v[i]->refs, 1);  /* the list's; v[i] still pins it */
					for (size_t f = 0; f < v[i]->n; f++)
						if (v[i]->w[f])
							wake(v[i]->w[f]);
					break;
				}
			}
		}
		pthread_mutex_unlock(&h->mu);
		for (size_t i = 0; v && i < n; i++)
			sub_unref(v[i]);
		free(v);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

struct imap_watch_hub *imap_watch_hub_new(const struct imap_watch_config *cfg)
{
	struct imap_watch_hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->cfg = *cfg;
	if (!h->cfg.heartbeat_ms)
		h->cfg.heartbeat_ms = 15000;
	if (!h->cfg.changes_max)
		h->cfg.changes_max = 5000;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->changed, NULL);
	pthread_cond_init(&h->began, NULL);
	if (pthread_create(&h->clock, NULL, clock_main, h) != 0) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->changed);
		pthread_cond_destroy(&h->began);
		free(h);
		return NULL;
	}
	h->clock_started = true;
	return h;
}

void imap_watch_hub_stop(struct imap_watch_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->stopped) {
		pthread_mutex_unlock(&h->mu);
		return;
	}
	h->stopping = true;
	pthread_cond_broadcast(&h->changed);
	pthread_cond_broadcast(&h->began);
	size_t n = h->ns;
	struct imap_watch_sub **v = h->s;
	h->s = NULL;
	h->ns = h->caps = 0;
	for (size_t i = 0; i < h->nw; i++)
		wake(h->w[i]);
	for (size_t i = 0; i < h->nnt; i++) {
		char b = 1;
		ssize_t rc = write(h->nt[i]->wake[1], &b, 1);
		(void)rc;
	}
	pthread_mutex_unlock(&h->mu);
	if (h->clock_started)
		pthread_join(h->clock, NULL);
	h->clock_started = false;
	/* the list's references: a final event, then gone */
	struct imap_watch_event ev = {.kind = IMAP_WATCH_ERROR, .final = true,
	                              .detail = "the gateway is stopping"};
	for (size_t i = 0; i < n; i++) {
		atomic_store(&v[i]->started, true);
		deliver(v[i], &ev);
		atomic_store(&v[i]->dead, true);
		sub_unref(v[i]);
	}
	free(v);
	pthread_mutex_lock(&h->mu);
	while (h->threads > 0)
		pthread_cond_wait(&h->changed, &h->mu);
	h->stopped = true;
	pthread_mutex_unlock(&h->mu);
}

void imap_watch_hub_free(struct imap_watch_hub **hp)
{
	if (!hp || !*hp)
		return;
	struct imap_watch_hub *h = *hp;
	imap_watch_hub_stop(h);
	free(h->w);
	free(h->s);
	free(h->nt);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->changed);
	pthread_cond_destroy(&h->began);
	free(h);
	*hp = NULL;
}

static struct watch *find_watch(struct imap_watch_hub *h, const unsigned char *key,
                                const char *folder)
{
	for (size_t i = 0; i < h->nw; i++)
		if (memcmp(h->w[i]->key, key, IMAP_WATCH_KEY_LEN) == 0 &&
		    strcmp(h->w[i]->folder, folder) == 0)
			return h->w[i];
	return NULL;
}

static struct watch *watch_new(struct imap_watch_hub *h, const struct imap_credentials *cred,
                               const unsigned char *key, const char *folder)
{
	struct watch *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->hub = h;
	memcpy(w->key, key, IMAP_WATCH_KEY_LEN);
	w->kind = cred->kind;
	w->folder = strdup(folder);
	w->user = strdup(cred->user);
	w->secret = strdup(cred->secret);
	w->wake[0] = w->wake[1] = -1;
	if (!w->folder || !w->user || !w->secret || pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		if (w->wake[0] < 0)
			w->wake[0] = w->wake[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		watch_free(w);
		return NULL;
	}
	return w;
}


enum imap_watch_refusal imap_watch_subscribe(struct imap_watch_hub *h,
                                             const struct imap_credentials *cred,
                                             const unsigned char key[IMAP_WATCH_KEY_LEN],
                                             const char *const *folders,
                                             const struct imap_state *since, size_t n,
                                             imap_watch_event_fn *on_event,
                                             imap_watch_release_fn *on_release, void *ctx,
                                             struct imap_watch_sub **out)
{
	*out = NULL;
	struct imap_watch_sub *s = calloc(1, sizeof *s);
	if (!s)
		return IMAP_WATCH_FULL;
	s->hub = h;
	memcpy(s->key, key, IMAP_WATCH_KEY_LEN);
	s->on_event = on_event;
	s->on_release = on_release;
	s->ctx = ctx;
	s->n = n;
	s->since = malloc(n * sizeof *s->since);
	s->w = calloc(n, sizeof *s->w);
	if (!s->since || !s->w) {
		free(s->since);
		free(s->w);
		free(s);
		return IMAP_WATCH_FULL;
	}
	memcpy(s->since, since, n * sizeof *since);

	enum imap_watch_refusal why = IMAP_WATCH_OK;
	struct watch *fresh[64] = {0};
	size_t nfresh = 0;
	pthread_mutex_lock(&h->mu);
	unsigned user_subs = 0, user_watches = 0;
	for (size_t i = 0; i < h->ns; i++)
		user_subs += memcmp(h->s[i]->key, key, IMAP_WATCH_KEY_LEN) == 0;
	for (size_t i = 0; i < h->nw; i++)
		user_watches += memcmp(h->w[i]->key, key, IMAP_WATCH_KEY_LEN) == 0;
	unsigned need = 0;
	for (size_t i = 0; i < n; i++) {
		bool repeat = false;
		for (size_t k = 0; k < i; k++)
			repeat |= strcmp(folders[k], folders[i]) == 0;
		need += !repeat && !find_watch(h, key, folders[i]);
	}
	if (h->stopping || h->ns >= h->cfg.max_subs || n > 64)
		why = IMAP_WATCH_FULL;
	else if (user_subs >= h->cfg.max_subs_per_user ||
	         user_watches + need > h->cfg.per_user_watches)
		why = IMAP_WATCH_USER_LIMIT;
	else if (!grow((void **)&h->s, &h->caps, h->ns + 1, sizeof *h->s) ||
	         !grow((void **)&h->w, &h->capw, h->nw + need, sizeof *h->w))
		why = IMAP_WATCH_FULL;
	for (size_t i = 0; why == IMAP_WATCH_OK && i < n; i++) {
		struct watch *w = find_watch(h, key, folders[i]);
		if (!w) {
			if (!(w = watch_new(h, cred, key, folders[i]))) {
				why = IMAP_WATCH_FULL;
				break;
			}
			h->w[h->nw++] = w;
			fresh[nfresh++] = w;
		}
		if (!grow((void **)&w->m, &w->cap, w->n + 1, sizeof *w->m)) {
			why = IMAP_WATCH_FULL;
			break;
		}
		w->m[w->n++] = (struct member){.sub = s, .folder = i};
		atomic_fetch_add(&s->refs, 1);
		s->w[i] = w;
	}
	if (why == IMAP_WATCH_OK) {
		h->s[h->ns++] = s;
		atomic_fetch_add(&s->refs, 1);
		for (size_t i = 0; i < nfresh; i++) {
			if (spawn(watch_main, fresh[i])) {
				h->threads++;
				fresh[i] = NULL;
			}
		}
	}
	/* undo: memberships of s, and watches whose thread did not start */
	for (size_t i = 0; i < n && why != IMAP_WATCH_OK; i++) {
		struct watch *w = s->w[i];
		for (size_t k = 0; w && k < w->n; k++)
			if (w->m[k].sub == s)
				w->m[k--] = w->m[--w->n];
	}
	for (size_t i = 0; i < nfresh; i++) {
		if (!fresh[i])
			continue;
		for (size_t k = 0; k < h->nw; k++)
			if (h->w[k] == fresh[i])
				h->w[k] = h->w[--h->nw];
		if (why == IMAP_WATCH_OK) {  /* no thread: its only member is s, dead */
			atomic_store(&s->dead, true);
			for (size_t k = 0; k < fresh[i]->n; k++) {
				struct member *m = &fresh[i]->m[k];
				m->sub->w[m->folder] = NULL;
				atomic_fetch_sub(&m->sub->refs, 1);
			}
		}
		watch_free(fresh[i]);
	}
	pthread_mutex_unlock(&h->mu);
	if (why != IMAP_WATCH_OK) {
		free(s->since);
		free(s->w);
		free(s);
		return why;
	}
	*out = s;
	return IMAP_WATCH_OK;
}

void imap_watch_start(struct imap_watch_sub *s)
{
	atomic_store(&s->started, true);
	pthread_mutex_lock(&s->hub->mu);
	pthread_cond_broadcast(&s->hub->began);
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i])
			wake(s->w[i]);
	pthread_mutex_unlock(&s->hub->mu);
}

void imap_watch_cancel(struct imap_watch_sub *s)
{
	struct imap_watch_hub *h = s->hub;
	atomic_store(&s->dead, true);
	pthread_mutex_lock(&h->mu);
	pthread_cond_broadcast(&h->began);
	bool listed = false;
	for (size_t k = 0; k < h->ns; k++) {
		if (h->s[k] == s) {
			h->s[k] = h->s[--h->ns];
			listed = true;
			break;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i])
			wake(s->w[i]);
	pthread_mutex_unlock(&h->mu);
	if (listed)
		sub_unref(s);
}

void imap_watch_stats(struct imap_watch_hub *h, struct imap_watch_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	out->subs = (unsigned)h->ns;
	out->watches = (unsigned)h->nw;
	for (size_t i = 0; i < h->nw; i++)
		out->idling += h->w[i]->idling;
	for (size_t i = 0; i < h->nnt; i++)
		out->notifiers += 1;
	for (size_t i = 0; i < h->nnt; i++)
		out->idling += h->nt[i]->idling;
	pthread_mutex_unlock(&h->mu);
}
