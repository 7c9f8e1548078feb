/*
 * server/config.h — the daemon's settings: every limit named and
 * configurable, each by a command-line flag and a matching IMAPGW_*
 * environment variable (a flag wins over the environment).
 */
#ifndef IMAPGW_SERVER_CONFIG_H
#define IMAPGW_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "api/api.h"
#include "imap/client.h"

#define IMAPGW_VERSION "0.1.0"

/* An IMAP server the gateway may reach: --imap-server NAME=HOST:PORT[,...],
 * or "default" from --imap-host, --imap-port, --imap-tls and --imap-ca. */
struct server_imap_server {
	char *name;
	char *host;
	uint16_t port;
	enum imap_tls_mode tls;
	char *ca;                   /* NULL: system store */
	unsigned pool_per_user;     /* ,max_per_user=N (0 in the flag: --pool-per-user) */
	unsigned pool_max;          /* ,max=N (0 in the flag: --pool-max) */
};

/* --imap-route DOMAIN=NAME */
struct server_imap_route {
	char *domain;
	char *server;
};

#define SERVER_ROUTES_MAX 1024  /* --imap-route entries */

struct server_config {
	/* HTTP side */
	char *listen_host;          /* --listen HOST:PORT */
	uint16_t listen_port;
	unsigned http_threads;      /* --http-threads: libmicrohttpd poll threads */
	unsigned http_connections;  /* --http-connections: open connections held */
	unsigned http_idle_s;       /* --http-idle: idle keep-alive timeout */
	size_t uri_max;             /* --uri-max: request URI bytes, query included */
	size_t header_max;          /* --header-max: request header field bytes (431 above) */
	size_t body_max;            /* --body-max: request body bytes (413 above) */
	size_t append_max;          /* --append-max: bytes of an appended message (413 above) */
	unsigned bulk_max;          /* --bulk-max: UIDs in one bulk request (400 above) */
	unsigned request_timeout_ms;/* --request-timeout: whole-request deadline */
	unsigned workers;           /* --workers: IMAP worker threads */
	unsigned queue_max;         /* --queue-max: requests waiting for a worker (503 above) */
	unsigned per_page_max;      /* --per-page-max */
	unsigned search_deadline_ms; /* --search-deadline-ms: time GET /search searches */
	unsigned search_max_hits;   /* --search-max-hits: matches one search orders */
	unsigned thread_max;        /* --thread-max: messages threaded in one request */
	unsigned changes_max;       /* --changes-max: largest max_changes of GET /changes */
	unsigned folder_state_max;  /* --folder-state-max: folders a folder-list state lists */
	unsigned events_max;        /* --events-max: event streams in all (503 above) */
	unsigned events_max_per_user; /* --events-max-per-user (429 above) */
	size_t events_buffer;       /* --events-buffer: bytes held per stream (slower clients dropped) */
	unsigned events_heartbeat_s;/* --events-heartbeat */
	unsigned events_poll_s;     /* --events-poll: checks without IDLE */
	unsigned events_idle_s;     /* --events-idle: IDLE re-issued after */
	unsigned events_folders_max;/* --events-folders-max: folders of one stream */
	unsigned index_max_mb;      /* --index-max-mb */
	unsigned index_loads;       /* --index-loads: folders loading at once */
	size_t stream_buffer;       /* --stream-buffer: bytes held per streamed download */
	unsigned download_timeout_ms; /* --download-timeout: deadline of a streamed download */
	char *cors_origins;         /* --cors-origins: exact origins or "*" (NULL: CORS off) */
	size_t gzip_min_bytes;      /* --gzip-min-bytes: smallest JSON answer gzipped (0: none) */
	size_t text_max;            /* --text-max: bytes of one text part shown by GET /messages/{uid} */
	unsigned senders_batch;     /* --senders-batch: UIDs per header FETCH of a /senders scan */
	unsigned senders_timeout_ms;/* --senders-timeout: deadline of a /senders scan or action */
	char *trusted_authserv_ids; /* --trusted-authserv-id: Authentication-Results believed */
	unsigned unsubscribe_timeout_ms; /* --unsubscribe-timeout: one one-click POST */
	size_t unsubscribe_body_max;     /* --unsubscribe-body-max: its response bytes read */
	char *unsubscribe_ca;            /* --unsubscribe-ca FILE (NULL: system store) */
	char *unsubscribe_allow_hosts;   /* --unsubscribe-allow-hosts: exempt from address checks */
	char *smtp_host;                 /* --smtp-host: submission server for mailto (NULL: none) */
	uint16_t smtp_port;              /* --smtp-port (0: 587, 465 for implicit TLS) */
	char *smtp_tls;                  /* --smtp-tls starttls|implicit|none */
	char *smtp_ca;                   /* --smtp-ca FILE (NULL: system store) */
	char *smtp_from_domain;          /* --smtp-from-domain: for user names without "@" */
	unsigned smtp_timeout_ms;        /* --smtp-timeout */

	/* IMAP side */
	char *imap_host;            /* --imap-host */
	uint16_t imap_port;         /* --imap-port (0: 993 for implicit TLS, else 143) */
	enum imap_tls_mode imap_tls;/* --imap-tls implicit|starttls|none */
	char *imap_ca;              /* --imap-ca FILE (NULL: system store) */
	unsigned imap_connect_timeout_ms; /* --imap-connect-timeout */
	unsigned imap_stall_timeout_ms;   /* --imap-stall-timeout: silence mid-response */
	size_t imap_memory_max;           /* --imap-memory-max: response bytes held at once */
	struct imap_parser_limits imap_limits; /* --imap-line-max, --imap-literal-max,
	                                          --imap-response-max, --imap-depth-max */
	bool imap_trace;            /* --imap-trace: protocol trace in the log (redacted) */
	uint32_t imap_ignore_caps;  /* --imap-ignore-caps SORT,ESEARCH,...: act as if not offered */
	/* servers[0] is "default" (the --imap-host flags), then each --imap-server */
	struct server_imap_server servers[API_SERVERS_MAX];
	size_t nservers;
	int servers_src;            /* where the servers came from (file, env, flags) */
	struct server_imap_route routes[SERVER_ROUTES_MAX];
	size_t nroutes;
	int routes_src;             /* where the routes came from */
	char *route_default;        /* --imap-route-default NAME */
	size_t route_default_index; /* of route_default in servers, once loaded */

	/* session pool */
	unsigned pool_per_user;     /* --pool-per-user */
	unsigned pool_max;          /* --pool-max: sessions in all */
	unsigned pool_idle_s;       /* --pool-idle: idle sessions closed after */
	unsigned pool_wait_ms;      /* --pool-wait: wait for a worker or a session (503 after) */
	unsigned login_fail_max;    /* --login-fail-max: failed logins before 429 */
	unsigned login_fail_window_s; /* --login-fail-window */

	unsigned drain_s;           /* --drain-time: /readyz 503 before the listener closes */

	int log_level;              /* --log-level debug|info|warn|error */
};

/* Fill cfg from defaults, then the environment, then argv. Returns 0; 1 when
 * --help or --version was printed (exit 0); -1 after printing an error to
 * `err` (exit 2). */
int server_config_load(struct server_config *cfg, int argc, char **argv, FILE *out,
                       FILE *err);

/* Free the strings the config owns. */
void server_config_free(struct server_config *cfg);

#endif
