/*
 * imap/client.h — an IMAP session: connect, greet, secure, authenticate,
 * and run commands.
 *
 * A session is used by one thread at a time (the pool hands it out). Every
 * call that talks to the server takes an absolute deadline (imap_now_ms()
 * based) and blocks until the server answers, the deadline passes, or the
 * connection fails. When the byte stream can no longer be trusted (EOF,
 * BYE, timeout, TLS or protocol error, a limit exceeded while reading) the
 * session becomes IMAP_SESSION_BROKEN: every later call fails with
 * IMAP_ERR_IO and the owner must free it. imap_session_state() is the one
 * place to ask; a tagged NO/BAD, a refused login or a handler's error leave
 * the session usable.
 *
 * Capabilities are learnt from wherever the server states them: the
 * greeting's [CAPABILITY] code, a tagged OK's [CAPABILITY] code, an untagged
 * CAPABILITY response, or, when none of those came, an explicit CAPABILITY
 * command. STARTTLS and authentication invalidate them as RFC 3501 requires;
 * when the server does not restate them, the client asks at once, so they
 * are always known between calls.
 *
 * Credentials passed in are used for the one exchange and not kept. Traces
 * (config.trace) show LOGIN and AUTHENTICATE with their secrets as "***" and
 * literal data as "<n bytes>".
 */
#ifndef IMAPGW_IMAP_CLIENT_H
#define IMAPGW_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/command.h"
#include "imap/conn.h"
#include "imap/parser.h"

enum imap_tls_mode {
	IMAP_TLS_IMPLICIT, /* TLS from the first byte (port 993) */
	IMAP_TLS_STARTTLS, /* plain greeting, then STARTTLS; refused if not offered */
	IMAP_TLS_NONE,     /* no TLS at all: only when configured explicitly */
};

/* Parse "implicit" / "starttls" / "none". Returns 0 or IMAP_ERR_INVALID. */
int imap_tls_mode_parse(const char *s, enum imap_tls_mode *out);

/* Trace hook: dir is 'C' (client to server) or 'S'; text is one line,
 * without CRLF, already redacted. Called on the session's thread. */
typedef void imap_trace_fn(void *ctx, char dir, const char *text, size_t len);

/* Command hook: called once per finished command with its name (e.g.
 * "UID FETCH", "SELECT"), its result (0 or an imap_err) and how long it
 * took. Called on the session's thread. */
typedef void imap_command_fn(void *ctx, const char *name, int result, int64_t elapsed_ms);

struct imap_client_config {
	const char *host;               /* borrowed for the session's life */
	uint16_t port;
	enum imap_tls_mode tls_mode;
	struct imap_tls *tls;           /* borrowed; required unless IMAP_TLS_NONE */
	struct imap_parser_limits limits;
	size_t command_max;             /* bytes of one command (0: 64 MiB) */
	unsigned stall_ms;              /* longest silence of the server while a
	                                   response is awaited, whatever the
	                                   deadline (0: only the deadline) */
	uint32_t ignore_caps;           /* IMAP_CAP_* bits to act as if not offered
	                                   (servers whose extension is broken) */
	imap_trace_fn *trace;           /* NULL: no trace */
	void *trace_ctx;
	imap_command_fn *on_command;    /* NULL: not observed */
	void *on_command_ctx;
};

/* Fill *cfg with defaults: implicit TLS, port 993, default parser limits. */
void imap_client_config_default(struct imap_client_config *cfg);

/* Capabilities the client acts on, as bits of imap_session_caps(). Others
 * are still answered by imap_session_has_cap() by name. */
enum imap_cap {
	IMAP_CAP_IMAP4REV1 = 1u << 0,
	IMAP_CAP_STARTTLS = 1u << 1,
	IMAP_CAP_LOGINDISABLED = 1u << 2,
	IMAP_CAP_AUTH_PLAIN = 1u << 3,
	IMAP_CAP_AUTH_XOAUTH2 = 1u << 4,
	IMAP_CAP_AUTH_OAUTHBEARER = 1u << 5,
	IMAP_CAP_SASL_IR = 1u << 6,
	IMAP_CAP_LITERAL_PLUS = 1u << 7,
	IMAP_CAP_LITERAL_MINUS = 1u << 8,
	IMAP_CAP_ENABLE = 1u << 9,
	IMAP_CAP_CONDSTORE = 1u << 10,
	IMAP_CAP_QRESYNC = 1u << 11,
	IMAP_CAP_UTF8_ACCEPT = 1u << 12,
	IMAP_CAP_UIDPLUS = 1u << 13,
	IMAP_CAP_MOVE = 1u << 14,
	IMAP_CAP_SORT = 1u << 15,
	IMAP_CAP_ESORT = 1u << 16,
	IMAP_CAP_ESEARCH = 1u << 17,
	IMAP_CAP_LIST_STATUS = 1u << 18,
	IMAP_CAP_SPECIAL_USE = 1u << 19,
	IMAP_CAP_IDLE = 1u << 20,
	IMAP_CAP_NAMESPACE = 1u << 21,
	IMAP_CAP_CHILDREN = 1u << 22,
	IMAP_CAP_BINARY = 1u << 23,
	IMAP_CAP_PARTIAL = 1u << 24,
	IMAP_CAP_CONTEXT_SORT = 1u << 25,
	IMAP_CAP_LIST_EXTENDED = 1u << 26,
	IMAP_CAP_IMAP4REV2 = 1u << 27,
	IMAP_CAP_THREAD_REFERENCES = 1u << 28,
	IMAP_CAP_NOTIFY = 1u << 29,
	IMAP_CAP_MULTISEARCH = 1u << 30,
};

/* The bit of a capability name (case-insensitive), 0 when not one above. */
uint32_t imap_cap_bit(const char *name, size_t len);

enum imap_session_state {
	IMAP_SESSION_NOT_AUTHENTICATED,
	IMAP_SESSION_AUTHENTICATED,
	IMAP_SESSION_BROKEN,
};

struct imap_session;

/* Connect to cfg->host:port, do TLS as cfg->tls_mode says (verifying the
 * certificate against cfg->host), read the greeting and, for STARTTLS,
 * upgrade (fail closed with IMAP_ERR_UNSUPPORTED when the server does not
 * offer it, or greets with PREAUTH in the clear). A BYE greeting is
 * IMAP_ERR_BYE. cfg is copied; cfg->host and cfg->tls are borrowed.
 * Returns 0 and sets *out, or an error (nothing to free then). */
int imap_session_connect(struct imap_session **out, const struct imap_client_config *cfg,
                         int64_t deadline, struct imap_error *err);

/* Close without LOGOUT and free; sets *s to NULL. NULL-safe. */
void imap_session_free(struct imap_session **s);

/* Send LOGOUT (bounded by the deadline, errors ignored), then free. */
void imap_session_logout(struct imap_session **s, int64_t deadline);

enum imap_session_state imap_session_state(const struct imap_session *s);

/* Is the session still usable, as far as can be known without asking the
 * server? Takes in what the server sent unasked (every command does this
 * first, too), without waiting: 0 when nothing says otherwise; IMAP_ERR_BYE
 * when the server said BYE, IMAP_ERR_IO when it closed the connection,
 * IMAP_ERR_PROTOCOL for garbage; the session is then broken. One poll()
 * when nothing has arrived. Sends nothing. */
int imap_session_check(struct imap_session *s, struct imap_error *err);

/* Bytes of commands handed to the connection since the session opened.
 * Unchanged across a failed call: nothing of what that call meant to send
 * left this process, so the server cannot have acted on it (a write may
 * then be retried elsewhere). A command whose bytes went out may or may
 * not have been carried out, whatever came back. */
uint64_t imap_session_bytes_sent(const struct imap_session *s);

/* Untagged responses that tell of a change in the selected mailbox, seen
 * since the session opened, whatever command brought them: EXISTS,
 * EXPUNGE, VANISHED (not EARLIER) and FETCH with FLAGS (on a session that
 * asks for no FLAGS itself, those are others' flag changes). A change taken
 * in by another command is not told again by IDLE: compare this before. */
uint64_t imap_session_news(const struct imap_session *s);

enum imap_mech {
	IMAP_MECH_AUTO,        /* password: PLAIN when offered, else LOGIN;
	                          token: OAUTHBEARER when offered, else XOAUTH2 */
	IMAP_MECH_LOGIN,       /* the LOGIN command */
	IMAP_MECH_PLAIN,       /* AUTHENTICATE PLAIN (SASL-IR when offered) */
	IMAP_MECH_XOAUTH2,
	IMAP_MECH_OAUTHBEARER, /* RFC 7628 */
};

/* Authenticate with a password (mech AUTO, LOGIN or PLAIN). Returns 0;
 * IMAP_ERR_AUTH when the server refuses the credentials (err->imap_code
 * carries e.g. AUTHENTICATIONFAILED); IMAP_ERR_UNSUPPORTED when the
 * mechanism is not offered or LOGIN is disabled; IMAP_ERR_INVALID when user
 * or password cannot be sent (NUL bytes); or a transport error. */
int imap_session_login(struct imap_session *s, enum imap_mech mech, const char *user,
                       const char *password, int64_t deadline, struct imap_error *err);

/* Authenticate with an OAuth 2.0 bearer token (mech AUTO, XOAUTH2 or
 * OAUTHBEARER). On refusal the server's error challenge is answered as the
 * mechanism requires and IMAP_ERR_AUTH is returned with the JSON status in
 * err->msg. Other returns as imap_session_login. */
int imap_session_authenticate_oauth(struct imap_session *s, enum imap_mech mech,
                                    const char *user, const char *token, int64_t deadline,
                                    struct imap_error *err);

/* Before authenticating: tell the server the address of the client this
 * login is made for, as RFC 2971 ID ("x-originating-ip" "<addr>"), when it
 * offers ID (no command otherwise). Dovecot takes it from hosts in its
 * login_trusted_networks, and then delays failed logins per that address
 * instead of the gateway's, and logs it. addr is sent as a quoted string
 * (IMAP_ERR_INVALID for anything but a short printable text). Returns 0
 * (also when the server answers NO or BAD: the login goes on without it),
 * or a transport error. */
int imap_session_id_origin(struct imap_session *s, const char *addr, int64_t deadline,
                           struct imap_error *err);

/* ENABLE CONDSTORE, QRESYNC and UTF8=ACCEPT, those of them the server
 * offers (QRESYNC only with CONDSTORE); no command when it offers none of
 * them, or lacks ENABLE. Under QRESYNC, expunges of the selected mailbox
 * arrive as VANISHED, which the session tracks as it tracks EXPUNGE. Call
 * once after authentication (IMAP_ERR_INVALID before). Returns 0 or an
 * error. */
int imap_session_enable(struct imap_session *s, int64_t deadline, struct imap_error *err);

/* True once ENABLE succeeded for that extension. */
bool imap_session_utf8(const struct imap_session *s);
bool imap_session_condstore(const struct imap_session *s);
bool imap_session_qresync(const struct imap_session *s);

/* Capabilities as bits. When they are not known (after STARTTLS or a login
 * that did not restate them) this sends CAPABILITY first. */
int imap_session_caps(struct imap_session *s, uint32_t *caps, int64_t deadline,
                      struct imap_error *err);

/* True when the capability (any name, e.g. "X-GM-EXT-1") was last stated
 * by the server. Uses what is known: call imap_session_caps first. */
bool imap_session_has_cap(const struct imap_session *s, const char *name);

/* Every capability last stated (those the configuration ignores left
 * out), upper-cased, each followed by one space, the first preceded by
 * one: " IMAP4REV1 SORT APPENDLIMIT=35651584 ". Borrowed: valid until the
 * next call that talks to the server on s. */
const char *imap_session_caps_text(const struct imap_session *s);

/* ---- running commands ---- */

/* Called for every untagged response while a command runs (after the
 * session has taken what it tracks: capabilities, BYE). The response is
 * borrowed for the call. Return 0 to go on; a negative imap_err stops
 * reading the command's answer and is returned by imap_session_run once the
 * tagged answer is in (the stream stays in sync). */
typedef int imap_untagged_fn(void *ctx, const struct imap_response *r);

/* Start building a command with the session's next tag and encoding flags
 * (LITERAL+/-, UTF8=ACCEPT as negotiated). imap_session_run finishes it
 * (do not call imap_cmd_end); free it with imap_cmd_free afterwards. */
void imap_session_cmd(struct imap_session *s, struct imap_cmd *c);

/* Send c (synchronizing literals wait for "+"), read until its tagged
 * answer, handing untagged responses to on_untagged (may be NULL).
 * Returns 0 for OK, IMAP_ERR_NO / IMAP_ERR_BAD (err->msg has the server's
 * text, err->imap_code its response code), the handler's error, or a
 * transport / protocol error (the session is then broken). */
int imap_session_run(struct imap_session *s, struct imap_cmd *c,
                     imap_untagged_fn *on_untagged, void *ctx, int64_t deadline,
                     struct imap_error *err);

/* imap_session_run, with the data of the literals in the command's
 * untagged responses that `want` picks (NULL: all of them) handed to sink
 * as they arrive instead of being stored (see imap_parser_set_literal_sink
 * and imap_parser_set_literal_filter, which say what sink and want may do;
 * both get sink_ctx): memory stays bounded however large the literal. Both
 * run on the calling thread, inside this call, and must not use this
 * session. The session's deadline is not checked while the sink runs, so
 * the sink bounds its own waits by the same deadline. When the sink fails
 * (returns nonzero), the rest of the answer is still read (the session
 * stays usable) and, unless the command failed otherwise, that value is
 * returned with err set. */
int imap_session_run_sink(struct imap_session *s, struct imap_cmd *c,
                          imap_untagged_fn *on_untagged, void *ctx,
                          imap_literal_sink_fn *sink, imap_literal_want_fn *want,
                          void *sink_ctx, int64_t deadline, struct imap_error *err);

/* Send several commands back to back and read until each has its tagged
 * answer: one round trip instead of n. None may need a synchronizing
 * literal (IMAP_ERR_INVALID, nothing sent). results[i] receives 0,
 * IMAP_ERR_NO or IMAP_ERR_BAD for cmds[i]. Returns 0 once all are
 * answered, or a transport / protocol error (the session is then broken). */
int imap_session_run_pipelined(struct imap_session *s, struct imap_cmd *cmds, size_t n,
                               imap_untagged_fn *on_untagged, void *ctx, int *results,
                               int64_t deadline, struct imap_error *err);

/* IDLE (RFC 2177) on the selected mailbox: send IDLE and, once the server
 * is idling, wait without the stall limit (cfg.stall_ms bounds only the
 * exchanges before and after), handing every untagged response to
 * on_untagged (also those that came since the last command, taken in
 * before IDLE is sent). DONE ends it when on_untagged returns nonzero, when wake_fd
 * (-1: none) becomes readable (it is not read here), or at `until`; then
 * the tagged answer is read by `deadline` (which must lie after until).
 * Returns 0; IMAP_ERR_NO / IMAP_ERR_BAD when the server refuses IDLE; or
 * a transport error (BYE included), the session then broken. */
int imap_session_idle(struct imap_session *s, int wake_fd, int64_t until,
                      imap_untagged_fn *on_untagged, void *ctx, int64_t deadline,
                      struct imap_error *err);

/* The tagged answer that ended the last command run on s (with
 * imap_session_run, or the last one read by imap_session_run_pipelined):
 * its status, response code and text, e.g. "OK [APPENDUID 38505 3955]" or
 * "OK [COPYUID ...]" (RFC 4315), which only the tagged line carries.
 * Borrowed: valid until the next call that talks to the server on s. NULL
 * when the command got no tagged answer (it failed on the way) or the
 * session is broken. */
const struct imap_response *imap_session_last_tagged(const struct imap_session *s);

/* ---- the selected mailbox ---- */

/* What the session knows of its selected mailbox, kept current from every
 * untagged response (EXISTS, EXPUNGE, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ)
 * whatever command brought them. */
struct imap_mailbox {
	char *name;              /* UTF-8, as the caller named it */
	bool readonly;
	uint32_t uidvalidity;
	uint32_t uidnext;        /* 0 when the server did not say */
	uint32_t exists;
	uint64_t highestmodseq;  /* 0 when unknown or NOMODSEQ */
	unsigned changes;        /* bumped by every EXISTS / EXPUNGE seen */
};

/* The selected mailbox (borrowed, valid until the next call on s), or NULL. */
const struct imap_mailbox *imap_session_mailbox(const struct imap_session *s);

/* Make `name` (UTF-8) the selected mailbox: SELECT, or EXAMINE when
 * readonly. Sends nothing when it is already selected (a read-write
 * selection serves read-only use too), so repeated requests on one folder
 * cost no round trip. Returns 0; IMAP_ERR_INVALID when the server refuses
 * the name as a name (imap_session_name_refused); IMAP_ERR_NOT_FOUND when it
 * refuses otherwise (no such mailbox, or not selectable: err has its text
 * and code); other errors as imap_session_run. After a failure no mailbox is selected. */
int imap_session_select(struct imap_session *s, const char *name, bool readonly,
                        int64_t deadline, struct imap_error *err);

/* rc, unless it is a tagged NO refusing `name` as a mailbox name (an RFC
 * 5530 [CANNOT] code, or the wording servers without codes use: "invalid
 * mailbox name", "name too long"): then IMAP_ERR_INVALID, err->msg saying
 * that the server refuses the name and why (its own text), and err's
 * imap_code kept. So a name no folder can have is the caller's error, not
 * a failing server. */
int imap_session_name_refused(int rc, struct imap_error *err, const char *name);

/* Decode a mailbox name as the server sent it (modified UTF-7, or UTF-8
 * once UTF8=ACCEPT is enabled) into UTF-8 appended to out. Returns 0 or
 * IMAP_ERR_INVALID (out unchanged) for a malformed name. */
int imap_session_mailbox_decode(const struct imap_session *s, const char *name, size_t len,
                                struct imap_buf *out);

/* What a session learnt about its server beyond capabilities, e.g. that
 * it refuses an optional form of a command; kept for the session's life. */
enum imap_learned {
	IMAP_LEARNED_NO_PARTIAL_SORT = 1u << 0, /* UID SORT RETURN (PARTIAL ..) is refused */
	/* A session's keywords are what it last read, and a STORE writes them
	 * all back (Courier-IMAP): another session's keywords set since are
	 * lost unless this one looks again first (NOOP). */
	IMAP_LEARNED_STALE_KEYWORDS = 1u << 1,
	/* The server is Dovecot (its greeting says so): its SORT (SUBJECT)
	 * orders as imap_subject_sort_key keys compare (imap/mail/sortkey.h).
	 * Cyrus, for one, orders otherwise (tests/integration/test_index.c). */
	IMAP_LEARNED_DOVECOT_SUBJECTS = 1u << 2,
};
bool imap_session_learned(const struct imap_session *s, unsigned what);
void imap_session_learn(struct imap_session *s, unsigned what);

/* The same number for every session of one account (server host and port,
 * and the user name given at login), and 0 before a login: a key for work
 * that the account's sessions must take turns at. */
uint64_t imap_session_account(const struct imap_session *s);

/* Make s unusable (IMAP_SESSION_BROKEN, nothing sent): given back to a
 * pool it is closed, not lent again. For a session whose state on the
 * server no one else may inherit (NOTIFY). */
void imap_session_abandon(struct imap_session *s);

/* NOOP: the session takes in what the server has to tell (new mail,
 * expunges, flags other sessions stored). 0 or an error as
 * imap_session_run. */
int imap_session_noop(struct imap_session *s, int64_t deadline, struct imap_error *err);

/* An opaque pointer for the session's owner (the pool keeps its bookkeeping
 * here). NULL until set. */
void imap_session_set_owner(struct imap_session *s, void *owner);
void *imap_session_owner(const struct imap_session *s);

/* Force synchronizing literals even when the server offers LITERAL+/-
 * (for servers whose LITERAL+ is broken, and for tests). */
void imap_session_set_sync_literals(struct imap_session *s, bool on);

#endif
