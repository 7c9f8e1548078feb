/*
 * server/metrics.c — Prometheus counters and histograms. See metrics.h.
 *
 * Label values come from fixed tables (routes, statuses, IMAP command
 * names), never from request data, so the number of series is bounded.
 */
#include "server/metrics.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "imap/index.h"
#include "imap/pool.h"
#include "imap/senders.h"
#include "imap/watch.h"
#include "server/config.h"

static const char *const routes[] = {
	"healthz", "readyz", "metrics", "openapi", "root", "docs", "docs_asset", "folders", "folder",
	"messages", "search", "threads", "thread", "account",
	/* changes */
	"changes", "events", "folder_changes",
	/* one message: read */
	"message", "message_raw", "attachments", "attachment",
	/* writes */
	"message_flags", "message_move", "message_copy", "messages_flags", "messages_move",
	"messages_copy", "other"};
#define NROUTES (sizeof routes / sizeof routes[0])

static const int statuses[] = {200, 201, 204, 304, 400, 401, 404, 405, 409, 410, 413, 414,
                               415, 429, 500, 502, 503, 504, 0 /* other */};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* Histogram bucket bounds in milliseconds (rendered in seconds). */
static const int64_t bounds_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBOUNDS (sizeof bounds_ms / sizeof bounds_ms[0])

static const char *const commands[] = {
	"LOGIN", "AUTHENTICATE", "CAPABILITY", "ENABLE", "STARTTLS", "LOGOUT", "NOOP",
	"SELECT", "EXAMINE", "UNSELECT", "LIST", "LSUB", "STATUS", "FETCH", "UID FETCH",
	"UID SEARCH", "UID SORT", "SEARCH", "APPEND", "UID STORE", "UID MOVE", "UID COPY",
	"UID EXPUNGE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "IDLE", "other",
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The pool's counters, per server: a family's rows are consecutive, its
 * first carries the help and type. */
#define PS(f) offsetof(struct imap_pool_stats, f)
static const struct {
	const char *name, *help, *type;
	const char *label;  /* more labels after server="…" */
	size_t off;         /* of the field in struct imap_pool_stats */
	bool wide;          /* unsigned long long, else unsigned */
} pool_series[] = {
	{"imapgw_pool_sessions", "IMAP sessions in each server's pool by state.", "gauge",
	 ",state=\"idle\"", PS(idle), false},
	{"imapgw_pool_sessions", NULL, NULL, ",state=\"busy\"", PS(busy), false},
	{"imapgw_pool_sessions", NULL, NULL, ",state=\"connecting\"", PS(connecting), false},
	{"imapgw_pool_waiters", "Requests waiting for a session, by server.", "gauge", "",
	 PS(waiting), false},
	{"imapgw_pool_events_total", "Pool events by server.", "counter", ",event=\"created\"",
	 PS(created), true},
	{"imapgw_pool_events_total", NULL, NULL, ",event=\"reused\"", PS(reused), true},
	{"imapgw_pool_events_total", NULL, NULL, ",event=\"evicted\"", PS(evicted), true},
	{"imapgw_pool_events_total", NULL, NULL, ",event=\"expired\"", PS(expired), true},
	{"imapgw_pool_events_total", NULL, NULL, ",event=\"discarded\"", PS(discarded), true},
	{"imapgw_login_failures_total", "Logins the IMAP server refused.", "counter", "",
	 PS(login_failures), true},
	{"imapgw_login_throttled_total", "Requests answered 429 without asking the server.",
	 "counter", "", PS(throttled), true},
};
#define NPOOL_SERIES (sizeof pool_series / sizeof pool_series[0])

struct histogram {
	atomic_ullong buckets[NBOUNDS];  /* non-cumulative counts */
	atomic_ullong count;
	atomic_ullong sum_ms;
};

static atomic_ullong requests[NROUTES][NSTATUS];
static struct histogram request_ms[NROUTES];
static atomic_ullong imap_ok[API_SERVERS_MAX][NCOMMANDS], imap_failed[API_SERVERS_MAX][NCOMMANDS];
static const size_t server_slots[API_SERVERS_MAX] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static struct histogram imap_ms[NCOMMANDS];

static double start_time_s;

void metrics_start(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process_* metrics every Prometheus client library exports, from
 * /proc (Linux): CPU seconds, memory, file descriptors, start time. */
static void render_process(struct imap_buf *out)
{
	double cpu = -1;
	unsigned long long vsize = 0;
	long long rss_pages = -1;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		char line[1024];
		if (fgets(line, sizeof line, f)) {
			/* after "pid (comm)": state is field 3; utime 14, stime 15,
			 * vsize 23, rss 24 */
			const char *p = strrchr(line, ')');
			unsigned long long utime, stime;
			long long rss;
			if (p && sscanf(p + 2,
			                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
			                "%*d %*d %*d %*d %*d %*d %*u %llu %lld",
			                &utime, &stime, &vsize, &rss) == 4) {
				cpu = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
				rss_pages = rss;
			}
		}
		fclose(f);
	}
	long fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--;  /* the directory's own descriptor */
	}
	struct rlimit rl;
	double max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	                 ? (double)rl.rlim_cur : -1;
	if (cpu >= 0)
		imap_buf_printf(out,
		                "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
		                "# TYPE process_cpu_seconds_total counter\n"
		                "process_cpu_seconds_total %.2f\n"
		                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		                "# TYPE process_resident_memory_bytes gauge\n"
		                "process_resident_memory_bytes %lld\n"
		                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		                "# TYPE process_virtual_memory_bytes gauge\n"
		                "process_virtual_memory_bytes %llu\n",
		                cpu, rss_pages * (long long)sysconf(_SC_PAGESIZE), vsize);
	if (d)
		imap_buf_printf(out,
		                "# HELP process_open_fds Number of open file descriptors.\n"
		                "# TYPE process_open_fds gauge\n"
		                "process_open_fds %ld\n",
		                fds);
	if (max_fds >= 0)
		imap_buf_printf(out,
		                "# HELP process_max_fds Maximum number of open file descriptors.\n"
		                "# TYPE process_max_fds gauge\n"
		                "process_max_fds %.0f\n",
		                max_fds);
	imap_buf_printf(out,
	                "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
	                "# TYPE process_start_time_seconds gauge\n"
	                "process_start_time_seconds %.3f\n",
	                start_time_s);
}

static size_t index_of(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return n - 1;  /* "other" */
}

static void observe(struct histogram *h, int64_t ms)
{
	size_t b = 0;
	while (b < NBOUNDS && ms > bounds_ms[b])
		b++;
	if (b < NBOUNDS)
		atomic_fetch_add(&h->buckets[b], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_ms, (unsigned long long)(ms > 0 ? ms : 0));
}

void metrics_request(const char *route, int status, int64_t elapsed_ms)
{
	size_t r = index_of(routes, NROUTES, route);
	size_t s = 0;
	while (s + 1 < NSTATUS && statuses[s] != status)
		s++;
	atomic_fetch_add(&requests[r][s], 1);
	observe(&request_ms[r], elapsed_ms);
}

void *metrics_server_ctx(size_t server)
{
	return (void *)(uintptr_t)&server_slots[server < API_SERVERS_MAX ? server : 0];
}

void metrics_imap_command(void *ctx, const char *name, int result, int64_t elapsed_ms)
{
	size_t srv = ctx ? *(const size_t *)ctx : 0;
	size_t c = index_of(commands, NCOMMANDS, name);
	atomic_fetch_add(result == 0 ? &imap_ok[srv][c] : &imap_failed[srv][c], 1);
	observe(&imap_ms[c], elapsed_ms);
}

static void render_histogram(struct imap_buf *out, const char *name, const char *label,
                             const char *value, struct histogram *h)
{
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBOUNDS; b++) {
		cum += atomic_load(&h->buckets[b]);
		imap_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label, value,
		                (double)bounds_ms[b] / 1000.0, cum);
	}
	unsigned long long count = atomic_load(&h->count);
	imap_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label, value, count);
	imap_buf_printf(out, "%s_sum{%s=\"%s\"} %.3f\n", name, label, value,
	                (double)atomic_load(&h->sum_ms) / 1000.0);
	imap_buf_printf(out, "%s_count{%s=\"%s\"} %llu\n", name, label, value, count);
}

void metrics_render(unsigned workers_busy, struct imap_buf *out)
{
	imap_buf_printf(out,
	                "# HELP imapgw_build_info The running build: versions of imapgw and its libraries.\n"
	                "# TYPE imapgw_build_info gauge\n"
	                "imapgw_build_info{version=\"%s\",libmicrohttpd=\"%s\",openssl=\"%s\"} 1\n",
	                IMAPGW_VERSION, MHD_get_version(), OpenSSL_version(OPENSSL_VERSION_STRING));
	render_process(out);
	imap_buf_puts(out, "# HELP imapgw_http_requests_total HTTP requests by route and status.\n"
	                   "# TYPE imapgw_http_requests_total counter\n");
	for (size_t r = 0; r < NROUTES; r++)
		for (size_t s = 0; s < NSTATUS; s++) {
			unsigned long long n = atomic_load(&requests[r][s]);
			char status[8];
			snprintf(status, sizeof status, "%d", statuses[s]);
			if (n)
				imap_buf_printf(out, "imapgw_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
				                routes[r], statuses[s] ? status : "other", n);
		}
	imap_buf_puts(out, "# HELP imapgw_http_request_duration_seconds HTTP request latency.\n"
	                   "# TYPE imapgw_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < NROUTES; r++)
		if (atomic_load(&request_ms[r].count))
			render_histogram(out, "imapgw_http_request_duration_seconds", "route", routes[r],
			                 &request_ms[r]);

	const struct api_config *cfg = api_config();
	imap_buf_puts(out, "# HELP imapgw_imap_commands_total IMAP commands by server, name and "
	                   "result.\n# TYPE imapgw_imap_commands_total counter\n");
	for (size_t v = 0; v < cfg->nservers && v < API_SERVERS_MAX; v++)
		for (size_t c = 0; c < NCOMMANDS; c++) {
			unsigned long long ok = atomic_load(&imap_ok[v][c]);
			unsigned long long bad = atomic_load(&imap_failed[v][c]);
			if (ok)
				imap_buf_printf(out, "imapgw_imap_commands_total{server=\"%s\",command=\"%s\","
				                     "result=\"ok\"} %llu\n",
				                cfg->servers[v].name, commands[c], ok);
			if (bad)
				imap_buf_printf(out, "imapgw_imap_commands_total{server=\"%s\",command=\"%s\","
				                     "result=\"error\"} %llu\n", cfg->servers[v].name, commands[c],
				                bad);
		}
	imap_buf_puts(out, "# HELP imapgw_imap_command_duration_seconds IMAP command latency.\n"
	                   "# TYPE imapgw_imap_command_duration_seconds histogram\n");
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (atomic_load(&imap_ms[c].count))
			render_histogram(out, "imapgw_imap_command_duration_seconds", "command", commands[c],
			                 &imap_ms[c]);

	/* One snapshot per server, then each family as one group. */
	struct imap_pool_stats st[API_SERVERS_MAX];
	size_t ns = cfg->nservers < API_SERVERS_MAX ? cfg->nservers : API_SERVERS_MAX;
	for (size_t v = 0; v < ns; v++)
		imap_pool_stats(cfg->servers[v].pool, &st[v]);
	for (size_t i = 0; i < NPOOL_SERIES;) {
		const char *family = pool_series[i].name;
		size_t end = i;
		while (end < NPOOL_SERIES && strcmp(pool_series[end].name, family) == 0)
			end++;
		imap_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family, pool_series[i].help, family,
		                pool_series[i].type);
		for (size_t v = 0; v < ns; v++)
			for (size_t k = i; k < end; k++) {
				const char *field = (const char *)&st[v] + pool_series[k].off;
				unsigned long long n = pool_series[k].wide ? *(const unsigned long long *)field
				                                           : *(const unsigned *)field;
				imap_buf_printf(out, "%s{server=\"%s\"%s} %llu\n", family, cfg->servers[v].name,
				                pool_series[k].label, n);
			}
		i = end;
	}
	imap_buf_printf(out,
	                "# HELP imapgw_workers_busy Requests queued or running on IMAP workers.\n"
	                "# TYPE imapgw_workers_busy gauge\n"
	                "imapgw_workers_busy %u\n",
	                workers_busy);

	struct imap_index_stats ix;
	imap_index_stats(cfg->index, &ix);
	imap_buf_printf(out,
	                "# HELP imapgw_index_pages_total Listings by whether the index served them.\n"
	                "# TYPE imapgw_index_pages_total counter\n"
	                "imapgw_index_pages_total{result=\"hit\"} %llu\n"
	                "imapgw_index_pages_total{result=\"miss\"} %llu\n"
	                "# HELP imapgw_index_sessionless_total Index hits served with no IMAP session.\n"
	                "# TYPE imapgw_index_sessionless_total counter\n"
	                "imapgw_index_sessionless_total %llu\n"
	                "# HELP imapgw_index_folders Folders held in the index.\n"
	                "# TYPE imapgw_index_folders gauge\n"
	                "imapgw_index_folders %zu\n"
	                "# HELP imapgw_index_messages Messages held in the index.\n"
	                "# TYPE imapgw_index_messages gauge\n"
	                "imapgw_index_messages %zu\n"
	                "# HELP imapgw_index_bytes Bytes the index holds (estimate).\n"
	                "# TYPE imapgw_index_bytes gauge\n"
	                "imapgw_index_bytes %zu\n"
	                "# HELP imapgw_index_bytes_max The limit of imapgw_index_bytes (--index-max-mb).\n"
	                "# TYPE imapgw_index_bytes_max gauge\n"
	                "imapgw_index_bytes_max %zu\n"
	                "# HELP imapgw_index_folders_dropped_total Folders dropped by reason.\n"
	                "# TYPE imapgw_index_folders_dropped_total counter\n"
	                "imapgw_index_folders_dropped_total{reason=\"evicted\"} %llu\n"
	                "imapgw_index_folders_dropped_total{reason=\"uidvalidity\"} %llu\n"
	                "# HELP imapgw_index_revalidations_total IMAP commands the index sent, by kind.\n"
	                "# TYPE imapgw_index_revalidations_total counter\n",
	                ix.hits, ix.misses, ix.held, ix.folders, ix.messages, ix.bytes, ix.max_bytes, ix.evicted,
	                ix.dropped);
	for (size_t k = 0; k < IMAP_INDEX_REVAL_KINDS; k++)
		imap_buf_printf(out, "imapgw_index_revalidations_total{kind=\"%s\"} %llu\n",
		                imap_index_reval_name((enum imap_index_reval)k), ix.reval[k]);

	struct imap_senders_stats ss;
	imap_senders_stats(&ss);
	imap_buf_printf(out,
	                "# HELP imapgw_senders_fetches_total UID FETCHes of header fields the /senders "
	                "scans sent, by phase (count: every message; details: each group's newest).\n"
	                "# TYPE imapgw_senders_fetches_total counter\n"
	                "imapgw_senders_fetches_total{phase=\"count\"} %llu\n"
	                "imapgw_senders_fetches_total{phase=\"details\"} %llu\n"
	                "# HELP imapgw_senders_fetched_messages_total Messages those fetches asked for.\n"
	                "# TYPE imapgw_senders_fetched_messages_total counter\n"
	                "imapgw_senders_fetched_messages_total{phase=\"count\"} %llu\n"
	                "imapgw_senders_fetched_messages_total{phase=\"details\"} %llu\n"
	                "# HELP imapgw_senders_indexed_messages_total Messages the /senders scans counted "
	                "from the folder index instead of fetching their header fields.\n"
	                "# TYPE imapgw_senders_indexed_messages_total counter\n"
	                "imapgw_senders_indexed_messages_total %llu\n",
	                ss.count_fetches, ss.details_fetches, ss.count_fetched, ss.details_fetched,
	                ss.indexed);

	struct imap_watch_stats ws = {0};  /* all servers' hubs together */
	for (size_t v = 0; v < cfg->nservers; v++) {
		struct imap_watch_stats one;
		imap_watch_stats(cfg->servers[v].watch, &one);
		ws.subs += one.subs;
		ws.watches += one.watches;
		ws.idling += one.idling;
		ws.notifiers += one.notifiers;
	}
	imap_buf_printf(out,
	                "# HELP imapgw_events_streams Open GET /events streams.\n"
	                "# TYPE imapgw_events_streams gauge\n"
	                "imapgw_events_streams %u\n"
	                "# HELP imapgw_events_watches Watched (user, folder) pairs: each holds one IMAP "
	                "session, or shares its user's NOTIFY session.\n"
	                "# TYPE imapgw_events_watches gauge\n"
	                "imapgw_events_watches %u\n"
	                "# HELP imapgw_events_watches_idling Sessions of watches and NOTIFY sessions in IDLE now.\n"
	                "# TYPE imapgw_events_watches_idling gauge\n"
	                "imapgw_events_watches_idling %u\n"
	                "# HELP imapgw_events_notify_sessions Users whose watched folders one NOTIFY "
	                "session serves.\n"
	                "# TYPE imapgw_events_notify_sessions gauge\n"
	                "imapgw_events_notify_sessions %u\n",
	                ws.subs, ws.watches, ws.idling, ws.notifiers);
}
