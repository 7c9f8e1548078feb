/*
 * tests/support/gateway.h — run the real imapgw daemon against the private
 * Dovecot and talk to it over HTTP with libcurl.
 *
 * Each test starts its own daemon on a free loopback port with its own log
 * file (the IMAP trace is on, redacted), so tests can run in parallel and
 * can read what the gateway sent to the IMAP server.
 */
#ifndef IMAPGW_TESTS_GATEWAY_H
#define IMAPGW_TESTS_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "imap/base/buf.h"

struct gw {
	pid_t pid;
	unsigned port;
	char base[64];      /* "http://127.0.0.1:PORT" */
	char log[256];      /* the daemon's stderr (JSON lines) */
};

/* Start build/imapgw (or $IMAPGW_BIN) on the implicit-TLS Dovecot port with
 * the test CA, plus extra flags (NULL-terminated). Waits until /healthz
 * answers; fails the test otherwise. */
void gw_start(struct gw *g, ...) __attribute__((sentinel));

/* The IMAP servers the tests that are not about one server run against
 * (tests/with-dovecot.sh starts all of them, tests/servers-lib.sh says
 * how): the name, the personal namespace prefix and the hierarchy delimiter
 * of the test users' folders there. */
#define TEST_SERVERS 3
struct test_server {
	char name[16];      /* "dovecot", "cyrus", "courier" */
	char prefix[16];    /* "" or "INBOX." */
	char delimiter;
};
extern const struct test_server test_servers[TEST_SERVERS];

/* A Criterion test of suite `suite` run once per server of test_servers,
 * with `const struct test_server *srv` in scope (the file includes
 * <criterion/parameterized.h> and <string.h>). */
#define TEST_ON_EVERY_SERVER(suite, name)                                              \
	ParameterizedTestParameters(suite, name)                                       \
	{                                                                              \
		static struct test_server p[TEST_SERVERS];                               \
		memcpy(p, test_servers, sizeof p);                                       \
		return cr_make_param_array(struct test_server, p, TEST_SERVERS);         \
	}                                                                              \
	ParameterizedTest(const struct test_server *srv, suite, name)

/* Whether the test run started server s (IMAPGW_TEST_SERVERS). */
bool test_server_running(const struct test_server *s);

/* Skip the test when the run did not start server s. */
void test_server_need(const struct test_server *s);

/* As gw_start, in front of server s (its implicit-TLS port and certificate). */
void gw_start_on(struct gw *g, const struct test_server *s, ...) __attribute__((sentinel));

/* An --imap-server value that names, as `name`, a server of the test run
 * by the prefix of its IMAPGW_TEST_* variables: "DOVECOT2" (the second
 * Dovecot, tests/dovecot-lib.sh dovecot_second_start), "CYRUS" or "COURIER"
 * (waits for them, tests/servers-lib.sh): "name=127.0.0.1:PORT,ca=FILE"
 * (implicit TLS). Fails the test when the server's settings are missing. */
void test_imap_server_flag(const char *name, const char *which, char *out, size_t cap);

/* The folder path on server s of a logical path ("Archive/2023" is
 * "INBOX.Archive.2023" on Courier); INBOX stays INBOX. */
void test_server_path(const struct test_server *s, const char *logical, char *out, size_t cap);

/* SIGTERM and wait; fails the test when the daemon does not exit cleanly. */
void gw_stop(struct gw *g);

struct gw_reply {
	long status;
	struct imap_buf body;     /* NUL-terminated */
	struct imap_buf headers;  /* raw header lines */
};

/* Send a request. path includes the query ("/messages?page=2"); user and
 * password for Basic auth (NULL: none); extra_header e.g. "X-Imap-User: a",
 * several separated by newlines (NULL: none). */
void gw_request(const struct gw *g, const char *method, const char *path, const char *user,
                const char *password, const char *extra_header, struct gw_reply *r);

/* As gw_request, with a request body sent as given (len bytes) and a
 * Content-Type header (content_type NULL: none at all). */
void gw_request_body(const struct gw *g, const char *method, const char *path,
                     const char *user, const char *password, const char *content_type,
                     const char *body, size_t len, struct gw_reply *r);

/* As gw_request_body, with extra headers as in gw_request. */
void gw_request_body_headers(const struct gw *g, const char *method, const char *path,
                             const char *user, const char *password, const char *extra_header,
                             const char *content_type, const char *body, size_t len,
                             struct gw_reply *r);

void gw_reply_free(struct gw_reply *r);

/* A request (with a JSON body when body is not NULL) whose status must be
 * `want`; its answer parsed as JSON (an empty object for an empty body;
 * a body that is not JSON fails the test). json_decref it. */
struct json_t *gw_call_json(const struct gw *g, const char *user, const char *password,
                            const char *method, const char *path, const char *body, long want);

/* s with everything but ASCII letters and digits as "%XX", for a query or
 * a path segment; cut to fit cap. */
void test_url_escape(const char *s, char *out, size_t cap);

/* Requests of the calling thread come from this loopback address (e.g.
 * "127.0.0.3"; NULL: the system's choice, 127.0.0.1), so the gateway sees
 * different clients. Borrowed until changed. */
void gw_source_address(const char *addr);

/* The value of a response header (case-insensitive), copied into out;
 * returns 0 when found. */
int gw_header(const struct gw_reply *r, const char *name, char *out, size_t cap);

/* True when the daemon's log (all of it) contains needle. */
int gw_log_contains(const struct gw *g, const char *needle);

/* Count log lines of the IMAP trace that contain `needle` in what the
 * gateway sent (client to server). */
unsigned gw_count_sent(const struct gw *g, const char *needle);

/* Take turns with the other test processes on `user`'s folders until
 * test_user_unlock (or the end of the process). Dovecot 2.3.19 can
 * deadlock on a user's mailbox list index when two of the user's sessions
 * create, delete or move into folders at the same moment: fcntl reports
 * EDEADLK, Dovecot panics and drops a session. Tests that change a user's
 * folders therefore hold this lock (a flock on
 * $IMAPGW_TEST_DIR/turn-<user>). One lock per process at a time. */
void test_user_lock(const char *user);
void test_user_unlock(void);

/* ---- the private Dovecot reached directly, without the gateway ---- */

struct imap_tls;
struct imap_session;

/* The test CA ($IMAPGW_TEST_CA) as a TLS context; fails the test when it
 * cannot be loaded. Free with imap_tls_free. */
struct imap_tls *test_tls_open(void);

/* A session on the private Dovecot's implicit-TLS port, verified with tls,
 * logged in as user and ENABLEd (CONDSTORE, UTF8=ACCEPT); fails the test
 * otherwise. Deadlines of 15 s. */
struct imap_session *test_imap_login(struct imap_tls *tls, const char *user,
                                     const char *password);

/* The same on server s (one of test_servers; its certificate kept for the
 * life of the process). */
struct imap_session *test_imap_login_on(const struct test_server *srv, const char *user,
                                        const char *password);

struct imap_folder;
struct imap_folder_list;

/* The folder of list l with this path, or NULL (test_folder_find); or a
 * failed test when there is none (test_folder_must). */
const struct imap_folder *test_folder_find(const struct imap_folder_list *l, const char *path);
const struct imap_folder *test_folder_must(const struct imap_folder_list *l, const char *path);

#endif
