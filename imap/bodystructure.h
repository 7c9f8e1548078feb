/*
 * imap/bodystructure.h — the MIME structure of a message, from its IMAP
 * BODYSTRUCTURE (or BODY) value: parts with their IMAP section numbers,
 * file names, the attachment list and the parts to show as body text.
 *
 *   body            = "(" (body-type-1part / body-type-mpart) ")"
 *   body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 *   body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                     [SP body-ext-1part]
 *   body-type-basic = media-basic SP body-fields
 *   body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
 *   body-type-text  = media-text SP body-fields SP body-fld-lines
 *   body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
 *                     body-fld-enc SP body-fld-octets
 *   body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 *   body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
 *                     [SP body-fld-loc *(SP body-extension)]]]
 *   body-fld-dsp    = "(" string SP body-fld-param ")" / nil
 *   body-fld-lang   = nstring / "(" string *(SP string) ")"
 *
 * Section numbers follow RFC 3501 §6.4.5: the parts of a multipart are
 * numbered 1, 2, … below the multipart's own number; a message that is not
 * multipart has one part, "1"; a message/rfc822 part X encloses a body
 * whose parts are X.1, X.2 … when it is multipart, and which is X.1 itself
 * when it is not. A multipart node carries the number its parts hang
 * from: "" for the root, "3" for the nested multipart 3, and X for the
 * multipart body enclosed in the message/rfc822 part X.
 *
 * Tolerant of what real servers send, each case tested:
 *   - any case in types, subtypes, encodings, parameter names and
 *     disposition types (Cyrus, Gmail send upper case): lower-cased;
 *   - fewer extension fields than RFC 3501 lists (Gmail and Courier stop
 *     one or more early, BODY has none): absent ones are NULL;
 *     more (unknown body-extension data): ignored;
 *   - NIL, or a list, where a string is expected: taken as absent. A NIL
 *     media type with a NIL subtype is text/plain (RFC 2045 §5.2: what a
 *     missing or invalid Content-Type means); a NIL type with a subtype,
 *     or a missing subtype, is application/octet-stream (RFC 2046 §4.5.3),
 *     except text (text/plain, §4.1.4) and multipart (multipart/mixed,
 *     §5.1.3);
 *   - a single part whose subtype is left out ("TEXT" ("CHARSET" …) …):
 *     recognised by a list in the subtype's place, read one field early;
 *   - a multipart whose subtype is left out (its parameter list follows
 *     the parts): multipart/mixed;
 *   - Gmail's empty multipart ("ALTERNATIVE" ("BOUNDARY" "x") NIL NIL): a
 *     list of fewer than six fields with a list or NIL second: a multipart
 *     with that subtype and no parts;
 *   - body-fld-dsp as a bare string ("inline"): that disposition type
 *     without parameters, when it is an RFC 2045 token, else ignored;
 *     (NIL NIL) or a list without a type: no disposition; a NIL
 *     disposition followed by a "language" that has the shape of a
 *     disposition (("inline" NIL) where body-fld-lang should be): taken
 *     as the disposition;
 *   - a list where body-fld-md5 (or a text part's body-fld-lines) should
 *     be: a field was left out before it, and the list is body-fld-dsp;
 *   - message/rfc822 (or message/global) without an envelope and body in
 *     its fields: an ordinary single part;
 *   - a negative or non-numeric size or line count: 0.
 * A value that is not a body at all (NIL, an atom, "()") is an error.
 *
 * Pure functions: no I/O, no shared state, thread-safe. The IMAP values
 * are borrowed only for the duration of a call; everything returned is
 * owned by the caller. Every string handed out is valid UTF-8 without NUL
 * bytes (raw strings pass through imap_utf8_sanitize).
 */
#ifndef IMAPGW_IMAP_BODYSTRUCTURE_H
#define IMAPGW_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/error.h"
#include "imap/parser.h"

/* A part may sit inside at most this many multipart / message parts
 * (the root is at depth 0); a deeper one makes the parse fail with
 * IMAP_ERR_LIMIT. */
#define IMAP_BODY_DEPTH_MAX 32u
/* At most this many parts (multipart nodes included) in one structure;
 * more is IMAP_ERR_LIMIT. */
#define IMAP_BODY_PARTS_MAX 5000u
/* Section strings accepted by imap_body_section_valid: at most this many
 * bytes and dot-separated numbers. Every section of a structure within
 * the two limits above fits. */
#define IMAP_SECTION_LEN_MAX 255u
#define IMAP_SECTION_DEPTH_MAX (IMAP_BODY_DEPTH_MAX + 1u)
/* A file name is cut to at most this many bytes (on a character
 * boundary). */
#define IMAP_FILENAME_MAX 255u

/* One Content-Type or Content-Disposition parameter as the server sent it:
 * the name lower-cased ("filename*1*" stays one parameter of that name),
 * the value raw (no RFC 2231 or RFC 2047 decoding; imap_mime_param_get
 * does that). Neither is ever NULL. */
struct imap_mime_param {
	char *name;
	char *value;
};

enum imap_body_kind {
	IMAP_BODY_SINGLE,    /* a leaf: text, image, application, … */
	IMAP_BODY_MULTIPART, /* children are its parts, in order */
	IMAP_BODY_MESSAGE,   /* message/rfc822 or message/global: one child,
	                        the body of the enclosed message */
};

struct imap_body_part {
	enum imap_body_kind kind;
	char *section;      /* never NULL; see the numbering above */
	char *type;         /* lower-cased, never NULL ("multipart" for MULTIPART) */
	char *subtype;      /* lower-cased, never NULL */
	struct imap_mime_param *params; /* body-fld-param; NULL when nparams == 0 */
	size_t nparams;
	char *id;           /* Content-ID exactly as sent, angle brackets kept; NULL if none */
	char *description;  /* Content-Description, RFC 2047-decoded; NULL if none */
	char *encoding;     /* Content-Transfer-Encoding, lower-cased; NULL if none
	                       (always NULL for MULTIPART) */
	uint64_t size;      /* body-fld-octets: encoded size; 0 for MULTIPART */
	uint64_t lines;     /* body-fld-lines (text and message parts); else 0 */
	char *md5;          /* body-fld-md5; NULL if none */
	char *disposition;  /* body-fld-dsp type, lower-cased ("inline",
	                       "attachment", …); NULL if none */
	struct imap_mime_param *dsp_params; /* its parameters; NULL when ndsp_params == 0 */
	size_t ndsp_params;
	char **language;    /* body-fld-lang, each as sent; NULL when nlanguage == 0 */
	size_t nlanguage;
	char *location;     /* body-fld-loc; NULL if none */
	/* The file name to offer (see imap_mime_param_get for the decoding):
	 * the Content-Disposition "filename" parameter, else the Content-Type
	 * "name" parameter, each after RFC 2231 and RFC 2047 decoding; then
	 * made safe: control characters (U+0000..U+001F, U+007F..U+009F)
	 * removed (a line break that folds a value included; those inside
	 * RFC 2047 encoded words, TAB aside, have become spaces in decoding),
	 * everything up to the last "/" or "\" removed, surrounding spaces
	 * trimmed, cut to IMAP_FILENAME_MAX bytes. NULL when there is none or
	 * nothing is left ("", ".", ".."); a "filename" that comes to nothing
	 * falls back to "name". */
	char *filename;
	const struct imap_body_part *parent; /* NULL for the root */
	struct imap_body_part *children;     /* MULTIPART: nchildren parts (maybe 0);
	                                        MESSAGE: exactly one; SINGLE: NULL */
	size_t nchildren;
};

struct imap_bodystructure {
	struct imap_body_part root; /* the message's body */
	size_t nparts;              /* parts in the tree, root and multiparts included */
};

/* Parse the BODYSTRUCTURE (or BODY) value `body` into a new tree, *out
 * (free with imap_bodystructure_free). On failure *out is NULL and err
 * (when non-NULL) says why. Returns 0; IMAP_ERR_PROTOCOL when body is
 * NULL or not a body (see above); IMAP_ERR_LIMIT when the nesting or the
 * number of parts passes IMAP_BODY_DEPTH_MAX / IMAP_BODY_PARTS_MAX;
 * IMAP_ERR_NOMEM. */
int imap_bodystructure_parse(const struct imap_value *body, struct imap_bodystructure **out,
                             struct imap_error *err);

/* Free the tree and set *bs to NULL. NULL-safe. */
void imap_bodystructure_free(struct imap_bodystructure **bs);

/* True when s[0..len) is a part number: 1 to IMAP_SECTION_DEPTH_MAX
 * positive decimal numbers without leading zeros (each up to 9 digits),
 * separated by single dots, IMAP_SECTION_LEN_MAX bytes at most. ""
 * (the root multipart's section), "1.", ".1", "1..2", "01", "0" and
 * "1.HEADER" are not. s is borrowed, need not be NUL-terminated. */
bool imap_body_section_valid(const char *s, size_t len);

/* The part that the section number `section` (a C string) names, or NULL
 * when it is not valid (imap_body_section_valid) or names no part. "" is
 * the root when that is a multipart. A number shared by a message/rfc822
 * part and the multipart it encloses names the message/rfc822 part.
 * Borrowed from bs. */
const struct imap_body_part *imap_bodystructure_find(const struct imap_bodystructure *bs,
                                                     const char *section);

/* Parts borrowed from a tree, in document order. */
struct imap_body_part_list {
	const struct imap_body_part **v; /* NULL when n == 0 */
	size_t n;
};

/* Free the array (not the parts) and leave the list empty. NULL-safe. */
void imap_body_part_list_free(struct imap_body_part_list *l);

enum imap_body_text {
	IMAP_TEXT_PLAIN, /* text/plain */
	IMAP_TEXT_HTML,  /* text/html */
};

/*
 * The parts a mail client shows as the message's body text of the given
 * kind, in the order to show them (concatenated when there are several),
 * into *out (overwritten; free with imap_body_part_list_free). `body` is
 * a message's body: &bs->root, or the child of a message/rfc822 part.
 *
 *   - text/plain (or text/html) leaf: itself, unless it is an attachment:
 *     a disposition other than "inline" (RFC 2183 §2.8: unknown ones
 *     count as attachment), or — inside a multipart/mixed — a file name;
 *   - multipart/alternative: the last part that yields something of the
 *     kind (so a nested related/mixed counts);
 *   - multipart/related: its root — the part whose Content-ID equals the
 *     "start" parameter (angle brackets ignored), else the first part;
 *   - any other multipart (mixed, report, signed, unknown): every part in
 *     order, so several inline text/plain parts are all returned;
 *   - a multipart with disposition "attachment", a message/rfc822 part
 *     and any other leaf: nothing (attached messages are not descended).
 * Returns 0 (an empty list when there is no such text) or IMAP_ERR_NOMEM.
 */
int imap_body_text_parts(const struct imap_body_part *body, enum imap_body_text kind,
                         struct imap_body_part_list *out);

struct imap_attachment {
	char *section;      /* never NULL */
	char *filename;     /* as imap_body_part.filename; NULL if none */
	char *content_type; /* "type/subtype", lower-case, never NULL */
	char *disposition;  /* lower-cased disposition type; NULL if none */
	bool is_inline;     /* disposition "inline", or a Content-ID on a
	                       direct part of a multipart/related */
	char *content_id;   /* as sent, angle brackets kept; NULL if none */
	char *encoding;     /* lower-cased transfer encoding; NULL if none */
	uint64_t size;      /* encoded octets (for a multipart: the sum of its
	                       leaves' sizes) */
	/* Estimated decoded size. base64: floor((size - 2*L) * 3 / 4), 0 when
	 * size <= 2*L, where L is the line count when the server gave one
	 * (text parts), else ceil(size / 78) (lines of 76 characters plus CRLF,
	 * as mailers write base64); padding is not subtracted. Any other
	 * encoding: size (an upper bound for quoted-printable). */
	uint64_t decoded_size;
};

struct imap_attachment_list {
	struct imap_attachment *v; /* NULL when n == 0 */
	size_t n;
};

/*
 * Every part a mail client shows as an attachment, in document order,
 * into *out (overwritten; free with imap_attachment_list_free, also after
 * an error). Strings are copies: the list does not borrow from bs.
 *
 *   - a leaf whose type is not "text" (image, application, audio, message/
 *     delivery-status, …), whatever its disposition;
 *   - a "text" leaf with a disposition other than "inline" or with a file
 *     name, unless it is body text (imap_body_text_parts, either kind, of
 *     the message it belongs to);
 *   - a message/rfc822 part, followed by the attachments of the message
 *     it encloses (by the same rules, with their deeper sections);
 *   - a multipart with disposition "attachment", as one entry (its parts
 *     are not listed).
 * Returns 0 or IMAP_ERR_NOMEM.
 */
int imap_bodystructure_attachment_list(const struct imap_bodystructure *bs,
                                       struct imap_attachment_list *out);

/* Free the entries and leave the list empty. NULL-safe. */
void imap_attachment_list_free(struct imap_attachment_list *l);

/* The length of imap_bodystructure_attachment_list for the BODYSTRUCTURE
 * value `body` (for message summaries): 0 when it cannot be parsed or
 * memory runs out. */
unsigned imap_bodystructure_attachments(const struct imap_value *body);

/*
 * The decoded value of parameter `name` (a C string, any case, without
 * "*") among params[0..n) into *out (a new string; NULL when absent).
 *
 *   - RFC 2231 first: "name*" (charset'language'%XX-encoded), or the
 *     continuations "name*0", "name*1*", … in any order in the list,
 *     joined from 0 up to the first missing number (segments with "*"
 *     %-decoded, the others taken as they are; the charset and language
 *     come from segment 0). A "%" not followed by two hex digits stays
 *     itself; an extended value without the two quotes is all data.
 *     The bytes are converted from the charset with imap_charset_to_utf8
 *     (missing or unknown charset: UTF-8 when valid, else windows-1252);
 *     the language is ignored. When no segment has a "*", the joined
 *     value is read like a plain one.
 *   - else the plain "name": RFC 2047 encoded words decoded (also inside
 *     what was a quoted string: imap_rfc2047_decode), stray 8-bit bytes
 *     read as UTF-8 or windows-1252.
 * In the result every control character (U+0000..U+001F, U+007F..U+009F,
 * TAB and line breaks included) is a space. Never fails on the input (a
 * value whose decoded form would be over 16 times its raw size counts as
 * absent; no real charset grows that much).
 * Returns 0 or IMAP_ERR_NOMEM. params and name are borrowed.
 */
int imap_mime_param_get(const struct imap_mime_param *params, size_t n, const char *name,
                        char **out);

#endif
