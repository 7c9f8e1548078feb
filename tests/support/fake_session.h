/*
 * tests/support/fake_session.h — the one harness for tests that talk to the
 * scripted fake IMAP server (tests/support/fake_imap.h): it starts the fake,
 * points a client configuration at it, connects, collects a trace, and at
 * the end compares the transcript of everything the client sent.
 *
 *	static const struct fake_step script[] = {
 *		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"),
 *		FAKE_EXPECT("NOOP"),
 *		FAKE_SEND("$TAG OK done\r\n"),
 *	};
 *	struct fake_session h;
 *	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
 *	fake_session_connect(&h);            (h.s is the session)
 *	...
 *	fake_session_finish(&h, "A1 NOOP");
 *
 * Code that opens its own connections (a pool, the API) takes h.cfg, or
 * fake_session_pool_config(&h), and leaves h.s alone; it must close its
 * connections before fake_session_finish.
 *
 * A fake serves one connection. For a client that opens several (the pool),
 * fake_session_start_many puts a relay in front: the n-th connection gets a
 * fake of its own playing the n-th script, and a connection beyond the
 * scripts is never answered but counted, so "the server was not contacted"
 * is checked, not assumed.
 *
 * Failures are Criterion assertions in the calling test.
 */
#ifndef IMAPGW_TESTS_FAKE_SESSION_H
#define IMAPGW_TESTS_FAKE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/pool.h"
#include "tests/support/fake_imap.h"

/* Deadline of one client call in these tests. */
#define FAKE_DEADLINE() (imap_now_ms() + 3000)

/* One connection's script, for fake_session_start_many. */
struct fake_script {
	const struct fake_step *steps;
	size_t n;
};
#define FAKE_SCRIPT(a) {(a), FAKE_NSTEPS(a)}

/* Most connections fake_session_start_many serves. */
#define FAKE_SESSION_MAX_CONNECTIONS 8

struct fake_front;

struct fake_session {
	struct fake_imap *fake;        /* fake_session_start */
	struct fake_front *front;      /* fake_session_start_many */
	struct imap_tls *tls;          /* for TLS modes other than none */
	struct imap_client_config cfg; /* points at the fake; change it before connecting */
	struct imap_session *s;        /* set by fake_session_connect */
	struct imap_error err;         /* of the last connect */
	struct imap_buf trace;         /* "C: ...\nS: ...\n" after fake_session_trace */
};

/* Start a fake playing script[0..n) and point h->cfg at it (127.0.0.1, its
 * port, `mode`; a TLS context with the system CAs unless mode is none). */
void fake_session_start(struct fake_session *h, const struct fake_step *script, size_t n,
                        enum imap_tls_mode mode);
#define FAKE_SESSION_START(h, script, mode) \
	fake_session_start((h), (script), FAKE_NSTEPS(script), (mode))

/* fake_session_start without TLS, then fake_session_connect. */
void fake_session_open(struct fake_session *h, const struct fake_step *script, size_t n);
#define FAKE_SESSION_OPEN(h, script) fake_session_open((h), (script), FAKE_NSTEPS(script))

/* Serve scripts[i] to the i-th connection (n <= FAKE_SESSION_MAX_CONNECTIONS;
 * 0: no connection is expected); h->cfg points at the relay, without TLS. */
void fake_session_start_many(struct fake_session *h, const struct fake_script *scripts,
                             size_t n);
#define FAKE_SESSION_START_MANY(h, scripts) \
	fake_session_start_many((h), (scripts), FAKE_NSTEPS(scripts))

/* For fake_session_start_many: connections accepted so far (the n-th
 * gets the n-th script, so a test can wait for one before opening the
 * next). */
size_t fake_session_connections(const struct fake_session *h);

/* Collect the client's protocol trace in h->trace (call before connecting). */
void fake_session_trace(struct fake_session *h);

/* The trace so far ("" when none). */
const char *fake_session_trace_text(const struct fake_session *h);

/* Connect h->s with h->cfg by `deadline`: imap_session_connect's result. */
int fake_session_connect_by(struct fake_session *h, int64_t deadline);

/* Connect, asserting success. */
void fake_session_connect(struct fake_session *h);

/* Connecting must fail with `want` (also in h->err.code), leaving no session. */
void fake_session_connect_fails(struct fake_session *h, int want);

/* A pool configuration for h->cfg's server (connect timeout 3 s, the rest
 * defaults), for tests that build a pool. */
struct imap_pool_config fake_session_pool_config(const struct fake_session *h);

/* Free h->s, stop the fake, and expect the whole script to have been played
 * and the client to have sent exactly `want` (lines joined by "\n"; NULL:
 * whatever the script accepted). */
void fake_session_finish(struct fake_session *h, const char *want);

/* For fake_session_start_many: wait for every conversation to end, then
 * expect exactly `connections` of them, each script played whole, none
 * beyond. want is NULL, or holds `connections` entries: want[i], unless
 * NULL, is what the client must have sent on the i-th. */
void fake_session_finish_many(struct fake_session *h, size_t connections,
                              const char *const *want);

#endif
