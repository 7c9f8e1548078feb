/*
 * The daemon's settings: --imap-server with its per-server pool limits, and
 * --config files (name value / name=value lines, comments, repeated list
 * options, file:line in every error, the environment and the command line
 * winning over the file).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

static void clean_env(void)
{
	static const char *const vars[] = {"IMAPGW_CONFIG", "IMAPGW_IMAP_SERVERS",
	                                   "IMAPGW_IMAP_ROUTES", "IMAPGW_POOL_PER_USER",
	                                   "IMAPGW_POOL_MAX", "IMAPGW_IMAP_HOST",
	                                   "IMAPGW_LISTEN", "IMAPGW_IMAP_ROUTE_DEFAULT"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

TestSuite(config, .init = clean_env);

static struct server_config cfg;
static char err[4096];

/* server_config_load over these arguments (NULL-terminated); its result,
 * and what it printed to stderr in err. */
static int load(const char *first, ...)
{
	char *argv[32] = {(char *)(uintptr_t)"imapgw"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)(uintptr_t)a;
	va_end(ap);
	FILE *e = fmemopen(err, sizeof err, "w");
	FILE *o = fopen("/dev/null", "w");
	cr_assert(e && o);
	memset(err, 0, sizeof err);
	server_config_free(&cfg);
	int rc = server_config_load(&cfg, argc, argv, o, e);
	fclose(e);
	fclose(o);
	return rc;
}

/* A config file with this text; its path (static). */
static const char *file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/imapgw-config-test-%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const struct server_imap_server *server(const char *name)
{
	for (size_t i = 0; i < cfg.nservers; i++)
		if (strcmp(cfg.servers[i].name, name) == 0)
			return &cfg.servers[i];
	cr_assert_fail("no server %s", name);
	return NULL;
}

Test(config, server_limits_override_the_global_ones)
{
	cr_assert_eq(load("--pool-per-user", "3", "--pool-max", "50", "--imap-server",
	                  "one=mail.example:993,max_per_user=1,max=10", "--imap-server",
	                  "two=[::1]:143,tls=starttls,max=7", "--imap-server", "three=h", NULL),
	             0, "%s", err);
	cr_assert_eq(cfg.nservers, 4);
	cr_assert_eq(server("default")->pool_per_user, 3);
	cr_assert_eq(server("default")->pool_max, 50);
	cr_assert_eq(server("one")->pool_per_user, 1);
	cr_assert_eq(server("one")->pool_max, 10);
	cr_assert_eq(server("two")->pool_per_user, 3);
	cr_assert_eq(server("two")->pool_max, 7);
	cr_assert_eq(server("two")->port, 143);
	cr_assert_str_eq(server("two")->host, "::1");
	cr_assert_eq(server("three")->pool_per_user, 3);
	cr_assert_eq(server("three")->pool_max, 50);
	cr_assert_eq(server("three")->port, 993);
	server_config_free(&cfg);
}

Test(config, server_limits_are_parsed_strictly)
{
	static const struct {
		const char *v, *says;
	} bad[] = {
		{"a=h:1,max_per_user=0", "'0' is not a number of 1..64 (as --pool-per-user)"},
		{"a=h:1,max_per_user=65", "1..64"},
		{"a=h:1,max_per_user=", "'' is not a number"},
		{"a=h:1,max_per_user=-1", "not a number"},
		{"a=h:1,max_per_user=2x", "not a number"},
		{"a=h:1,max_per_user= 2", "not a number"},
		{"a=h:1,max=0", "1..100000 (as --pool-max)"},
		{"a=h:1,max=100001", "1..100000"},
		{"a=h:1,max=99999999999999999999999", "not a number"},
		{"a=h:1,max=1K", "not a number"},
		{"a=h:1,maxi=3", "unknown setting 'maxi=3'"},
		{"a=h:1,Max=3", "unknown setting"},
		{"a=h:1,max_per_user", "unknown setting"},
		{"a=h:1,per_user=2", "unknown setting 'per_user=2' (tls=, ca=, max_per_user=, max=)"},
		{"a=h:1,,max=2", "unknown setting ''"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(load("--imap-server", bad[i].v, NULL), -1, "%s", bad[i].v);
		cr_assert(strstr(err, "invalid value for --imap-server"), "%s: %s", bad[i].v, err);
		cr_assert(strstr(err, bad[i].says), "%s: %s", bad[i].v, err);
	}
	/* the last one of a setting given twice counts */
	cr_assert_eq(load("--imap-server", "a=h:1,max=2,max=5", NULL), 0, "%s", err);
	cr_assert_eq(server("a")->pool_max, 5);
	server_config_free(&cfg);
}

Test(config, env_list_of_servers_with_limits)
{
	setenv("IMAPGW_IMAP_SERVERS", " a=h:1,max_per_user=2 ; b=h:2,max=3", 1);
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_assert_eq(server("a")->pool_per_user, 2);
	cr_assert_eq(server("b")->pool_max, 3);
	setenv("IMAPGW_IMAP_SERVERS", "a=h:1,max_per_user=99", 1);
	cr_assert_eq(load(NULL), -1);
	cr_assert(strstr(err, "IMAPGW_IMAP_SERVERS: invalid value"), "%s", err);
	server_config_free(&cfg);
}

Test(config, file_sets_options_in_both_forms)
{
	const char *path = file("# two servers\n"
	                        "\n"
	                        "imap-host mail.example.org\n"
	                        "  imap-port=1993  \n"
	                        "imap-tls = starttls\r\n"
	                        "\t# indented comment\n"
	                        "imap-server eu=imap.eu.example:993,max_per_user=2\n"
	                        "imap-server=us=imap.us.example:993,tls=implicit,max=20\n"
	                        "imap-route eu.example=eu\n"
	                        "imap-route us.example=us\n"
	                        "imap-trace\n"
	                        "pool-max 77\n"
	                        "search-max-hits=12345");  /* no newline at the end */
	cr_assert_eq(load("--config", path, NULL), 0, "%s", err);
	cr_assert_str_eq(cfg.imap_host, "mail.example.org");
	cr_assert_eq(cfg.imap_port, 1993);
	cr_assert_eq(cfg.imap_tls, IMAP_TLS_STARTTLS);
	cr_assert(cfg.imap_trace);
	cr_assert_eq(cfg.search_max_hits, 12345);
	cr_assert_eq(cfg.nservers, 3);
	cr_assert_str_eq(server("eu")->host, "imap.eu.example");
	cr_assert_eq(server("eu")->pool_per_user, 2);
	cr_assert_eq(server("eu")->pool_max, 77);
	cr_assert_eq(server("us")->pool_max, 20);
	cr_assert_eq(server("default")->port, 1993);
	cr_assert_eq(cfg.nroutes, 2);
	cr_assert_str_eq(cfg.routes[1].domain, "us.example");
	cr_assert_str_eq(cfg.routes[1].server, "us");
	/* the same through IMAPGW_CONFIG, and --config=FILE */
	setenv("IMAPGW_CONFIG", path, 1);
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_assert_eq(cfg.nservers, 3);
	unsetenv("IMAPGW_CONFIG");
	char arg[128];
	snprintf(arg, sizeof arg, "--config=%s", path);
	cr_assert_eq(load(arg, NULL), 0, "%s", err);
	cr_assert_eq(cfg.pool_max, 77);
	unlink(path);
	server_config_free(&cfg);
}

Test(config, environment_and_flags_win_over_the_file)
{
	const char *path = file("pool-max 77\npool-per-user 2\nimap-host file.example\n"
	                        "imap-server a=h:1\nimap-server b=h:2\nimap-route x.org=default\n");
	setenv("IMAPGW_POOL_MAX", "88", 1);
	setenv("IMAPGW_CONFIG", "/nonexistent/ignored/when/a/flag/names/one", 1);
	cr_assert_eq(load("--pool-per-user", "5", "--config", path, NULL), 0, "%s", err);
	cr_assert_eq(cfg.pool_max, 88);
	cr_assert_eq(cfg.pool_per_user, 5);
	cr_assert_str_eq(cfg.imap_host, "file.example");
	cr_assert_eq(cfg.nservers, 3, "the file's servers add up");
	/* a list given on the command line replaces the file's list */
	cr_assert_eq(load("--config", path, "--imap-server", "c=h:3", NULL), 0, "%s", err);
	cr_assert_eq(cfg.nservers, 2);
	cr_assert_str_eq(cfg.servers[1].name, "c");
	cr_assert_eq(load("--config", path, "--imap-route", "y.org=default", NULL), 0, "%s", err);
	cr_assert_eq(cfg.nroutes, 1);
	cr_assert_str_eq(cfg.routes[0].domain, "y.org");
	/* and the environment's list replaces it too */
	setenv("IMAPGW_IMAP_SERVERS", "d=h:4;e=h:5", 1);
	cr_assert_eq(load("--config", path, "--imap-route", "y.org=d", NULL), 0, "%s", err);
	cr_assert_eq(cfg.nservers, 3);
	cr_assert_str_eq(cfg.servers[1].name, "d");
	unlink(path);
	server_config_free(&cfg);
}

Test(config, file_errors_name_file_and_line)
{
	static const struct {
		const char *text, *line, *says;
	} bad[] = {
		{"pool-max 10\nno-such-option 1\n", ":2:", "unknown option 'no-such-option'"},
		{"# ok\n\npool-max ten\n", ":3:", "invalid value for --pool-max: 'ten'"},
		{"pool-max\n", ":1:", "pool-max needs a value"},
		{"--pool-max 3\n", ":1:", "unknown option '--pool-max'"},
		{"Pool-Max 3\n", ":1:", "expected 'name value'"},
		{"pool-max:3\n", ":1:", "expected 'name value'"},
		{"imap-server a=h:1\nimap-server a=h:2\n", ":2:", "is taken"},
		{"imap-server a=h:1,max_per_user=100\n", ":1:", "1..64"},
		{"imap-server a=h:1,sessions=2\n", ":1:", "unknown setting"},
		{"config /etc/other.conf\n", ":1:", "cannot name another"},
		{"imap-trace maybe\n", ":1:", "invalid value for --imap-trace"},
		{"imap-host a\x01b\n", ":1:", "control character"},
		{"imap-route a.org=nowhere\n", "", "no IMAP server named 'nowhere'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *path = file(bad[i].text);
		cr_assert_eq(load("--config", path, NULL), -1, "case %zu", i);
		char want[128];
		snprintf(want, sizeof want, "%s%s", path, bad[i].line);
		cr_assert(!*bad[i].line || strstr(err, want), "case %zu: %s", i, err);
		cr_assert(strstr(err, bad[i].says), "case %zu: %s", i, err);
		unlink(path);
	}
	/* a line too long, a NUL byte, a missing file, --config twice */
	char *big = malloc(10000);
	memset(big, 'x', 9999);
	memcpy(big, "imap-host ", 10);
	big[9999] = '\0';
	const char *path = file(big);
	free(big);
	cr_assert_eq(load("--config", path, NULL), -1);
	cr_assert(strstr(err, ":1: a line longer than 8192 bytes"), "%s", err);
	FILE *f = fopen(path, "w");
	fwrite("pool-max 3\0 4\n", 1, 14, f);
	fclose(f);
	cr_assert_eq(load("--config", path, NULL), -1);
	cr_assert(strstr(err, ":1: a NUL byte"), "%s", err);
	unlink(path);
	cr_assert_eq(load("--config", "/nonexistent/imapgw.conf", NULL), -1);
	cr_assert(strstr(err, "--config /nonexistent/imapgw.conf: cannot read it"), "%s", err);
	setenv("IMAPGW_CONFIG", "/nonexistent/env.conf", 1);
	cr_assert_eq(load(NULL), -1);
	cr_assert(strstr(err, "/nonexistent/env.conf: cannot read it"), "%s", err);
	unsetenv("IMAPGW_CONFIG");
	cr_assert_eq(load("--config", "a", "--config", "b", NULL), -1);
	cr_assert(strstr(err, "--config given twice"), "%s", err);
	cr_assert_eq(load("--config", NULL), -1);
	cr_assert(strstr(err, "--config needs a value"), "%s", err);
	server_config_free(&cfg);
}

/* The two-server file README.md shows loads as it says. */
Test(config, the_readme_example_loads)
{
	const char *path = file("# /etc/imapgw/imapgw.conf\n"
	                        "listen 0.0.0.0:8080\n"
	                        "imap-host mail.example.com\n"
	                        "imap-ca /etc/imapgw/example-ca.pem\n"
	                        "pool-per-user 4\n"
	                        "imap-server office=mail.office.example:143,tls=starttls,"
	                        "ca=/etc/imapgw/office-ca.pem,max_per_user=2,max=200\n"
	                        "imap-route office.example=office\n"
	                        "imap-route corp.example=office\n");
	cr_assert_eq(load("--config", path, NULL), 0, "%s", err);
	unlink(path);
	cr_assert_str_eq(cfg.listen_host, "0.0.0.0");
	cr_assert_eq(cfg.listen_port, 8080);
	cr_assert_str_eq(server("default")->host, "mail.example.com");
	cr_assert_str_eq(server("default")->ca, "/etc/imapgw/example-ca.pem");
	cr_assert_eq(server("default")->pool_per_user, 4);
	const struct server_imap_server *o = server("office");
	cr_assert_str_eq(o->host, "mail.office.example");
	cr_assert_eq(o->port, 143);
	cr_assert_eq(o->tls, IMAP_TLS_STARTTLS);
	cr_assert_str_eq(o->ca, "/etc/imapgw/office-ca.pem");
	cr_assert_eq(o->pool_per_user, 2);
	cr_assert_eq(o->pool_max, 200);
	cr_assert_eq(cfg.nroutes, 2);
	server_config_free(&cfg);
}
