/*
 * imap/client.c — an IMAP session over imap/conn and imap/parser. See
 * client.h for the contract.
 *
 * One input buffer per session; the parser consumes from it and keeps what
 * it needs, so the buffer is simply refilled when the parser wants more.
 * Every response read passes through track() first, which keeps the
 * session's own state (capabilities, BYE) current whichever command is
 * running, before a command's handler sees it.
 */
#include "imap/client.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "imap/base/codec.h"
#include "imap/mail/utf7.h"

#define INBUF_SIZE 16384
#define TRACE_MAX 2048
#define CAPS_TEXT_MAX 8192

struct imap_session {
	struct imap_client_config cfg;
	struct imap_conn *conn;
	struct imap_parser *parser;
	char in[INBUF_SIZE];
	size_t in_pos, in_len;

	enum imap_session_state state;
	uint32_t caps;
	bool caps_known;
	unsigned caps_gen;          /* bumped whenever the server states them */
	struct imap_buf caps_text;  /* " NAME NAME ... " upper-cased */
	unsigned tag_seq;
	bool utf8, condstore, qresync, sync_literals;
	bool bye;
	char bye_text[160];
	uint64_t bytes_sent;       /* handed to the connection, ever */
	uint64_t news;             /* untagged EXISTS, EXPUNGE, VANISHED, FETCH with FLAGS */
	void *owner;
	unsigned learned;          /* enum imap_learned bits */
	uint64_t account;          /* imap_session_account */
	bool selected;             /* mbox describes a selected mailbox */
	struct imap_mailbox mbox;
	/* The tagged answer that ended the last command (borrowed from the
	 * parser: valid until the next read), or NULL. */
	const struct imap_response *tagged;
};

/* ---- small helpers ---- */

int imap_tls_mode_parse(const char *s, enum imap_tls_mode *out)
{
	if (strcmp(s, "implicit") == 0)
		*out = IMAP_TLS_IMPLICIT;
	else if (strcmp(s, "starttls") == 0)
		*out = IMAP_TLS_STARTTLS;
	else if (strcmp(s, "none") == 0)
		*out = IMAP_TLS_NONE;
	else
		return IMAP_ERR_INVALID;
	return 0;
}

void imap_client_config_default(struct imap_client_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->port = 993;
	cfg->tls_mode = IMAP_TLS_IMPLICIT;
	imap_parser_limits_default(&cfg->limits);
	cfg->command_max = 64u << 20;
}

/* Copy server text into dst as printable ASCII (anything else becomes '?'),
 * so error messages and logs never carry control bytes. */
static void sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[n] = '\0';
}

/* Mark the session unusable and report the error. */
static int broken(struct imap_session *s, struct imap_error *err, int code)
{
	s->state = IMAP_SESSION_BROKEN;
	if (err)
		err->code = (enum imap_err)code;
	return code;
}

void imap_session_abandon(struct imap_session *s)
{
	broken(s, NULL, IMAP_ERR_IO);
}

static void trace(struct imap_session *s, char dir, const char *text, size_t len)
{
	if (s->cfg.trace)
		s->cfg.trace(s->cfg.trace_ctx, dir, text, len);
}

/* ---- capabilities ---- */

uint32_t imap_cap_bit(const char *name, size_t len)
{
	static const struct { const char *name; uint32_t bit; } caps[] = {
		{"IMAP4REV1", IMAP_CAP_IMAP4REV1}, {"IMAP4REV2", IMAP_CAP_IMAP4REV2},
		{"STARTTLS", IMAP_CAP_STARTTLS}, {"LOGINDISABLED", IMAP_CAP_LOGINDISABLED},
		{"AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN}, {"AUTH=XOAUTH2", IMAP_CAP_AUTH_XOAUTH2},
		{"AUTH=OAUTHBEARER", IMAP_CAP_AUTH_OAUTHBEARER}, {"SASL-IR", IMAP_CAP_SASL_IR},
		{"LITERAL+", IMAP_CAP_LITERAL_PLUS}, {"LITERAL-", IMAP_CAP_LITERAL_MINUS},
		{"ENABLE", IMAP_CAP_ENABLE}, {"CONDSTORE", IMAP_CAP_CONDSTORE},
		{"QRESYNC", IMAP_CAP_QRESYNC}, {"UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT},
		{"UIDPLUS", IMAP_CAP_UIDPLUS}, {"MOVE", IMAP_CAP_MOVE}, {"SORT", IMAP_CAP_SORT},
		{"ESORT", IMAP_CAP_ESORT}, {"ESEARCH", IMAP_CAP_ESEARCH},
		{"LIST-STATUS", IMAP_CAP_LIST_STATUS}, {"SPECIAL-USE", IMAP_CAP_SPECIAL_USE},
		{"IDLE", IMAP_CAP_IDLE}, {"NAMESPACE", IMAP_CAP_NAMESPACE},
		{"CHILDREN", IMAP_CAP_CHILDREN}, {"BINARY", IMAP_CAP_BINARY},
		{"PARTIAL", IMAP_CAP_PARTIAL}, {"CONTEXT=SORT", IMAP_CAP_CONTEXT_SORT},
		{"LIST-EXTENDED", IMAP_CAP_LIST_EXTENDED},
		{"THREAD=REFERENCES", IMAP_CAP_THREAD_REFERENCES}, {"NOTIFY", IMAP_CAP_NOTIFY},
		{"MULTISEARCH", IMAP_CAP_MULTISEARCH},
	};
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
		if (strlen(caps[i].name) == len && strncasecmp(caps[i].name, name, len) == 0)
			return caps[i].bit;
	return 0;
}

/* Replace the known capabilities with the atoms of list from index `from`. */
static void set_caps(struct imap_session *s, const struct imap_value *list, size_t from)
{
	const struct imap_value *v;
	size_t i;
	s->caps = 0;
	imap_buf_reset(&s->caps_text, CAPS_TEXT_MAX);
	imap_buf_putc(&s->caps_text, ' ');
	IMAP_LIST_FOREACH(list, v, i) {
		if (i < from || v->kind != IMAP_VALUE_ATOM)
			continue;
		uint32_t bit = imap_cap_bit(v->str, v->len);
		if (bit & s->cfg.ignore_caps)
			continue;
		s->caps |= bit;
		size_t at = s->caps_text.len;
		if (imap_buf_append(&s->caps_text, v->str, v->len) == 0 &&
		    imap_buf_putc(&s->caps_text, ' ') == 0) {
			for (size_t k = at; k < s->caps_text.len; k++)
				s->caps_text.data[k] = (char)toupper((unsigned char)s->caps_text.data[k]);
		}
	}
	s->caps_known = true;
	s->caps_gen++;
}

/* What a greeting says about the server beyond its capabilities.
 *
 * Courier-IMAP ("* OK [CAPABILITY ...] Courier-IMAP ready. ...") offers SORT
 * but does not sort as RFC 5256 says: equal keys come in descending
 * sequence order, a message without a Date header sorts first instead of by
 * INTERNALDATE, and its base subject differs. The API promises ties on UID
 * and one order on every server, so its SORT is not used (the local sort of
 * imap/messages.c serves, as on a server without SORT). And a session
 * writes back the keywords it last read (IMAP_LEARNED_STALE_KEYWORDS).
 *
 * Dovecot ("* OK [CAPABILITY ...] Dovecot ready.", also with "(Debian)" and
 * the like; a greeting changed by its administrator is not recognised, and
 * subject order is then left to its SORT): IMAP_LEARNED_DOVECOT_SUBJECTS. */
static void dialect_from_greeting(struct imap_session *s, const struct imap_response *r)
{
	static const char courier[] = "Courier-IMAP", dovecot[] = "Dovecot";
	if (r->text && memmem(r->text, r->text_len, dovecot, sizeof dovecot - 1))
		s->learned |= IMAP_LEARNED_DOVECOT_SUBJECTS;
	if (r->text && memmem(r->text, r->text_len, courier, sizeof courier - 1)) {
		s->cfg.ignore_caps |= IMAP_CAP_SORT;
		s->caps &= ~(uint32_t)IMAP_CAP_SORT;
		s->learned |= IMAP_LEARNED_STALE_KEYWORDS;
	}
}

static void forget_caps(struct imap_session *s)
{
	s->caps = 0;
	s->caps_known = false;
	imap_buf_reset(&s->caps_text, CAPS_TEXT_MAX);
}

const char *imap_session_caps_text(const struct imap_session *s)
{
	return s->caps_text.data ? s->caps_text.data : " ";
}

bool imap_session_has_cap(const struct imap_session *s, const char *name)
{
	char needle[128];
	int n = snprintf(needle, sizeof needle, " %s ", name);
	if (n < 0 || (size_t)n >= sizeof needle || !s->caps_text.data)
		return false;
	return strcasestr(s->caps_text.data, needle) != NULL;
}

/* ---- reading responses ---- */

/* Keep the selected mailbox's numbers current (RFC 3501 §7.3, RFC 7162). */
static void track_mailbox(struct imap_session *s, const struct imap_response *r)
{
	struct imap_mailbox *m = &s->mbox;
	uint64_t n;
	if (r->code) {
		const struct imap_value *name = imap_value_at(r->code, 0);
		const struct imap_value *arg = imap_value_at(r->code, 1);
		if (imap_value_is_atom(name, "UIDVALIDITY") && !imap_value_u64(arg, UINT32_MAX, &n))
			m->uidvalidity = (uint32_t)n;
		else if (imap_value_is_atom(name, "UIDNEXT") && !imap_value_u64(arg, UINT32_MAX, &n))
			m->uidnext = (uint32_t)n;
		else if (imap_value_is_atom(name, "HIGHESTMODSEQ") && !imap_value_u64(arg, UINT64_MAX, &n))
			m->highestmodseq = n;
		else if (imap_value_is_atom(name, "NOMODSEQ"))
			m->highestmodseq = 0;
		else if (imap_value_is_atom(name, "CLOSED"))  /* RFC 7162: the old mailbox is gone */
			s->selected = false;
		return;
	}
	if (r->args && r->args->count >= 2 && imap_value_is_atom(imap_value_at(r->args, 0), "VANISHED")) {
		/* RFC 7162 §3.2.10: under QRESYNC, expunges of the selected
		 * mailbox come as UID sets; (EARLIER) ones only answer a
		 * question and change nothing now. */
		const struct imap_value *set = imap_value_at(r->args, r->args->count - 1);
		if (r->args->count != 2 || !imap_value_is_string(set))
			return;
		s->news++;
		size_t pos = 0;
		uint32_t a, b;
		while (imap_set_next(set->str, set->len, &pos, &a, &b) == 1) {
			uint64_t k = (uint64_t)(a < b ? b - a : a - b) + 1;
			m->exists = k < m->exists ? m->exists - (uint32_t)k : 0;
		}
		m->changes++;
		return;
	}
	if (!r->args || r->args->count < 2 || imap_value_u64(imap_value_at(r->args, 0), UINT32_MAX, &n))
		return;
	const struct imap_value *what = imap_value_at(r->args, 1);
	if (imap_value_is_atom(what, "EXISTS") || imap_value_is_atom(what, "EXPUNGE") ||
	    (imap_value_is_atom(what, "FETCH") &&
	     imap_fetch_item(imap_value_at(r->args, 2), "FLAGS", false)))
		s->news++;
	if (imap_value_is_atom(what, "EXISTS")) {
		if (s->selected && n > m->exists)
			m->uidnext = 0;  /* new mail arrived: UIDNEXT is no longer known */
		m->exists = (uint32_t)n;
		m->changes++;
	} else if (imap_value_is_atom(what, "EXPUNGE")) {
		if (m->exists)
			m->exists--;
		m->changes++;
	}
}

/* Keep the session's state current from any response. */
static void track(struct imap_session *s, const struct imap_response *r)
{
	if (r->kind == IMAP_RESPONSE_CONTINUATION)
		return;
	if (r->code && imap_value_is_atom(imap_value_at(r->code, 0), "CAPABILITY"))
		set_caps(s, r->code, 1);
	if (r->args && imap_value_is_atom(imap_value_at(r->args, 0), "CAPABILITY"))
		set_caps(s, r->args, 1);
	if (r->kind == IMAP_RESPONSE_UNTAGGED && r->status == IMAP_STATUS_BYE) {
		s->bye = true;
		sanitize(s->bye_text, sizeof s->bye_text, r->text, r->text_len);
	}
	if (r->kind == IMAP_RESPONSE_UNTAGGED)
		track_mailbox(s, r);
}

static void trace_response(struct imap_session *s, const struct imap_response *r)
{
	if (!s->cfg.trace)
		return;
	struct imap_buf b;
	imap_buf_init(&b, TRACE_MAX);
	imap_response_format(r, &b, false);
	trace(s, 'S', b.data ? b.data : "", b.len);
	imap_buf_free(&b);
}

/* Feed the parser what is buffered: 1 with *out when a response is
 * complete (traced and tracked), 0 when all of it went in without
 * completing one, or an error (the session is then broken). */
static int feed_buffered(struct imap_session *s, const struct imap_response **out,
                         struct imap_error *err)
{
	size_t used = 0;
	enum imap_parse_result pr =
		imap_parser_feed(s->parser, s->in + s->in_pos, s->in_len - s->in_pos, &used);
	s->in_pos += used;
	if (pr == IMAP_PARSE_ERROR) {
		int code = imap_parser_error_code(s->parser);
		imap_error_set(err, code ? code : IMAP_ERR_PROTOCOL, "bad response from the server: %s",
		               imap_parser_error(s->parser));
		return broken(s, err, code ? code : IMAP_ERR_PROTOCOL);
	}
	if (pr != IMAP_PARSE_DONE)
		return 0;
	*out = imap_parser_response(s->parser);
	trace_response(s, *out);
	track(s, *out);
	return 1;
}

/* Read the next complete response. The result is borrowed until the next
 * read. Any failure breaks the session. */
static int read_response(struct imap_session *s, const struct imap_response **out,
                         int64_t deadline, struct imap_error *err)
{
	for (;;) {
		if (s->in_pos < s->in_len) {
			int rc = feed_buffered(s, out, err);
			if (rc < 0)
				return rc;
			if (rc == 1)
				return 0;
		}
		s->in_pos = s->in_len = 0;
		/* A server that goes silent mid-response (a literal announced
		 * and never sent) is given up after stall_ms, not held until a
		 * download's long deadline. */
		int64_t until = deadline;
		bool stall = s->cfg.stall_ms && imap_now_ms() + s->cfg.stall_ms < deadline;
		if (stall)
			until = imap_now_ms() + s->cfg.stall_ms;
		long n = imap_conn_read(s->conn, s->in, sizeof s->in, until, err);
		if (n == IMAP_ERR_TIMEOUT && stall)
			imap_error_set(err, IMAP_ERR_TIMEOUT, "the IMAP server sent nothing for %u ms",
			               s->cfg.stall_ms);
		if (n < 0) {
			if (s->bye && n == IMAP_ERR_IO)
				imap_error_set(err, (int)(n = IMAP_ERR_BYE), "server said BYE: %s",
				               s->bye_text);
			return broken(s, err, (int)n);
		}
		s->in_len = (size_t)n;
	}
}

static int write_all(struct imap_session *s, const char *data, size_t len, int64_t deadline,
                     struct imap_error *err)
{
	size_t written = 0;
	int rc = imap_conn_write(s->conn, data, len, deadline, &written, err);
	s->bytes_sent += written;
	return rc ? broken(s, err, rc) : 0;
}

/* Take in, without waiting, what the server sent while nobody asked: on
 * an idle session that is an untagged BYE before the server closes
 * (autologout, shutdown, a kick) or the close itself, possibly an EXISTS.
 * Called before every command, so a session the server has left is found
 * broken before a byte of the command is written, and the caller knows
 * for certain that the command never reached the server. */
/* As take_unsolicited, each untagged response also handed to fn (NULL:
 * none); *heard set when fn returned nonzero for one. */
static int take_unsolicited_to(struct imap_session *s, imap_untagged_fn *fn, void *ctx,
                               bool *heard, struct imap_error *err);

static int take_unsolicited(struct imap_session *s, struct imap_error *err)
{
	return take_unsolicited_to(s, NULL, NULL, NULL, err);
}

static int take_unsolicited_to(struct imap_session *s, imap_untagged_fn *fn, void *ctx,
                               bool *heard, struct imap_error *err)
{
	for (;;) {
		if (s->bye) {
			imap_error_set(err, IMAP_ERR_BYE, "server said BYE: %s", s->bye_text);
			return broken(s, err, IMAP_ERR_BYE);
		}
		if (s->in_pos < s->in_len) {
			const struct imap_response *r;
			int rc = feed_buffered(s, &r, err);
			if (rc < 0)
				return rc;
			if (rc == 1 && r->kind != IMAP_RESPONSE_UNTAGGED) {
				imap_error_set(err, IMAP_ERR_PROTOCOL,
				               "the server answered a command nobody sent");
				return broken(s, err, IMAP_ERR_PROTOCOL);
			}
			if (rc == 1 && fn && !s->bye && fn(ctx, r) != 0 && heard)
				*heard = true;
			continue;  /* a response taken in, or all of it in the parser */
		}
		s->in_pos = s->in_len = 0;
		long n = imap_conn_read_ready(s->conn, s->in, sizeof s->in, err);
		if (n == 0)
			return 0;
		if (n < 0)
			return broken(s, err, (int)n);
		s->in_len = (size_t)n;
	}
}

/* ---- running commands ---- */

/* Answer to a "+" that is not a literal continuation (SASL exchanges):
 * write the line to send into reply (without CRLF). Return 0, or a negative
 * imap_err to cancel the exchange (a "*" line is sent). */
typedef int cont_fn(void *ctx, const struct imap_response *r, struct imap_buf *reply,
                    bool *secret);

void imap_session_cmd(struct imap_session *s, struct imap_cmd *c)
{
	char tag[16];
	unsigned flags = 0;
	snprintf(tag, sizeof tag, "A%u", ++s->tag_seq);
	if (!s->sync_literals && (s->caps & IMAP_CAP_LITERAL_PLUS))
		flags |= IMAP_CMD_LITERAL_PLUS;
	if (!s->sync_literals && (s->caps & IMAP_CAP_LITERAL_MINUS))
		flags |= IMAP_CMD_LITERAL_MINUS;
	if (s->utf8)
		flags |= IMAP_CMD_UTF8;
	imap_cmd_init(c, tag, flags, s->cfg.command_max);
}

static int tagged_result(struct imap_session *s, const struct imap_response *r,
                         struct imap_error *err)
{
	(void)s;
	if (r->status == IMAP_STATUS_OK)
		return 0;
	int code = r->status == IMAP_STATUS_NO ? IMAP_ERR_NO : IMAP_ERR_BAD;
	char text[IMAP_ERROR_MSG_MAX];
	sanitize(text, sizeof text, r->text, r->text_len);
	imap_error_set(err, code, "%s", text);
	if (err)
		err->server_text = true;
	const struct imap_value *name = r->code ? imap_value_at(r->code, 0) : NULL;
	if (err && name)
		sanitize(err->imap_code, sizeof err->imap_code, name->str, name->len);
	return code;
}

/* Report a finished command to the observer: its name is the word after
 * the tag, two words for UID commands. */
static void observe(struct imap_session *s, const struct imap_cmd *c, int rc, int64_t start)
{
	if (!s->cfg.on_command || !c->wire.data)
		return;
	char name[32];
	const char *w = strchr(c->wire.data, ' ');
	size_t n = 0;
	if (w) {
		w++;
		n = strcspn(w, " \r\n");
		if (n == 3 && strncmp(w, "UID", 3) == 0 && w[3] == ' ')
			n = 4 + strcspn(w + 4, " \r\n");
	}
	snprintf(name, sizeof name, "%.*s", (int)n, w ? w : "");
	s->cfg.on_command(s->cfg.on_command_ctx, name, rc, imap_now_ms() - start);
}

static int run_once(struct imap_session *s, struct imap_cmd *c, imap_untagged_fn *on_untagged,
                    void *ctx, cont_fn *on_cont, void *cont_ctx, int64_t deadline,
                    struct imap_error *err);

static int run(struct imap_session *s, struct imap_cmd *c, imap_untagged_fn *on_untagged,
               void *ctx, cont_fn *on_cont, void *cont_ctx, int64_t deadline,
               struct imap_error *err)
{
	int64_t start = imap_now_ms();
	int rc = run_once(s, c, on_untagged, ctx, on_cont, cont_ctx, deadline, err);
	observe(s, c, rc, start);
	return rc;
}

/* The tagged answer r that ends the command tagged tag[0..tag_len): its
 * result (kept as the last tagged answer), or a broken session when the
 * tag is another. */
static int tagged_end(struct imap_session *s, const struct imap_response *r, const char *tag,
                      size_t tag_len, struct imap_error *err)
{
	if (strlen(r->tag) != tag_len || strncmp(r->tag, tag, tag_len) != 0) {
		imap_error_set(err, IMAP_ERR_PROTOCOL, "answer for an unknown tag");
		return broken(s, err, IMAP_ERR_PROTOCOL);
	}
	s->tagged = r;
	return tagged_result(s, r, err);
}

static int run_once(struct imap_session *s, struct imap_cmd *c, imap_untagged_fn *on_untagged,
                    void *ctx, cont_fn *on_cont, void *cont_ctx, int64_t deadline,
                    struct imap_error *err)
{
	s->tagged = NULL;
	if (s->state == IMAP_SESSION_BROKEN)
		return imap_error_set(err, IMAP_ERR_IO, "session is no longer usable");
	int rc = imap_cmd_end(c);
	if (rc)
		return imap_error_set(err, rc, "command cannot be sent safely: %s",
		                      imap_strerror(rc));
	if ((rc = take_unsolicited(s, err)))
		return rc;

	const char *tag = c->wire.data;
	size_t tag_len = strcspn(tag, " ");
	trace(s, 'C', c->trace.data, c->trace.len);

	const char *piece;
	size_t piece_len;
	size_t pieces = imap_cmd_segment(c, 0, &piece, &piece_len);
	size_t next = 1;
	if ((rc = write_all(s, piece, piece_len, deadline, err)))
		return rc;

	int handler_rc = 0;
	struct imap_buf reply;
	imap_buf_init(&reply, 0);
	for (;;) {
		const struct imap_response *r;
		if ((rc = read_response(s, &r, deadline, err)))
			break;
		if (r->kind == IMAP_RESPONSE_CONTINUATION) {
			if (next < pieces) {
				imap_cmd_segment(c, next++, &piece, &piece_len);
				if ((rc = write_all(s, piece, piece_len, deadline, err)))
					break;
				continue;
			}
			if (!on_cont) {
				imap_error_set(err, IMAP_ERR_PROTOCOL, "unexpected continuation request");
				rc = broken(s, err, IMAP_ERR_PROTOCOL);
				break;
			}
			bool secret = false;
			imap_buf_reset(&reply, 4096);
			if (on_cont(cont_ctx, r, &reply, &secret) < 0) {
				imap_buf_reset(&reply, 4096);
				imap_buf_puts(&reply, "*");
			}
			trace(s, 'C', secret ? "***" : reply.data ? reply.data : "",
			      secret ? 3 : reply.len);
			if ((rc = imap_buf_append(&reply, "\r\n", 2)) ||
			    (rc = write_all(s, reply.data, reply.len, deadline, err)))
				break;
			continue;
		}
		if (r->kind == IMAP_RESPONSE_UNTAGGED) {
			if (on_untagged && handler_rc == 0 && r->status != IMAP_STATUS_BYE)
				handler_rc = on_untagged(ctx, r);
			continue;
		}
		rc = tagged_end(s, r, tag, tag_len, err);
		if (rc == 0 && handler_rc)
			rc = imap_error_set(err, handler_rc, "response handler failed: %s",
			                    imap_strerror(handler_rc));
		break;
	}
	imap_buf_free(&reply);
	return rc;
}

int imap_session_run(struct imap_session *s, struct imap_cmd *c,
                     imap_untagged_fn *on_untagged, void *ctx, int64_t deadline,
                     struct imap_error *err)
{
	return run(s, c, on_untagged, ctx, NULL, NULL, deadline, err);
}

int imap_session_run_sink(struct imap_session *s, struct imap_cmd *c,
                          imap_untagged_fn *on_untagged, void *ctx,
                          imap_literal_sink_fn *sink, imap_literal_want_fn *want,
                          void *sink_ctx, int64_t deadline, struct imap_error *err)
{
	imap_parser_set_literal_sink(s->parser, sink, sink_ctx);
	imap_parser_set_literal_filter(s->parser, want);
	int rc = run(s, c, on_untagged, ctx, NULL, NULL, deadline, err);
	int sink_rc = imap_parser_sink_result(s->parser);
	imap_parser_set_literal_sink(s->parser, NULL, NULL);
	if (rc == 0 && sink_rc)
		rc = imap_error_set(err, sink_rc, "literal consumer failed: %s",
		                    imap_strerror(sink_rc));
	return rc;
}

/* Run a command made of fixed words only. */
static int simple(struct imap_session *s, const char *words, int64_t deadline,
                  struct imap_error *err)
{
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, words);
	int rc = run(s, &c, NULL, NULL, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

int imap_session_caps(struct imap_session *s, uint32_t *caps, int64_t deadline,
                      struct imap_error *err)
{
	if (!s->caps_known) {
		int rc = simple(s, "CAPABILITY", deadline, err);
		if (rc)
			return rc;
		if (!s->caps_known)
			return imap_error_set(err, IMAP_ERR_PROTOCOL,
			                      "CAPABILITY answered without capabilities");
	}
	*caps = s->caps;
	return 0;
}

/* ---- connecting ---- */

int imap_session_connect(struct imap_session **out, const struct imap_client_config *cfg,
                         int64_t deadline, struct imap_error *err)
{
	struct imap_session *s = calloc(1, sizeof *s);
	if (!s)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	s->cfg = *cfg;
	if (!s->cfg.command_max)
		s->cfg.command_max = 64u << 20;
	s->parser = imap_parser_new(&s->cfg.limits);
	imap_buf_init(&s->caps_text, CAPS_TEXT_MAX);
	s->state = IMAP_SESSION_NOT_AUTHENTICATED;

	int rc;
	const struct imap_response *r;
	if (cfg->tls_mode != IMAP_TLS_NONE && !cfg->tls) {
		rc = imap_error_set(err, IMAP_ERR_INVALID, "TLS requested without a TLS context");
		goto fail;
	}
	if ((rc = imap_conn_open(&s->conn, cfg->host, cfg->port, deadline, err)))
		goto fail;
	if (cfg->tls_mode == IMAP_TLS_IMPLICIT &&
	    (rc = imap_conn_start_tls(s->conn, cfg->tls, cfg->host, deadline, err)))
		goto fail;

	/* greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF */
	if ((rc = read_response(s, &r, deadline, err)))
		goto fail;
	if (r->kind != IMAP_RESPONSE_UNTAGGED ||
	    (r->status != IMAP_STATUS_OK && r->status != IMAP_STATUS_PREAUTH &&
	     r->status != IMAP_STATUS_BYE)) {
		rc = imap_error_set(err, IMAP_ERR_PROTOCOL, "the server's greeting is not OK, PREAUTH or BYE");
		goto fail;
	}
	if (r->status == IMAP_STATUS_BYE) {
		rc = imap_error_set(err, IMAP_ERR_BYE, "server refused the connection: %s", s->bye_text);
		goto fail;
	}
	bool preauth = r->status == IMAP_STATUS_PREAUTH;
	dialect_from_greeting(s, r);

	if (cfg->tls_mode == IMAP_TLS_STARTTLS) {
		uint32_t caps = 0;
		if (preauth) {
			/* Already authenticated in the clear: STARTTLS is no longer allowed. */
			rc = imap_error_set(err, IMAP_ERR_UNSUPPORTED,
			                    "server greeted with PREAUTH: STARTTLS impossible");
			goto fail;
		}
		if ((rc = imap_session_caps(s, &caps, deadline, err)))
			goto fail;
		if (!(caps & IMAP_CAP_STARTTLS)) {
			rc = imap_error_set(err, IMAP_ERR_UNSUPPORTED, "server does not offer STARTTLS");
			goto fail;
		}
		if ((rc = simple(s, "STARTTLS", deadline, err)))
			goto fail;
		if (s->in_pos < s->in_len) {
			/* Bytes sent before the handshake would be trusted as if encrypted. */
			rc = imap_error_set(err, IMAP_ERR_PROTOCOL,
			                    "server sent data after STARTTLS before the handshake");
			goto fail;
		}
		if ((rc = imap_conn_start_tls(s->conn, cfg->tls, cfg->host, deadline, err)))
			goto fail;
		forget_caps(s);
		if ((rc = imap_session_caps(s, &caps, deadline, err)))
			goto fail;
	}
	if (preauth)
		s->state = IMAP_SESSION_AUTHENTICATED;
	*out = s;
	return 0;
fail:
	imap_session_free(&s);
	return rc;
}

void imap_session_free(struct imap_session **sp)
{
	if (!sp || !*sp)
		return;
	struct imap_session *s = *sp;
	free(s->mbox.name);
	imap_conn_close(&s->conn);
	imap_parser_free(&s->parser);
	imap_buf_free(&s->caps_text);
	free(s);
	*sp = NULL;
}

void imap_session_logout(struct imap_session **sp, int64_t deadline)
{
	if (!sp || !*sp)
		return;
	if ((*sp)->state != IMAP_SESSION_BROKEN)
		simple(*sp, "LOGOUT", deadline, NULL);
	imap_session_free(sp);
}

enum imap_session_state imap_session_state(const struct imap_session *s)
{
	return s->state;
}

int imap_session_check(struct imap_session *s, struct imap_error *err)
{
	if (s->state == IMAP_SESSION_BROKEN)
		return imap_error_set(err, IMAP_ERR_IO, "session is no longer usable");
	return take_unsolicited(s, err);
}

uint64_t imap_session_bytes_sent(const struct imap_session *s)
{
	return s->bytes_sent;
}

uint64_t imap_session_news(const struct imap_session *s)
{
	return s->news;
}

/* ---- authentication ---- */

/* base64 of data appended to out (no line breaks). */
static int b64_encode(const char *data, size_t len, struct imap_buf *out)
{
	if (len > (SIZE_MAX / 4) * 3 - 3)
		return IMAP_ERR_LIMIT;
	size_t need = 4 * ((len + 2) / 3);
	int rc = imap_buf_reserve(out, need + 1);
	if (rc)
		return rc;
	int n = EVP_EncodeBlock((unsigned char *)out->data + out->len,
	                        (const unsigned char *)data, (int)len);
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

/* Decode base64 text into a NUL-terminated buffer (best effort: invalid
 * input gives an empty result). */
static void b64_decode(const char *text, size_t len, char *out, size_t cap)
{
	size_t n;
	if (imap_base64_decode_to(text, len, IMAP_BASE64_LENIENT, out, cap - 1, &n) != 0)
		n = 0;
	out[n] = '\0';
}

struct sasl {
	const char *initial;     /* base64 initial response */
	bool initial_sent;
	const char *error_reply; /* answer to an error challenge; NULL: cancel */
	bool error_sent;
	char challenge[512];     /* the decoded error challenge, for the message */
};

static int sasl_cont(void *ctx, const struct imap_response *r, struct imap_buf *reply,
                     bool *secret)
{
	struct sasl *x = ctx;
	if (!x->initial_sent) {
		x->initial_sent = true;
		*secret = true;
		return imap_buf_puts(reply, x->initial);
	}
	if (x->error_reply && !x->error_sent) {
		x->error_sent = true;
		b64_decode(r->text, r->text_len, x->challenge, sizeof x->challenge);
		return imap_buf_puts(reply, x->error_reply);
	}
	return IMAP_ERR_PROTOCOL;
}

/* The "status" member of an OAuth error challenge, e.g. {"status":"401",...}. */
static void oauth_status(const char *json, char *out, size_t cap)
{
	out[0] = '\0';
	const char *p = strstr(json, "\"status\"");
	if (!p || !(p = strchr(p + 8, ':')))
		return;
	p += strspn(p + 1, " \t") + 1;
	if (*p == '"')
		p++;
	size_t n = strcspn(p, "\",} \t");
	sanitize(out, cap, p, n);
}

/* AUTHENTICATE mech with the given base64 initial response. */
static int authenticate(struct imap_session *s, const char *mech, const char *initial_b64,
                        const char *error_reply, struct sasl *x, int64_t deadline,
                        struct imap_error *err)
{
	x->initial = initial_b64;
	x->initial_sent = false;
	x->error_reply = error_reply;
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "AUTHENTICATE");
	imap_cmd_atom(&c, mech);
	if (s->caps & IMAP_CAP_SASL_IR) {
		/* RFC 4959: the initial response on the command line. */
		imap_cmd_secret(&c, initial_b64, strlen(initial_b64));
		x->initial_sent = true;
	}
	int rc = run(s, &c, NULL, NULL, sasl_cont, x, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

/* After an authentication command: new state, and capabilities asked
 * again unless the server restated them on the way. */
static int after_auth(struct imap_session *s, int rc, unsigned gen_before, int64_t deadline,
                      struct imap_error *err)
{
	if (rc == 0) {
		s->state = IMAP_SESSION_AUTHENTICATED;
		if (s->caps_gen == gen_before) {
			uint32_t caps = 0;
			forget_caps(s);
			return imap_session_caps(s, &caps, deadline, err);
		}
		return 0;
	}
	if (rc == IMAP_ERR_NO) {
		/* keep the server's code and text: they never hold the secret */
		if (err)
			err->code = IMAP_ERR_AUTH;
		return IMAP_ERR_AUTH;
	}
	return rc;
}

static int need_auth_state(struct imap_session *s, struct imap_error *err)
{
	if (s->state == IMAP_SESSION_BROKEN)
		return imap_error_set(err, IMAP_ERR_IO, "session is no longer usable");
	if (s->state == IMAP_SESSION_AUTHENTICATED)
		return imap_error_set(err, IMAP_ERR_INVALID, "session is already authenticated");
	return 0;
}

/* FNV-1a of the server's host and port and the user */
static void set_account(struct imap_session *s, const char *user)
{
	uint64_t h = 14695981039346656037u;
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)s->cfg.port);
	const char *parts[] = {s->cfg.host ? s->cfg.host : "", port, user ? user : ""};
	for (size_t i = 0; i < 3; i++)
		for (const unsigned char *p = (const unsigned char *)parts[i];; p++) {
			h = (h ^ *p) * 1099511628211u;  /* the NUL too: a separator */
			if (!*p)
				break;
		}
	s->account = h ? h : 1;
}

uint64_t imap_session_account(const struct imap_session *s)
{
	return s->account;
}

int imap_session_noop(struct imap_session *s, int64_t deadline, struct imap_error *err)
{
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "NOOP");
	int rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

int imap_session_login(struct imap_session *s, enum imap_mech mech, const char *user,
                       const char *password, int64_t deadline, struct imap_error *err)
{
	uint32_t caps = 0;
	set_account(s, user);
	int rc;
	if ((rc = need_auth_state(s, err)) || (rc = imap_session_caps(s, &caps, deadline, err)))
		return rc;
	if (mech == IMAP_MECH_AUTO)
		mech = (caps & IMAP_CAP_AUTH_PLAIN) ? IMAP_MECH_PLAIN : IMAP_MECH_LOGIN;
	unsigned gen = s->caps_gen;

	if (mech == IMAP_MECH_LOGIN) {
		if (caps & IMAP_CAP_LOGINDISABLED)
			return imap_error_set(err, IMAP_ERR_UNSUPPORTED,
			                      "server disabled LOGIN on this connection");
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "LOGIN");
		imap_cmd_secret(&c, user, strlen(user));
		imap_cmd_secret(&c, password, strlen(password));
		rc = run(s, &c, NULL, NULL, NULL, NULL, deadline, err);
		imap_cmd_free(&c);
		return after_auth(s, rc, gen, deadline, err);
	}
	if (mech != IMAP_MECH_PLAIN)
		return imap_error_set(err, IMAP_ERR_INVALID, "not a password mechanism");
	if (!(caps & IMAP_CAP_AUTH_PLAIN))
		return imap_error_set(err, IMAP_ERR_UNSUPPORTED, "server does not offer AUTH=PLAIN");

	/* RFC 4616: [authzid] NUL authcid NUL passwd */
	struct imap_buf msg, b64;
	imap_buf_init(&msg, 0);
	imap_buf_init(&b64, 0);
	rc = imap_buf_putc(&msg, '\0');
	if (!rc)
		rc = imap_buf_puts(&msg, user);
	if (!rc)
		rc = imap_buf_putc(&msg, '\0');
	if (!rc)
		rc = imap_buf_puts(&msg, password);
	if (!rc)
		rc = b64_encode(msg.data, msg.len, &b64);
	if (!rc) {
		struct sasl x = {0};
		rc = after_auth(s, authenticate(s, "PLAIN", b64.data, NULL, &x, deadline, err), gen,
		                deadline, err);
	}
	OPENSSL_cleanse(msg.data, msg.len);
	OPENSSL_cleanse(b64.data, b64.len);
	imap_buf_free(&msg);
	imap_buf_free(&b64);
	return rc;
}

int imap_session_authenticate_oauth(struct imap_session *s, enum imap_mech mech,
                                    const char *user, const char *token, int64_t deadline,
                                    struct imap_error *err)
{
	uint32_t caps = 0;
	set_account(s, user);
	int rc;
	if ((rc = need_auth_state(s, err)) || (rc = imap_session_caps(s, &caps, deadline, err)))
		return rc;
	if (mech == IMAP_MECH_AUTO)
		mech = (caps & IMAP_CAP_AUTH_OAUTHBEARER) ? IMAP_MECH_OAUTHBEARER
		                                          : IMAP_MECH_XOAUTH2;
	if (mech == IMAP_MECH_OAUTHBEARER && !(caps & IMAP_CAP_AUTH_OAUTHBEARER))
		return imap_error_set(err, IMAP_ERR_UNSUPPORTED, "server does not offer OAUTHBEARER");
	if (mech == IMAP_MECH_XOAUTH2 && !(caps & IMAP_CAP_AUTH_XOAUTH2))
		return imap_error_set(err, IMAP_ERR_UNSUPPORTED, "server does not offer XOAUTH2");
	if (mech != IMAP_MECH_OAUTHBEARER && mech != IMAP_MECH_XOAUTH2)
		return imap_error_set(err, IMAP_ERR_INVALID, "not a token mechanism");
	if (strpbrk(user, "\x01") || strpbrk(token, "\x01"))
		return imap_error_set(err, IMAP_ERR_INVALID, "user or token holds a ^A byte");

	struct imap_buf msg, b64;
	imap_buf_init(&msg, 0);
	imap_buf_init(&b64, 0);
	if (mech == IMAP_MECH_OAUTHBEARER) {
		/* RFC 7628: gs2-header with the user as authzid ("," and "=" escaped),
		 * then host, port and auth key/value pairs separated by ^A. */
		rc = imap_buf_puts(&msg, "n,a=");
		for (const char *p = user; !rc && *p; p++)
			rc = *p == ',' ? imap_buf_puts(&msg, "=2C")
			   : *p == '=' ? imap_buf_puts(&msg, "=3D")
			               : imap_buf_putc(&msg, *p);
		if (!rc)
			rc = imap_buf_printf(&msg, ",\x01host=%s\x01port=%u\x01" "auth=Bearer %s\x01\x01",
			                     s->cfg.host, (unsigned)s->cfg.port, token);
	} else {
		/* XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A */
		rc = imap_buf_printf(&msg, "user=%s\x01" "auth=Bearer %s\x01\x01", user, token);
	}
	if (!rc)
		rc = b64_encode(msg.data, msg.len, &b64);
	if (!rc) {
		struct sasl x = {0};
		unsigned gen = s->caps_gen;
		/* The error challenge is answered with ^A (OAUTHBEARER) or an empty line. */
		rc = authenticate(s, mech == IMAP_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2",
		                  b64.data, mech == IMAP_MECH_OAUTHBEARER ? "AQ==" : "", &x,
		                  deadline, err);
		rc = after_auth(s, rc, gen, deadline, err);
		if (rc == IMAP_ERR_AUTH && x.challenge[0] && err) {
			char status[32];
			oauth_status(x.challenge, status, sizeof status);
			size_t used = strlen(err->msg);
			snprintf(err->msg + used, sizeof err->msg - used, " (token refused%s%s)",
			         status[0] ? ": status " : "", status);
		}
	}
	OPENSSL_cleanse(msg.data, msg.len);
	OPENSSL_cleanse(b64.data, b64.len);
	imap_buf_free(&msg);
	imap_buf_free(&b64);
	return rc;
}

/* ---- ID ---- */

int imap_session_id_origin(struct imap_session *s, const char *addr, int64_t deadline,
                           struct imap_error *err)
{
	uint32_t caps = 0;
	int rc;
	size_t len = strlen(addr);
	if (len == 0 || len > 64 || strspn(addr, "0123456789abcdefABCDEF.:") != len)
		return imap_error_set(err, IMAP_ERR_INVALID, "not an IP address");
	if ((rc = need_auth_state(s, err)) || (rc = imap_session_caps(s, &caps, deadline, err)))
		return rc;
	if (!imap_session_has_cap(s, "ID"))
		return 0;
	/* id = "ID" SP id-params-list; id-params-list = "(" string SP nstring ... ")" */
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "ID");
	imap_cmd_open(&c);
	imap_cmd_string(&c, "x-originating-ip", 16);
	imap_cmd_string(&c, addr, len);
	imap_cmd_close(&c);
	rc = run(s, &c, NULL, NULL, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc == IMAP_ERR_NO || rc == IMAP_ERR_BAD ? 0 : rc;
}

/* ---- IDLE ---- */

/* Wait until the socket or wake_fd is readable, or until `until`: 1 for
 * the socket, 0 otherwise. */
static int wait_idle(struct imap_session *s, int wake_fd, int64_t until)
{
	struct pollfd pfd[2] = {{.fd = imap_conn_fd(s->conn), .events = POLLIN},
	                        {.fd = wake_fd, .events = POLLIN}};
	for (;;) {
		int64_t left = until - imap_now_ms();
		if (left <= 0)
			return 0;
		int n = poll(pfd, wake_fd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;  /* the read that follows reports it */
		if (n > 0 && pfd[0].revents)
			return 1;
		if (n > 0)
			return 0;  /* woken */
	}
}

int imap_session_idle(struct imap_session *s, int wake_fd, int64_t until,
                      imap_untagged_fn *on_untagged, void *ctx, int64_t deadline,
                      struct imap_error *err)
{
	int64_t start = imap_now_ms();
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "IDLE");
	s->tagged = NULL;
	int rc = s->state == IMAP_SESSION_BROKEN
	                 ? imap_error_set(err, IMAP_ERR_IO, "session is no longer usable")
	                 : imap_cmd_end(&c);
	bool stop = false;
	if (!rc)  /* what came since the last command counts as heard in IDLE */
		rc = take_unsolicited_to(s, on_untagged, ctx, &stop, err);
	if (!rc) {
		trace(s, 'C', c.trace.data, c.trace.len);
		rc = write_all(s, c.wire.data, c.wire.len, deadline, err);
	}
	const char *tag = c.wire.data;
	size_t tag_len = tag ? strcspn(tag, " ") : 0;
	bool idling = false, done_sent = false;
	while (!rc) {
		const struct imap_response *r = NULL;
		if (idling && !done_sent && !stop && s->in_pos >= s->in_len) {
			/* Idling: nothing buffered. Wait as long as asked, without
			 * the stall limit: silence is what IDLE is for. */
			long n = imap_conn_read_ready(s->conn, s->in, sizeof s->in, err);
			if (n < 0) {
				rc = broken(s, err, (int)n);
				break;
			}
			if (n == 0) {
				if (!wait_idle(s, wake_fd, until))
					stop = true;
				continue;
			}
			s->in_pos = 0;
			s->in_len = (size_t)n;
		}
		if (stop && idling && !done_sent) {
			trace(s, 'C', "DONE", 4);
			if ((rc = write_all(s, "DONE\r\n", 6, deadline, err)))
				break;
			done_sent = true;
			continue;
		}
		if (idling && !done_sent) {
			int got = feed_buffered(s, &r, err);
			if (got < 0) {
				rc = got;
				break;
			}
			if (got == 0)
				continue;
		} else if ((rc = read_response(s, &r, deadline, err))) {
			break;
		}
		if (r->kind == IMAP_RESPONSE_CONTINUATION) {
			idling = true;
			continue;
		}
		if (r->kind == IMAP_RESPONSE_UNTAGGED) {
			if (s->bye) {
				imap_error_set(err, IMAP_ERR_BYE, "server said BYE: %s", s->bye_text);
				rc = broken(s, err, IMAP_ERR_BYE);
				break;
			}
			if (on_untagged && on_untagged(ctx, r) != 0)
				stop = true;
			continue;
		}
		rc = tagged_end(s, r, tag, tag_len, err);
		break;  /* the tagged answer: IDLE is over */
	}
	observe(s, &c, rc, start);
	imap_cmd_free(&c);
	return rc;
}

/* ---- ENABLE ---- */

static int on_enabled(void *ctx, const struct imap_response *r)
{
	struct imap_session *s = ctx;
	const struct imap_value *v;
	size_t i;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "ENABLED"))
		return 0;
	IMAP_LIST_FOREACH(r->args, v, i) {
		if (imap_value_is_atom(v, "CONDSTORE"))
			s->condstore = true;
		else if (imap_value_is_atom(v, "QRESYNC"))
			s->qresync = s->condstore = true;  /* QRESYNC implies CONDSTORE */
		else if (imap_value_is_atom(v, "UTF8=ACCEPT"))
			s->utf8 = true;
	}
	return 0;
}

int imap_session_enable(struct imap_session *s, int64_t deadline, struct imap_error *err)
{
	uint32_t caps = 0;
	if (s->state != IMAP_SESSION_AUTHENTICATED)
		return imap_error_set(err, s->state == IMAP_SESSION_BROKEN ? IMAP_ERR_IO : IMAP_ERR_INVALID,
		                      "ENABLE needs an authenticated session");
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	if (!(caps & IMAP_CAP_ENABLE) || !(caps & (IMAP_CAP_CONDSTORE | IMAP_CAP_UTF8_ACCEPT)))
		return 0;
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "ENABLE");
	if (caps & IMAP_CAP_CONDSTORE)
		imap_cmd_atom(&c, "CONDSTORE");
	if ((caps & IMAP_CAP_QRESYNC) && (caps & IMAP_CAP_CONDSTORE))
		imap_cmd_atom(&c, "QRESYNC");
	if (caps & IMAP_CAP_UTF8_ACCEPT)
		imap_cmd_atom(&c, "UTF8=ACCEPT");
	rc = run(s, &c, on_enabled, s, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

bool imap_session_utf8(const struct imap_session *s)
{
	return s->utf8;
}

bool imap_session_condstore(const struct imap_session *s)
{
	return s->condstore;
}

bool imap_session_qresync(const struct imap_session *s)
{
	return s->qresync;
}

bool imap_session_learned(const struct imap_session *s, unsigned what)
{
	return (s->learned & what) != 0;
}

void imap_session_learn(struct imap_session *s, unsigned what)
{
	s->learned |= what;
}

void imap_session_set_owner(struct imap_session *s, void *owner)
{
	s->owner = owner;
}

void *imap_session_owner(const struct imap_session *s)
{
	return s->owner;
}

void imap_session_set_sync_literals(struct imap_session *s, bool on)
{
	s->sync_literals = on;
}

const struct imap_response *imap_session_last_tagged(const struct imap_session *s)
{
	return s->state == IMAP_SESSION_BROKEN ? NULL : s->tagged;
}

int imap_session_mailbox_decode(const struct imap_session *s, const char *name, size_t len,
                                struct imap_buf *out)
{
	if (s->utf8) {
		if (imap_utf8_validate(name, len) != 0)
			return IMAP_ERR_INVALID;
		return imap_buf_append(out, name, len);
	}
	return imap_utf7_decode(name, len, out);
}

/* ---- pipelining ---- */

int imap_session_run_pipelined(struct imap_session *s, struct imap_cmd *cmds, size_t n,
                               imap_untagged_fn *on_untagged, void *ctx, int *results,
                               int64_t deadline, struct imap_error *err)
{
	s->tagged = NULL;
	if (s->state == IMAP_SESSION_BROKEN)
		return imap_error_set(err, IMAP_ERR_IO, "session is no longer usable");
	struct imap_buf out;
	imap_buf_init(&out, 0);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if ((rc = imap_cmd_end(&cmds[i])) == 0 && cmds[i].nsync)
			rc = IMAP_ERR_INVALID;
		if (!rc)
			rc = imap_buf_append(&out, cmds[i].wire.data, cmds[i].wire.len);
		results[i] = 1;  /* not answered yet */
	}
	if (rc) {
		imap_buf_free(&out);
		return imap_error_set(err, rc, "commands cannot be pipelined: %s", imap_strerror(rc));
	}
	if ((rc = take_unsolicited(s, err))) {
		imap_buf_free(&out);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		trace(s, 'C', cmds[i].trace.data, cmds[i].trace.len);
	rc = write_all(s, out.data, out.len, deadline, err);
	imap_buf_free(&out);

	size_t pending = n;
	int handler_rc = 0;
	int64_t start = imap_now_ms();
	while (!rc && pending) {
		const struct imap_response *r;
		if ((rc = read_response(s, &r, deadline, err)))
			break;
		if (r->kind == IMAP_RESPONSE_CONTINUATION) {
			imap_error_set(err, IMAP_ERR_PROTOCOL, "unexpected continuation request");
			rc = broken(s, err, IMAP_ERR_PROTOCOL);
			break;
		}
		if (r->kind == IMAP_RESPONSE_UNTAGGED) {
			if (on_untagged && handler_rc == 0 && r->status != IMAP_STATUS_BYE)
				handler_rc = on_untagged(ctx, r);
			continue;
		}
		size_t i = 0;
		while (i < n && !(results[i] == 1 && strncmp(cmds[i].wire.data, r->tag, strlen(r->tag)) == 0 &&
		                  cmds[i].wire.data[strlen(r->tag)] == ' '))
			i++;
		if (i == n) {
			imap_error_set(err, IMAP_ERR_PROTOCOL, "answer for an unknown tag");
			rc = broken(s, err, IMAP_ERR_PROTOCOL);
			break;
		}
		struct imap_error one;
		s->tagged = r;
		results[i] = tagged_result(s, r, &one);
		observe(s, &cmds[i], results[i], start);
		pending--;
	}
	if (!rc && handler_rc)
		rc = imap_error_set(err, handler_rc, "response handler failed: %s",
		                    imap_strerror(handler_rc));
	return rc;
}

/* ---- the selected mailbox ---- */

const struct imap_mailbox *imap_session_mailbox(const struct imap_session *s)
{
	return s->selected ? &s->mbox : NULL;
}

int imap_session_name_refused(int rc, struct imap_error *err, const char *name)
{
	if (rc != IMAP_ERR_NO || !err)
		return rc;
	if (strcmp(err->imap_code, "CANNOT") != 0 && !strcasestr(err->msg, "invalid mailbox name") &&
	    !strcasestr(err->msg, "name too long") && !strcasestr(err->msg, "invalid folder name"))
		return rc;
	char code[IMAP_ERROR_CODE_MAX], text[IMAP_ERROR_MSG_MAX];
	snprintf(code, sizeof code, "%s", err->imap_code);
	snprintf(text, sizeof text, "%s", err->msg);
	imap_error_set(err, IMAP_ERR_INVALID, "the server refuses '%.80s' as a folder name: %.150s",
	               name, text);
	snprintf(err->imap_code, sizeof err->imap_code, "%s", code);
	return IMAP_ERR_INVALID;
}

int imap_session_select(struct imap_session *s, const char *name, bool readonly,
                        int64_t deadline, struct imap_error *err)
{
	if (s->selected && strcmp(s->mbox.name, name) == 0 && (readonly || !s->mbox.readonly))
		return 0;
	char *copy = strdup(name);
	if (!copy)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	/* From here the old selection is over, whatever the answer. */
	free(s->mbox.name);
	memset(&s->mbox, 0, sizeof s->mbox);
	s->mbox.name = copy;
	s->selected = false;

	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, readonly ? "EXAMINE" : "SELECT");
	imap_cmd_mailbox(&c, name, strlen(name));
	int rc = imap_session_name_refused(run(s, &c, NULL, NULL, NULL, NULL, deadline, err), err,
	                                   name);
	imap_cmd_free(&c);
	if (rc == IMAP_ERR_NO) {
		if (err)
			err->code = IMAP_ERR_NOT_FOUND;
		return IMAP_ERR_NOT_FOUND;
	}
	if (rc)
		return rc;
	s->selected = true;
	s->mbox.readonly = readonly;
	return 0;
}
