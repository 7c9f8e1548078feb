/*
 * imap/mail/unsubscribe.c — List-Unsubscribe / List-Unsubscribe-Post. See
 * unsubscribe.h.
 *
 * RFC 2369 §2 (List-Unsubscribe is one of these):
 *   list-field = "<" URL ">" *( "," "<" URL ">" )   ; roughly
 *   "...angle brackets... commas... whitespace within the brackets is to
 *   be ignored"; comments in parentheses may follow.
 * RFC 6068 (mailto):
 *   mailtoURI = "mailto:" [ to ] [ hfields ]
 *   to        = addr-spec *("," addr-spec)
 *   hfields   = "?" hfield *( "&" hfield )
 *   hfield    = hfname "=" hfvalue             ; both percent-encoded UTF-8
 * RFC 8058 §3.1:
 *   List-Unsubscribe-Post: List-Unsubscribe=One-Click
 *
 * Real headers break all of this (missing brackets, commas in URLs,
 * folding inside a URL, encoded words), hence the tolerant scanner below.
 * The value is first made into one clean line of UTF-8 by the RFC 2047
 * decoder (only when it needs it), so nothing later has to think about
 * folding, control characters or invalid bytes.
 */
#include "imap/mail/unsubscribe.h"

#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/codec.h"
#include "imap/base/error.h"
#include "imap/mail/charset.h"
#include "imap/mail/rfc2047.h"

static const char one_click_value[] = "List-Unsubscribe=One-Click";

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) starts with `prefix` (lower case), ignoring case. */
static bool has_prefix_ci(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (lower(s[i]) != prefix[i])
			return false;
	return true;
}

static bool is_blank(char c)
{
	return (unsigned char)c <= ' ' || c == 0x7f;
}

/* Ends a bare (unbracketed) entry, and is skipped between entries. */
static bool is_sep(char c)
{
	return is_blank(c) || c == ',' || c == '"' || c == '>';
}

/* Index after the comment that starts at s[i] == '(' (nested, with
 * backslash escapes), or n when it is not closed. */
static size_t skip_comment(const char *s, size_t n, size_t i)
{
	unsigned depth = 0;
	for (; i < n; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')' && --depth == 0) {
			return i + 1;
		}
	}
	return n;
}

enum ctl_policy {
	CTL_SPACE,      /* every control character -> space */
	CTL_KEEP_LINES, /* keep CR, LF, TAB; others -> space */
};

/* Percent-decode s[0..n) (a "%" not followed by two hex digits stands for
 * itself; "+" is a plus, not a space, in mailto), make it valid UTF-8 and
 * apply `ctl`. Returns a new string, or NULL when out of memory. */
static char *pct_decode(const char *s, size_t n, enum ctl_policy ctl)
{
	char *raw = malloc(n + 1);
	struct imap_buf b;
	size_t w = 0;

	if (!raw)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int octet;
		if (s[i] == '%' && i + 2 < n && (octet = imap_hex_octet(s + i + 1)) >= 0) {
			raw[w++] = (char)octet;
			i += 2;
		} else {
			raw[w++] = s[i];
		}
	}
	imap_buf_init(&b, 0);
	int rc = imap_utf8_sanitize(raw, w, &b);
	free(raw);
	if (rc) {
		imap_buf_free(&b);
		return NULL;
	}
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];
		bool keep = ctl == CTL_KEEP_LINES && (c == '\r' || c == '\n' || c == '\t');
		if ((c < 0x20 || c == 0x7f) && !keep)
			b.data[i] = ' ';
	}
	return imap_buf_steal(&b);
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static bool same_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower(*a) != lower(*b))
			return false;
	return *a == *b;
}

static bool same_opt(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Equal URIs: scheme (up to ":") ignoring case, the rest exactly. */
static bool same_uri(const char *a, const char *b)
{
	const char *ca = strchr(a, ':'), *cb = strchr(b, ':');
	if (!ca || !cb || ca - a != cb - b)
		return false;
	for (size_t i = 0; a + i < ca; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return strcmp(ca, cb) == 0;
}

/* The address is safe to put in a header and looks like one. */
static bool plausible_address(const char *a)
{
	const char *at = strchr(a, '@');
	if (!at || at == a || at[1] == '\0')
		return false;
	for (; *a; a++) {
		unsigned char c = (unsigned char)*a;
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"')
			return false;
	}
	return true;
}

static void free_mailto(struct imap_unsub_mailto *m)
{
	free(m->address);
	free(m->subject);
	free(m->body);
	free(m->uri);
	memset(m, 0, sizeof *m);
}

/* Parse the mailto URI u[0..n) (blanks already removed) into *m.
 * Returns 0; 1 when it is unusable (m empty); IMAP_ERR_NOMEM. */
static int parse_mailto(const char *u, size_t n, struct imap_unsub_mailto *m)
{
	size_t p = strlen("mailto:");
	const char *hash = memchr(u, '#', n);
	size_t end = hash ? (size_t)(hash - u) : n;
	const char *q = memchr(u + p, '?', end - p);
	size_t addr_end = q ? (size_t)(q - u) : end;
	char *to = NULL;

	memset(m, 0, sizeof *m);
	if (!(m->uri = dup_n(u, n)) || !(m->address = pct_decode(u + p, addr_end - p, CTL_SPACE)))
		goto nomem;
	for (size_t i = addr_end + 1; q && i < end;) {
		const char *amp = memchr(u + i, '&', end - i);
		size_t f_end = amp ? (size_t)(amp - u) : end;
		const char *eq = memchr(u + i, '=', f_end - i);
		if (eq) {
			const char *name = u + i, *val = eq + 1;
			size_t name_len = (size_t)(eq - name), val_len = (size_t)(u + f_end - val);
			char **slot = NULL;
			enum ctl_policy ctl = CTL_SPACE;
			if (name_len == 7 && has_prefix_ci(name, name_len, "subject")) {
				slot = &m->subject;
			} else if (name_len == 4 && has_prefix_ci(name, name_len, "body")) {
				slot = &m->body;
				ctl = CTL_KEEP_LINES;
			} else if (name_len == 2 && has_prefix_ci(name, name_len, "to")) {
				slot = &to;
			}
			if (slot && !*slot && !(*slot = pct_decode(val, val_len, ctl)))
				goto nomem;
		}
		i = f_end + 1;
	}
	if (m->address[0] == '\0' && to) {
		free(m->address);
		m->address = to;
		to = NULL;
	}
	free(to);
	if (!plausible_address(m->address)) {
		free_mailto(m);
		return 1;
	}
	return 0;
nomem:
	free(to);
	free_mailto(m);
	return IMAP_ERR_NOMEM;
}

/* An http(s) URI needs "//" and a host. */
static bool plausible_http(const char *u, size_t n)
{
	size_t p = has_prefix_ci(u, n, "https:") ? 6 : 5;
	if (n < p + 3 || u[p] != '/' || u[p + 1] != '/')
		return false;
	char c = u[p + 2];
	return c != '/' && c != '?' && c != '#';
}

static int add_http(struct imap_unsubscribe *out, const char *u, size_t n)
{
	char *s = dup_n(u, n);
	if (!s)
		return IMAP_ERR_NOMEM;
	for (size_t i = 0; i < out->n_http; i++) {
		if (same_uri(out->http[i], s)) {
			free(s);
			return 0;
		}
	}
	if (!out->http && !(out->http = calloc(IMAP_UNSUB_ENTRIES_MAX, sizeof *out->http))) {
		free(s);
		return IMAP_ERR_NOMEM;
	}
	out->http[out->n_http++] = s;
	return 0;
}

static int add_mailto(struct imap_unsubscribe *out, const char *u, size_t n)
{
	struct imap_unsub_mailto m;
	int rc = parse_mailto(u, n, &m);
	if (rc)
		return rc > 0 ? 0 : rc;
	for (size_t i = 0; i < out->n_mailto; i++) {
		const struct imap_unsub_mailto *o = &out->mailto[i];
		if (same_ci(o->address, m.address) && same_opt(o->subject, m.subject) &&
		    same_opt(o->body, m.body)) {
			free_mailto(&m);
			return 0;
		}
	}
	if (!out->mailto && !(out->mailto = calloc(IMAP_UNSUB_ENTRIES_MAX, sizeof *out->mailto))) {
		free_mailto(&m);
		return IMAP_ERR_NOMEM;
	}
	out->mailto[out->n_mailto++] = m;
	return 0;
}

/* One entry s[0..n) as found between brackets or separators: blanks are
 * dropped (RFC 2369: whitespace inside the brackets is ignored), then it
 * is kept when it is a usable mailto:, http: or https: URI. */
static int add_entry(struct imap_unsubscribe *out, const char *s, size_t n, bool unclosed)
{
	char *u = malloc(n + 1);
	size_t w = 0;
	int rc = 0;

	if (!u)
		return IMAP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (!is_blank(s[i]))
			u[w++] = s[i];
	/* "<mailto:a@b, <https://..." : the comma belonged to the list. */
	while (unclosed && w > 0 && u[w - 1] == ',')
		w--;
	u[w] = '\0';
	if (has_prefix_ci(u, w, "mailto:"))
		rc = add_mailto(out, u, w);
	else if ((has_prefix_ci(u, w, "https:") || has_prefix_ci(u, w, "http:")) &&
		 plausible_http(u, w))
		rc = add_http(out, u, w);
	free(u);
	return rc;
}

static int scan(struct imap_unsubscribe *out, const char *s, size_t n, bool truncated)
{
	size_t i = 0;

	while (i < n && out->n_mailto + out->n_http < IMAP_UNSUB_ENTRIES_MAX) {
		size_t a, b, next;
		bool unclosed = false;
		if (is_sep(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '(') {
			i = skip_comment(s, n, i);
			continue;
		}
		if (s[i] == '<') {
			a = b = i + 1;
			while (b < n && s[b] != '>' && s[b] != '<')
				b++;
			unclosed = b >= n || s[b] == '<';
			next = b < n && s[b] == '>' ? b + 1 : b;
		} else {
			a = b = i;
			while (b < n && !is_sep(s[b]) && s[b] != '<')
				b++;
			next = b;
		}
		/* An entry that runs into the input limit is incomplete. */
		if (truncated && b >= n)
			break;
		int rc = add_entry(out, s + a, b - a, unclosed);
		if (rc)
			return rc;
		i = next;
	}
	return 0;
}

/* RFC 8058: the Post value is the form body "List-Unsubscribe=One-Click".
 * Accept it among other "&"/";"/","-separated fields, in any case, with
 * blanks, quotes or folding anywhere. */
static bool post_one_click(const char *p, size_t n)
{
	const size_t want = sizeof one_click_value - 1;
	size_t k = 0;
	bool match = true;

	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? p[i] : '&';
		if (c == '&' || c == ';' || c == ',') {
			if (match && k == want)
				return true;
			k = 0;
			match = true;
		} else if (is_blank(c) || c == '"') {
			continue;
		} else if (match && k < want && lower(c) == lower(one_click_value[k])) {
			k++;
		} else {
			match = false;
		}
	}
	return false;
}

int imap_unsubscribe_parse(const char *list_unsubscribe, size_t len, const char *post,
			   size_t post_len, struct imap_unsubscribe *out)
{
	struct imap_buf clean;
	const char *s = list_unsubscribe;
	bool truncated = false;
	int rc = 0;

	memset(out, 0, sizeof *out);
	imap_buf_init(&clean, 0);
	if (!s)
		len = 0;
	if (!post)
		post_len = 0;
	if (len > IMAP_UNSUB_INPUT_MAX) {
		len = IMAP_UNSUB_INPUT_MAX;
		truncated = true;
	}
	if (post_len > IMAP_UNSUB_INPUT_MAX)
		post_len = IMAP_UNSUB_INPUT_MAX;

	if (len && imap_rfc2047_needs_decoding(s, len)) {
		if ((rc = imap_rfc2047_decode(s, len, &clean)) != 0)
			goto done;
		s = clean.data ? clean.data : "";
		len = clean.len;
	}
	if ((rc = scan(out, s, len, truncated)) != 0)
		goto done;
	if (post_len && post_one_click(post, post_len)) {
		if (!(out->post = dup_n(one_click_value, sizeof one_click_value - 1))) {
			rc = IMAP_ERR_NOMEM;
			goto done;
		}
		for (size_t i = 0; i < out->n_http && !out->one_click; i++)
			out->one_click = has_prefix_ci(out->http[i], strlen(out->http[i]), "https:");
	}
done:
	imap_buf_free(&clean);
	if (rc)
		imap_unsubscribe_free(out);
	return rc == IMAP_ERR_LIMIT ? IMAP_ERR_NOMEM : rc;
}

void imap_unsubscribe_free(struct imap_unsubscribe *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n_mailto; i++)
		free_mailto(&u->mailto[i]);
	free(u->mailto);
	for (size_t i = 0; i < u->n_http; i++)
		free(u->http[i]);
	free(u->http);
	free(u->post);
	memset(u, 0, sizeof *u);
}

const char *imap_unsubscribe_preferred(const struct imap_unsubscribe *u)
{
	if (!u)
		return NULL;
	if (u->n_mailto)
		return u->mailto[0].uri;
	for (size_t i = 0; i < u->n_http; i++)
		if (has_prefix_ci(u->http[i], strlen(u->http[i]), "https:"))
			return u->http[i];
	return NULL;
}
