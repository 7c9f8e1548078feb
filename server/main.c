/*
 * server/main.c — imapgw: a REST/JSON gateway to an IMAP server.
 *
 * Reads the configuration (flags and IMAPGW_* variables, see --help),
 * starts the HTTP front end (server/http.h explains the threading model),
 * and runs until SIGTERM or SIGINT, then drains in-flight requests.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The IMAP protocol trace (--imap-trace), already redacted by the client. */
static void imap_trace_log(void *ctx, char dir, const char *text, size_t len)
{
	(void)ctx;
	char line[1024];
	snprintf(line, sizeof line, "%.*s", (int)(len < 1000 ? len : 1000), text);
	log_event(LOG_DEBUG, NULL, dir == 'C' ? "imap >" : "imap <", "line", line,
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

	struct imap_error err = {0};
	struct imap_tls *tls = NULL;
	if (cfg.imap_tls != IMAP_TLS_NONE && !(tls = imap_tls_new(cfg.imap_ca, &err))) {
		log_event(LOG_ERROR, NULL, "cannot set up TLS", "detail", err.msg, (const char *)NULL);
		server_config_free(&cfg);
		return 1;
	}
	struct imap_pool_config pc = {
		.per_user = cfg.pool_per_user,
		.max_sessions = cfg.pool_max,
		.idle_s = cfg.pool_idle_s,
		.connect_timeout_ms = cfg.imap_connect_timeout_ms,
		.login_fail_max = cfg.login_fail_max,
		.login_fail_window_s = cfg.login_fail_window_s,
		.wait_ms = cfg.pool_wait_ms,
	};
	imap_client_config_default(&pc.client);
	pc.client.host = cfg.imap_host;
	pc.client.port = cfg.imap_port;
	pc.client.tls_mode = cfg.imap_tls;
	pc.client.tls = tls;
	static struct imap_budget budget;  /* every session's responses, together */
	budget.max = cfg.imap_memory_max;
	pc.client.limits = cfg.imap_limits;
	pc.client.limits.budget = &budget;
	pc.client.stall_ms = cfg.imap_stall_timeout_ms;
	pc.client.ignore_caps = cfg.imap_ignore_caps;
	if (cfg.imap_trace)
		pc.client.trace = imap_trace_log;
	pc.client.on_command = metrics_imap_command;
	struct imap_pool *pool = imap_pool_new(&pc);
	if (!pool) {
		log_msgf(LOG_ERROR, NULL, "cannot create the session pool");
		imap_tls_free(&tls);
		server_config_free(&cfg);
		return 1;
	}
	struct imap_index *index = imap_index_new((size_t)cfg.index_max_mb << 20);
	/* Watched folders hold pooled sessions: one per user stays for requests. */
	unsigned per_user = cfg.pool_per_user ? cfg.pool_per_user : 4;
	struct imap_watch_hub *watch = imap_watch_hub_new(&(struct imap_watch_config){
		.pool = pool,
		.per_user_watches = per_user - 1,
		.max_subs = cfg.events_max,
		.max_subs_per_user = cfg.events_max_per_user,
		.poll_ms = cfg.events_poll_s * 1000,
		.reissue_ms = cfg.events_idle_s * 1000,
		.heartbeat_ms = cfg.events_heartbeat_s * 1000,
		.command_ms = cfg.request_timeout_ms,
		.changes_max = cfg.changes_max,
	});
	api_init(&(struct api_config){.pool = pool, .client = &pc.client, .index = index,
	                              .per_page_max = cfg.per_page_max,
	                              .download_timeout_ms = cfg.download_timeout_ms,
	                              .text_max = cfg.text_max,
	                              .per_page_default = cfg.per_page_max < 50 ? cfg.per_page_max : 50,
	                              .bulk_max = cfg.bulk_max,
	                              .search_deadline_ms = cfg.search_deadline_ms,
	                              .search_max_hits = cfg.search_max_hits,
	                              .thread_max = cfg.thread_max,

	                              .changes_max = cfg.changes_max,
	                              .watch = watch,
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

	struct http_server *http = http_server_start(&cfg, pool);
	if (!http) {
		imap_watch_hub_free(&watch);
		imap_pool_free(&pool, imap_now_ms() + 1000);
		imap_index_free(&index);
		imap_tls_free(&tls);
		server_config_free(&cfg);
		return 1;
	}
	char listen[300], imap[300];
	snprintf(listen, sizeof listen, "%s:%u", cfg.listen_host, (unsigned)cfg.listen_port);
	snprintf(imap, sizeof imap, "%s:%u", cfg.imap_host, (unsigned)cfg.imap_port);
	log_event(LOG_INFO, NULL, "listening", "listen", listen, "imap", imap, "imap_tls",
	          cfg.imap_tls == IMAP_TLS_IMPLICIT   ? "implicit"
	          : cfg.imap_tls == IMAP_TLS_STARTTLS ? "starttls"
	                                              : "none",
	          (const char *)NULL);

	/* Wait for a stop signal; meanwhile log out sessions idle too long. */
	int sig;
	for (;;) {
		struct timespec tick = {.tv_sec = 1};
		sig = sigtimedwait(&stop, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		imap_pool_reap(pool);
	}
	log_event(LOG_INFO, NULL, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
	          (const char *)NULL);
	http_server_stop(&http);  /* event streams end first (api_stop_events) */
	imap_watch_hub_free(&watch);
	api_stop();  /* long scans give up between batches */
	http_server_stop(&http);
	imap_pool_free(&pool, imap_now_ms() + 5000);  /* LOGOUT of every idle session */
	imap_index_free(&index);
	imap_tls_free(&tls);
	server_config_free(&cfg);
	log_event(LOG_INFO, NULL, "stopped", (const char *)NULL);
	curl_global_cleanup();
	return 0;
}
