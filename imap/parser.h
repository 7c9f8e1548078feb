/*
 * imap/parser.h — a pure, resumable parser for IMAP server responses.
 *
 * No I/O: the caller feeds bytes as they arrive, in pieces of any size (one
 * byte at a time works), and gets back "need more", "done" or "error". A
 * token split across two feeds resumes where it stopped. The parser copies
 * what it accepts into storage it owns, so the caller may reuse its input
 * buffer after each feed.
 *
 *   response      = continue-req / response-data / response-tagged
 *   continue-req  = "+" [SP text] CRLF              (text: may be base64)
 *   response-data = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data /
 *                           message-data / capability-data ...) CRLF
 *   resp-cond     = ("OK" / "NO" / "BAD" / "PREAUTH" / "BYE") SP
 *                   ["[" resp-text-code "]" SP] text
 *
 * A status response (OK/NO/BAD/PREAUTH/BYE, tagged or untagged) yields the
 * status, an optional response code and the human text. Any other untagged
 * response yields its arguments as a tree of values:
 *
 *   atom     any run of bytes up to SP, CR, LF, "(", ")" or a quote. A "["
 *            inside an atom opens a section that ends at its matching "]"
 *            and may hold spaces and lists, so `BODY[HEADER.FIELDS (FROM)]<0>`
 *            is one atom. "NIL" (any case) becomes IMAP_VALUE_NIL.
 *   quoted   "..." with \" and \\ unescaped (another backslash is kept).
 *   literal  {n} / {n+} / ~{n} (literal8), CRLF, then n bytes of any value.
 *   list     "(" values ")", nested up to limits.depth_max.
 *
 * Leniency (real servers differ): 8-bit bytes are accepted in atoms, quoted
 * strings and text; a bare LF ends a line like CRLF. Never accepted: NUL
 * outside literals, a CR not followed by LF, a quote or list left open at
 * the end of a line, a literal header not followed by CRLF. Any limit
 * exceeded is an error before the bytes are stored.
 *
 * After IMAP_PARSE_ERROR the byte stream has lost its framing: the caller
 * must drop the connection (imap_parser_reset makes the parser usable again
 * for a fresh stream, which is what the unit tests do).
 */
#ifndef IMAPGW_IMAP_PARSER_H
#define IMAPGW_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

/*
 * A budget of bytes that many parsers (every session's) hold at once for
 * the responses they store: a parser takes from it before its storage
 * grows past what it holds, and gives back when the response is done. A
 * response that would pass the budget fails with IMAP_ERR_BUSY (the
 * gateway answers 503: retry) instead of being read into memory. The
 * budget counts stored bytes; allocation slack (a buffer grows by
 * doubling) comes on top. Thread-safe.
 */
struct imap_budget {
	_Atomic size_t used;
	size_t max;          /* 0: no budget */
};

/* Named limits; every one is configurable and tested at its boundary. */
struct imap_parser_limits {
	size_t line_max;     /* bytes of one response outside literals (default 16 MiB:
	                        an untagged SEARCH of 1M UIDs is ~7 MiB) */
	size_t literal_max;  /* bytes of one literal (default 64 MiB) */
	size_t response_max; /* bytes of one whole response, literals included (default 128 MiB) */
	unsigned depth_max;  /* list nesting depth (default 64) */
	struct imap_budget *budget; /* shared by all parsers; borrowed; NULL: none */
};

#define IMAP_PARSER_LINE_MAX_DEFAULT (16u << 20)
#define IMAP_PARSER_LITERAL_MAX_DEFAULT (64u << 20)
#define IMAP_PARSER_RESPONSE_MAX_DEFAULT (128u << 20)
#define IMAP_PARSER_DEPTH_MAX_DEFAULT 64u

/* Fill *l with the defaults above. */
void imap_parser_limits_default(struct imap_parser_limits *l);

enum imap_value_kind {
	IMAP_VALUE_ATOM,
	IMAP_VALUE_QUOTED,
	IMAP_VALUE_LITERAL,
	IMAP_VALUE_NIL,
	IMAP_VALUE_LIST,
};

/*
 * Values are stored flat, in document order: a list is followed by all of
 * its descendants, `span` of them, so its next sibling is at v + 1 + span.
 * Walk with imap_value_first / imap_value_next, bounded by list->count.
 */
struct imap_value {
	enum imap_value_kind kind;
	uint32_t count;  /* LIST: direct children */
	uint32_t span;   /* LIST: all descendants */
	const char *str; /* ATOM/QUOTED/LITERAL: bytes, NUL-terminated copy; NULL otherwise */
	size_t len;      /* ... and their length (a literal may contain NUL) */
	size_t off_;     /* private: offset of str while parsing */
};

enum imap_response_kind {
	IMAP_RESPONSE_UNTAGGED,     /* "* ..." */
	IMAP_RESPONSE_TAGGED,       /* "<tag> OK|NO|BAD ..." */
	IMAP_RESPONSE_CONTINUATION, /* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE,  /* a data response (untagged, not a status) */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

/* One parsed response. Every pointer is borrowed from the parser and valid
 * until the next imap_parser_feed / imap_parser_reset / imap_parser_free. */
struct imap_response {
	enum imap_response_kind kind;
	enum imap_status status;
	const char *tag;               /* TAGGED: the tag, NUL-terminated; else NULL */
	/* Status responses: "[CODE args…]" as a list whose first child is the
	 * code atom (e.g. CAPABILITY, UIDNEXT, COPYUID); NULL when absent. */
	const struct imap_value *code;
	/* Status and continuation responses: the human text (may be empty). */
	const char *text;
	size_t text_len;
	/* Data responses: the arguments as a list, e.g. for "* 3 EXISTS" the
	 * atoms "3" and "EXISTS". NULL for status and continuation responses. */
	const struct imap_value *args;
};

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE = 0, /* all input consumed; feed more */
	IMAP_PARSE_DONE = 1,      /* a response is complete: imap_parser_response() */
	IMAP_PARSE_ERROR = -1,    /* imap_parser_error() says why */
};

struct imap_parser;

/* New parser with the given limits (NULL: defaults). Aborts only when the
 * small parser object itself cannot be allocated. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);

/* Free the parser and set *p to NULL. NULL-safe. */
void imap_parser_free(struct imap_parser **p);

/* Forget any partial or finished response and error; keeps limits. */
void imap_parser_reset(struct imap_parser *p);

/*
 * Consume bytes from buf[0..len). Sets *consumed to the number of bytes
 * used: all of them for NEED_MORE; up to and including the response's final
 * LF for DONE (feed the rest again after handling the response); up to the
 * offending byte for ERROR. Never reads buf[len] or beyond. Calling feed
 * after DONE starts the next response (the previous one is invalidated).
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *buf,
                                        size_t len, size_t *consumed);

/* The response completed by the last DONE (borrowed), else NULL. */
const struct imap_response *imap_parser_response(const struct imap_parser *p);

/* Why the last feed returned ERROR: a constant message naming the limit or
 * the syntax rule, and the error kind (IMAP_ERR_PROTOCOL or IMAP_ERR_LIMIT). */
const char *imap_parser_error(const struct imap_parser *p);
int imap_parser_error_code(const struct imap_parser *p);

/* True while a response has been started but not finished. */
bool imap_parser_in_response(const struct imap_parser *p);

/* Append a one-line rendering of r to b: "* <values>", "<tag> OK [<code>]
 * text", "+ text". Quoted strings keep their quotes, lists their parens.
 * With `data` false, literal contents are shown as "{n}<n bytes>" (for logs
 * and traces); with true, in full with CR, LF and NUL escaped (for tests).
 * The buffer's own limit bounds the output: returns 0 or IMAP_ERR_LIMIT /
 * IMAP_ERR_NOMEM from the buffer (what fitted is kept). */
int imap_response_format(const struct imap_response *r, struct imap_buf *b, bool data);

/* ---- streaming literals ---- */

/*
 * Where literal data goes instead of storage, for messages and parts too
 * large to hold (e.g. a 50 MB attachment). While a sink is set, the data
 * of every literal in an untagged response (or, with a filter, of those
 * the filter picks) is handed to fn as it arrives: first one call with
 * data NULL and len 0 when the literal's header has been read, then calls
 * with successive pieces (never empty) until `total` bytes have been
 * handed over; `total` is always the literal's declared size. Such a
 * literal becomes an empty string value in the response, and neither
 * literal_max nor response_max applies to it (IMAP_PARSER_STREAM_MAX
 * does). Literals of tagged and continuation responses, and those the
 * filter leaves, are stored as usual, under the usual limits.
 *
 * What fn may do:
 * - It runs inside imap_parser_feed, on the thread that called it (for a
 *   session: inside imap_session_run_sink, on its caller's thread), once
 *   per piece, synchronously. `data` is borrowed for the call only.
 * - It may block: the parser has no clock, and bytes not yet fed simply
 *   wait (in the socket's buffers, for a session). Nothing else bounds the
 *   wait, so fn must bound it itself by the deadline of the command it
 *   serves: a session checks its deadline only between reads.
 * - It must not call into this parser (feed, set a sink, read a response)
 *   nor into the session that owns it: both are in the middle of a
 *   response. Other parsers and sessions are not affected.
 * - Returning nonzero stops the stream: the first such value is kept
 *   (imap_parser_sink_result) and fn gets no more calls until the sink is
 *   set again. Parsing goes on regardless, the literal's remaining bytes
 *   are skipped, so the connection stays in sync and the session usable.
 * Pass fn NULL to store literals again.
 */
typedef int imap_literal_sink_fn(void *ctx, const char *data, size_t len, uint64_t total);

#define IMAP_PARSER_STREAM_MAX (UINT64_C(1) << 40)

/* Set (or with fn NULL clear) the sink and its ctx, clear the filter and
 * the kept result. */
void imap_parser_set_literal_sink(struct imap_parser *p, imap_literal_sink_fn *fn, void *ctx);

/* Where a literal stands in its response, as a filter sees it. */
struct imap_literal_origin {
	/* For the value of a FETCH item, "* <number> FETCH (... <item> {n}":
	 * the message sequence number, else 0. */
	uint32_t number;
	/* The item's name as the server spelled it ("BODY[2]", "BODY[]<0>",
	 * "BODY[HEADER]"), NUL-terminated; "" when the literal is not the
	 * value of a FETCH item (then number and uid are 0). */
	const char *item;
	size_t item_len;
	/* The value of a UID item that came before it in the same FETCH; 0
	 * when none did (a server may send UID after the body, or not at all
	 * in an unsolicited FETCH). */
	uint32_t uid;
};

/* Decides, when an untagged literal's header starts (before its size is
 * read), whether its data goes to the sink (true) or is stored (false).
 * Called with the sink's ctx, under the same rules as the sink; `o` and
 * its strings are borrowed for the call only. */
typedef bool imap_literal_want_fn(void *ctx, const struct imap_literal_origin *o);

/* Hand only the literals `want` picks to the sink (NULL: all). Set it after
 * imap_parser_set_literal_sink, which clears it. */
void imap_parser_set_literal_filter(struct imap_parser *p, imap_literal_want_fn *want);

/* The first nonzero value the sink returned since it was set, or 0. */
int imap_parser_sink_result(const struct imap_parser *p);

/* ---- walking values ---- */

static inline const struct imap_value *imap_value_first(const struct imap_value *list)
{
	return list && list->kind == IMAP_VALUE_LIST && list->count ? list + 1 : NULL;
}

/* The next sibling of v. Only meaningful while fewer than list->count
 * siblings have been visited; use imap_value_at or IMAP_LIST_FOREACH. */
static inline const struct imap_value *imap_value_next(const struct imap_value *v)
{
	return v + 1 + (v->kind == IMAP_VALUE_LIST ? v->span : 0);
}

#define IMAP_LIST_FOREACH(list, v, i) \
	for ((i) = 0, (v) = imap_value_first(list); (v) && (i) < (list)->count; \
	     (i)++, (v) = (i) < (list)->count ? imap_value_next(v) : NULL)

/* The i-th child of list, or NULL when there is none. O(i). */
const struct imap_value *imap_value_at(const struct imap_value *list, size_t i);

/* True when v is a string value (atom, quoted or literal). */
bool imap_value_is_string(const struct imap_value *v);

/* True when v is an atom equal to word, ignoring ASCII case. */
bool imap_value_is_atom(const struct imap_value *v, const char *word);

/* Parse v (an atom or string of decimal digits, no sign) as a number no
 * larger than max. Returns 0 and sets *out, or IMAP_ERR_PROTOCOL. */
int imap_value_u64(const struct imap_value *v, uint64_t max, uint64_t *out);

/* ---- message data ---- */

/* For an untagged "n FETCH (...)": its attribute list into *att and the
 * value of its UID item (0 when there is none, e.g. an unsolicited flag
 * update). Returns 0 with *att NULL for any other response. */
uint32_t imap_fetch_attributes(const struct imap_response *r, const struct imap_value **att);

/* The value of item `name` in a FETCH attribute list: the item is an atom
 * equal to name without regard to case (or starting with it, when
 * `prefix`: "BODY[" finds "BODY[1.2]"). NULL when there is none. */
const struct imap_value *imap_fetch_item(const struct imap_value *att, const char *name,
                                         bool prefix);

/* The next range of the sequence set s[0..len) ("1,3:5,9:7") from *pos:
 * *a and *b as written (equal for a single number; a range may run
 * downwards, as ESORT answers do). Returns 1 and advances *pos, 0 at the
 * end, IMAP_ERR_PROTOCOL when the set is malformed (numbers are 1 to
 * 2^32-1; "*" is not accepted: servers never send it in answers). */
int imap_set_next(const char *s, size_t len, size_t *pos, uint32_t *a, uint32_t *b);

#endif
