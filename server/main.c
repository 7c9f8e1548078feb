/*
 * server/main.c — imapgw: a REST/JSON gateway to IMAP servers.
 *
 * Reads the configuration (flags and IMAPGW_* variables, see --help),
 * makes a session pool per configured IMAP server, starts the HTTP front
 * end (server/http.h explains the threading model), and runs until
 * SIGTERM or SIGINT; then /readyz reports draining for --drain-time
 * seconds, the listener closes and in-flight requests finish.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/mailto.h"
#include "imap/base/clock.h"
#include "imap/index.h"
#include "imap/pool.h"
#include "imap/watch.h"
#include "server/config.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"

/* The IMAP protocol trace (--imap-trace), already redacted by the client,
 * under the id of the request the thread works for. */
static void imap_trace_log(void *ctx, char dir, const char *text, size_t len)
{
	(void)ctx;
	char line[1024];
	snprintf(line, sizeof line, "%.*s", (int)(len < 1000 ? len : 1000), text);
	log_event(LOG_DEBUG, log_thread_request(), dir == 'C' ? "imap >" : "imap <", "line", line,
	          (const char *)NULL);
}

/* Events the API reports (an unsubscribe's outcome): one info line each. */
static void api_log_event(const char *req_id, const char *msg, const char *const *kv)
{
	const char *v[12] = {0};
	size_t n = 0;
	while (kv && kv[n] && kv[n + 1] && n + 2 < sizeof v / sizeof v[0]) {
		v[n] = kv[n];
		v[n + 1] = kv[n + 1];
		n += 2;
	}
	log_event(LOG_INFO, req_id, msg, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
	          v[9], (const char *)NULL);
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	int rc = server_config_load(&cfg, argc, argv, stdout, stderr);
	if (rc != 0) {
		server_config_free(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_set_level((enum log_level)cfg.log_level);
	metrics_start();

	enum api_smtp_tls smtp_tls = API_SMTP_STARTTLS;
	if (cfg.smtp_tls && !api_smtp_tls_parse(cfg.smtp_tls, &smtp_tls)) {
		fprintf(stderr, "imapgw: --smtp-tls must be starttls, implicit or none\n");
		server_config_free(&cfg);
		return 2;
	}
	/* libcurl (one-click unsubscribe, SMTP) is set up once, before any thread. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msgf(LOG_ERROR, NULL, "cannot initialise libcurl");
		server_config_free(&cfg);
		return 1;
	}
	/* OpenSSL writes to sockets with write(): a closed peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);  /* threads started below inherit it */

	/* One TLS context, client configuration and session pool per server:
	 * each server has its own limits and its own failed-login throttle. */
	static struct imap_budget budget;  /* every session's responses, together */
	budget.max = cfg.imap_memory_max;
	static struct imap_tls *tls[API_SERVERS_MAX];
	static struct imap_pool_config pc[API_SERVERS_MAX];
	static struct api_server servers[API_SERVERS_MAX];
	static struct api_domain_route routes[SERVER_ROUTES_MAX];
	size_t n = 0;
	int exit_code = 1;
	struct imap_index *index = NULL;
	struct http_server *http = NULL;
	for (; n < cfg.nservers; n++) {
		const struct server_imap_server *v = &cfg.servers[n];
		struct imap_error err = {0};
		if (v->tls != IMAP_TLS_NONE && !(tls[n] = imap_tls_new(v->ca, &err))) {
			log_event(LOG_ERROR, NULL, "cannot set up TLS", "server", v->name, "detail", err.msg,
			          (const char *)NULL);
			goto out;
		}
		pc[n] = (struct imap_pool_config){
			.per_user = v->pool_per_user,
			.max_sessions = v->pool_max,
			.idle_s = cfg.pool_idle_s,
			.connect_timeout_ms = cfg.imap_connect_timeout_ms,
			.login_fail_max = cfg.login_fail_max,
			.login_fail_window_s = cfg.login_fail_window_s,
			.wait_ms = cfg.pool_wait_ms,
		};
		struct imap_client_config *c = &pc[n].client;
		imap_client_config_default(c);
		c->host = v->host;
		c->port = v->port;
		c->tls_mode = v->tls;
		c->tls = tls[n];
		c->limits = cfg.imap_limits;
		c->limits.budget = &budget;
		c->stall_ms = cfg.imap_stall_timeout_ms;
		c->ignore_caps = cfg.imap_ignore_caps;
		if (cfg.imap_trace)
			c->trace = imap_trace_log;
		c->on_command = metrics_imap_command;
		c->on_command_ctx = metrics_server_ctx(n);
		servers[n] = (struct api_server){.name = v->name, .client = c};
		if (!(servers[n].pool = imap_pool_new(&pc[n]))) {
			log_msgf(LOG_ERROR, NULL, "cannot create the session pool of %s", v->name);
			imap_tls_free(&tls[n]);
			goto out;
		}
	}
	for (size_t r = 0; r < cfg.nroutes; r++) {
		routes[r].domain = cfg.routes[r].domain;
		for (size_t i = 0; i < n; i++)
			if (strcasecmp(cfg.routes[r].server, servers[i].name) == 0)
				routes[r].server = i;
	}
	index = imap_index_new((size_t)cfg.index_max_mb << 20);
	/* Watched folders hold pooled sessions: one per user stays for requests.
	 * One hub per server, over that server's pool and its per-user limit. */
	for (size_t i = 0; i < n; i++)
		servers[i].watch = imap_watch_hub_new(&(struct imap_watch_config){
			.pool = servers[i].pool,
			.per_user_watches = (pc[i].per_user ? pc[i].per_user : 4) - 1,
			.max_subs = cfg.events_max,
			.max_subs_per_user = cfg.events_max_per_user,
			.poll_ms = cfg.events_poll_s * 1000,
			.reissue_ms = cfg.events_idle_s * 1000,
			.heartbeat_ms = cfg.events_heartbeat_s * 1000,
			.command_ms = cfg.request_timeout_ms,
			.changes_max = cfg.changes_max,
		});
	api_init(&(struct api_config){.servers = servers, .nservers = n, .routes = routes,
	                              .nroutes = cfg.nroutes,
	                              .default_server = cfg.route_default_index, .index = index,
	                              .index_loads_max = cfg.index_loads,
	                              .request_timeout_ms = cfg.request_timeout_ms,
	                              .per_page_max = cfg.per_page_max,
	                              .download_timeout_ms = cfg.download_timeout_ms,
	                              .text_max = cfg.text_max,
	                              .per_page_default = cfg.per_page_max < 50 ? cfg.per_page_max : 50,
	                              .bulk_max = cfg.bulk_max,
	                              .search_deadline_ms = cfg.search_deadline_ms,
	                              .search_max_hits = cfg.search_max_hits,
	                              .thread_max = cfg.thread_max,

	                              .changes_max = cfg.changes_max,
	                              .folder_state_max = cfg.folder_state_max,
	                              .events_folders_max = cfg.events_folders_max,
	                              .senders_batch = cfg.senders_batch,
	                              .senders_timeout_ms = cfg.senders_timeout_ms,
	                              .trusted_authserv_ids = cfg.trusted_authserv_ids,
	                              .unsubscribe_timeout_ms = cfg.unsubscribe_timeout_ms,
	                              .unsubscribe_body_max = cfg.unsubscribe_body_max,
	                              .unsubscribe_ca = cfg.unsubscribe_ca,
	                              .unsubscribe_allow_hosts = cfg.unsubscribe_allow_hosts,
	                              .smtp_host = cfg.smtp_host,
	                              .smtp_port = cfg.smtp_port,
	                              .smtp_tls = (int)smtp_tls,
	                              .smtp_ca = cfg.smtp_ca,
	                              .smtp_from_domain = cfg.smtp_from_domain,
	                              .smtp_timeout_ms = cfg.smtp_timeout_ms,
	                              .log_event = api_log_event});

	if (!(http = http_server_start(&cfg)))
		goto out;
	char listen[300];
	snprintf(listen, sizeof listen, "%s:%u", cfg.listen_host, (unsigned)cfg.listen_port);
	for (size_t i = 0; i < n; i++) {
		char imap[300];
		snprintf(imap, sizeof imap, "%s:%u", cfg.servers[i].host, (unsigned)cfg.servers[i].port);
		log_event(LOG_INFO, NULL, "listening", "listen", listen, "server", servers[i].name, "imap",
		          imap, "imap_tls",
		          cfg.servers[i].tls == IMAP_TLS_IMPLICIT   ? "implicit"
		          : cfg.servers[i].tls == IMAP_TLS_STARTTLS ? "starttls"
		                                                    : "none",
		          (const char *)NULL);
	}

	/* Wait for a stop signal; meanwhile log out sessions idle too long. */
	int sig;
	for (;;) {
		struct timespec tick = {.tv_sec = 1};
		sig = sigtimedwait(&stop, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		for (size_t i = 0; i < n; i++)
			imap_pool_reap(servers[i].pool);
	}
	log_event(LOG_INFO, NULL, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
	          (const char *)NULL);
	/* Draining: /readyz says 503 so that load balancers send no new
	 * requests, while everything else is still served; then the listener
	 * closes and in-flight requests finish. */
	if (cfg.drain_s) {
		api_set_draining(true);
		log_event(LOG_INFO, NULL, "draining", (const char *)NULL);
		int64_t until = imap_now_ms() + (int64_t)cfg.drain_s * 1000;
		for (int64_t now; (now = imap_now_ms()) < until;) {
			int64_t left = until - now;
			struct timespec tick = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
			if (sigtimedwait(&stop, NULL, &tick) > 0)
				break;  /* a second signal: stop now */
		}
	}
	api_stop();  /* long scans give up between batches */
	http_server_stop(&http);  /* event streams end first (api_stop_events) */
	exit_code = 0;
out:
	for (size_t i = 0; i < n; i++) {
		imap_watch_hub_free(&servers[i].watch);  /* event streams ended with the server */
		imap_pool_free(&servers[i].pool, imap_now_ms() + 5000);  /* LOGOUT of idle sessions */
		imap_tls_free(&tls[i]);
	}
	imap_index_free(&index);
	server_config_free(&cfg);
	curl_global_cleanup();
	if (exit_code == 0)
		log_event(LOG_INFO, NULL, "stopped", (const char *)NULL);
	return exit_code;
}
