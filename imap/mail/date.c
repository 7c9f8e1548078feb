/*
 * imap/mail/date.c — Date headers, INTERNALDATE and RFC 3339. See date.h for the
 * contracts and the accepted forms.
 *
 * RFC 5322 §3.3 (with the §4.3 obsolete forms folded in):
 *   date-time   = [ day-of-week "," ] date time [CFWS]
 *   date        = day month year
 *   time        = time-of-day zone
 *   time-of-day = hour ":" minute [ ":" second ]
 *   zone        = (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
 *   obs-zone    = "UT" / "GMT" / "EST" / "EDT" / "CST" / "CDT" / "MST" /
 *                 "MDT" / "PST" / "PDT" / military letters
 *
 * Real Date headers stray from that in a handful of recurring ways (no
 * comma, full month names, asctime order, ISO 8601, a zone name after the
 * numeric zone, no zone at all), so the header parser first splits the
 * value into tokens — numbers, words, single punctuation — dropping
 * whitespace and comments, and then matches one of three token patterns.
 * Working on tokens keeps each pattern a short, readable sequence and makes
 * "FWS anywhere" and "CFWS anywhere" free.
 *
 * The calendar is the proleptic Gregorian one, computed here from whole
 * 400/100/4/1-year cycles, so nothing depends on the C library's idea of
 * time zones.
 */
#include "imap/mail/date.h"

#include <stdbool.h>
#include <stdio.h>

#include "imap/base/error.h"

/* ---- calendar ---- */

#define SECS_PER_DAY 86400
#define DAYS_PER_400Y 146097 /* 400 * 365 + 97 leap days */
#define DAYS_PER_100Y 36524  /* 100 * 365 + 24 */
#define DAYS_PER_4Y 1461     /* 4 * 365 + 1 */
/* Days from 0001-01-01 to 1970-01-01. */
#define DAYS_0001_TO_1970 719162

static const unsigned short days_before_month[12] = {
	0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334,
};

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of y-m-d, y >= 1, m 1..12, d 1..31 (validated). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t py = y - 1; /* whole years before y */
	int64_t n = 365 * py + py / 4 - py / 100 + py / 400;
	n += days_before_month[m - 1] + (m > 2 && is_leap(y)) + (d - 1);
	return n - DAYS_0001_TO_1970;
}

/* Inverse of days_from_civil for days >= -DAYS_0001_TO_1970 (year >= 1). */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t n = days + DAYS_0001_TO_1970; /* days since 0001-01-01, >= 0 */
	int64_t c400 = n / DAYS_PER_400Y;
	n %= DAYS_PER_400Y;
	int64_t c100 = n / DAYS_PER_100Y;
	if (c100 == 4) /* the last day of a 400-year cycle is day 365 of year 400 */
		c100 = 3;
	n -= c100 * DAYS_PER_100Y;
	int64_t c4 = n / DAYS_PER_4Y;
	n %= DAYS_PER_4Y;
	int64_t c1 = n / 365;
	if (c1 == 4) /* the last day of a 4-year cycle is day 365 of its leap year */
		c1 = 3;
	n -= c1 * 365;
	*y = 400 * c400 + 100 * c100 + 4 * c4 + c1 + 1;
	int month = 12;
	while (month > 1 && n < days_before_month[month - 1] + (month > 2 && is_leap(*y)))
		month--;
	*m = month;
	*d = (int)(n - days_before_month[month - 1] - (month > 2 && is_leap(*y))) + 1;
}

/* The instant of a validated local date and time at offset off (minutes). */
static int64_t to_epoch(int64_t y, int mon, int day, int h, int min, int sec, int off)
{
	return days_from_civil(y, mon, day) * SECS_PER_DAY + h * 3600 + min * 60 + sec -
	       (int64_t)off * 60;
}

/* Range checks shared by both parsers. A leap second in the very last
 * minute of 9999 is refused too: it would name an instant in year 10000,
 * which imap_date_format_rfc3339 cannot write. */
static bool valid_date_time(int64_t y, int mon, int day, int h, int min, int sec)
{
	if (y < IMAP_DATE_YEAR_MIN || y > IMAP_DATE_YEAR_MAX || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(y, mon) || h < 0 || h > 23 || min < 0 || min > 59 || sec < 0 ||
	    sec > 60)
		return false;
	return !(sec == 60 && y == IMAP_DATE_YEAR_MAX && mon == 12 && day == 31 && h == 23 &&
	         min == 59);
}

/* ---- names ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..len) equals the lowercase word w, ignoring ASCII case. */
static bool word_eq(const char *s, size_t len, const char *w)
{
	size_t i = 0;
	for (; i < len && w[i]; i++)
		if (lower(s[i]) != w[i])
			return false;
	return i == len && w[i] == '\0';
}

static const char *const month_names[12] = {
	"january", "february", "march",     "april",   "may",      "june",
	"july",    "august",   "september", "october", "november", "december",
};

/* s[0..len) is the first `len` letters of the lowercase word w, ignoring
 * ASCII case (len may equal strlen(w)). */
static bool word_prefix(const char *s, size_t len, const char *w)
{
	for (size_t i = 0; i < len; i++)
		if (w[i] == '\0' || lower(s[i]) != w[i])
			return false;
	return true;
}

/* 1..12 for an English month name, in full or as its first three letters
 * (and "Sept"), any case; 0 otherwise. */
static int month_from_name(const char *s, size_t len)
{
	for (int m = 0; m < 12; m++)
		if (word_prefix(s, len, month_names[m]) &&
		    (len == 3 || month_names[m][len] == '\0' || (m == 8 && len == 4)))
			return m + 1;
	return 0;
}

static bool is_day_name(const char *s, size_t len)
{
	static const char *const names[7] = {
		"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	};
	for (int i = 0; i < 7; i++)
		if (word_prefix(s, len, names[i]) && (len == 3 || names[i][len] == '\0'))
			return true;
	return false;
}

/* Offset in minutes of an alphabetic zone. The North American names of
 * RFC 5322 §4.3 have a meaning; everything else (UT, GMT, UTC, Z, the
 * military letters RFC 822 defined with the wrong sign, names we do not
 * know) counts as "-0000", i.e. 0, as §4.3 says. */
static int zone_from_name(const char *s, size_t len)
{
	static const struct {
		const char *name;
		int off;
	} zones[] = {
		{"est", -5 * 60}, {"edt", -4 * 60}, {"cst", -6 * 60}, {"cdt", -5 * 60},
		{"mst", -7 * 60}, {"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60},
	};
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (word_eq(s, len, zones[i].name))
			return zones[i].off;
	return 0;
}

/* ---- tokens of a Date header ---- */

enum tok_kind { TOK_NUM, TOK_WORD, TOK_PUNCT };

struct tok {
	enum tok_kind kind;
	const char *p;  /* WORD: the letters */
	size_t len;     /* NUM: digits (leading zeros count); WORD: letters */
	uint32_t num;   /* NUM: value, or UINT32_MAX when over 9 digits */
	char c;         /* PUNCT: the character */
};

/* Far more than any date form needs; a longer value is not a date. */
#define DATE_TOKENS_MAX 24

struct toks {
	struct tok v[DATE_TOKENS_MAX];
	size_t n;
	size_t i; /* the parse position */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Split s[0..len) into tokens. Whitespace separates; comments "( ... )"
 * (nested, with "\" quoting the next byte) are dropped, and one left open
 * runs to the end of the value. Any other byte makes the value invalid. */
static int tokenize(const char *s, size_t len, struct toks *t)
{
	size_t i = 0;
	t->n = 0;
	t->i = 0;
	while (i < len) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
			continue;
		}
		if (c == '(') {
			unsigned depth = 0;
			for (; i < len; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (t->n == DATE_TOKENS_MAX)
			return IMAP_ERR_INVALID;
		struct tok *k = &t->v[t->n++];
		k->p = s + i;
		if (is_digit(c)) {
			size_t start = i;
			uint64_t v = 0;
			for (; i < len && is_digit(s[i]); i++)
				if (i - start < 9)
					v = v * 10 + (uint64_t)(s[i] - '0');
			k->kind = TOK_NUM;
			k->len = i - start;
			k->num = k->len > 9 ? UINT32_MAX : (uint32_t)v;
		} else if (is_alpha(c)) {
			size_t start = i;
			while (i < len && is_alpha(s[i]))
				i++;
			k->kind = TOK_WORD;
			k->len = i - start;
		} else if (c == ',' || c == ':' || c == '.' || c == '-' || c == '+' || c == '/') {
			k->kind = TOK_PUNCT;
			k->c = c;
			k->len = 1;
			i++;
		} else {
			return IMAP_ERR_INVALID;
		}
	}
	return 0;
}

static const struct tok *peek(const struct toks *t, size_t ahead)
{
	return t->i + ahead < t->n ? &t->v[t->i + ahead] : NULL;
}

static bool at_punct(const struct toks *t, size_t ahead, char c)
{
	const struct tok *k = peek(t, ahead);
	return k && k->kind == TOK_PUNCT && k->c == c;
}

/* Consume the punctuation c when it is next. */
static bool skip_punct(struct toks *t, char c)
{
	if (!at_punct(t, 0, c))
		return false;
	t->i++;
	return true;
}

/* Consume a number of min_digits..max_digits digits. */
static bool take_num(struct toks *t, size_t min_digits, size_t max_digits, uint32_t *out)
{
	const struct tok *k = peek(t, 0);
	if (!k || k->kind != TOK_NUM || k->len < min_digits || k->len > max_digits)
		return false;
	*out = k->num;
	t->i++;
	return true;
}

static bool take_month(struct toks *t, int *mon)
{
	const struct tok *k = peek(t, 0);
	if (!k || k->kind != TOK_WORD || !(*mon = month_from_name(k->p, k->len)))
		return false;
	t->i++;
	skip_punct(t, '.'); /* "Jul." */
	return true;
}

/* year = 2, 3 or 4 digits; RFC 5322 §4.3: 00-49 -> 20xx, 50-99 -> 19xx,
 * three digits -> +1900. */
static bool take_year(struct toks *t, int64_t *year)
{
	const struct tok *k = peek(t, 0);
	uint32_t v;
	if (!k || !take_num(t, 2, 4, &v))
		return false;
	if (k->len == 2)
		*year = v < 50 ? 2000 + v : 1900 + v;
	else if (k->len == 3)
		*year = 1900 + v;
	else
		*year = v;
	return true;
}

struct hms {
	int h, m, s;
};

/* hour ":" minute [":" second ["." fraction]] */
static bool take_time(struct toks *t, struct hms *tm)
{
	uint32_t h, m, s = 0, frac;
	if (!at_punct(t, 1, ':') || !take_num(t, 1, 2, &h))
		return false;
	t->i++;
	if (!take_num(t, 1, 2, &m))
		return false;
	if (skip_punct(t, ':')) {
		if (!take_num(t, 1, 2, &s))
			return false;
		if (skip_punct(t, '.') && !take_num(t, 1, 9, &frac))
			return false;
	}
	tm->h = (int)h;
	tm->m = (int)m;
	tm->s = (int)s;
	return true;
}

/* What the zone tokens said so far (asctime order may put them on both
 * sides of the year). */
struct zone {
	bool have_num, have_name;
	int num_off, name_off;
};

static int zone_offset(const struct zone *z)
{
	return z->have_num ? z->num_off : z->have_name ? z->name_off : 0;
}

/*
 * Zero or more zone tokens after the time: at most one numeric zone
 * ("+hhmm", "+hh:mm", and "+hh" when hh_only is allowed) and any number of
 * words; the numeric zone wins, else the first word names the zone, else
 * 0 (zone_offset). Stops at anything else (a year in asctime order, or
 * junk the caller rejects). Returns false for a malformed or second
 * numeric zone.
 */
static bool take_zone(struct toks *t, bool hh_only, struct zone *z)
{
	for (;;) {
		const struct tok *k = peek(t, 0);
		if (!k)
			return true;
		if (k->kind == TOK_WORD) {
			if (!z->have_name)
				z->name_off = zone_from_name(k->p, k->len);
			z->have_name = true;
			t->i++;
			continue;
		}
		if (k->kind != TOK_PUNCT || (k->c != '+' && k->c != '-'))
			return true;
		const struct tok *n = peek(t, 1);
		if (z->have_num || !n || n->kind != TOK_NUM)
			return false;
		int sign = k->c == '-' ? -1 : 1;
		uint32_t hh, mm = 0;
		t->i += 2;
		if (n->len == 4) {
			hh = n->num / 100;
			mm = n->num % 100;
		} else if (n->len == 2 && at_punct(t, 0, ':')) {
			hh = n->num;
			t->i++;
			if (!take_num(t, 2, 2, &mm))
				return false;
		} else if (n->len == 2 && hh_only) {
			hh = n->num;
		} else {
			return false;
		}
		if (hh > 23 || mm > 59)
			return false;
		z->num_off = sign * (int)(hh * 60 + mm);
		z->have_num = true;
	}
}

/* RFC 5322 order after the day of the week:
 * day ["-" / "/"] month ["-" / "/"] year [","] time [zone] */
static bool parse_dmy(struct toks *t, int64_t *y, int *mon, int *day, struct hms *tm, struct zone *z)
{
	uint32_t d;
	if (!take_num(t, 1, 2, &d))
		return false;
	*day = (int)d;
	if (!skip_punct(t, '-'))
		skip_punct(t, '/');
	if (!take_month(t, mon))
		return false;
	if (!skip_punct(t, '-'))
		skip_punct(t, '/');
	if (!take_year(t, y))
		return false;
	skip_punct(t, ',');
	return take_time(t, tm) && take_zone(t, false, z);
}

/* asctime / date(1) order: month day [","] time [zone] year, or
 * month day [","] year [","] time [zone]. */
static bool parse_mdy(struct toks *t, int64_t *y, int *mon, int *day, struct hms *tm, struct zone *z)
{
	uint32_t d;
	if (!take_month(t, mon) || !take_num(t, 1, 2, &d))
		return false;
	*day = (int)d;
	skip_punct(t, ',');
	if (at_punct(t, 1, ':'))
		return take_time(t, tm) && take_zone(t, false, z) && take_year(t, y) &&
		       take_zone(t, false, z);
	if (!take_year(t, y))
		return false;
	skip_punct(t, ',');
	return take_time(t, tm) && take_zone(t, false, z);
}

/* ISO 8601-like: yyyy "-" mm "-" dd ["T"] time [zone] */
static bool parse_iso(struct toks *t, int64_t *y, int *mon, int *day, struct hms *tm, struct zone *z)
{
	uint32_t yy, mm, dd;
	if (!take_num(t, 4, 4, &yy) || !skip_punct(t, '-') || !take_num(t, 1, 2, &mm) ||
	    !skip_punct(t, '-') || !take_num(t, 1, 2, &dd))
		return false;
	const struct tok *k = peek(t, 0);
	if (k && k->kind == TOK_WORD && word_eq(k->p, k->len, "t"))
		t->i++;
	*y = yy;
	*mon = (int)mm;
	*day = (int)dd;
	return take_time(t, tm) && take_zone(t, true, z);
}

int imap_date_parse_rfc5322(const char *s, size_t len, int64_t *epoch, int *tz_offset_min)
{
	struct toks t;
	if (!s || tokenize(s, len, &t) != 0)
		return IMAP_ERR_INVALID;

	const struct tok *k = peek(&t, 0);
	if (k && k->kind == TOK_WORD && is_day_name(k->p, k->len)) {
		t.i++;
		if (!skip_punct(&t, ','))
			skip_punct(&t, '.');
	}

	int64_t y = 0;
	int mon = 0, day = 0;
	struct hms tm = {0, 0, 0};
	struct zone z = {false, false, 0, 0};
	bool ok;
	k = peek(&t, 0);
	if (!k)
		return IMAP_ERR_INVALID;
	if (k->kind == TOK_NUM && k->len == 4 && at_punct(&t, 1, '-'))
		ok = parse_iso(&t, &y, &mon, &day, &tm, &z);
	else if (k->kind == TOK_NUM)
		ok = parse_dmy(&t, &y, &mon, &day, &tm, &z);
	else
		ok = parse_mdy(&t, &y, &mon, &day, &tm, &z);
	if (!ok || t.i != t.n || !valid_date_time(y, mon, day, tm.h, tm.m, tm.s))
		return IMAP_ERR_INVALID;

	int off = zone_offset(&z);
	if (epoch)
		*epoch = to_epoch(y, mon, day, tm.h, tm.m, tm.s, off);
	if (tz_offset_min)
		*tz_offset_min = off;
	return 0;
}

/* ---- INTERNALDATE ---- */

/* Exactly n digits at s[*i..), advancing *i. */
static bool fixed_digits(const char *s, size_t len, size_t *i, size_t n, int *out)
{
	int v = 0;
	if (len - *i < n)
		return false;
	for (size_t k = 0; k < n; k++) {
		if (!is_digit(s[*i + k]))
			return false;
		v = v * 10 + (s[*i + k] - '0');
	}
	*i += n;
	*out = v;
	return true;
}

static bool expect_char(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return false;
	(*i)++;
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

int imap_date_parse_internal(const char *s, size_t len, int64_t *epoch, int *tz)
{
	if (!s)
		return IMAP_ERR_INVALID;
	/* Trim, then drop one pair of quotes, then the padding space of a
	 * 1-digit day (which the trim may already have taken). */
	while (len && is_space(s[len - 1]))
		len--;
	while (len && is_space(*s))
		s++, len--;
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	size_t i = 0;
	if (i < len && s[i] == ' ')
		i++;

	int day, mon, year, h, m, sec, zh, zm;
	if (!fixed_digits(s, len, &i, 2, &day) && !fixed_digits(s, len, &i, 1, &day))
		return IMAP_ERR_INVALID;
	if (!expect_char(s, len, &i, '-') || len - i < 3 || !(mon = month_from_name(s + i, 3)))
		return IMAP_ERR_INVALID;
	i += 3;
	if (!expect_char(s, len, &i, '-') || !fixed_digits(s, len, &i, 4, &year) ||
	    !expect_char(s, len, &i, ' '))
		return IMAP_ERR_INVALID;
	if (!fixed_digits(s, len, &i, 2, &h) || !expect_char(s, len, &i, ':') ||
	    !fixed_digits(s, len, &i, 2, &m) || !expect_char(s, len, &i, ':') ||
	    !fixed_digits(s, len, &i, 2, &sec) || !expect_char(s, len, &i, ' '))
		return IMAP_ERR_INVALID;
	if (i >= len || (s[i] != '+' && s[i] != '-'))
		return IMAP_ERR_INVALID;
	int sign = s[i++] == '-' ? -1 : 1;
	if (!fixed_digits(s, len, &i, 2, &zh) || !fixed_digits(s, len, &i, 2, &zm) || i != len)
		return IMAP_ERR_INVALID;
	if (zh > 23 || zm > 59 || !valid_date_time(year, mon, day, h, m, sec))
		return IMAP_ERR_INVALID;

	int off = sign * (zh * 60 + zm);
	if (epoch)
		*epoch = to_epoch(year, mon, day, h, m, sec, off);
	if (tz)
		*tz = off;
	return 0;
}

/* ---- RFC 3339 ---- */

/* Local seconds of 0001-01-01T00:00:00 and of 10000-01-01T00:00:00. */
#define LOCAL_MIN (-(int64_t)DAYS_0001_TO_1970 * SECS_PER_DAY)
#define LOCAL_END ((int64_t)2932897 * SECS_PER_DAY)

size_t imap_date_format_rfc3339(int64_t epoch, int tz_offset_min, char out[IMAP_DATE_RFC3339_MAX])
{
	out[0] = '\0';
	if (tz_offset_min < -1439 || tz_offset_min > 1439)
		return 0;
	/* Range-check before adding the offset so nothing can overflow. */
	if (epoch < LOCAL_MIN - 86400 || epoch >= LOCAL_END + 86400)
		return 0;
	int64_t local = epoch + (int64_t)tz_offset_min * 60;
	if (local < LOCAL_MIN || local >= LOCAL_END)
		return 0;

	int64_t days = local / SECS_PER_DAY, secs = local % SECS_PER_DAY;
	if (secs < 0) { /* floor division */
		secs += SECS_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);

	int n;
	int hh = (int)(secs / 3600), mi = (int)(secs / 60 % 60), ss = (int)(secs % 60);
	if (tz_offset_min == 0) {
		n = snprintf(out, IMAP_DATE_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m,
			     d, hh, mi, ss);
	} else {
		int a = tz_offset_min < 0 ? -tz_offset_min : tz_offset_min;
		n = snprintf(out, IMAP_DATE_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
			     (int)y, m, d, hh, mi, ss, tz_offset_min < 0 ? '-' : '+', a / 60, a % 60);
	}
	return n > 0 ? (size_t)n : 0;
}
