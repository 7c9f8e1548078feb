/*
 * imap/mail/authres.c — DKIM-Signature tag lists and Authentication-Results.
 * See authres.h.
 *
 * Both fields arrive from anyone on the path, so every step here is
 * bounded: values past IMAP_AUTH_FIELD_MAX are refused whole, names and
 * domains past their limits make the entry unusable, and nothing is
 * allocated (results live in fixed arrays of the caller's struct).
 */
#include "imap/mail/authres.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "imap/base/error.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the lower-case C string w, ignoring case. */
static bool eq_ci(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);
	if (n != k)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != w[i])
			return false;
	return true;
}

/* A domain name as DKIM and A-R write it: labels of letters, digits, "-"
 * and "_" separated by single dots (a trailing dot dropped), into out in
 * lower case. False for anything else. */
static bool domain_copy(const char *s, size_t n, char out[IMAP_AUTH_DOMAIN_MAX + 1])
{
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > IMAP_AUTH_DOMAIN_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.' ? s[i - 1] == '.' : !(is_alpha(c) || is_digit(c) || c == '-' || c == '_'))
			return false;
		out[i] = lower(c);
	}
	out[n] = '\0';
	return true;
}

/* ---- DKIM-Signature ---- */

/* The h= value: hdr-name *( [FWS] ":" [FWS] hdr-name ). Sets the covers
 * flags; *from when From is named. False when a name is empty or not a
 * field name (RFC 5322 ftext: %d33-57 / %d59-126). */
static bool h_tag(const char *v, size_t n, struct imap_dkim_sig *out, bool *from)
{
	size_t i = 0;
	for (;;) {
		while (i < n && is_wsp(v[i]))
			i++;
		size_t a = i;
		while (i < n && v[i] != ':' && !is_wsp(v[i])) {
			unsigned char c = (unsigned char)v[i];
			if (c < 33 || c > 126)
				return false;
			i++;
		}
		size_t b = i;
		while (i < n && is_wsp(v[i]))
			i++;
		if (b == a)
			return false;
		if (eq_ci(v + a, b - a, "from"))
			*from = true;
		else if (eq_ci(v + a, b - a, "list-unsubscribe"))
			out->covers_unsubscribe = true;
		else if (eq_ci(v + a, b - a, "list-unsubscribe-post"))
			out->covers_unsubscribe_post = true;
		if (i == n)
			return true;
		if (v[i] != ':')
			return false;
		i++;
	}
}

int imap_dkim_signature_parse(const char *v, size_t len, struct imap_dkim_sig *out)
{
	/* tags that must be there, each at most once */
	static const char *const names[] = {"v", "a", "b", "bh", "d", "s", "h"};
	enum { NTAGS = sizeof names / sizeof names[0] };
	bool seen[NTAGS] = {0};
	bool from = false, ok = true;
	/* other tags (c, i, l, q, t, x, z and future ones) may appear once each;
	 * a short table catches a repeated one */
	char others[16][8];
	size_t nothers = 0;
	memset(out, 0, sizeof *out);
	if (!v || len > IMAP_AUTH_FIELD_MAX)
		return IMAP_ERR_INVALID;
	size_t i = 0;
	while (ok && i < len) {
		while (i < len && is_wsp(v[i]))
			i++;
		if (i == len)
			break;
		/* tag-name */
		size_t a = i;
		if (!is_alpha(v[i]))
			return memset(out, 0, sizeof *out), IMAP_ERR_INVALID;
		while (i < len && (is_alpha(v[i]) || is_digit(v[i]) || v[i] == '_'))
			i++;
		size_t an = i - a;
		while (i < len && is_wsp(v[i]))
			i++;
		if (i == len || v[i] != '=')
			return memset(out, 0, sizeof *out), IMAP_ERR_INVALID;
		i++;
		/* tag-value: up to ";", blanks at both ends dropped */
		while (i < len && is_wsp(v[i]))
			i++;
		size_t b = i;
		while (i < len && v[i] != ';') {
			unsigned char c = (unsigned char)v[i];
			if (!is_wsp(v[i]) && (c < 0x21 || c > 0x7e))
				return memset(out, 0, sizeof *out), IMAP_ERR_INVALID;
			i++;
		}
		size_t e = i;
		while (e > b && is_wsp(v[e - 1]))
			e--;
		if (i < len)
			i++;  /* the ";" */
		size_t k = 0;
		while (k < NTAGS && !eq_ci(v + a, an, names[k]))
			k++;
		if (k < NTAGS) {
			if (seen[k] || !(an == strlen(names[k]) && memcmp(v + a, names[k], an) == 0))
				ok = false;  /* twice, or in upper case (tag names are case-sensitive) */
			seen[k] = true;
		} else {
			for (size_t o = 0; ok && o < nothers; o++)
				if (strlen(others[o]) == an && memcmp(others[o], v + a, an) == 0)
					ok = false;
			if (ok && an < sizeof others[0] && nothers < sizeof others / sizeof others[0]) {
				memcpy(others[nothers], v + a, an);
				others[nothers++][an] = '\0';
			}
		}
		if (!ok)
			break;
		if (k == 0)
			ok = e - b == 1 && v[b] == '1';
		else if (k == 4)
			ok = domain_copy(v + b, e - b, out->domain);
		else if (k == 6)
			ok = h_tag(v + b, e - b, out, &from);
		else if (k < NTAGS)
			ok = e > b;  /* a=, b=, bh=, s=: an empty b= signs nothing */
	}
	for (size_t k = 0; ok && k < NTAGS; k++)
		ok = seen[k];
	if (!ok || !from) {
		memset(out, 0, sizeof *out);
		return IMAP_ERR_INVALID;
	}
	return 0;
}

/* ---- Authentication-Results ---- */

/* A cursor over a value with comments taken as blanks. */
struct lex {
	const char *s;
	size_t n, i;
};

/* Skip blanks and comments "( ... )" (nested, "\" quoting one character).
 * An unclosed comment runs to the end. */
static void cfws(struct lex *x)
{
	while (x->i < x->n) {
		if (is_wsp(x->s[x->i])) {
			x->i++;
			continue;
		}
		if (x->s[x->i] != '(')
			return;
		unsigned depth = 0;
		while (x->i < x->n) {
			char c = x->s[x->i++];
			if (c == '\\' && x->i < x->n)
				x->i++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				break;
		}
	}
}

/* RFC 2045 token characters: printable US-ASCII but specials and blanks. */
static bool is_token(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 32 && u < 127 && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* A Keyword (RFC 8601: ALPHA / DIGIT / "-" / "_", letters first, also
 * "." in property names as written by some servers is not accepted). */
static bool keyword(struct lex *x, const char **w, size_t *wn)
{
	size_t a = x->i;
	while (x->i < x->n && (is_alpha(x->s[x->i]) || is_digit(x->s[x->i]) || x->s[x->i] == '-' ||
	                       x->s[x->i] == '_'))
		x->i++;
	*w = x->s + a;
	*wn = x->i - a;
	return *wn > 0;
}

/* value = token / quoted-string; a pvalue may also hold "@" and "."
 * (local-part "@" domain), which `pvalue` allows. The content (quotes
 * removed, quoted pairs kept as written) in *w, *wn. */
static bool value(struct lex *x, bool pvalue, const char **w, size_t *wn)
{
	if (x->i < x->n && x->s[x->i] == '"') {
		size_t a = ++x->i;
		while (x->i < x->n && x->s[x->i] != '"') {
			if (x->s[x->i] == '\\')
				x->i++;
			x->i++;
		}
		if (x->i >= x->n)
			return false;
		*w = x->s + a;
		*wn = x->i - a;
		x->i++;
		return true;
	}
	size_t a = x->i;
	while (x->i < x->n && (is_token(x->s[x->i]) || (pvalue && x->s[x->i] == '@')))
		x->i++;
	*w = x->s + a;
	*wn = x->i - a;
	return *wn > 0;
}

static bool at(struct lex *x, char c)
{
	cfws(x);
	if (x->i < x->n && x->s[x->i] == c) {
		x->i++;
		cfws(x);
		return true;
	}
	return false;
}

/* Skip to the next ";" outside quotes and comments (or the end). */
static void skip_resinfo(struct lex *x)
{
	while (x->i < x->n && x->s[x->i] != ';') {
		if (x->s[x->i] == '(') {
			cfws(x);
			continue;
		}
		if (x->s[x->i] == '"') {
			const char *w;
			size_t wn;
			if (!value(x, false, &w, &wn))
				x->i = x->n;
			continue;
		}
		x->i++;
	}
}

/* One resinfo after its ";": a dkim result and its header.d / header.i
 * go into *out. False when it does not follow the grammar. */
static bool resinfo(struct lex *x, struct imap_authres *out)
{
	const char *w, *method, *result;
	size_t wn, mn, rn;
	cfws(x);
	if (!keyword(x, &method, &mn))
		return false;
	if (at(x, '/')) {
		if (!keyword(x, &w, &wn))
			return false;
	}
	if (!at(x, '=') || !keyword(x, &result, &rn))
		return false;
	char dom[IMAP_AUTH_DOMAIN_MAX + 1] = "", idom[IMAP_AUTH_DOMAIN_MAX + 1] = "";
	for (;;) {
		cfws(x);
		if (x->i == x->n || x->s[x->i] == ';')
			break;
		const char *ptype, *prop;
		size_t pn, qn;
		if (!keyword(x, &ptype, &pn))
			return false;
		if (at(x, '=')) {  /* reasonspec, or a property without a ptype */
			if (!value(x, false, &w, &wn))
				return false;
			continue;
		}
		if (!at(x, '.') || !keyword(x, &prop, &qn) || !at(x, '=') || !value(x, true, &w, &wn))
			return false;
		if (!eq_ci(ptype, pn, "header"))
			continue;
		if (eq_ci(prop, qn, "d")) {
			if (!domain_copy(w, wn, dom))
				dom[0] = '\0';
		} else if (eq_ci(prop, qn, "i")) {
			const char *a = memchr(w, '@', wn);
			size_t off = a ? (size_t)(a - w) + 1 : 0;
			if (!domain_copy(w + off, wn - off, idom))
				idom[0] = '\0';
		}
	}
	if (!eq_ci(method, mn, "dkim"))
		return true;
	const char *d = dom[0] ? dom : idom;
	if (!d[0])
		return true;
	bool pass = eq_ci(result, rn, "pass");
	size_t *n = pass ? &out->n_pass : &out->n_other;
	char(*list)[IMAP_AUTH_DOMAIN_MAX + 1] = pass ? out->dkim_pass : out->dkim_other;
	if (*n < IMAP_AUTHRES_PASS_MAX)
		strcpy(list[(*n)++], d);
	return true;
}

int imap_authres_parse(const char *v, size_t len, struct imap_authres *out)
{
	memset(out, 0, sizeof *out);
	if (!v || len > IMAP_AUTH_FIELD_MAX)
		return IMAP_ERR_INVALID;
	struct lex x = {v, len, 0};
	const char *w;
	size_t wn;
	cfws(&x);
	/* authserv-id = value; written as a domain in practice, but a token
	 * or quoted string is allowed */
	if (!value(&x, true, &w, &wn) || wn > IMAP_AUTH_DOMAIN_MAX)
		return memset(out, 0, sizeof *out), IMAP_ERR_INVALID;
	for (size_t k = 0; k < wn; k++) {
		unsigned char c = (unsigned char)w[k];
		if (c < 0x21 || c == 0x7f)
			return memset(out, 0, sizeof *out), IMAP_ERR_INVALID;
		out->authserv_id[k] = w[k];
	}
	out->authserv_id[wn] = '\0';
	cfws(&x);
	/* an authres-version (digits) may follow */
	while (x.i < x.n && is_digit(x.s[x.i]))
		x.i++;
	while (x.i < x.n) {
		skip_resinfo(&x);
		if (x.i == x.n)
			break;
		x.i++;  /* ";" */
		size_t start = x.i;
		if (!resinfo(&x, out)) {
			x.i = start;
			skip_resinfo(&x);
		}
	}
	return 0;
}

/* ---- trust ---- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

/* The newer of libpsl's built-in list and the system's (Debian's
 * publicsuffix package), read once; NULL when neither is there. */
static void psl_load(void)
{
	psl = psl_latest(NULL);
	if (!psl)
		psl = psl_builtin();
}

bool imap_dkim_public_suffix(const char *d)
{
	char low[IMAP_AUTH_DOMAIN_MAX + 1];
	size_t n = d ? strlen(d) : 0;
	if (n == 0 || n > IMAP_AUTH_DOMAIN_MAX || !strchr(d, '.'))
		return true;  /* empty, overlong, or one label: a TLD at best */
	for (size_t i = 0; i <= n; i++)
		low[i] = d[i] >= 'A' && d[i] <= 'Z' ? (char)(d[i] - 'A' + 'a') : d[i];
	pthread_once(&psl_once, psl_load);
	/* PSL_TYPE_ANY: the ICANN and the private section; with the list's
	 * implicit "*" rule, so a label the list does not know is a suffix */
	return psl && psl_is_public_suffix2(psl, low, PSL_TYPE_ANY);
}

bool imap_dkim_aligned(const char *from_domain, const char *d)
{
	if (!from_domain || !d || imap_dkim_public_suffix(d))
		return false;
	size_t fl = strlen(from_domain), dl = strlen(d);
	if (fl == dl)
		return strcasecmp(from_domain, d) == 0;
	return fl > dl && from_domain[fl - dl - 1] == '.' &&
	       strcasecmp(from_domain + fl - dl, d) == 0;
}

static bool trusted_id(const char *id, const char *const *trusted, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (trusted[i] && strcasecmp(trusted[i], id) == 0)
			return true;
	return false;
}

#define SIGS_MAX 8  /* DKIM-Signature fields looked at per message */

void imap_sender_trust_eval(const struct imap_mime_header *h, const char *const *trusted,
                            size_t ntrusted, const char *from_domain,
                            struct imap_sender_trust *out)
{
	struct imap_dkim_sig sigs[SIGS_MAX];
	size_t nsigs = 0;
	/* the domains trusted results name, passing or not */
	char pass[IMAP_AUTHRES_PASS_MAX][IMAP_AUTH_DOMAIN_MAX + 1];
	size_t npass = 0;
	bool any_result = false;
	memset(out, 0, sizeof *out);
	for (size_t i = 0; h && i < h->n; i++) {
		const char *name = h->v[i].name, *val = h->v[i].value;
		if (strcmp(name, "dkim-signature") == 0 && nsigs < SIGS_MAX) {
			if (imap_dkim_signature_parse(val, strlen(val), &sigs[nsigs]) == 0)
				nsigs++;
		} else if (strcmp(name, "authentication-results") == 0) {
			struct imap_authres ar;
			if (imap_authres_parse(val, strlen(val), &ar) ||
			    !trusted_id(ar.authserv_id, trusted, ntrusted))
				continue;
			any_result |= ar.n_pass || ar.n_other;
			for (size_t k = 0; k < ar.n_pass; k++) {
				out->dkim_pass = true;
				if (imap_dkim_aligned(from_domain, ar.dkim_pass[k]))
					out->aligned = true;
				if (npass < IMAP_AUTHRES_PASS_MAX)
					strcpy(pass[npass++], ar.dkim_pass[k]);
			}
		}
	}
	for (size_t s = 0; s < nsigs && !out->dkim_covers_unsubscribe; s++) {
		if (!sigs[s].covers_unsubscribe || !sigs[s].covers_unsubscribe_post)
			continue;
		bool verified = !any_result;
		for (size_t k = 0; k < npass && !verified; k++)
			verified = strcmp(pass[k], sigs[s].domain) == 0;
		out->dkim_covers_unsubscribe = verified;
	}
}
