/*
 * imap/parser.c — resumable IMAP response parser. See parser.h for the
 * grammar accepted and the contract.
 *
 * Shape: a byte-level state machine. The state survives between feeds, so a
 * token cut anywhere (inside an atom, an escape, a literal header, the CR of
 * a CRLF) continues on the next feed. Accepted bytes are copied into
 * p->bytes; values are appended to p->vals as offsets and turned into
 * pointers once the response is complete (the storage may move while it
 * grows). Runs of ordinary bytes are copied in one append, literal data in
 * one memcpy, so a byte-at-a-time feed and a bulk feed give the same result
 * at very different speeds.
 */
#include "imap/parser.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/error.h"

enum state {
	ST_START,        /* first byte of a response */
	ST_STAR,         /* after "*": expect SP */
	ST_TAG,          /* inside a tag */
	ST_PLUS,         /* after "+": optional SP, then text */
	ST_BETWEEN,      /* between tokens of a data response or a code */
	ST_ATOM,         /* inside an atom */
	ST_TILDE,        /* after "~": literal8 or an atom starting with "~" */
	ST_QUOTED,       /* inside "..." */
	ST_QUOTED_ESC,   /* after a backslash inside "..." */
	ST_LIT_NUM,      /* inside "{123" */
	ST_LIT_CLOSE,    /* after "{123+": expect "}" */
	ST_LIT_CR,       /* after "}": expect CRLF */
	ST_LIT_LF,       /* after "}\r": expect LF */
	ST_LIT_DATA,     /* inside literal data */
	ST_STATUS_AFTER, /* after OK/NO/BAD/PREAUTH/BYE */
	ST_CODE_OPEN,    /* after "OK ": "[" or text */
	ST_CODE_AFTER,   /* after "]": SP then text */
	ST_TEXT,         /* human text up to the end of the line */
	ST_CR,           /* after CR: expect LF */
	ST_SLACK_LF,     /* miscounted literal: after its stray CR, expect LF */
	ST_SLACK_PAREN,  /* miscounted literal: after its stray line break, expect ")" */
	ST_LIT_CHARS,    /* literal counted in characters: read the ones still missing */
	ST_FAILED,       /* an error happened; only reset helps */
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum state state;
	bool done;        /* a complete response is available */
	int err_code;
	const char *err;

	struct imap_buf bytes;    /* strings of the current response */
	size_t held;              /* bytes of it taken from lim.budget */
	struct imap_value *vals;  /* vals[0] is the root list */
	size_t nvals, vals_cap;
	uint32_t *stack;          /* indices of open lists; stack[0] = root */
	unsigned depth;           /* lists open below the root */

	size_t line_len;          /* bytes outside literal data */
	size_t resp_len;          /* all bytes */

	/* the token in progress */
	size_t tok_off;           /* where its bytes start in p->bytes */
	unsigned bracket;         /* "[" depth inside the atom */
	uint64_t lit_len;         /* literal size, then bytes still to copy */
	bool lit_has_digit;
	bool after_literal;       /* the last byte ended a literal's data */
	bool lit_end;             /* ... and no byte came since (short_literal) */
	bool lit_sunk;            /* this literal's data goes to the sink */
	uint64_t lit_total;       /* its declared size */
	uint64_t lit_chars;       /* ST_LIT_CHARS: characters still to read */

	/* where untagged literals go instead of storage (NULL: stored) */
	imap_literal_sink_fn *sink;
	imap_literal_want_fn *want;  /* which of them (NULL: all) */
	void *sink_ctx;
	int sink_rc;              /* the sink's first nonzero return */

	/* the response in progress */
	enum imap_response_kind kind;
	enum imap_status status;
	bool first_token;         /* the next token follows "* " or "<tag> " */
	bool in_code;             /* inside "[...]" of a status response */
	bool has_code;
	bool has_text;
	size_t tag_off, text_off;

	struct imap_response resp;
};

/* Memory a parser keeps between responses; more is given back. */
#define KEEP_BYTES (1u << 20)
#define KEEP_VALS 16384u

void imap_parser_limits_default(struct imap_parser_limits *l)
{
	l->line_max = IMAP_PARSER_LINE_MAX_DEFAULT;
	l->literal_max = IMAP_PARSER_LITERAL_MAX_DEFAULT;
	l->response_max = IMAP_PARSER_RESPONSE_MAX_DEFAULT;
	l->depth_max = IMAP_PARSER_DEPTH_MAX_DEFAULT;
	l->budget = NULL;
}

/* ---- character classes ---- */

/* Bytes that end a run of ordinary atom bytes (handled one by one). */
static bool atom_special(unsigned char c)
{
	switch (c) {
	case '\0': case ' ': case '\r': case '\n': case '(': case ')':
	case '"': case '[': case ']':
		return true;
	default:
		return false;
	}
}

static bool quoted_special(unsigned char c)
{
	return c == '"' || c == '\\' || c == '\r' || c == '\n' || c == '\0';
}

static bool text_special(unsigned char c)
{
	return c == '\r' || c == '\n' || c == '\0';
}

/* ---- set-up ---- */

static void begin_response(struct imap_parser *p);
static void give_back(struct imap_parser *p);

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	if (limits)
		p->lim = *limits;
	else
		imap_parser_limits_default(&p->lim);
	if (p->lim.depth_max == 0)
		p->lim.depth_max = 1;
	p->stack = calloc((size_t)p->lim.depth_max + 1, sizeof *p->stack);
	if (!p->stack)
		abort();
	imap_buf_init(&p->bytes, 0);
	begin_response(p);
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	if (!pp || !*pp)
		return;
	struct imap_parser *p = *pp;
	give_back(p);
	imap_buf_free(&p->bytes);
	free(p->vals);
	free(p->stack);
	free(p);
	*pp = NULL;
}

void imap_parser_reset(struct imap_parser *p)
{
	p->err = NULL;
	p->err_code = 0;
	begin_response(p);
}

static void begin_response(struct imap_parser *p)
{
	give_back(p);
	imap_buf_reset(&p->bytes, KEEP_BYTES);
	if (p->vals_cap > KEEP_VALS) {
		free(p->vals);
		p->vals = NULL;
		p->vals_cap = 0;
	}
	p->nvals = 0;
	p->depth = 0;
	p->line_len = 0;
	p->resp_len = 0;
	p->state = ST_START;
	p->done = false;
	p->status = IMAP_STATUS_NONE;
	p->kind = IMAP_RESPONSE_UNTAGGED;
	p->first_token = false;
	p->in_code = false;
	p->has_code = false;
	p->has_text = false;
	p->bracket = 0;
	p->after_literal = false;
	p->lit_end = false;
	memset(&p->resp, 0, sizeof p->resp);
}

static int fail(struct imap_parser *p, int code, const char *why)
{
	p->state = ST_FAILED;
	p->err_code = code;
	p->err = why;
	return -1;
}

/* ---- storage ---- */

/* The digits of atom v as a number (1 .. UINT32_MAX), or 0. */
static uint32_t atom_number(const struct imap_parser *p, const struct imap_value *v)
{
	if (v->kind != IMAP_VALUE_ATOM || v->len == 0 || v->len > 10)
		return 0;
	const char *s = p->bytes.data + v->off_;
	uint64_t n = 0;
	for (size_t i = 0; i < v->len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	return n <= UINT32_MAX ? (uint32_t)n : 0;
}

/*
 * Where the literal whose header starts now stands, from the values read
 * so far. Only "* n FETCH (... name {" at list depth 1, with the literal in
 * a value position of the attribute list, is a FETCH item; anything else
 * leaves *o zeroed with an empty item name.
 */
static void literal_origin(const struct imap_parser *p, struct imap_literal_origin *o)
{
	memset(o, 0, sizeof *o);
	o->item = "";
	if (p->depth != 1 || p->nvals < 4 || p->vals[0].count != 3 || p->stack[1] != 3)
		return;
	const struct imap_value *fetch = &p->vals[2];
	if (fetch->kind != IMAP_VALUE_ATOM || fetch->len != 5 ||
	    strncasecmp(p->bytes.data + fetch->off_, "FETCH", 5) != 0)
		return;
	uint32_t number = atom_number(p, &p->vals[1]);
	const struct imap_value *att = &p->vals[3];
	if (!number || att->count % 2 == 0)
		return;  /* the literal would be an item name, not its value */
	/* Walk the name-value pairs before it: the last name is the item's, and
	 * a UID pair may have come earlier. */
	size_t i = 4;
	const struct imap_value *name = NULL;
	uint32_t uid = 0;
	for (uint32_t k = 0; k < att->count; k++) {
		const struct imap_value *v = &p->vals[i];
		if (k % 2 == 0) {
			name = v;
		} else if (name->kind == IMAP_VALUE_ATOM && name->len == 3 &&
		           strncasecmp(p->bytes.data + name->off_, "UID", 3) == 0) {
			uid = atom_number(p, v);
		}
		i += 1 + (v->kind == IMAP_VALUE_LIST ? v->span : 0);
	}
	if (name->kind != IMAP_VALUE_ATOM)
		return;  /* not an item's value: nothing of it is told */
	o->uid = uid;
	o->number = number;
	o->item = p->bytes.data + name->off_;
	o->item_len = name->len;
}

/* A literal header starts ("{" or "~{"): decide now, before its size is
 * read, whether its data will go to the sink (the size limit depends on
 * it). */
static void begin_literal(struct imap_parser *p)
{
	p->lit_len = 0;
	p->lit_has_digit = false;
	p->lit_sunk = false;
	p->state = ST_LIT_NUM;
	if (!p->sink || p->kind != IMAP_RESPONSE_UNTAGGED)
		return;
	if (p->want) {
		struct imap_literal_origin o;
		literal_origin(p, &o);
		p->lit_sunk = p->want(p->sink_ctx, &o);
	} else {
		p->lit_sunk = true;
	}
}

void imap_parser_set_literal_sink(struct imap_parser *p, imap_literal_sink_fn *fn, void *ctx)
{
	p->sink = fn;
	p->want = NULL;
	p->sink_ctx = ctx;
	p->sink_rc = 0;
}

void imap_parser_set_literal_filter(struct imap_parser *p, imap_literal_want_fn *want)
{
	p->want = want;
}

int imap_parser_sink_result(const struct imap_parser *p)
{
	return p->sink_rc;
}

/* Make sure the budget covers `total` stored bytes, taking at least
 * BUDGET_STEP at a time (one atomic operation per step, not per byte). */
#define BUDGET_STEP (64u << 10)

static int charge(struct imap_parser *p, size_t total)
{
	struct imap_budget *b = p->lim.budget;
	if (!b || !b->max || total <= p->held)
		return 0;
	size_t want = total - p->held;
	if (want < BUDGET_STEP)
		want = BUDGET_STEP;
	size_t before = atomic_fetch_add(&b->used, want);
	if (before + want > b->max) {
		atomic_fetch_sub(&b->used, want);
		return fail(p, IMAP_ERR_BUSY,
		            "the memory for IMAP responses (--imap-memory-max) is in use: retry");
	}
	p->held += want;
	return 0;
}

static void give_back(struct imap_parser *p)
{
	if (p->held && p->lim.budget)
		atomic_fetch_sub(&p->lim.budget->used, p->held);
	p->held = 0;
}

static int store(struct imap_parser *p, const char *s, size_t n)
{
	if (charge(p, p->bytes.len + n))
		return -1;
	int rc = imap_buf_append(&p->bytes, s, n);
	return rc ? fail(p, rc, "out of memory storing a response") : 0;
}

/* Append a value as the next child of the innermost open list. */
static struct imap_value *add_value(struct imap_parser *p, enum imap_value_kind kind)
{
	if (p->nvals == p->vals_cap) {
		size_t cap = p->vals_cap ? p->vals_cap * 2 : 64;
		struct imap_value *v = realloc(p->vals, cap * sizeof *v);
		if (!v) {
			fail(p, IMAP_ERR_NOMEM, "out of memory storing a response");
			return NULL;
		}
		p->vals = v;
		p->vals_cap = cap;
	}
	struct imap_value *v = &p->vals[p->nvals];
	memset(v, 0, sizeof *v);
	v->kind = kind;
	if (p->nvals > 0)
		p->vals[p->stack[p->depth]].count++;
	p->nvals++;
	return v;
}

/* Start the root list of a data response or a response code. */
static int open_root(struct imap_parser *p)
{
	p->stack[0] = 0;
	p->depth = 0;
	return add_value(p, IMAP_VALUE_LIST) ? 0 : -1;
}

static int open_list(struct imap_parser *p)
{
	if (p->depth >= p->lim.depth_max)
		return fail(p, IMAP_ERR_LIMIT, "list nesting deeper than the depth limit");
	size_t idx = p->nvals;
	if (!add_value(p, IMAP_VALUE_LIST))
		return -1;
	p->stack[++p->depth] = (uint32_t)idx;
	return 0;
}

static int close_list(struct imap_parser *p)
{
	if (p->depth == 0)
		return fail(p, IMAP_ERR_PROTOCOL, "unbalanced ')'");
	uint32_t idx = p->stack[p->depth--];
	p->vals[idx].span = (uint32_t)(p->nvals - idx - 1);
	return 0;
}

/* Begin a string token: its bytes start at the current end of storage. */
static void begin_string(struct imap_parser *p)
{
	p->tok_off = p->bytes.len;
}

/* Finish the string token begun last, as a value of the given kind. */
static int end_string(struct imap_parser *p, enum imap_value_kind kind)
{
	size_t len = p->bytes.len - p->tok_off;
	if (store(p, "", 1))  /* NUL terminator */
		return -1;
	struct imap_value *v = add_value(p, kind);
	if (!v)
		return -1;
	v->off_ = p->tok_off;
	v->len = len;
	return 0;
}

/* Status words that make a response a status response. */
static enum imap_status status_word(const char *s, size_t n)
{
	static const struct { const char *w; enum imap_status st; } words[] = {
		{"OK", IMAP_STATUS_OK}, {"NO", IMAP_STATUS_NO},
		{"BAD", IMAP_STATUS_BAD}, {"PREAUTH", IMAP_STATUS_PREAUTH},
		{"BYE", IMAP_STATUS_BYE},
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i].w) == n && strncasecmp(s, words[i].w, n) == 0)
			return words[i].st;
	return IMAP_STATUS_NONE;
}

/* An atom just ended. It may be NIL, or the status word of a response. */
static int end_atom(struct imap_parser *p)
{
	const char *s = p->bytes.data + p->tok_off;
	size_t n = p->bytes.len - p->tok_off;
	bool first = p->first_token;
	p->first_token = false;
	p->state = ST_BETWEEN;

	if (first) {
		enum imap_status st = status_word(s, n);
		if (st != IMAP_STATUS_NONE && (p->kind == IMAP_RESPONSE_UNTAGGED ||
		                               st == IMAP_STATUS_OK || st == IMAP_STATUS_NO ||
		                               st == IMAP_STATUS_BAD)) {
			p->status = st;
			p->bytes.len = p->tok_off;  /* the word is not an argument */
			p->nvals = 0;               /* the root is re-opened for a code */
			p->state = ST_STATUS_AFTER;
			return 0;
		}
		if (p->kind == IMAP_RESPONSE_TAGGED)
			return fail(p, IMAP_ERR_PROTOCOL, "tagged response without OK/NO/BAD");
	}
	if (n == 3 && strncasecmp(s, "NIL", 3) == 0) {
		p->bytes.len = p->tok_off;
		return add_value(p, IMAP_VALUE_NIL) ? 0 : -1;
	}
	return end_string(p, IMAP_VALUE_ATOM);
}

static void begin_text(struct imap_parser *p)
{
	p->has_text = true;
	p->text_off = p->bytes.len;
	p->state = ST_TEXT;
}

/* The line ended (its LF was consumed). Validate and publish the response. */
static int end_line(struct imap_parser *p)
{
	if (p->in_code)
		return fail(p, IMAP_ERR_PROTOCOL, "response code not closed by ']'");
	if (p->depth > 0)
		return fail(p, IMAP_ERR_PROTOCOL, "list not closed at end of line");
	if (p->first_token)
		return fail(p, IMAP_ERR_PROTOCOL, "empty response");
	if (p->has_text && store(p, "", 1))
		return -1;

	/* Storage is final: turn offsets into pointers. */
	const char *base = p->bytes.data;
	for (size_t i = 0; i < p->nvals; i++) {
		struct imap_value *v = &p->vals[i];
		if (v->kind == IMAP_VALUE_ATOM || v->kind == IMAP_VALUE_QUOTED ||
		    v->kind == IMAP_VALUE_LITERAL)
			v->str = base + v->off_;
	}
	if (p->nvals > 0)
		p->vals[0].span = (uint32_t)(p->nvals - 1);

	struct imap_response *r = &p->resp;
	r->kind = p->kind;
	r->status = p->status;
	r->tag = p->kind == IMAP_RESPONSE_TAGGED ? base + p->tag_off : NULL;
	r->text = p->has_text ? base + p->text_off : "";
	r->text_len = p->has_text ? p->bytes.len - 1 - p->text_off : 0;
	r->code = NULL;
	r->args = NULL;
	if (p->kind == IMAP_RESPONSE_CONTINUATION) {
		/* nothing more */
	} else if (p->status != IMAP_STATUS_NONE) {
		if (p->has_code) {
			if (p->nvals < 2 || p->vals[1].kind != IMAP_VALUE_ATOM)
				return fail(p, IMAP_ERR_PROTOCOL, "response code without a name");
			r->code = &p->vals[0];
		}
	} else {
		r->args = &p->vals[0];
	}
	p->done = true;
	return 0;
}

/* A literal's data ended where a delimiter must follow, but something else
 * does. Some servers announce a length in characters, not bytes, for
 * non-ASCII text ("{6}" before the 8 bytes of "Résumé"): when the data holds
 * fewer characters than the length says, the missing characters are read
 * into the same literal (ST_LIT_CHARS) instead of becoming the next field.
 * Returns true when that applies (the state is set), false otherwise. */
static bool short_literal(struct imap_parser *p)
{
	if (p->nvals == 0)
		return false;
	struct imap_value *v = &p->vals[p->nvals - 1];
	if (v->kind != IMAP_VALUE_LITERAL || v->off_ + v->len + 1 != p->bytes.len)
		return false;
	const unsigned char *d = (const unsigned char *)p->bytes.data + v->off_;
	uint64_t chars = 0;
	for (size_t i = 0; i < v->len; i++)
		chars += (d[i] & 0xc0) != 0x80;
	if (chars >= v->len && !(v->len && (d[v->len - 1] & 0x80)))
		return false;  /* all ASCII: a plain syntax error, not this */
	p->lit_chars = v->len - chars;
	p->bytes.len--;  /* the NUL terminator goes; it is written again at the end */
	p->after_literal = false;
	p->lit_end = false;
	p->state = ST_LIT_CHARS;
	return true;
}

/* ---- the state machine ---- */

/* Count n more bytes of line (not literal data) against the limits.
 * Returns how many of them fit: n, or fewer after failing the parser. */
static size_t count_line(struct imap_parser *p, size_t n)
{
	size_t line_room = p->lim.line_max - p->line_len;
	size_t resp_room = p->lim.response_max - p->resp_len;
	if (n > line_room || n > resp_room) {
		if (line_room <= resp_room) {
			fail(p, IMAP_ERR_LIMIT, "response line longer than the line limit");
			return line_room;
		}
		fail(p, IMAP_ERR_LIMIT, "response larger than the response limit");
		return resp_room;
	}
	p->line_len += n;
	p->resp_len += n;
	return n;
}

/* Handle CR or LF at a point where the line may end. Returns bytes used. */
static int line_break(struct imap_parser *p, unsigned char c)
{
	if (c == '\r') {
		p->state = ST_CR;
		return 1;
	}
	return end_line(p) ? -1 : 1;
}

/*
 * Process input at s[0..n) in the current state. Returns the number of
 * bytes consumed (0 means: the state changed, look at the same byte again),
 * or -1 on error. Line bytes are counted by the caller, literal data here.
 */
static long step(struct imap_parser *p, const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	switch (p->state) {
	case ST_START:
		if (c == '*') {
			p->kind = IMAP_RESPONSE_UNTAGGED;
			p->state = ST_STAR;
			return 1;
		}
		if (c == '+') {
			p->kind = IMAP_RESPONSE_CONTINUATION;
			p->state = ST_PLUS;
			return 1;
		}
		if (c <= ' ' || c == '(' || c == ')' || c == '"' || c == '{' || c == 0x7f)
			return fail(p, IMAP_ERR_PROTOCOL, "response does not start with '*', '+' or a tag");
		p->kind = IMAP_RESPONSE_TAGGED;
		p->tag_off = p->bytes.len;
		p->state = ST_TAG;
		return 0;

	case ST_STAR:
		if (c != ' ')
			return fail(p, IMAP_ERR_PROTOCOL, "'*' not followed by a space");
		if (open_root(p))
			return -1;
		p->first_token = true;
		p->state = ST_BETWEEN;
		return 1;

	case ST_TAG: {
		size_t i = 0;
		while (i < n && s[i] > ' ' && s[i] != 0x7f)
			i++;
		if (i)
			return store(p, (const char *)s, i) ? -1 : (long)i;
		if (c != ' ')
			return fail(p, IMAP_ERR_PROTOCOL, "tag not followed by a space");
		if (store(p, "", 1) || open_root(p))
			return -1;
		p->first_token = true;
		p->state = ST_BETWEEN;
		return 1;
	}

	case ST_PLUS:
		if (c == ' ') {
			begin_text(p);
			return 1;
		}
		if (c == '\r' || c == '\n')
			return line_break(p, c);
		begin_text(p);  /* lenient: "+text" */
		return 0;

	case ST_BETWEEN:
		if (p->lit_end && !p->lit_sunk && c != ' ' && c != ')' && c != '\r' && c != '\n' &&
		    short_literal(p))
			return 0;  /* ST_LIT_CHARS reads the rest of it */
		p->lit_end = false;
		if (p->after_literal && p->depth > 0) {
			/* Lenient: a server that counted a literal short (CRLF vs LF)
			 * leaves a line break between the data and ")". Accepted only
			 * when ")" follows it; otherwise the list is unclosed. */
			if (c == ' ')
				return 1;
			if (c == '\r' || c == '\n') {
				p->state = c == '\r' ? ST_SLACK_LF : ST_SLACK_PAREN;
				return 1;
			}
		}
		p->after_literal = false;
		if (p->first_token && c == '[' && p->kind != IMAP_RESPONSE_CONTINUATION) {
			/* A response code with no condition before it ("* [COPYUID 8
			 * 3 10]", "A4 [COPYUID ...] done": Exchange after UID MOVE).
			 * Only codes of completed commands are seen so: read as OK. */
			p->first_token = false;
			p->status = IMAP_STATUS_OK;
			p->nvals = 0;  /* the root is re-opened for the code */
			p->state = ST_CODE_OPEN;
			return 0;
		}
		if (p->first_token && c != ' ' && c != '~' && (c == '(' || c == ')' || c == '"' ||
		                                              c == '{' || c == '\r' || c == '\n')) {
			/* Only an atom can be a status word. */
			if (p->kind == IMAP_RESPONSE_TAGGED)
				return fail(p, IMAP_ERR_PROTOCOL, "tagged response without OK/NO/BAD");
			if (c != '\r' && c != '\n')
				p->first_token = false;
		}
		switch (c) {
		case ' ':
			return 1;
		case '(':
			return open_list(p) ? -1 : 1;
		case ')':
			return close_list(p) ? -1 : 1;
		case '"':
			begin_string(p);
			p->state = ST_QUOTED;
			return 1;
		case '{':
			begin_literal(p);
			return 1;
		case '~':
			p->state = ST_TILDE;
			return 1;
		case '\r':
		case '\n':
			return line_break(p, c);
		case '\0':
			return fail(p, IMAP_ERR_PROTOCOL, "NUL byte outside a literal");
		case ']':
			if (p->in_code) {
				if (p->depth > 0)
					return fail(p, IMAP_ERR_PROTOCOL, "']' inside a list in a response code");
				p->in_code = false;
				p->has_code = true;
				p->state = ST_CODE_AFTER;
				return 1;
			}
			break;
		default:
			break;
		}
		begin_string(p);
		p->bracket = 0;
		p->state = ST_ATOM;
		return 0;

	case ST_LIT_CHARS:
		/* a continuation byte belongs to the character before it; a lead
		 * byte starts one of the characters still missing */
		if ((c & 0xc0) != 0x80) {
			if (p->lit_chars == 0 || c == ' ' || c == ')' || c == '\r' || c == '\n') {
				if (store(p, "", 1))
					return -1;
				p->vals[p->nvals - 1].len = p->bytes.len - 1 - p->vals[p->nvals - 1].off_;
				p->state = ST_BETWEEN;
				return 0;
			}
			p->lit_chars--;
		}
		p->resp_len++;
		return store(p, (const char *)s, 1) ? -1 : 1;

	case ST_TILDE:
		if (c == '{') {
			if (p->first_token && p->kind == IMAP_RESPONSE_TAGGED)
				return fail(p, IMAP_ERR_PROTOCOL, "tagged response without OK/NO/BAD");
			p->first_token = false;
			begin_literal(p);
			return 1;
		}
		/* An atom that starts with "~", e.g. an unquoted "~peter/mail". */
		begin_string(p);
		p->bracket = 0;
		p->state = ST_ATOM;
		return store(p, "~", 1) ? -1 : 0;

	case ST_ATOM: {
		size_t i = 0;
		while (i < n && !atom_special(s[i]))
			i++;
		if (i)
			return store(p, (const char *)s, i) ? -1 : (long)i;
		switch (c) {
		case '[':
			p->bracket++;
			return store(p, "[", 1) ? -1 : 1;
		case ']':
			if (p->bracket > 0) {
				p->bracket--;
				return store(p, "]", 1) ? -1 : 1;
			}
			if (p->in_code)
				return end_atom(p) ? -1 : 0;
			return store(p, "]", 1) ? -1 : 1;
		case ' ': case '(': case ')': case '"':
			if (p->bracket > 0)  /* inside a section: BODY[HEADER.FIELDS (A B)] */
				return store(p, (const char *)s, 1) ? -1 : 1;
			return end_atom(p) ? -1 : 0;
		case '\0':
			return fail(p, IMAP_ERR_PROTOCOL, "NUL byte outside a literal");
		default: /* CR, LF: the line ends, even inside an unclosed "[" */
			return end_atom(p) ? -1 : 0;
		}
	}

	case ST_QUOTED: {
		size_t i = 0;
		while (i < n && !quoted_special(s[i]))
			i++;
		if (i)
			return store(p, (const char *)s, i) ? -1 : (long)i;
		if (c == '"') {
			p->state = ST_BETWEEN;
			return end_string(p, IMAP_VALUE_QUOTED) ? -1 : 1;
		}
		if (c == '\\') {
			p->state = ST_QUOTED_ESC;
			return 1;
		}
		if (c == '\0')
			return fail(p, IMAP_ERR_PROTOCOL, "NUL byte in a quoted string");
		return fail(p, IMAP_ERR_PROTOCOL, "unterminated quoted string");
	}

	case ST_QUOTED_ESC:
		if (c == '\r' || c == '\n' || c == '\0')
			return fail(p, IMAP_ERR_PROTOCOL, "unterminated quoted string");
		p->state = ST_QUOTED;
		if (c != '"' && c != '\\' && store(p, "\\", 1))  /* lenient: keep it */
			return -1;
		return store(p, (const char *)s, 1) ? -1 : 1;

	case ST_LIT_NUM:
		if (c >= '0' && c <= '9') {
			/* A streamed literal is never stored: only the format's
			 * own bound applies to it. */
			uint64_t max = p->lit_sunk ? IMAP_PARSER_STREAM_MAX : p->lim.literal_max;
			uint64_t d = (uint64_t)(c - '0');
			if (d > max || p->lit_len > (max - d) / 10)
				return fail(p, IMAP_ERR_LIMIT, "literal larger than the literal limit");
			p->lit_len = p->lit_len * 10 + d;
			p->lit_has_digit = true;
			return 1;
		}
		if (!p->lit_has_digit)
			return fail(p, IMAP_ERR_PROTOCOL, "literal without a size");
		if (c == '+') {
			p->state = ST_LIT_CLOSE;
			return 1;
		}
		__attribute__((fallthrough));
	case ST_LIT_CLOSE:
		if (c != '}')
			return fail(p, IMAP_ERR_PROTOCOL, "malformed literal header");
		if (!p->lit_sunk && p->lit_len > p->lim.response_max - p->resp_len)
			return fail(p, IMAP_ERR_LIMIT, "response larger than the response limit");
		p->state = ST_LIT_CR;
		return 1;

	case ST_LIT_CR:
		if (c == '\r') {
			p->state = ST_LIT_LF;
			return 1;
		}
		/* a bare LF is accepted like everywhere else */
		__attribute__((fallthrough));
	case ST_LIT_LF:
		if (c != '\n')
			return fail(p, IMAP_ERR_PROTOCOL, "literal header not followed by CRLF");
		p->lit_total = p->lit_len;
		if (p->lit_sunk) {
			if (p->sink_rc == 0)
				p->sink_rc = p->sink(p->sink_ctx, NULL, 0, p->lit_total);
		} else {
			/* Limits were checked on the header: reserve before copying. */
			if (charge(p, p->bytes.len + (size_t)p->lit_len + 1))
				return -1;
			int rc = imap_buf_reserve(&p->bytes, (size_t)p->lit_len + 1);
			if (rc)
				return fail(p, rc, "out of memory storing a literal");
		}
		begin_string(p);
		p->state = ST_LIT_DATA;
		if (p->lit_len == 0) {
			p->state = ST_BETWEEN;
			if (end_string(p, IMAP_VALUE_LITERAL))
				return -1;
		}
		return 1;

	case ST_LIT_DATA: {
		size_t take = n < p->lit_len ? n : (size_t)p->lit_len;
		if (p->lit_sunk) {
			if (p->sink_rc == 0)
				p->sink_rc = p->sink(p->sink_ctx, (const char *)s, take, p->lit_total);
		} else {
			if (store(p, (const char *)s, take))
				return -1;
			p->resp_len += take;
		}
		p->lit_len -= take;
		if (p->lit_len == 0) {
			p->state = ST_BETWEEN;
			p->after_literal = true;
			p->lit_end = true;
			if (end_string(p, IMAP_VALUE_LITERAL))
				return -1;
		}
		return (long)take;
	}

	case ST_STATUS_AFTER:
		if (c == ' ') {
			p->state = ST_CODE_OPEN;
			return 1;
		}
		if (c == '\r' || c == '\n')
			return line_break(p, c);
		begin_text(p);  /* lenient: "OK[...]" or "OKtext" */
		return 0;

	case ST_CODE_OPEN:
		if (c == '[') {
			if (open_root(p))
				return -1;
			p->in_code = true;
			p->state = ST_BETWEEN;
			return 1;
		}
		if (c == '\r' || c == '\n')
			return line_break(p, c);
		begin_text(p);
		return 0;

	case ST_CODE_AFTER:
		if (c == ' ') {
			begin_text(p);
			return 1;
		}
		if (c == '\r' || c == '\n')
			return line_break(p, c);
		begin_text(p);
		return 0;

	case ST_TEXT: {
		size_t i = 0;
		while (i < n && !text_special(s[i]))
			i++;
		if (i)
			return store(p, (const char *)s, i) ? -1 : (long)i;
		if (c == '\0')
			return fail(p, IMAP_ERR_PROTOCOL, "NUL byte in response text");
		return line_break(p, c);
	}

	case ST_CR:
		if (c != '\n')
			return fail(p, IMAP_ERR_PROTOCOL, "CR not followed by LF");
		return end_line(p) ? -1 : 1;

	case ST_SLACK_LF:
		if (c != '\n')
			return fail(p, IMAP_ERR_PROTOCOL, "CR not followed by LF");
		p->state = ST_SLACK_PAREN;
		return 1;

	case ST_SLACK_PAREN:
		if (c != ')')
			return fail(p, IMAP_ERR_PROTOCOL, "list not closed at end of line");
		p->after_literal = false;
		p->state = ST_BETWEEN;
		return 0;

	case ST_FAILED:
		return -1;
	}
	return fail(p, IMAP_ERR_PROTOCOL, "parser in an unknown state");
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *buf,
                                        size_t len, size_t *consumed)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	if (p->state == ST_FAILED) {
		*consumed = 0;
		return IMAP_PARSE_ERROR;
	}
	if (p->done)
		begin_response(p);

	while (i < len) {
		bool data = p->state == ST_LIT_DATA;
		long used = step(p, s + i, len - i);
		if (used < 0) {
			*consumed = i;
			return IMAP_PARSE_ERROR;
		}
		if (!data && used > 0) {
			size_t fit = count_line(p, (size_t)used);
			if (fit < (size_t)used) {
				*consumed = i + fit;  /* the byte that crossed the limit */
				return IMAP_PARSE_ERROR;
			}
		}
		i += (size_t)used;
		if (p->done) {
			*consumed = i;
			return IMAP_PARSE_DONE;
		}
	}
	*consumed = i;
	return IMAP_PARSE_NEED_MORE;
}

const struct imap_response *imap_parser_response(const struct imap_parser *p)
{
	return p->done ? &p->resp : NULL;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err ? p->err : "no error";
}

int imap_parser_error_code(const struct imap_parser *p)
{
	return p->err_code;
}

bool imap_parser_in_response(const struct imap_parser *p)
{
	return !p->done && p->state != ST_START && p->state != ST_FAILED;
}

/* ---- walking values ---- */

const struct imap_value *imap_value_at(const struct imap_value *list, size_t i)
{
	if (!list || list->kind != IMAP_VALUE_LIST || i >= list->count)
		return NULL;
	const struct imap_value *v = list + 1;
	while (i--)
		v = imap_value_next(v);
	return v;
}

bool imap_value_is_string(const struct imap_value *v)
{
	return v && (v->kind == IMAP_VALUE_ATOM || v->kind == IMAP_VALUE_QUOTED ||
	             v->kind == IMAP_VALUE_LITERAL);
}

bool imap_value_is_atom(const struct imap_value *v, const char *word)
{
	return v && v->kind == IMAP_VALUE_ATOM && strlen(word) == v->len &&
	       strncasecmp(v->str, word, v->len) == 0;
}

int imap_value_u64(const struct imap_value *v, uint64_t max, uint64_t *out)
{
	if (!imap_value_is_string(v) || v->len == 0)
		return IMAP_ERR_PROTOCOL;
	uint64_t n = 0;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char c = (unsigned char)v->str[i];
		if (c < '0' || c > '9')
			return IMAP_ERR_PROTOCOL;
		uint64_t d = (uint64_t)(c - '0');
		if (d > max || n > (max - d) / 10)
			return IMAP_ERR_PROTOCOL;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* ---- rendering ---- */

static void format_value(struct imap_buf *b, const struct imap_value *v, bool data)
{
	const struct imap_value *c;
	size_t i;

	switch (v->kind) {
	case IMAP_VALUE_NIL:
		imap_buf_puts(b, "NIL");
		break;
	case IMAP_VALUE_ATOM:
		imap_buf_append(b, v->str, v->len);
		break;
	case IMAP_VALUE_QUOTED:
		imap_buf_putc(b, '"');
		imap_buf_append(b, v->str, v->len);
		imap_buf_putc(b, '"');
		break;
	case IMAP_VALUE_LITERAL:
		imap_buf_printf(b, "{%zu}", v->len);
		if (!data) {
			imap_buf_printf(b, "<%zu bytes>", v->len);
			break;
		}
		for (i = 0; i < v->len; i++) {
			unsigned char ch = (unsigned char)v->str[i];
			if (ch == '\r')
				imap_buf_puts(b, "\\r");
			else if (ch == '\n')
				imap_buf_puts(b, "\\n");
			else if (ch == 0)
				imap_buf_puts(b, "\\0");
			else
				imap_buf_putc(b, (char)ch);
		}
		break;
	case IMAP_VALUE_LIST:
		imap_buf_putc(b, '(');
		IMAP_LIST_FOREACH(v, c, i) {
			if (i)
				imap_buf_putc(b, ' ');
			format_value(b, c, data);
		}
		imap_buf_putc(b, ')');
		break;
	}
}

static void format_items(struct imap_buf *b, const struct imap_value *list, bool data)
{
	const struct imap_value *c;
	size_t i;
	IMAP_LIST_FOREACH(list, c, i) {
		if (i)
			imap_buf_putc(b, ' ');
		format_value(b, c, data);
	}
}

static const char *status_name(enum imap_status s)
{
	switch (s) {
	case IMAP_STATUS_OK: return "OK";
	case IMAP_STATUS_NO: return "NO";
	case IMAP_STATUS_BAD: return "BAD";
	case IMAP_STATUS_PREAUTH: return "PREAUTH";
	case IMAP_STATUS_BYE: return "BYE";
	case IMAP_STATUS_NONE: break;
	}
	return "?";
}

int imap_response_format(const struct imap_response *r, struct imap_buf *b, bool data)
{
	if (r->kind == IMAP_RESPONSE_CONTINUATION) {
		imap_buf_puts(b, "+ ");
		return imap_buf_append(b, r->text, r->text_len);
	}
	imap_buf_puts(b, r->kind == IMAP_RESPONSE_TAGGED ? r->tag : "*");
	imap_buf_putc(b, ' ');
	if (r->status == IMAP_STATUS_NONE) {
		format_items(b, r->args, data);
		return 0;
	}
	imap_buf_puts(b, status_name(r->status));
	if (r->code) {
		imap_buf_puts(b, " [");
		format_items(b, r->code, data);
		imap_buf_putc(b, ']');
	}
	imap_buf_puts(b, " ");
	return imap_buf_append(b, r->text, r->text_len);
}

/* ---- message data ---- */

uint32_t imap_fetch_attributes(const struct imap_response *r, const struct imap_value **att)
{
	*att = NULL;
	if (!r->args || r->args->count < 3 || !imap_value_is_atom(imap_value_at(r->args, 1), "FETCH"))
		return 0;
	const struct imap_value *list = imap_value_at(r->args, 2);
	if (!list || list->kind != IMAP_VALUE_LIST)
		return 0;
	*att = list;
	uint64_t uid;
	const struct imap_value *v = imap_fetch_item(list, "UID", false);
	return v && imap_value_u64(v, UINT32_MAX, &uid) == 0 ? (uint32_t)uid : 0;
}

const struct imap_value *imap_fetch_item(const struct imap_value *att, const char *name,
                                         bool prefix)
{
	const struct imap_value *v;
	size_t i, nl = strlen(name);
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		if (v->kind == IMAP_VALUE_ATOM &&
		    (prefix ? v->len >= nl && strncasecmp(v->str, name, nl) == 0
		            : imap_value_is_atom(v, name)))
			return val;
		v = val;  /* items come in name-value pairs */
		i++;
	}
	return NULL;
}

/* seq-number ":" seq-number, digits only (RFC 3501 sequence-set). */
static int set_number(const char *s, size_t len, size_t *i, uint32_t *out)
{
	uint64_t n = 0;
	size_t start = *i;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9' && n <= UINT32_MAX)
		n = n * 10 + (uint64_t)(s[(*i)++] - '0');
	if (*i == start || n == 0 || n > UINT32_MAX)
		return IMAP_ERR_PROTOCOL;
	*out = (uint32_t)n;
	return 0;
}

int imap_set_next(const char *s, size_t len, size_t *pos, uint32_t *a, uint32_t *b)
{
	size_t i = *pos;
	if (i >= len)
		return 0;
	if (set_number(s, len, &i, a))
		return IMAP_ERR_PROTOCOL;
	*b = *a;
	if (i < len && s[i] == ':') {
		i++;
		if (set_number(s, len, &i, b))
			return IMAP_ERR_PROTOCOL;
	}
	if (i < len && s[i++] != ',')
		return IMAP_ERR_PROTOCOL;
	*pos = i;
	return 1;
}
