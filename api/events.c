/*
 * api/events.c — GET /events: a text/event-stream of the changes of one
 * user's folders (imap/watch.h feeds it).
 *
 * Each event's `id` is the states of every watched folder, in the order of
 * `folders`, joined by "."; a client that comes back with it as
 * Last-Event-ID gets, first, every change since those states. Events:
 *   ready                     once, with the states the stream starts from;
 *   message.created / message.updated / message.destroyed
 *                             {"folder","uids":[…],"state"};
 *   folder.changed            {"folder","state"}: list the folder again;
 *   error                     {"detail","final"}: a final one ends the stream;
 * and a comment line (": heartbeat") every --events-heartbeat seconds.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/changes.h"
#include "imap/watch.h"

#define FOLDERS_MAX_DEFAULT 16

struct events {
	pthread_mutex_t mu;
	const struct api_events_ops *ops;
	void *stream;
	size_t n;
	char **folders;
	struct imap_state *state;  /* per folder: the last one sent */
	char *store;               /* the folder names */
};

static void events_free(struct events *e)
{
	pthread_mutex_destroy(&e->mu);
	free(e->folders);
	free(e->state);
	free(e->store);
	free(e);
}

/* "id: <state>.<state>…\n" */
static void put_id(struct events *e, struct imap_buf *b)
{
	imap_buf_puts(b, "id: ");
	for (size_t i = 0; i < e->n; i++) {
		char t[API_STATE_LEN + 1];
		api_state_encode(&e->state[i], e->folders[i], t);
		imap_buf_printf(b, "%s%s", i ? "." : "", t);
	}
	imap_buf_puts(b, "\n");
}

static const char *event_name(enum imap_watch_kind k)
{
	switch (k) {
	case IMAP_WATCH_CREATED:
		return "message.created";
	case IMAP_WATCH_UPDATED:
		return "message.updated";
	case IMAP_WATCH_DESTROYED:
		return "message.destroyed";
	case IMAP_WATCH_FOLDER_CHANGED:
		return "folder.changed";
	case IMAP_WATCH_HEARTBEAT:
	case IMAP_WATCH_ERROR:
		break;
	}
	return "error";
}

static int on_event(void *ctx, const struct imap_watch_event *ev)
{
	struct events *e = ctx;
	struct imap_buf b;
	imap_buf_init(&b, 0);
	pthread_mutex_lock(&e->mu);
	if (ev->kind == IMAP_WATCH_HEARTBEAT) {
		imap_buf_puts(&b, ": heartbeat\n\n");
	} else {
		if (ev->state && ev->folder < e->n) {
			e->state[ev->folder] = *ev->state;
			put_id(e, &b);
		}
		imap_buf_printf(&b, "event: %s\ndata: ", event_name(ev->kind));
		struct jsonw w;
		jsonw_init(&w, &b);
		jsonw_object(&w);
		if (ev->kind == IMAP_WATCH_ERROR) {
			jsonw_key(&w, "detail");
			jsonw_string(&w, ev->detail ? ev->detail : "error");
			jsonw_key(&w, "final");
			jsonw_bool(&w, ev->final);
		} else {
			jsonw_key(&w, "folder");
			jsonw_string(&w, e->folders[ev->folder]);
			if (ev->kind != IMAP_WATCH_FOLDER_CHANGED) {
				jsonw_key(&w, "uids");
				jsonw_array(&w);
				for (size_t i = 0; i < ev->n; i++)
					jsonw_uint(&w, ev->uids[i]);
				jsonw_end_array(&w);
			}
			api_render_state(&w, &e->state[ev->folder], e->folders[ev->folder]);
		}
		jsonw_end_object(&w);
		imap_buf_puts(&b, "\n\n");
	}
	int rc = b.data ? e->ops->write(e->stream, b.data, b.len) : -1;
	pthread_mutex_unlock(&e->mu);
	imap_buf_free(&b);
	return rc;
}

static void on_release(void *ctx)
{
	struct events *e = ctx;
	pthread_mutex_lock(&e->mu);
	if (e->stream)
		e->ops->close(e->stream);
	e->stream = NULL;
	pthread_mutex_unlock(&e->mu);
	events_free(e);
}

/* ?folders= (api_folders_param) into e; INBOX when none. */
static bool parse_folders(const struct api_request *req, struct events *e,
                          struct api_response *resp)
{
	const struct api_config *cfg = api_config();
	size_t max = cfg->events_folders_max ? cfg->events_folders_max : FOLDERS_MAX_DEFAULT;
	struct api_folders named;
	if (!api_folders_param(req, max, &named, resp))
		return false;
	e->store = named.n ? named.store : strdup("INBOX");
	e->n = named.n ? named.n : 1;
	if (!e->store || !(e->folders = calloc(e->n, sizeof *e->folders)) ||
	    !(e->state = calloc(e->n, sizeof *e->state))) {
		free(named.v);
		return api_fail(resp, API_ERR_BUSY, "out of memory");
	}
	for (size_t i = 0; i < named.n; i++)
		e->folders[i] = e->store + (named.v[i] - named.store);
	if (!named.n)
		e->folders[0] = e->store;
	free(named.v);
	return true;
}

/* Last-Event-ID: the states to resume from, one per folder. */
static bool parse_last_id(const char *id, struct events *e, struct imap_state *since,
                          struct api_response *resp)
{
	size_t len = strlen(id);
	if (len != e->n * (API_STATE_LEN + 1) - 1)
		return api_bad(resp, "Last-Event-ID is not an id of a stream of these folders");
	for (size_t i = 0; i < e->n; i++) {
		char t[API_STATE_LEN + 1];
		memcpy(t, id + i * (API_STATE_LEN + 1), API_STATE_LEN);
		t[API_STATE_LEN] = '\0';
		if (i + 1 < e->n && id[(i + 1) * (API_STATE_LEN + 1) - 1] != '.')
			return api_bad(resp, "Last-Event-ID is not an id of a stream of these folders");
		if (!api_state_decode(t, e->folders[i], &since[i], resp)) {
			api_bad(resp, "Last-Event-ID is not an id of a stream of these folders");
			return false;
		}
	}
	return true;
}

struct baseline {
	struct events *e;
	int64_t deadline;
};

/* Every folder's state now: that they exist, and where a stream without
 * Last-Event-ID starts. */
static int take_states(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct baseline *b = ctx;
	for (size_t i = 0; i < b->e->n; i++) {
		int rc = imap_state_of(s, b->e->folders[i], true, b->deadline, &b->e->state[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

void api_events(const struct api_request *req, struct api_response *resp,
                const struct api_match *m)
{
	static const char *const params[] = {"folders", NULL};
	const struct api_config *cfg = api_config();
	if (!api_known_params(req, params, resp))
		return;
	/* (every server has a hub, or none has) */
	if (!req->events || !cfg->nservers || !cfg->servers[0].watch) {
		api_fail(resp, API_ERR_BUSY, "event streams are not served here");
		return;
	}
	struct events *e = calloc(1, sizeof *e);
	if (!e) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		return;
	}
	pthread_mutex_init(&e->mu, NULL);
	e->ops = req->events;
	struct imap_state *since = NULL;
	struct imap_credentials cred;
	struct imap_buf store = {0};
	unsigned char key[IMAP_WATCH_KEY_LEN];
	if (!parse_folders(req, e, resp))
		goto out;
	if (!(since = calloc(e->n, sizeof *since))) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto out;
	}
	if (req->last_event_id && !parse_last_id(req->last_event_id, e, since, resp))
		goto out;
	struct baseline b = {.e = e, .deadline = req->deadline};
	if (!api_run(req, m, take_states, &b, resp))
		goto out;
	if (strcmp(req->method, "HEAD") == 0) {  /* the head alone: nothing to watch */
		resp->status = 200;
		resp->content_type = "text/event-stream";
		api_response_header(resp, "Cache-Control", "no-store");
		goto out;
	}
	if (req->last_event_id)
		memcpy(e->state, since, e->n * sizeof *since);
	else
		memcpy(since, e->state, e->n * sizeof *since);
	const struct api_server *srv = NULL;
	if (api_credentials(req, &cred, &store, resp) || !api_credentials_key(req, key, NULL) ||
	    !(srv = api_server_for(req, cred.user, resp))) {
		api_fail(resp, API_ERR_UNAUTHORIZED, "unusable credentials");
		goto out;
	}
	struct imap_watch_sub *sub;
	enum imap_watch_refusal why =
		imap_watch_subscribe(srv->watch, &cred, key, (const char *const *)e->folders, since,
		                     e->n, on_event, on_release, e, &sub);
	imap_buf_free(&store);
	if (why == IMAP_WATCH_USER_LIMIT) {
		api_fail(resp, API_ERR_THROTTLED,
		         "these credentials have as many event streams or watched folders as "
		         "--events-max-per-user and --pool-per-user allow");
		goto out;
	}
	if (why != IMAP_WATCH_OK) {
		api_fail(resp, API_ERR_BUSY, "as many event streams as --events-max allows");
		goto out;
	}
	free(since);
	/* From here on the stream owns e: on_release frees it. */
	resp->status = 200;
	resp->content_type = "text/event-stream";
	api_response_header(resp, "Cache-Control", "no-store");
	api_response_header(resp, "X-Accel-Buffering", "no");
	void *stream = req->events->open(req->events_ctx, resp);
	pthread_mutex_lock(&e->mu);
	e->stream = stream;
	int rc = -1;
	if (stream) {
		struct imap_buf r;
		imap_buf_init(&r, 0);
		imap_buf_puts(&r, "retry: 2000\n");
		put_id(e, &r);
		imap_buf_puts(&r, "event: ready\ndata: ");
		struct jsonw w;
		jsonw_init(&w, &r);
		jsonw_object(&w);
		jsonw_key(&w, "folders");
		jsonw_array(&w);
		for (size_t i = 0; i < e->n; i++)
			jsonw_string(&w, e->folders[i]);
		jsonw_end_array(&w);
		jsonw_end_object(&w);
		imap_buf_puts(&r, "\n\n");
		rc = r.data ? e->ops->write(stream, r.data, r.len) : -1;
		imap_buf_free(&r);
	}
	pthread_mutex_unlock(&e->mu);
	resp->streamed = stream != NULL;
	if (rc == 0)
		imap_watch_start(sub);
	else
		imap_watch_cancel(sub);
	if (!stream)
		api_fail(resp, API_ERR_BUSY, "out of memory");
	return;
out:  /* a failure, or a HEAD answered */
	imap_buf_free(&store);
	free(since);
	events_free(e);
}
