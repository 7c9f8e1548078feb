/*
 * imap/content.c — streaming one message's source or body part.
 */
#include "imap/content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/cte.h"

int imap_content_select(struct imap_session *s, const char *folder, bool readwrite,
                        uint32_t uidvalidity, uint32_t uid, int64_t deadline,
                        struct imap_error *err)
{
	const struct imap_mailbox *was = imap_session_mailbox(s);
	bool reused = was && was->name && strcmp(was->name, folder) == 0;
	int rc = imap_session_select(s, folder, !readwrite, deadline, err);
	if (rc)
		return rc;
	const struct imap_mailbox *m = imap_session_mailbox(s);
	/* A UID at or past what this session's view of the folder holds may
	 * name a message another session has just appended: the server answers
	 * a FETCH of it with nothing until the session has looked again. */
	if (reused && (!m->uidnext || uid >= m->uidnext)) {
		if ((rc = imap_session_noop(s, deadline, err)))
			return rc;
		m = imap_session_mailbox(s);
	}
	if (uidvalidity && m->uidvalidity != uidvalidity)
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY is no longer the one given");
	return 0;
}

/* Start "UID <verb> <uid> <items>" on c; items is protocol text built
 * here (fixed words, and sections checked with imap_body_section_valid). */
static void uid_command(struct imap_session *s, struct imap_cmd *c, const char *verb,
                        uint32_t uid, const char *items)
{
	char uidstr[16];
	snprintf(uidstr, sizeof uidstr, "%u", uid);
	imap_session_cmd(s, c);
	imap_cmd_atom(c, "UID");
	imap_cmd_atom(c, verb);
	imap_cmd_atom(c, uidstr);
	imap_cmd_raw(c, items);
}

struct stream_ctx {
	uint32_t uid;
	const char *section;
	imap_literal_sink_fn *sink;
	void *sink_ctx;
	bool streaming;  /* a literal went to the sink; its FETCH is not yet complete */
	bool found;      /* the section went to the sink */
	bool other_uid;  /* ... and its FETCH named another message */
	bool message_seen;  /* a FETCH for the UID came, with or without the body */
	int rc;
};

/* Whether a FETCH item name, as the server spelled it, is BODY[section]:
 * "BODY[" section "]", with a partial fetch's "<origin>" or not. */
static bool names_section(const char *item, size_t len, const char *section)
{
	size_t n = strlen(section);
	if (len < 6 + n || strncasecmp(item, "BODY[", 5) != 0 ||
	    strncasecmp(item + 5, section, n) != 0 || item[5 + n] != ']')
		return false;
	const char *rest = item + 6 + n;
	size_t rest_len = len - 6 - n;
	if (rest_len == 0)
		return true;
	if (rest_len < 3 || rest[0] != '<' || rest[rest_len - 1] != '>')
		return false;
	for (size_t i = 1; i + 1 < rest_len; i++)
		if (rest[i] < '0' || rest[i] > '9')
			return false;
	return true;
}

/* The value of BODY[section] in a FETCH's attribute list, or NULL. */
static const struct imap_value *section_value(const struct imap_value *att, const char *section)
{
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		if (v->kind == IMAP_VALUE_ATOM && names_section(v->str, v->len, section))
			return val;
		v = val;  /* items come in name-value pairs */
		i++;
	}
	return NULL;
}

/*
 * Which literal is the body: the one that is the value of BODY[section]
 * of our UID, and only the first. A server may send other literals during
 * the command, in any order: another item's (BODY[HEADER]), an unsolicited
 * FETCH of another message, the same section twice. Those are stored (and
 * ignored), never streamed. The item name and a UID sent before the body
 * decide here; a UID sent after it is checked in on_fetch.
 */
static bool stream_want(void *ctx, const struct imap_literal_origin *o)
{
	struct stream_ctx *c = ctx;
	if (c->found || c->streaming || !names_section(o->item, o->item_len, c->section) ||
	    (o->uid && o->uid != c->uid))
		return false;
	c->streaming = true;
	return true;
}

static int stream_sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct stream_ctx *c = ctx;
	return c->sink(c->sink_ctx, data, len, total);
}

/* Every untagged response of the command. The first one to complete after
 * stream_want picked a literal is the FETCH holding it: it must be our
 * UID's. Otherwise, a quoted string is handed over here, and NIL (or no
 * BODY[...] item at all: Yandex) means the server would not give the
 * section. */
static int on_fetch(void *ctx, const struct imap_response *r)
{
	struct stream_ctx *c = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	if (uid == c->uid)
		c->message_seen = true;
	if (c->streaming) {
		c->streaming = false;
		c->found = true;
		if (uid != c->uid) {
			c->other_uid = true;
			if (!c->rc)
				c->rc = IMAP_ERR_PROTOCOL;
		}
		return 0;
	}
	const struct imap_value *body = uid == c->uid ? section_value(att, c->section) : NULL;
	if (!body || c->found)
		return 0;
	if (body->kind == IMAP_VALUE_QUOTED || body->kind == IMAP_VALUE_ATOM) {
		c->found = true;
		int rc = c->sink(c->sink_ctx, NULL, 0, body->len);
		if (!rc && body->len)
			rc = c->sink(c->sink_ctx, body->str, body->len, body->len);
		if (rc && !c->rc)
			c->rc = rc;
	}
	return 0;
}

int imap_content_stream(struct imap_session *s, const char *folder, uint32_t uidvalidity,
                        uint32_t uid, const char *section, imap_literal_sink_fn *sink,
                        void *sink_ctx, int64_t deadline, struct imap_error *err)
{
	if (*section && !imap_body_section_valid(section, strlen(section)))
		return imap_error_set(err, IMAP_ERR_INVALID, "malformed body section");
	int rc = imap_content_select(s, folder, false, uidvalidity, uid, deadline, err);
	if (rc)
		return rc;
	char item[IMAP_SECTION_LEN_MAX + 24];
	snprintf(item, sizeof item, "(UID BODY.PEEK[%s])", section);
	struct imap_cmd c;
	uid_command(s, &c, "FETCH", uid, item);
	struct stream_ctx sc = {.uid = uid, .section = section, .sink = sink, .sink_ctx = sink_ctx};
	rc = imap_session_run_sink(s, &c, on_fetch, &sc, stream_sink, stream_want, &sc, deadline,
	                           err);
	imap_cmd_free(&c);
	if (!rc && sc.other_uid)
		rc = imap_error_set(err, IMAP_ERR_PROTOCOL, "the server sent the body of another message");
	else if (!rc && sc.rc)
		rc = imap_error_set(err, sc.rc, "body consumer failed: %s", imap_strerror(sc.rc));
	if (!rc && !sc.found && sc.message_seen)
		rc = imap_error_set(err, IMAP_ERR_PROTOCOL,
		                    "the server sent no data for section \"%.40s\" of UID %u", section,
		                    uid);
	else if (!rc && !sc.found)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no message with UID %u in this folder",
		                    uid);
	return rc;
}

/* ---- one message ---- */

struct message_ctx {
	struct imap_message *m;
	bool found;
	int rc;
};

static int on_message(void *ctx, const struct imap_response *r)
{
	struct message_ctx *c = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	const struct imap_value *structure = att ? imap_fetch_item(att, "BODYSTRUCTURE", false) : NULL;
	const struct imap_value *header = att ? imap_fetch_item(att, "BODY[HEADER]", false) : NULL;
	if (header && !imap_value_is_string(header))
		header = NULL;
	struct imap_message *m = c->m;
	if (uid != m->sum.uid || c->found || !structure)
		return 0;  /* not ours, or an unsolicited flag update */
	c->found = true;
	int rc = imap_summary_fill(&m->sum, att);
	if (!rc && imap_bodystructure_parse(structure, &m->structure, NULL) == IMAP_ERR_NOMEM)
		rc = IMAP_ERR_NOMEM;
	if (!rc && header) {
		rc = imap_mime_header_read(header->str, header->len, NULL, &m->header);
		if (rc == IMAP_ERR_LIMIT) {
			/* Absurdly long header: show what fits rather than nothing. */
			struct imap_mime_header_limits lim = {IMAP_MIME_HEADER_FIELDS_MAX,
			                                      IMAP_MIME_HEADER_BYTES_MAX};
			size_t len = header->len < lim.bytes_max ? header->len : lim.bytes_max;
			lim.fields_max = SIZE_MAX;
			rc = imap_mime_header_read(header->str, len, &lim, &m->header);
		}
	}
	if (rc && !c->rc)
		c->rc = rc;
	return 0;
}

/* The <msg-id>s of a References value, in order; what is not one is skipped. */
static int read_references(struct imap_message *m, const char *v)
{
	while (v && (v = strchr(v, '<'))) {
		const char *end = strchr(v, '>');
		if (!end)
			break;
		size_t len = (size_t)(end - v) + 1;
		if (!memchr(v + 1, '<', len - 2)) {
			char **refs = realloc(m->references, (m->nreferences + 1) * sizeof *refs);
			if (!refs)
				return IMAP_ERR_NOMEM;
			m->references = refs;
			if (!(refs[m->nreferences] = strndup(v, len)))
				return IMAP_ERR_NOMEM;
			m->nreferences++;
		}
		v = end + 1;
	}
	return 0;
}

int imap_message_fetch(struct imap_session *s, uint32_t uid, int64_t deadline,
                       struct imap_message *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	out->sum.uid = uid;
	imap_buf_init(&out->text, 0);
	imap_buf_init(&out->html, 0);
	struct imap_cmd c;
	uid_command(s, &c, "FETCH", uid, "(" IMAP_SUMMARY_ITEMS " BODY.PEEK[HEADER])");
	struct message_ctx mc = {.m = out};
	int rc = imap_session_run(s, &c, on_message, &mc, deadline, err);
	imap_cmd_free(&c);
	if (!rc && mc.rc)
		rc = imap_error_set(err, mc.rc, "cannot read the message: %s", imap_strerror(mc.rc));
	if (!rc && !mc.found)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no message with UID %u in this folder",
		                    uid);
	if (!rc && (rc = read_references(out, imap_mime_header_get(&out->header, "references"))))
		imap_error_set(err, rc, "out of memory");
	return rc;
}

void imap_message_free(struct imap_message *m)
{
	imap_summary_free(&m->sum);
	imap_bodystructure_free(&m->structure);
	imap_mime_header_free(&m->header);
	for (size_t i = 0; i < m->nreferences; i++)
		free(m->references[i]);
	free(m->references);
	m->references = NULL;
	m->nreferences = 0;
	imap_buf_free(&m->text);
	imap_buf_free(&m->html);
	m->has_text = m->has_html = m->text_cut = false;
}

/* ---- body sections ---- */

struct sections_ctx {
	uint32_t uid;
	const char *const *sections;
	size_t n;
	struct imap_buf *out;
};

static int on_sections(void *ctx, const struct imap_response *r)
{
	struct sections_ctx *c = ctx;
	const struct imap_value *att, *v;
	size_t i;
	if (imap_fetch_attributes(r, &att) != c->uid)
		return 0;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		/* "BODY[1.2]" (a server may add "<0>" for partial fetches) */
		if (v->kind == IMAP_VALUE_ATOM && v->len > 6 && strncasecmp(v->str, "BODY[", 5) == 0 &&
		    imap_value_is_string(val)) {
			size_t sl = strcspn(v->str + 5, "]");
			for (size_t k = 0; k < c->n; k++) {
				if (strlen(c->sections[k]) != sl || strncmp(c->sections[k], v->str + 5, sl))
					continue;
				int rc = imap_buf_append(&c->out[k], val->str, val->len);
				if (rc)
					return rc;
			}
		}
		v = val;
		i++;
	}
	return 0;
}

/* The first `max` bytes of the (transfer-encoded) content of sections[0..n)
 * of message uid, in one UID FETCH of BODY.PEEK[…]<0.max>, each appended to
 * out[i]; a section the server does not send stays empty. */
static int fetch_sections(struct imap_session *s, uint32_t uid, const char *const *sections,
                          size_t n, size_t max, struct imap_buf *out, int64_t deadline,
                          struct imap_error *err)
{
	if (n == 0)
		return 0;
	if (n > IMAP_SECTIONS_MAX)
		return imap_error_set(err, IMAP_ERR_LIMIT, "too many body sections at once");
	struct imap_buf items;
	imap_buf_init(&items, 0);
	imap_buf_puts(&items, "(UID");
	for (size_t i = 0; i < n; i++) {
		if (!imap_body_section_valid(sections[i], strlen(sections[i]))) {
			imap_buf_free(&items);
			return imap_error_set(err, IMAP_ERR_INVALID, "malformed body section");
		}
		imap_buf_printf(&items, " BODY.PEEK[%s]<0.%zu>", sections[i], max);
	}
	if (imap_buf_putc(&items, ')')) {
		imap_buf_free(&items);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	struct imap_cmd c;
	uid_command(s, &c, "FETCH", uid, items.data);
	imap_buf_free(&items);
	struct sections_ctx sc = {uid, sections, n, out};
	int rc = imap_session_run(s, &c, on_sections, &sc, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

/* ---- structure only ---- */

struct structure_ctx {
	uint32_t uid;
	struct imap_bodystructure **out;
	bool found;
	int rc;
};

static int on_structure(void *ctx, const struct imap_response *r)
{
	struct structure_ctx *c = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	const struct imap_value *structure = att ? imap_fetch_item(att, "BODYSTRUCTURE", false) : NULL;
	if (uid != c->uid || !structure || c->found)
		return 0;
	c->found = true;
	c->rc = imap_bodystructure_parse(structure, c->out, NULL);
	return 0;
}

int imap_content_structure(struct imap_session *s, uint32_t uid, int64_t deadline,
                           struct imap_bodystructure **out, struct imap_error *err)
{
	*out = NULL;
	struct imap_cmd c;
	uid_command(s, &c, "FETCH", uid, "(UID BODYSTRUCTURE)");
	struct structure_ctx sc = {.uid = uid, .out = out};
	int rc = imap_session_run(s, &c, on_structure, &sc, deadline, err);
	imap_cmd_free(&c);
	if (!rc && !sc.found)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no message with UID %u in this folder",
		                    uid);
	if (!rc && sc.rc)
		rc = imap_error_set(err, sc.rc, "the server's BODYSTRUCTURE cannot be read: %s",
		                    imap_strerror(sc.rc));
	if (rc)
		imap_bodystructure_free(out);
	return rc;
}

int imap_message_mark_seen(struct imap_session *s, struct imap_message *m, int64_t deadline,
                           struct imap_error *err)
{
	struct imap_cmd c;
	uid_command(s, &c, "STORE", m->sum.uid, "+FLAGS.SILENT (\\Seen)");
	int rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	if (rc)
		return rc;
	struct imap_summary *sum = &m->sum;
	for (size_t i = 0; i < sum->nflags; i++)
		if (strcasecmp(sum->flags[i], "\\Seen") == 0)
			return 0;
	char **flags = realloc(sum->flags, (sum->nflags + 1) * sizeof *flags);
	if (!flags)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	sum->flags = flags;
	if (!(flags[sum->nflags] = strdup("\\Seen")))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	sum->nflags++;
	return 0;
}
static int on_exists(void *ctx, const struct imap_response *r)
{
	struct structure_ctx *c = ctx;
	const struct imap_value *att;
	if (imap_fetch_attributes(r, &att) == c->uid)
		c->found = true;
	return 0;
}

int imap_content_exists(struct imap_session *s, uint32_t uid, int64_t deadline,
                        struct imap_error *err)
{
	struct imap_cmd c;
	uid_command(s, &c, "FETCH", uid, "(UID)");
	struct structure_ctx sc = {.uid = uid};
	int rc = imap_session_run(s, &c, on_exists, &sc, deadline, err);
	imap_cmd_free(&c);
	if (!rc && !sc.found)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no message with UID %u in this folder",
		                    uid);
	return rc;
}

/* ---- body text ---- */

/* Append part p's fetched bytes raw, decoded (transfer encoding, then
 * charset to UTF-8), to out. */
static int decode_text(const struct imap_body_part *p, const struct imap_buf *raw,
                       struct imap_buf *out)
{
	struct imap_buf bytes;
	imap_buf_init(&bytes, 0);
	const char *enc = p->encoding ? p->encoding : "";
	int rc = imap_cte_decode(imap_cte_parse(enc, strlen(enc)), raw->data, raw->len, &bytes);
	if (!rc) {
		char *charset = NULL;
		rc = imap_mime_param_get(p->params, p->nparams, "charset", &charset);
		if (!rc)
			rc = imap_mime_text_to_utf8(charset, charset ? strlen(charset) : 0, bytes.data,
			                            bytes.len, out);
		free(charset);
	}
	imap_buf_free(&bytes);
	return rc;
}

int imap_message_fetch_text(struct imap_session *s, struct imap_message *m, size_t max,
                            int64_t deadline, struct imap_error *err)
{
	struct imap_body_part_list lists[2] = {{0}, {0}};
	const char *sections[IMAP_SECTIONS_MAX];
	const struct imap_body_part *parts[IMAP_SECTIONS_MAX];
	struct imap_buf *to[IMAP_SECTIONS_MAX];
	size_t n = 0;
	int rc = 0;
	if (!m->structure)
		return 0;
	for (unsigned k = 0; k < 2 && !rc; k++) {
		rc = imap_body_text_parts(&m->structure->root, k ? IMAP_TEXT_HTML : IMAP_TEXT_PLAIN,
		                          &lists[k]);
		for (size_t i = 0; !rc && i < lists[k].n; i++) {
			if (n == IMAP_SECTIONS_MAX) {
				m->text_cut = true;  /* absurdly many text parts: the first are shown */
				break;
			}
			parts[n] = lists[k].v[i];
			sections[n] = lists[k].v[i]->section;
			to[n++] = k ? &m->html : &m->text;
		}
	}
	struct imap_buf raw[IMAP_SECTIONS_MAX];
	for (size_t i = 0; i < n; i++)
		imap_buf_init(&raw[i], 0);
	if (rc)
		rc = imap_error_set(err, rc, "out of memory");
	else
		rc = fetch_sections(s, m->sum.uid, sections, n, max, raw, deadline, err);
	for (size_t i = 0; i < n && !rc; i++) {
		struct imap_buf *out = to[i];
		*(out == &m->html ? &m->has_html : &m->has_text) = true;
		/* Several inline parts read as one text: each starts on its own line. */
		int drc = out->len && out->data[out->len - 1] != '\n' ? imap_buf_puts(out, "\r\n") : 0;
		if (!drc)
			drc = decode_text(parts[i], &raw[i], out);
		if (drc) {
			rc = imap_error_set(err, drc, "cannot decode the body text: %s", imap_strerror(drc));
			break;
		}
		if (raw[i].len < parts[i]->size && raw[i].len >= max) {
			/* Cut by the fetch: a character split there is not the sender's;
			 * drop the replacement it became. */
			m->text_cut = true;
			if (out->len >= 3 && memcmp(out->data + out->len - 3, "\xef\xbf\xbd", 3) == 0)
				out->data[out->len -= 3] = '\0';
		}
	}
	for (size_t i = 0; i < n; i++)
		imap_buf_free(&raw[i]);
	imap_body_part_list_free(&lists[0]);
	imap_body_part_list_free(&lists[1]);
	return rc;
}
