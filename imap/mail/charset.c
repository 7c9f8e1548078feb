/*
 * imap/mail/charset.c — MIME charsets -> UTF-8. See charset.h for the contracts.
 *
 * UTF-8, windows-1252 (which also serves ISO-8859-1, as in the WHATWG
 * Encoding Standard: the C1 bytes 0x80..0x9f in "Latin-1" mail are Windows
 * punctuation far more often than control characters) and the guessing
 * path are done here without iconv: they are the common case and the
 * fallbacks, so they must not depend on which gconv modules are installed.
 * Everything else goes through iconv(3). Each thread keeps the few
 * descriptors it used last (cd_get): glibc unloads a converter module when
 * its last descriptor is closed, so opening per call meant a dlopen and a
 * dlclose (and the TLB shootdowns of its munmap) for nearly every header
 * in a foreign charset. A descriptor is only ever used by the thread that
 * opened it.
 */
#include "imap/mail/charset.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/codec.h"
#include "imap/base/error.h"
#include "imap/mail/utf7.h"

/* Longest charset label we look at; real ones are under 30 characters. */
#define LABEL_MAX 40

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char replacement[3] = { '\xef', '\xbf', '\xbd' };

enum cs_kind {
	CS_ICONV,  /* convert with iconv */
	CS_UTF8,   /* UTF-8: invalid sequences -> U+FFFD */
	CS_CP1252, /* windows-1252, also for ISO-8859-1 */
	CS_GUESS,  /* unknown or US-ASCII: UTF-8 when valid, else windows-1252 */
};

struct cs_spec {
	enum cs_kind kind;
	char name[LABEL_MAX + 16]; /* iconv name (CS_ICONV) */
	const char *fallback;      /* tried when iconv lacks `name`; may be NULL */
	bool ascii_ok;             /* US-ASCII bytes stand for themselves */
};

struct cs_alias {
	const char *label; /* lower case */
	enum cs_kind kind;
	const char *name;     /* iconv name for CS_ICONV */
	const char *fallback; /* older or narrower iconv name, or NULL */
	bool ascii_ok;
};

/*
 * Labels seen in real mail that iconv does not know, spells differently,
 * or that are better read as a superset. Names not found here (nor matched
 * by the ISO-8859 and windows-125x patterns below) go to iconv as they are.
 */
static const struct cs_alias aliases[] = {
	{ "utf-8", CS_UTF8, NULL, NULL, true },
	{ "utf8", CS_UTF8, NULL, NULL, true },
	{ "unicode-1-1-utf-8", CS_UTF8, NULL, NULL, true },
	{ "unicode-2-0-utf-8", CS_UTF8, NULL, NULL, true },
	{ "x-unicode20utf8", CS_UTF8, NULL, NULL, true },

	{ "us-ascii", CS_GUESS, NULL, NULL, true },
	{ "ascii", CS_GUESS, NULL, NULL, true },
	{ "us", CS_GUESS, NULL, NULL, true },
	{ "ansi_x3.4-1968", CS_GUESS, NULL, NULL, true },
	{ "ansi_x3.4-1986", CS_GUESS, NULL, NULL, true },
	{ "iso646-us", CS_GUESS, NULL, NULL, true },
	{ "iso-ir-6", CS_GUESS, NULL, NULL, true },
	{ "csascii", CS_GUESS, NULL, NULL, true },
	{ "cp367", CS_GUESS, NULL, NULL, true },
	{ "ibm367", CS_GUESS, NULL, NULL, true },
	{ "x-user-defined", CS_GUESS, NULL, NULL, true },
	{ "unknown", CS_GUESS, NULL, NULL, true },
	{ "unknown-8bit", CS_GUESS, NULL, NULL, true },
	{ "x-unknown", CS_GUESS, NULL, NULL, true },
	{ "default", CS_GUESS, NULL, NULL, true },
	{ "none", CS_GUESS, NULL, NULL, true },

	{ "latin1", CS_CP1252, NULL, NULL, true },
	{ "latin-1", CS_CP1252, NULL, NULL, true },
	{ "l1", CS_CP1252, NULL, NULL, true },
	{ "iso-ir-100", CS_CP1252, NULL, NULL, true },
	{ "csisolatin1", CS_CP1252, NULL, NULL, true },
	{ "ibm819", CS_CP1252, NULL, NULL, true },
	{ "cp819", CS_CP1252, NULL, NULL, true },

	{ "ks_c_5601-1987", CS_ICONV, "CP949", "EUC-KR", true },
	{ "ks_c_5601-1989", CS_ICONV, "CP949", "EUC-KR", true },
	{ "ks_c_5601", CS_ICONV, "CP949", "EUC-KR", true },
	{ "ksc5601", CS_ICONV, "CP949", "EUC-KR", true },
	{ "ksc_5601", CS_ICONV, "CP949", "EUC-KR", true },
	{ "csksc56011987", CS_ICONV, "CP949", "EUC-KR", true },
	{ "iso-ir-149", CS_ICONV, "CP949", "EUC-KR", true },
	{ "korean", CS_ICONV, "CP949", "EUC-KR", true },
	{ "euc-kr", CS_ICONV, "CP949", "EUC-KR", true },
	{ "euckr", CS_ICONV, "CP949", "EUC-KR", true },
	{ "cseuckr", CS_ICONV, "CP949", "EUC-KR", true },
	{ "cp949", CS_ICONV, "CP949", "EUC-KR", true },
	{ "windows-949", CS_ICONV, "CP949", "EUC-KR", true },
	{ "x-windows-949", CS_ICONV, "CP949", "EUC-KR", true },
	{ "uhc", CS_ICONV, "CP949", "EUC-KR", true },

	{ "gb2312", CS_ICONV, "GB18030", "GBK", true },
	{ "gb_2312", CS_ICONV, "GB18030", "GBK", true },
	{ "gb_2312-80", CS_ICONV, "GB18030", "GBK", true },
	{ "gb-2312", CS_ICONV, "GB18030", "GBK", true },
	{ "csgb2312", CS_ICONV, "GB18030", "GBK", true },
	{ "iso-ir-58", CS_ICONV, "GB18030", "GBK", true },
	{ "chinese", CS_ICONV, "GB18030", "GBK", true },
	{ "euc-cn", CS_ICONV, "GB18030", "GBK", true },
	{ "euccn", CS_ICONV, "GB18030", "GBK", true },
	{ "x-euc-cn", CS_ICONV, "GB18030", "GBK", true },
	{ "gbk", CS_ICONV, "GB18030", "GBK", true },
	{ "x-gbk", CS_ICONV, "GB18030", "GBK", true },
	{ "cp936", CS_ICONV, "GB18030", "GBK", true },
	{ "ms936", CS_ICONV, "GB18030", "GBK", true },
	{ "windows-936", CS_ICONV, "GB18030", "GBK", true },
	{ "gb18030", CS_ICONV, "GB18030", NULL, true },

	{ "big5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "big-5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "big5-hkscs", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "cn-big5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "csbig5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "x-big5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "x-x-big5", CS_ICONV, "BIG5-HKSCS", "BIG5", true },
	{ "cp950", CS_ICONV, "CP950", "BIG5", true },
	{ "windows-950", CS_ICONV, "CP950", "BIG5", true },

	{ "shift_jis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "shift-jis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "x-sjis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "sjis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "x-shift_jis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "ms_kanji", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "csshiftjis", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "windows-31j", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "cp932", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "ms932", CS_ICONV, "CP932", "SHIFT_JIS", true },
	{ "x-ms-cp932", CS_ICONV, "CP932", "SHIFT_JIS", true },

	{ "iso-2022-jp", CS_ICONV, "ISO-2022-JP-2", "ISO-2022-JP", false },
	{ "csiso2022jp", CS_ICONV, "ISO-2022-JP-2", "ISO-2022-JP", false },
	{ "iso-2022-jp-1", CS_ICONV, "ISO-2022-JP-2", "ISO-2022-JP", false },
	{ "iso-2022-jp-2", CS_ICONV, "ISO-2022-JP-2", "ISO-2022-JP", false },
	{ "euc-jp", CS_ICONV, "EUC-JP", NULL, true },
	{ "x-euc-jp", CS_ICONV, "EUC-JP", NULL, true },
	{ "eucjp", CS_ICONV, "EUC-JP", NULL, true },

	{ "utf-7", CS_ICONV, "UTF-7", NULL, false },
	{ "utf7", CS_ICONV, "UTF-7", NULL, false },
	{ "unicode-1-1-utf-7", CS_ICONV, "UTF-7", NULL, false },
	{ "unicode-2-0-utf-7", CS_ICONV, "UTF-7", NULL, false },
	{ "x-unicode-2-0-utf-7", CS_ICONV, "UTF-7", NULL, false },
	{ "csunicode11utf7", CS_ICONV, "UTF-7", NULL, false },

	{ "koi8-r", CS_ICONV, "KOI8-R", NULL, true },
	{ "koi8r", CS_ICONV, "KOI8-R", NULL, true },
	{ "koi8", CS_ICONV, "KOI8-R", NULL, true },
	{ "cskoi8r", CS_ICONV, "KOI8-R", NULL, true },
	{ "koi8-u", CS_ICONV, "KOI8-U", NULL, true },
	{ "koi8u", CS_ICONV, "KOI8-U", NULL, true },

	{ "tis-620", CS_ICONV, "CP874", "TIS-620", true },
	{ "windows-874", CS_ICONV, "CP874", "TIS-620", true },
	{ "cp874", CS_ICONV, "CP874", "TIS-620", true },
	{ "x-mac-roman", CS_ICONV, "MACINTOSH", NULL, true },
	{ "macintosh", CS_ICONV, "MACINTOSH", NULL, true },
	{ "mac", CS_ICONV, "MACINTOSH", NULL, true },
	{ "macroman", CS_ICONV, "MACINTOSH", NULL, true },
};

static const uint16_t cp1252_c1[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static uint32_t cp1252_char(unsigned char c)
{
	if (c == 0)
		return 0xfffd;
	if (c >= 0x80 && c <= 0x9f)
		return cp1252_c1[c - 0x80];
	return c;
}

/* Well-formed UTF-8 (NUL allowed). */
static bool is_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, bad;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = imap_utf8_seq((const char *)s + i, len - i, &bad);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static bool has_8bit(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return true;
	return false;
}

enum bad_mode {
	BAD_FFFD,   /* one U+FFFD per maximal subpart */
	BAD_CP1252, /* each stray byte read as windows-1252 */
};

/* Copy well-formed UTF-8, repairing the rest as `mode` says; NUL -> U+FFFD.
 * Runs of good bytes are appended in one piece. */
static int utf8_copy(const unsigned char *s, size_t len, struct imap_buf *out,
		     enum bad_mode mode)
{
	size_t i = 0, run = 0;
	int rc;

	while (i < len) {
		unsigned char c = s[i];
		size_t bad = 1;
		if (c != 0 && c < 0x80) {
			i++;
			continue;
		}
		if (c != 0) {
			size_t n = imap_utf8_seq((const char *)s + i, len - i, &bad);
			if (n) {
				i += n;
				continue;
			}
		}
		if ((rc = imap_buf_append(out, s + run, i - run)) != 0)
			return rc;
		if (c != 0 && mode == BAD_CP1252) {
			rc = imap_utf8_put(out, cp1252_char(c));
			bad = 1;
		} else {
			rc = imap_buf_append(out, replacement, sizeof replacement);
		}
		if (rc)
			return rc;
		i += bad;
		run = i;
	}
	return imap_buf_append(out, s + run, len - run);
}

static int cp1252_copy(const unsigned char *s, size_t len, struct imap_buf *out)
{
	size_t i = 0, run = 0;
	int rc;

	while (i < len) {
		if (s[i] != 0 && s[i] < 0x80) {
			i++;
			continue;
		}
		if ((rc = imap_buf_append(out, s + run, i - run)) != 0)
			return rc;
		if ((rc = imap_utf8_put(out, cp1252_char(s[i]))) != 0)
			return rc;
		run = ++i;
	}
	return imap_buf_append(out, s + run, len - run);
}

static int guess_copy(const unsigned char *s, size_t len, struct imap_buf *out)
{
	if (is_utf8(s, len))
		return utf8_copy(s, len, out, BAD_FFFD); /* only NUL to replace */
	return cp1252_copy(s, len, out);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_trim(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'';
}

/* Characters a label may hold. Anything else ("/" would reach iconv's
 * "//TRANSLIT" suffix syntax) makes the label unknown. */
static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.' || c == ':' || c == '+';
}

/* Lower-cased label in dst (LABEL_MAX + 1 bytes): RFC 2231 "*lang" cut,
 * blanks and quotes trimmed. Returns its length; 0 when it is empty or
 * unusable (too long, odd characters). */
static size_t normalize_label(const char *cs, size_t n, char *dst)
{
	const char *star = n ? memchr(cs, '*', n) : NULL;
	if (star)
		n = (size_t)(star - cs);
	size_t a = 0, b = n;
	while (a < b && is_trim(cs[a]))
		a++;
	while (b > a && is_trim(cs[b - 1]))
		b--;
	if (b - a > LABEL_MAX)
		return 0;
	size_t k = 0;
	for (size_t i = a; i < b; i++) {
		char c = lower(cs[i]);
		if (!label_char(c))
			return 0;
		dst[k++] = c;
	}
	dst[k] = '\0';
	return k;
}

static bool skip_prefix(const char **p, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(*p, prefix, n) != 0)
		return false;
	*p += n;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "iso-8859-2", "iso8859-2", "iso_8859-2:1987", "iso88592", "iso-8859-8-i".
 * Returns the part number, or 0. */
static int iso8859_part(const char *label)
{
	const char *p = label;
	if (!skip_prefix(&p, "iso"))
		return 0;
	if (*p == '-' || *p == '_')
		p++;
	if (!skip_prefix(&p, "8859"))
		return 0;
	if (*p == '-' || *p == '_')
		p++;
	if (!is_digit(*p))
		return 0;
	int part = *p++ - '0';
	if (is_digit(*p))
		part = part * 10 + (*p++ - '0');
	if (*p != '\0' && *p != ':' && strcmp(p, "-i") != 0 && strcmp(p, "-e") != 0)
		return 0;
	if (part < 1 || part > 16 || part == 12)
		return 0;
	return part;
}

/* "windows-1251", "cp1251", "win-1251", "x-cp1251". Returns 1250..1258 or 0. */
static int windows_page(const char *label)
{
	const char *p = label;
	if (!skip_prefix(&p, "windows-") && !skip_prefix(&p, "windows") &&
	    !skip_prefix(&p, "win-") && !skip_prefix(&p, "x-cp") && !skip_prefix(&p, "cp-") &&
	    !skip_prefix(&p, "cp"))
		return 0;
	if (strncmp(p, "125", 3) != 0 || p[3] < '0' || p[3] > '8' || p[4] != '\0')
		return 0;
	return 1250 + (p[3] - '0');
}

static void resolve(const char *cs, size_t cs_len, struct cs_spec *sp)
{
	char label[LABEL_MAX + 1];
	size_t n = normalize_label(cs, cs_len, label);

	memset(sp, 0, sizeof *sp);
	sp->kind = CS_GUESS;
	if (n == 0)
		return;
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcmp(label, aliases[i].label) != 0)
			continue;
		sp->kind = aliases[i].kind;
		if (aliases[i].name)
			strcpy(sp->name, aliases[i].name);
		sp->fallback = aliases[i].fallback;
		sp->ascii_ok = aliases[i].ascii_ok;
		return;
	}
	int part = iso8859_part(label);
	if (part == 1) {
		sp->kind = CS_CP1252;
		return;
	}
	if (part) {
		sp->kind = CS_ICONV;
		sp->ascii_ok = true;
		snprintf(sp->name, sizeof sp->name, "ISO-8859-%d", part);
		return;
	}
	int page = windows_page(label);
	if (page == 1252) {
		sp->kind = CS_CP1252;
		return;
	}
	if (page) {
		sp->kind = CS_ICONV;
		sp->ascii_ok = true;
		snprintf(sp->name, sizeof sp->name, "WINDOWS-%d", page);
		return;
	}
	/* Unknown to us: let iconv decide; "x-foo" may be known as "foo". */
	sp->kind = CS_ICONV;
	memcpy(sp->name, label, n + 1);
}

/* At least 16 free bytes (fewer only when out->max allows no more). */
static int make_room(struct imap_buf *out, size_t hint)
{
	size_t avail = out->data ? out->cap - out->len : 0;
	if (avail >= 16)
		return 0;
	size_t room = out->max - out->len;
	if (room <= avail)
		return out->data ? 0 : IMAP_ERR_LIMIT;
	size_t want = hint < 64 ? 64 : hint;
	if (want > room)
		want = room;
	return imap_buf_reserve(out, want);
}

/*
 * Run iconv over the whole input, writing straight into out's storage.
 * EILSEQ: U+FFFD, skip one byte, go on. EINVAL (input ends inside a
 * character): U+FFFD and stop. Then flush, so stateful encodings
 * (ISO-2022-JP) emit what they still hold.
 */
static int convert(iconv_t cd, const char *in, size_t len, struct imap_buf *out, size_t *bad)
{
	char *ip = (char *)(uintptr_t)in; /* iconv(3) takes char ** but does not write */
	size_t il = len;
	bool flushing = false;
	int rc;

	for (;;) {
		if ((rc = make_room(out, il + il / 2)) != 0)
			return rc;
		char *op = out->data + out->len;
		size_t ol = out->cap - out->len;
		char *op0 = op;
		size_t il0 = il;
		size_t r = flushing ? iconv(cd, NULL, NULL, &op, &ol) : iconv(cd, &ip, &il, &op, &ol);
		int err = errno;
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1) {
			if (flushing)
				return 0;
			flushing = true;
			continue;
		}
		if (err == E2BIG) {
			if (op == op0 && il == il0) {
				/* No progress although we made room: grow for real. */
				if ((rc = imap_buf_reserve(out, out->cap - out->len + 64)) != 0)
					return rc;
			}
			continue;
		}
		if (flushing)
			return 0;
		if ((rc = imap_buf_append(out, replacement, sizeof replacement)) != 0)
			return rc;
		(*bad)++;
		if (err == EILSEQ && il > 0) {
			ip++;
			il--;
		} else {
			il = 0; /* EINVAL: truncated character at the end */
		}
	}
}

/* ---- per-thread iconv descriptors ---- */

#define CD_CACHE 8 /* charsets a thread keeps open */

struct cd_slot {
	char name[LABEL_MAX + 1];
	iconv_t cd;
	unsigned long used; /* for least-recently-used eviction; 0: empty */
};

struct cd_cache {
	struct cd_slot v[CD_CACHE];
	unsigned long clock;
};

static pthread_key_t cd_key;
static pthread_once_t cd_once = PTHREAD_ONCE_INIT;
static bool cd_key_ok;

static void cd_cache_free(void *p)
{
	struct cd_cache *c = p;
	for (size_t i = 0; i < CD_CACHE; i++)
		if (c->v[i].used)
			iconv_close(c->v[i].cd);
	free(c);
}

static void cd_key_init(void)
{
	cd_key_ok = pthread_key_create(&cd_key, cd_cache_free) == 0;
}

/* This thread's cache, or NULL when it cannot have one. */
static struct cd_cache *cd_cache(void)
{
	pthread_once(&cd_once, cd_key_init);
	if (!cd_key_ok)
		return NULL;
	struct cd_cache *c = pthread_getspecific(cd_key);
	if (!c && (c = calloc(1, sizeof *c)) && pthread_setspecific(cd_key, c) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

/* A descriptor from `name` to UTF-8 in its initial state, or (iconv_t)-1
 * with errno set. *owned says whether the caller must close it (when it
 * could not be cached). */
static iconv_t cd_get(const char *name, bool *owned)
{
	struct cd_cache *c = strlen(name) <= LABEL_MAX ? cd_cache() : NULL;
	*owned = !c;
	if (!c)
		return iconv_open("UTF-8", name);
	struct cd_slot *victim = &c->v[0];
	for (size_t i = 0; i < CD_CACHE; i++) {
		struct cd_slot *sl = &c->v[i];
		if (sl->used && strcmp(sl->name, name) == 0) {
			sl->used = ++c->clock;
			iconv(sl->cd, NULL, NULL, NULL, NULL); /* back to the initial state */
			return sl->cd;
		}
		if (sl->used < victim->used)
			victim = sl;
	}
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return cd;
	if (victim->used)
		iconv_close(victim->cd);
	snprintf(victim->name, sizeof victim->name, "%s", name);
	victim->cd = cd;
	victim->used = ++c->clock;
	return cd;
}

/* Charsets that text labelled with the first one often really is in, when
 * the bytes are not valid in the label (mailers that label by locale, or
 * convert the body and not the header): tried after UTF-8, in this order. */
static const struct {
	const char *label;        /* the iconv name the label resolved to */
	const char *likely[3];
} likely_charsets[] = {
	{ "ISO-2022-JP-2", { "EUC-JP", "CP932", NULL } },
	{ "EUC-JP", { "CP932", "ISO-2022-JP-2", NULL } },
	{ "CP932", { "EUC-JP", "ISO-2022-JP-2", NULL } },
	{ "BIG5-HKSCS", { "GB18030", NULL, NULL } },
	{ "CP949", { "ISO-2022-KR", NULL, NULL } },
};

/* Convert with the iconv charset `name` and report whether every byte was
 * valid in it (out gets the text either way, or nothing on an error). */
static int convert_named(const char *name, const unsigned char *s, size_t len,
			 struct imap_buf *out, bool *clean)
{
	bool owned = false;
	iconv_t cd = cd_get(name, &owned);
	*clean = false;
	if (cd == (iconv_t)-1)
		return errno == EINVAL ? 0 : IMAP_ERR_NOMEM;
	size_t bad = 0, from = out->len;
	int rc = convert(cd, (const char *)s, len, out, &bad);
	if (owned)
		iconv_close(cd);
	*clean = rc == 0 && bad == 0;
	/* C1 controls (U+0080..U+009F) are how a wrong EUC table shows */
	for (size_t i = from; *clean && i + 1 < out->len; i++)
		if ((unsigned char)out->data[i] == 0xc2 && (unsigned char)out->data[i + 1] < 0xa0)
			*clean = false;
	return rc;
}

/* The bytes are not valid in the labelled charset (out holds that
 * conversion from `from` on, with U+FFFD): keep UTF-8 when the bytes are
 * UTF-8, else the first likely charset for the label they are valid in,
 * else what the label gave. */
static int second_guess(const struct cs_spec *sp, const unsigned char *s, size_t len,
			struct imap_buf *out, size_t from)
{
	/* Not for labels whose text is not ASCII-based (UTF-16, UTF-32 ...):
	 * their NULs and halves say nothing about another charset. */
	if (memchr(s, 0, len) || strncasecmp(sp->name, "UTF-", 4) == 0 ||
	    strncasecmp(sp->name, "UCS-", 4) == 0)
		return 0;
	if (is_utf8(s, len)) {
		imap_buf_truncate(out, from);
		return utf8_copy(s, len, out, BAD_FFFD);
	}
	/* Another charset only on some evidence: a stray byte or two is a
	 * damaged text, not a mislabelled one. */
	size_t eight = 0;
	for (size_t i = 0; i < len; i++)
		eight += s[i] >= 0x80;
	if (eight < 4)
		return 0;
	for (size_t i = 0; i < sizeof likely_charsets / sizeof likely_charsets[0]; i++) {
		if (strcasecmp(likely_charsets[i].label, sp->name) != 0)
			continue;
		for (size_t k = 0; k < 3 && likely_charsets[i].likely[k]; k++) {
			struct imap_buf trial;
			imap_buf_init(&trial, out->max ? out->max : 0);
			bool clean = false;
			int rc = convert_named(likely_charsets[i].likely[k], s, len, &trial, &clean);
			if (rc == 0 && clean) {
				imap_buf_truncate(out, from);
				rc = imap_buf_append(out, trial.data, trial.len);
				imap_buf_free(&trial);
				return rc;
			}
			imap_buf_free(&trial);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int iconv_copy(const struct cs_spec *sp, const unsigned char *s, size_t len,
		      struct imap_buf *out)
{
	bool owned = false;
	const char *names[3] = { sp->name, sp->fallback, NULL };
	iconv_t cd = (iconv_t)-1;

	/* A name of our own choosing has its fallback; one passed through
	 * as "x-foo" may be known to iconv as "foo". */
	if (!sp->fallback && sp->name[0] == 'x' && sp->name[1] == '-')
		names[1] = sp->name + 2;
	for (size_t i = 0; i < 2 && names[i] && cd == (iconv_t)-1; i++) {
		cd = cd_get(names[i], &owned);
		if (cd == (iconv_t)-1 && errno != EINVAL)
			return IMAP_ERR_NOMEM; /* EMFILE, ENFILE, ENOMEM */
	}
	if (cd == (iconv_t)-1)
		return guess_copy(s, len, out);

	size_t from = out->len, bad = 0;
	int rc = convert(cd, (const char *)s, len, out, &bad);
	if (owned)
		iconv_close(cd);
	if (!rc && bad)
		rc = second_guess(sp, s, len, out, from);
	if (rc)
		return rc;
	/* iconv writes valid UTF-8, but a NUL in the input survives as NUL;
	 * re-run the region through the repairing copy when it must. */
	const unsigned char *r = (const unsigned char *)out->data + from;
	size_t n = out->len - from;
	if (n == 0 || (is_utf8(r, n) && !memchr(r, 0, n)))
		return 0;
	unsigned char *tmp = malloc(n);
	if (!tmp)
		return IMAP_ERR_NOMEM;
	memcpy(tmp, r, n);
	imap_buf_truncate(out, from);
	rc = utf8_copy(tmp, n, out, BAD_FFFD);
	free(tmp);
	return rc;
}

int imap_charset_to_utf8(const char *charset, size_t charset_len, const char *in,
			 size_t len, struct imap_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start = out->len;
	struct cs_spec sp;
	int rc;

	if (len == 0)
		return 0;
	resolve(charset, charset_len, &sp);
	switch (sp.kind) {
	case CS_UTF8:
		rc = utf8_copy(s, len, out, BAD_FFFD);
		break;
	case CS_CP1252:
		rc = cp1252_copy(s, len, out);
		break;
	case CS_GUESS:
		rc = guess_copy(s, len, out);
		break;
	case CS_ICONV:
	default:
		if (sp.ascii_ok && !has_8bit(s, len))
			rc = utf8_copy(s, len, out, BAD_FFFD);
		else
			rc = iconv_copy(&sp, s, len, out);
		break;
	}
	if (rc)
		imap_buf_truncate(out, start);
	return rc;
}

int imap_utf8_sanitize(const char *in, size_t len, struct imap_buf *out)
{
	size_t start = out->len;
	int rc = utf8_copy((const unsigned char *)in, len, out, BAD_CP1252);
	if (rc)
		imap_buf_truncate(out, start);
	return rc;
}

enum imap_charset_kind imap_charset_kind(const char *charset, size_t len)
{
	struct cs_spec sp;

	resolve(charset, len, &sp);
	switch (sp.kind) {
	case CS_UTF8:
		return IMAP_CHARSET_UTF8;
	case CS_CP1252:
		return IMAP_CHARSET_LATIN1;
	case CS_GUESS:
		return IMAP_CHARSET_GUESS;
	case CS_ICONV:
	default:
		return IMAP_CHARSET_OTHER;
	}
}
