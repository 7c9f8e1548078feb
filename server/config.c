/*
 * server/config.c — settings from defaults, IMAPGW_* variables and flags.
 *
 * One table describes every setting: its flag, type, where it lives in
 * struct server_config, its default and its help line. Parsing, the
 * environment names and --help all come from that table, so a new limit is
 * one line here.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/log.h"


enum opt_type {
	OPT_STR,    /* char *, NULL when empty */
	OPT_UINT,   /* unsigned */
	OPT_SIZE,   /* size_t, with K/M/G suffixes */
	OPT_PORT,   /* uint16_t */
	OPT_BOOL,   /* bool: "--flag", "--flag=true|false" */
	OPT_LISTEN, /* HOST:PORT into listen_host + listen_port */
	OPT_TLS,    /* enum imap_tls_mode */
	OPT_LEVEL,  /* log level */
	OPT_CAPS,   /* comma-separated capability names into an IMAP_CAP_* mask */
	OPT_SERVER, /* NAME=HOST:PORT[,tls=MODE][,ca=FILE][,max_per_user=N][,max=N], repeatable
	               (env: ';' between) */
	OPT_ROUTE,  /* DOMAIN=NAME, repeatable (env: ';' between) */
	OPT_CONFIG, /* --config FILE: read before the environment and the other flags */
};

/* Where a value comes from, weakest first: a later source overrides an
 * earlier one, and a list option given by a stronger source replaces the
 * entries a weaker one gave. */
enum source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;
	unsigned long long min, max;
	const char *help;
};

#define OFF(f) offsetof(struct server_config, f)
#define LIM(f) (offsetof(struct server_config, imap_limits) + offsetof(struct imap_parser_limits, f))
#define U32 4294967295ull

static const struct opt opts[] = {
	{"config", OPT_CONFIG, 0, "", 0, 0,
	 "read options from FILE first: one a line, 'name value' or 'name=value' with the long "
	 "names of these flags (repeatable ones repeated), # comments; the environment and the "
	 "command line win over it"},
	{"listen", OPT_LISTEN, 0, "127.0.0.1:8080", 0, 0, "HOST:PORT to serve HTTP on"},
	{"http-threads", OPT_UINT, OFF(http_threads), "2", 1, 256, "HTTP event threads"},
	{"http-connections", OPT_UINT, OFF(http_connections), "4096", 1, 1000000,
	 "HTTP connections held open at once"},
	{"http-idle", OPT_UINT, OFF(http_idle_s), "60", 1, 86400,
	 "seconds an idle HTTP connection is kept"},
	{"uri-max", OPT_SIZE, OFF(uri_max), "8K", 256, 1u << 20,
	 "longest request URI, path and query (414 above)"},
	{"header-max", OPT_SIZE, OFF(header_max), "16K", 1024, 1u << 20,
	 "bytes of request header fields (431 above)"},
	{"body-max", OPT_SIZE, OFF(body_max), "1M", 1, 1ull << 32,
	 "largest request body other than an appended message (413 above)"},
	{"append-max", OPT_SIZE, OFF(append_max), "25M", 1, 1ull << 32,
	 "largest message appended with POST /messages (413 above)"},
	{"bulk-max", OPT_UINT, OFF(bulk_max), "1000", 1, 100000,
	 "most UIDs one bulk request may name (400 above)"},
	{"request-timeout", OPT_UINT, OFF(request_timeout_ms), "30000", 100, 3600000,
	 "milliseconds a request may take, IMAP included (504 after)"},
	{"workers", OPT_UINT, OFF(workers), "32", 1, 4096, "IMAP worker threads"},
	{"queue-max", OPT_UINT, OFF(queue_max), "1024", 1, 1000000,
	 "requests waiting for a worker (503 above)"},
	{"stream-buffer", OPT_SIZE, OFF(stream_buffer), "256K", 4096, 1ull << 30,
	 "bytes buffered per streamed download (raw message, attachment)"},
	{"download-timeout", OPT_UINT, OFF(download_timeout_ms), "600000", 1000, 86400000,
	 "ms a streamed download may take in all"},
	{"text-max", OPT_SIZE, OFF(text_max), "8M", 1024, 1ull << 30,
	 "bytes of one text part GET /messages/{uid} fetches (the rest is cut: truncated)"},
	{"senders-batch", OPT_UINT, OFF(senders_batch), "1000", 1, 100000,
	 "UIDs whose header fields one FETCH of a /senders scan reads (the IMAP session is "
	 "given back between batches)"},
	{"senders-timeout", OPT_UINT, OFF(senders_timeout_ms), "300000", 100, 3600000,
	 "milliseconds a /senders scan or action may take, all in (it reads every message's "
	 "header fields; --request-timeout when that is longer)"},
	{"trusted-authserv-id", OPT_STR, OFF(trusted_authserv_ids), "", 0, 0,
	 "comma-separated authserv-ids (your receiving servers) whose Authentication-Results "
	 "are believed"},
	{"unsubscribe-timeout", OPT_UINT, OFF(unsubscribe_timeout_ms), "10000", 100, 600000,
	 "milliseconds one one-click unsubscribe POST may take, all in"},
	{"unsubscribe-body-max", OPT_SIZE, OFF(unsubscribe_body_max), "64K", 1, 1u << 30,
	 "response bytes of a one-click POST read (more: failed)"},
	{"unsubscribe-ca", OPT_STR, OFF(unsubscribe_ca), "", 0, 0,
	 "CA file for one-click HTTPS (default: the system store)"},
	{"unsubscribe-allow-hosts", OPT_STR, OFF(unsubscribe_allow_hosts), "", 0, 0,
	 "comma-separated hosts exempt from the private-address checks (for tests only)"},
	{"smtp-host", OPT_STR, OFF(smtp_host), "", 0, 0,
	 "SMTP submission server for mailto: unsubscribes, sent as the requesting user with "
	 "the request's credentials (default: none; the answer is the message to send)"},
	{"smtp-port", OPT_PORT, OFF(smtp_port), "0", 0, 65535,
	 "SMTP port (0: 587, or 465 for implicit TLS)"},
	{"smtp-tls", OPT_STR, OFF(smtp_tls), "starttls", 0, 0, "starttls | implicit | none"},
	{"smtp-ca", OPT_STR, OFF(smtp_ca), "", 0, 0,
	 "CA file for the SMTP server's certificate (default: the system store)"},
	{"smtp-from-domain", OPT_STR, OFF(smtp_from_domain), "", 0, 0,
	 "domain for the sender address of users whose name has no @"},
	{"smtp-timeout", OPT_UINT, OFF(smtp_timeout_ms), "30000", 100, 600000,
	 "milliseconds one SMTP submission may take, all in"},
	{"per-page-max", OPT_UINT, OFF(per_page_max), "500", 1, 10000, "largest per_page"},
	{"cors-origins", OPT_STR, OFF(cors_origins), "", 0, 0,
	 "origins browsers may call from, comma-separated and exact (https://app.example:8443),"
	 " or * for any origin without credentials (empty: CORS off)"},
	{"gzip-min-bytes", OPT_SIZE, OFF(gzip_min_bytes), "1K", 0, 1ull << 30,
	 "gzip JSON answers of at least this many bytes when the client accepts it (0: never)"},
	{"search-deadline-ms", OPT_UINT, OFF(search_deadline_ms), "10000", 100, 3600000,
	 "ms GET /search spends searching folders; then it answers what it found, partial"},
	{"search-max-hits", OPT_UINT, OFF(search_max_hits), "100000", 1, 16000000,
	 "matches GET /search orders in one request; beyond, the answer is partial"},
	{"thread-max", OPT_UINT, OFF(thread_max), "10000", 1, 50000,
	 "messages one conversation (GET /threads/{id}) or a threaded folder may hold"},
	{"changes-max", OPT_UINT, OFF(changes_max), "5000", 1, 100000,
	 "largest max_changes of GET /changes (created + updated in one answer)"},
	{"folder-state-max", OPT_UINT, OFF(folder_state_max), "500", 1, 100000,
	 "folders a folder-list state lists one by one (14 characters each; beyond, "
	 "GET /folders/changes from it answers 410 unless nothing changed)"},
	{"events-max", OPT_UINT, OFF(events_max), "1000", 1, 1000000,
	 "GET /events streams open at once (503 above)"},
	{"events-max-per-user", OPT_UINT, OFF(events_max_per_user), "20", 1, 100000,
	 "GET /events streams of one user (429 above)"},
	{"events-buffer", OPT_SIZE, OFF(events_buffer), "64K", 1024, 1ull << 26,
	 "bytes of events held for one stream; a client slower than that is dropped"},
	{"events-heartbeat", OPT_UINT, OFF(events_heartbeat_s), "15", 1, 3600,
	 "seconds between heartbeat comments of an event stream"},
	{"events-poll", OPT_UINT, OFF(events_poll_s), "30", 1, 3600,
	 "seconds between checks of a watched folder when the server lacks IDLE"},
	{"events-idle", OPT_UINT, OFF(events_idle_s), "1740", 5, 1740,
	 "seconds after which IDLE is ended and sent again (servers end it at 30 min)"},
	{"events-folders-max", OPT_UINT, OFF(events_folders_max), "16", 1, 64,
	 "folders one GET /events stream may watch"},
	{"index-max-mb", OPT_UINT, OFF(index_max_mb), "256", 0, 1u << 20,
	 "MiB of message summaries kept per process to serve listings (0: no index)"},
	{"index-loads", OPT_UINT, OFF(index_loads), "4", 1, 1024,
	 "folders loaded into the index at the same time, after the listings that found them cold"},

	{"imap-host", OPT_STR, OFF(imap_host), "127.0.0.1", 0, 0, "IMAP server host name or address"},
	{"imap-port", OPT_PORT, OFF(imap_port), "0", 0, 65535,
	 "IMAP server port (0: 993 with implicit TLS, else 143)"},
	{"imap-tls", OPT_TLS, OFF(imap_tls), "implicit", 0, 0, "implicit | starttls | none"},
	{"imap-ca", OPT_STR, OFF(imap_ca), "", 0, 0,
	 "PEM file of CAs to trust for the IMAP server (empty: system store)"},
	{"imap-server", OPT_SERVER, 0, "", 0, 0,
	 "another IMAP server, NAME=HOST:PORT[,tls=implicit|starttls|none][,ca=FILE]"
	 "[,max_per_user=N][,max=N] (its own --pool-per-user, --pool-max); repeatable"},
	{"imap-route", OPT_ROUTE, 0, "", 0, 0,
	 "users of DOMAIN go to the server NAME: DOMAIN=NAME; repeatable"},
	{"imap-route-default", OPT_STR, OFF(route_default), "default", 0, 0,
	 "the server of requests that name none and whose domain has no route"},
	{"imap-connect-timeout", OPT_UINT, OFF(imap_connect_timeout_ms), "10000", 100, 600000,
	 "milliseconds for connect, TLS, greeting and login"},
	{"imap-stall-timeout", OPT_UINT, OFF(imap_stall_timeout_ms), "30000", 0, 3600000,
	 "ms the IMAP server may stay silent mid-response, downloads included (0: no limit)"},
	{"imap-line-max", OPT_SIZE, LIM(line_max), "16M", 1024, 1ull << 31,
	 "longest IMAP response line (outside literals)"},
	{"imap-literal-max", OPT_SIZE, LIM(literal_max), "64M", 1024, 1ull << 34,
	 "largest IMAP literal held in memory"},
	{"imap-response-max", OPT_SIZE, LIM(response_max), "128M", 1024, 1ull << 35,
	 "largest IMAP response held in memory"},
	{"imap-depth-max", OPT_UINT, LIM(depth_max), "64", 4, 1024, "deepest IMAP list nesting"},
	{"imap-memory-max", OPT_SIZE, OFF(imap_memory_max), "512M", 0, 1ull << 40,
	 "IMAP response bytes all sessions may hold at once (503 beyond; 0: no limit)"},
	{"imap-ignore-caps", OPT_CAPS, OFF(imap_ignore_caps), "", 0, 0,
	 "capabilities to treat as not offered, e.g. SORT,ESEARCH (for broken servers)"},
	{"imap-trace", OPT_BOOL, OFF(imap_trace), "false", 0, 0,
	 "log the IMAP protocol (credentials and literals redacted)"},

	{"pool-per-user", OPT_UINT, OFF(pool_per_user), "4", 1, 64, "IMAP sessions per user"},
	{"pool-max", OPT_UINT, OFF(pool_max), "256", 1, 100000, "IMAP sessions in all"},
	{"pool-idle", OPT_UINT, OFF(pool_idle_s), "300", 1, 86400,
	 "seconds before an idle IMAP session is logged out"},
	{"pool-wait", OPT_UINT, OFF(pool_wait_ms), "5000", 0, 600000,
	 "milliseconds a request may wait for a worker or a session, then 503 (0: until its deadline)"},
	{"login-fail-max", OPT_UINT, OFF(login_fail_max), "5", 1, 1000,
	 "failed logins for a user before answering 429"},
	{"login-fail-window", OPT_UINT, OFF(login_fail_window_s), "60", 1, 86400,
	 "seconds failed logins are remembered"},

	{"drain-time", OPT_UINT, OFF(drain_s), "0", 0, 3600,
	 "seconds /readyz answers 503 after SIGTERM before the listener closes"},

	{"log-level", OPT_LEVEL, OFF(log_level), "info", 0, 0, "debug | info | warn | error"},
};

#define NOPTS (sizeof opts / sizeof opts[0])

static void env_name(const struct opt *o, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "IMAPGW_");
	for (const char *p = o->name; *p && n + 1 < cap; p++)
		out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	/* a list: IMAPGW_IMAP_SERVERS, IMAPGW_IMAP_ROUTES */
	if ((o->type == OPT_SERVER || o->type == OPT_ROUTE) && n + 1 < cap)
		out[n++] = 'S';
	out[n] = '\0';
}

static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
                      bool suffixes, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || !isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (suffixes && *end) {
		unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
		               : *end == 'G' || *end == 'g' ? 30 : 0;
		if (!shift || end[1] || v > (~0ull >> shift))
			return -1;
		v <<= shift;
		end++;
	}
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int find_server(const struct server_config *cfg, const char *name, size_t n)
{
	for (size_t i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i].name && strlen(cfg->servers[i].name) == n &&
		    strncasecmp(cfg->servers[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

static void server_free(struct server_imap_server *v)
{
	free(v->name);
	free(v->host);
	free(v->ca);
	memset(v, 0, sizeof *v);
}

static const struct opt *find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

/* A per-server override of a pool limit: the same range as the global flag. */
static int server_limit(const char *v, size_t len, const char *flag, unsigned *out, char *why,
                        size_t cap)
{
	const struct opt *o = find_opt(flag, strlen(flag));
	if (!o)
		return -1;
	char num[16];
	unsigned long long n;
	if (len == 0 || len >= sizeof num ||
	    (memcpy(num, v, len), num[len] = '\0', parse_uint(num, o->min, o->max, false, &n))) {
		snprintf(why, cap, "'%.*s' is not a number of %llu..%llu (as --%s)",
		         (int)(len < 20 ? len : 20), v, o->min, o->max, flag);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* One NAME=HOST[:PORT][,tls=MODE][,ca=FILE][,max_per_user=N][,max=N] (len
 * bytes of s) into a new server; an error message into why. */
static int parse_server(struct server_config *cfg, const char *s, size_t len, char *why,
                        size_t cap)
{
	const char *end = s + len;
	const char *eq = memchr(s, '=', len);
	if (!eq || !api_server_name_ok(s, (size_t)(eq - s))) {
		snprintf(why, cap, "expected NAME=HOST:PORT with a NAME of 1 to %d of A-Z a-z 0-9 . _ -",
		         API_SERVER_NAME_MAX);
		return -1;
	}
	size_t nl = (size_t)(eq - s);
	if (find_server(cfg, s, nl) >= 0 || (nl == 7 && strncasecmp(s, "default", 7) == 0)) {
		snprintf(why, cap, "the name '%.*s' is taken (\"default\" is --imap-host's)", (int)nl, s);
		return -1;
	}
	if (cfg->nservers == API_SERVERS_MAX) {
		snprintf(why, cap, "more than %d servers", API_SERVERS_MAX);
		return -1;
	}
	const char *hp = eq + 1;
	const char *comma = memchr(hp, ',', (size_t)(end - hp));
	const char *hpe = comma ? comma : end;
	const char *h = hp, *colon = NULL;
	size_t hl;
	if (*h == '[') {  /* [::1]:993 */
		const char *rb = memchr(h, ']', (size_t)(hpe - h));
		if (!rb || rb == h + 1 || (rb + 1 < hpe && rb[1] != ':')) {
			snprintf(why, cap, "a bracketed IPv6 address needs a closing ']'");
			return -1;
		}
		h++;
		hl = (size_t)(rb - h);
		colon = rb + 1 < hpe ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(hpe - h));
		hl = (size_t)((colon ? colon : hpe) - h);
	}
	unsigned long long port = 0;
	char num[8];
	if (colon) {
		size_t pl = (size_t)(hpe - colon - 1);
		if (pl == 0 || pl >= sizeof num ||
		    (memcpy(num, colon + 1, pl), num[pl] = '\0', parse_uint(num, 1, 65535, false, &port))) {
			snprintf(why, cap, "the port must be 1..65535");
			return -1;
		}
	}
	if (hl == 0 || hl > 253) {
		snprintf(why, cap, "no host");
		return -1;
	}
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f || h[i] == '/' || h[i] == '@') {
			snprintf(why, cap, "the host has a character no host name has");
			return -1;
		}
	struct server_imap_server v = {.tls = IMAP_TLS_IMPLICIT, .port = (uint16_t)port};
	v.name = strndup(s, nl);
	v.host = strndup(h, hl);
	for (const char *o = comma; o && o < end;) {
		o++;
		const char *oe = memchr(o, ',', (size_t)(end - o));
		if (!oe)
			oe = end;
		size_t ol = (size_t)(oe - o);
		char mode[16];
		if (ol > 4 && strncmp(o, "tls=", 4) == 0 && ol - 4 < sizeof mode) {
			memcpy(mode, o + 4, ol - 4);
			mode[ol - 4] = '\0';
			if (imap_tls_mode_parse(mode, &v.tls) != 0) {
				snprintf(why, cap, "tls= takes implicit, starttls or none");
				server_free(&v);
				return -1;
			}
		} else if (ol >= 3 && strncmp(o, "ca=", 3) == 0) {
			free(v.ca);
			v.ca = ol > 3 ? strndup(o + 3, ol - 3) : NULL;
		} else if (ol >= 13 && strncmp(o, "max_per_user=", 13) == 0) {
			if (server_limit(o + 13, ol - 13, "pool-per-user", &v.pool_per_user, why, cap)) {
				server_free(&v);
				return -1;
			}
		} else if (ol >= 4 && strncmp(o, "max=", 4) == 0) {
			if (server_limit(o + 4, ol - 4, "pool-max", &v.pool_max, why, cap)) {
				server_free(&v);
				return -1;
			}
		} else {
			snprintf(why, cap, "unknown setting '%.*s' (tls=, ca=, max_per_user=, max=)",
			         (int)(ol < 40 ? ol : 40), o);
			server_free(&v);
			return -1;
		}
		o = oe;
	}
	if (!v.port)
		v.port = v.tls == IMAP_TLS_IMPLICIT ? 993 : 143;
	cfg->servers[cfg->nservers++] = v;
	return 0;
}

/* One DOMAIN=NAME; the name is checked once every server is known. */
static int parse_route(struct server_config *cfg, const char *s, size_t len, char *why, size_t cap)
{
	const char *eq = memchr(s, '=', len);
	size_t dl = eq ? (size_t)(eq - s) : 0;
	if (!eq || dl == 0 || dl > 253 || !api_server_name_ok(eq + 1, len - dl - 1)) {
		snprintf(why, cap, "expected DOMAIN=NAME");
		return -1;
	}
	for (size_t i = 0; i < dl; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '@') {
			snprintf(why, cap, "the domain has a character no domain has");
			return -1;
		}
	for (size_t r = 0; r < cfg->nroutes; r++)
		if (strlen(cfg->routes[r].domain) == dl && strncasecmp(cfg->routes[r].domain, s, dl) == 0) {
			snprintf(why, cap, "the domain '%.*s' is routed twice", (int)dl, s);
			return -1;
		}
	if (cfg->nroutes == SERVER_ROUTES_MAX) {
		snprintf(why, cap, "more than %d routes", SERVER_ROUTES_MAX);
		return -1;
	}
	cfg->routes[cfg->nroutes].domain = strndup(s, dl);
	cfg->routes[cfg->nroutes].server = strndup(eq + 1, len - dl - 1);
	cfg->nroutes++;
	return 0;
}

static void routes_clear(struct server_config *cfg)
{
	for (size_t r = 0; r < cfg->nroutes; r++) {
		free(cfg->routes[r].domain);
		free(cfg->routes[r].server);
	}
	cfg->nroutes = 0;
}

/* A list option: from the environment, entries separated by ';' (blanks
 * around them ignored); from a flag or a line of the config file, one entry.
 * The first entry from a stronger source replaces what weaker ones gave. */
static int set_list(struct server_config *cfg, const struct opt *o, const char *val, FILE *err,
                    const char *from, enum source src)
{
	bool one = src != SRC_ENV;
	int *have = o->type == OPT_SERVER ? &cfg->servers_src : &cfg->routes_src;
	if ((int)src > *have) {
		*have = (int)src;
		if (o->type == OPT_SERVER)
			while (cfg->nservers > 1)
				server_free(&cfg->servers[--cfg->nservers]);
		else
			routes_clear(cfg);
	}
	const char *p = val;
	while (*p) {
		size_t n = one ? strlen(p) : strcspn(p, ";");
		const char *e = p + n;
		while (p < e && (*p == ' ' || *p == '\t' || *p == '\n'))
			p++;
		size_t l = (size_t)(e - p);
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\n'))
			l--;
		char why[160];
		if (l && (o->type == OPT_SERVER ? parse_server(cfg, p, l, why, sizeof why)
		                                : parse_route(cfg, p, l, why, sizeof why))) {
			fprintf(err, "imapgw: %s: invalid value for --%s: '%.*s': %s\n", from, o->name,
			        (int)(l < 200 ? l : 200), p, why);
			return -1;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

static int set_opt(struct server_config *cfg, const struct opt *o, const char *val, FILE *err,
                   const char *from, enum source src)
{
	char *base = (char *)cfg;
	unsigned long long n;
	switch (o->type) {
	case OPT_STR: {
		char **dst = (char **)(base + o->off);
		free(*dst);
		*dst = *val ? strdup(val) : NULL;
		return 0;
	}
	case OPT_UINT:
	case OPT_SIZE:
	case OPT_PORT:
		if (parse_uint(val, o->min, o->max, o->type == OPT_SIZE, &n))
			break;
		if (o->type == OPT_UINT)
			*(unsigned *)(base + o->off) = (unsigned)n;
		else if (o->type == OPT_SIZE)
			*(size_t *)(base + o->off) = (size_t)n;
		else
			*(uint16_t *)(base + o->off) = (uint16_t)n;
		return 0;
	case OPT_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0)
			*(bool *)(base + o->off) = true;
		else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 || strcmp(val, "no") == 0)
			*(bool *)(base + o->off) = false;
		else
			break;
		return 0;
	case OPT_LISTEN: {
		const char *colon = strrchr(val, ':');
		if (!colon || colon == val || parse_uint(colon + 1, 1, 65535, false, &n))
			break;
		const char *h = val;
		size_t hl = (size_t)(colon - val);
		if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {  /* [::1]:8080 */
			h++;
			hl -= 2;
		}
		free(cfg->listen_host);
		cfg->listen_host = strndup(h, hl);
		cfg->listen_port = (uint16_t)n;
		return 0;
	}
	case OPT_TLS:
		if (imap_tls_mode_parse(val, (enum imap_tls_mode *)(base + o->off)) == 0)
			return 0;
		break;
	case OPT_CAPS: {
		uint32_t mask = 0;
		const char *p = val;
		while (*p) {
			size_t len = strcspn(p, ",");
			uint32_t bit = imap_cap_bit(p, len);
			if (len && !bit)
				break;
			mask |= bit;
			p += len + (p[len] == ',');
		}
		if (*p)
			break;
		*(uint32_t *)(base + o->off) = mask;
		return 0;
	}
	case OPT_SERVER:
	case OPT_ROUTE:
		return set_list(cfg, o, val, err, from, src);
	case OPT_CONFIG:
		return 0;  /* read by server_config_load before everything else */
	case OPT_LEVEL: {
		int lv = log_level_parse(val);
		if (lv < 0)
			break;
		*(int *)(base + o->off) = lv;
		return 0;
	}
	}
	if (o->type == OPT_UINT || o->type == OPT_SIZE || o->type == OPT_PORT)
		fprintf(err, "imapgw: %s: invalid value for --%s: '%s' (expected %llu..%llu%s)\n",
		        from, o->name, val, o->min, o->max, o->type == OPT_SIZE ? ", K/M/G allowed" : "");
	else
		fprintf(err, "imapgw: %s: invalid value for --%s: '%s'\n", from, o->name, val);
	return -1;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: imapgw [OPTIONS]\n"
	        "A REST/JSON gateway to an IMAP server. Every option can also be set by the\n"
	        "environment variable shown, or by a line of the --config file; a flag wins over\n"
	        "the environment, and the environment over the file.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char env[64], flag[64];
		env_name(&opts[i], env, sizeof env);
		snprintf(flag, sizeof flag, "--%s%s", opts[i].name,
		         opts[i].type == OPT_BOOL ? "[=BOOL]" : " VALUE");
		fprintf(out, "  %-28s %s\n  %-28s (default: %s; env %s)\n", flag, opts[i].help, "",
		        *opts[i].def ? opts[i].def : "none", env);
	}
	fprintf(out, "  %-28s %s\n  %-28s %s\n", "--help", "show this help", "--version",
	        "show the version");
}

#define CONFIG_LINE_MAX 8192  /* bytes of one line of a --config file */

/* One line of a config file (NUL-terminated, no newline): blank, a
 * comment, or "name value" / "name=value". */
static int config_line(struct server_config *cfg, char *line, FILE *err, const char *where)
{
	for (const char *c = line; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			fprintf(err, "imapgw: %s: a control character (0x%02x)\n", where, (unsigned char)*c);
			return -1;
		}
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		p[--len] = '\0';
	if (!*p || *p == '#')
		return 0;
	size_t nl = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-");
	const char *v = p + nl;
	if (nl == 0 || (*v && *v != '=' && *v != ' ' && *v != '\t')) {
		fprintf(err, "imapgw: %s: expected 'name value' or 'name=value' (a long option name "
		             "without --), not '%.60s'\n", where, p);
		return -1;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '=')
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
	const struct opt *o = find_opt(p, nl);
	if (!o) {
		fprintf(err, "imapgw: %s: unknown option '%.*s' (see --help)\n", where, (int)nl, p);
		return -1;
	}
	if (o->type == OPT_CONFIG) {
		fprintf(err, "imapgw: %s: a config file cannot name another\n", where);
		return -1;
	}
	if (!*v && o->type != OPT_BOOL) {
		fprintf(err, "imapgw: %s: %s needs a value\n", where, o->name);
		return -1;
	}
	return set_opt(cfg, o, *v ? v : "true", err, where, SRC_FILE);
}

/* The options of a config file, line by line; errors name file:line. */
static int config_file(struct server_config *cfg, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(err, "imapgw: --config %s: cannot read it: %s\n", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int rc = 0;
	for (unsigned n = 1; !rc && (got = getline(&line, &cap, f)) >= 0; n++) {
		char where[512];
		snprintf(where, sizeof where, "%s:%u", path, n);
		size_t len = (size_t)got;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len > CONFIG_LINE_MAX) {
			fprintf(err, "imapgw: %s: a line longer than %d bytes\n", where, CONFIG_LINE_MAX);
			rc = -1;
		} else if (strlen(line) != len) {
			fprintf(err, "imapgw: %s: a NUL byte\n", where);
			rc = -1;
		} else
			rc = config_line(cfg, line, err, where);
	}
	if (!rc && ferror(f)) {
		fprintf(err, "imapgw: --config %s: cannot read it: %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/* The option argv[*a] names (its value into *val, moving *a past it), NULL
 * with a message for what is not one. */
static const struct opt *arg_opt(int argc, char **argv, int *a, const char **val, FILE *err)
{
	const char *arg = argv[*a];
	if (strncmp(arg, "--", 2) != 0) {
		fprintf(err, "imapgw: unexpected argument '%s' (see --help)\n", arg);
		return NULL;
	}
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	const struct opt *o = find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
	if (!o) {
		fprintf(err, "imapgw: unknown option '%s' (see --help)\n", arg);
		return NULL;
	}
	if (eq)
		*val = eq + 1;
	else if (o->type == OPT_BOOL)
		*val = "true";
	else if (*a + 1 < argc)
		*val = argv[++*a];
	else {
		fprintf(err, "imapgw: --%s needs a value\n", o->name);
		return NULL;
	}
	return o;
}

int server_config_load(struct server_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->nservers = 1;  /* servers[0], "default", is made last */
	for (size_t i = 0; i < NOPTS; i++)
		if (set_opt(cfg, &opts[i], opts[i].def, err, "default", SRC_DEFAULT))
			return -1;
	/* --help and --version first; then the file (--config, else
	 * IMAPGW_CONFIG), the environment and the flags, each over the last. */
	const char *file = getenv("IMAPGW_CONFIG"), *val;
	bool file_flag = false;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
			usage(out);
			return 1;
		}
		if (strcmp(argv[a], "--version") == 0) {
			fprintf(out, "imapgw %s\n", IMAPGW_VERSION);
			return 1;
		}
		const struct opt *o = arg_opt(argc, argv, &a, &val, err);
		if (!o)
			return -1;
		if (o->type == OPT_CONFIG) {
			if (file_flag) {
				fprintf(err, "imapgw: --config given twice\n");
				return -1;
			}
			file_flag = true;
			file = val;
		}
	}
	if (file && *file && config_file(cfg, file, err))
		return -1;
	for (size_t i = 0; i < NOPTS; i++) {
		char env[64];
		env_name(&opts[i], env, sizeof env);
		const char *v = getenv(env);
		if (v && set_opt(cfg, &opts[i], v, err, env, SRC_ENV))
			return -1;
	}
	for (int a = 1; a < argc; a++) {
		const struct opt *o = arg_opt(argc, argv, &a, &val, err);
		if (!o || set_opt(cfg, o, val, err, "command line", SRC_FLAG))
			return -1;
	}
	if (cfg->imap_port == 0)
		cfg->imap_port = cfg->imap_tls == IMAP_TLS_IMPLICIT ? 993 : 143;
	if (!cfg->imap_host) {
		fprintf(err, "imapgw: --imap-host must not be empty\n");
		return -1;
	}
	struct server_imap_server *d = &cfg->servers[0];
	d->name = strdup("default");
	d->host = strdup(cfg->imap_host);
	d->port = cfg->imap_port;
	d->tls = cfg->imap_tls;
	d->ca = cfg->imap_ca ? strdup(cfg->imap_ca) : NULL;
	for (size_t i = 0; i < cfg->nservers; i++) {  /* the global limits where none is given */
		if (!cfg->servers[i].pool_per_user)
			cfg->servers[i].pool_per_user = cfg->pool_per_user;
		if (!cfg->servers[i].pool_max)
			cfg->servers[i].pool_max = cfg->pool_max;
	}
	/* A route to a server nobody configured is a mistake to stop at, not
	 * a request to refuse later. */
	for (size_t r = 0; r < cfg->nroutes; r++)
		if (find_server(cfg, cfg->routes[r].server, strlen(cfg->routes[r].server)) < 0) {
			fprintf(err, "imapgw: --imap-route %s=%s: no IMAP server named '%s' "
			             "(--imap-server NAME=HOST:PORT configures one)\n",
			        cfg->routes[r].domain, cfg->routes[r].server, cfg->routes[r].server);
			return -1;
		}
	int di = cfg->route_default ? find_server(cfg, cfg->route_default, strlen(cfg->route_default))
	                            : -1;
	if (di < 0) {
		fprintf(err, "imapgw: --imap-route-default %s: no IMAP server of that name\n",
		        cfg->route_default ? cfg->route_default : "(empty)");
		return -1;
	}
	cfg->route_default_index = (size_t)di;
	return 0;
}

void server_config_free(struct server_config *cfg)
{
	free(cfg->listen_host);
	free(cfg->imap_host);
	free(cfg->imap_ca);
	free(cfg->route_default);
	for (size_t i = 0; i < cfg->nservers; i++)
		server_free(&cfg->servers[i]);
	routes_clear(cfg);
	free(cfg->cors_origins);
	free(cfg->trusted_authserv_ids);
	free(cfg->unsubscribe_ca);
	free(cfg->unsubscribe_allow_hosts);
	free(cfg->smtp_host);
	free(cfg->smtp_tls);
	free(cfg->smtp_ca);
	free(cfg->smtp_from_domain);
	memset(cfg, 0, sizeof *cfg);
}
