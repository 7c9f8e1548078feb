/*
 * imap/mail/cte.h — Content-Transfer-Encoding (RFC 2045 §6): streaming decoders
 * for base64 and quoted-printable bodies.
 *
 * A body part fetched with BODY.PEEK[n] arrives as it was encoded; these
 * decoders turn it into its bytes while it arrives, in chunks of any size,
 * with a fixed amount of state and no allocation, so an attachment of any
 * size streams with bounded memory. Feeding the input in any split gives
 * exactly the same output (chunk boundaries may fall anywhere: inside a
 * base64 quantum, between "=" and its hex digits, between CR and LF).
 *
 * Decoding is best effort, as mail clients do: malformed input is never an
 * error (what cannot be decoded is skipped or kept literally, as each
 * encoding says below); the only errors are the caller's own, returned by
 * its output callback or by an output buffer.
 *
 * No I/O, no shared state: a decoder belongs to one caller at a time, and
 * distinct decoders may be used from distinct threads. Inputs are
 * borrowed, never read past their lengths and need no NUL termination.
 */
#ifndef IMAPGW_IMAP_MAIL_CTE_H
#define IMAPGW_IMAP_MAIL_CTE_H

#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

enum imap_cte {
	IMAP_CTE_IDENTITY, /* 7bit, 8bit, binary, and anything unknown */
	IMAP_CTE_BASE64,
	IMAP_CTE_QP,       /* quoted-printable */
};

/* The encoding named by s[0..len) (a Content-Transfer-Encoding value or an
 * IMAP body-fld-enc): "base64" and "quoted-printable", in any case, with
 * surrounding blanks or double quotes, and followed by nothing but blanks,
 * ";" or a "(comment)". Everything else — "7bit", "8bit", "binary" (also
 * spelt "7-bit", "8-bit"), an unknown token such as "x-uuencode", empty
 * or NULL — is IMAP_CTE_IDENTITY: mail clients show such a body as it
 * stands rather than not at all. s is borrowed (NULL allowed with len 0). */
enum imap_cte imap_cte_parse(const char *s, size_t len);

/* Decoded bytes are handed to the callback in batches of up to this many
 * (fewer when the decoder is finished, or for identity input passed
 * through as it came). */
#define IMAP_CTE_OUT_CHUNK 4096

/* Quoted-printable: at most this many blanks are held back while the
 * decoder waits to see whether a line break follows them (trailing blanks
 * are removed, RFC 2045 §6.7 rule 3). Of a longer run, the excess is
 * emitted: real encoders write lines of at most 76 characters. */
#define IMAP_CTE_QP_BLANKS_MAX 128

/* The state of one decoder. Initialise with imap_cte_init; the fields are
 * private. About 4.3 KB: fine on a stack or inside a per-request struct. */
struct imap_cte_decoder {
	enum imap_cte cte;
	int (*out)(void *ctx, const char *data, size_t len);
	void *ctx;
	int error;        /* the callback's error, sticky once set */
	int state;        /* quoted-printable: where in an "=" escape or a line end */
	uint32_t bits;    /* base64: sextets of the current quantum */
	unsigned nbits;   /* base64: how many sextets are in `bits` (0..3) */
	char hex;         /* quoted-printable: the first digit after "=" */
	size_t blanks_len;
	char blanks[IMAP_CTE_QP_BLANKS_MAX];
	size_t out_len;
	char out_buf[IMAP_CTE_OUT_CHUNK];
};

/* Prepare *d to decode `cte`, sending decoded bytes to
 * out(ctx, data, len) (len >= 1; data is borrowed for the call). The
 * callback returns 0 to go on, or an error (a negative enum imap_err, by
 * convention) that stops decoding: it is returned by the imap_cte_feed or
 * imap_cte_finish call that made the callback, and by every later call on
 * *d, which then does nothing. ctx is borrowed. */
void imap_cte_init(struct imap_cte_decoder *d, enum imap_cte cte,
		   int (*out)(void *ctx, const char *data, size_t len), void *ctx);

/* Decode in[0..len), the next piece of the encoded body. Output may be held
 * back (batched, or waiting for the rest of an escape or a quantum) until a
 * later call or imap_cte_finish. Calls the callback zero or more times.
 * Returns 0 or the callback's error (see imap_cte_init).
 *
 * base64: characters outside A-Z a-z 0-9 + / (line breaks, blanks,
 * garbage) are skipped. "=" ends the current quantum: a quantum of 2 or 3
 * sextets gives its 1 or 2 whole bytes, further "=" are ignored, and any
 * base64 that follows starts a new quantum (concatenated encodings). A
 * single sextet before "=" or at the end cannot make a byte and is
 * dropped.
 *
 * quoted-printable: "=XX" (hex digits in either case) is the byte XX; "="
 * followed by blanks (optional) and a line break (CRLF or LF) is a soft
 * line break and disappears; blanks (space, TAB) before a line break are
 * removed; any other "=" is kept literally along with what follows it
 * ("=4G" -> "=4G", "= x" -> "= x", "==41" -> "=A"). Line breaks themselves
 * are kept as they are (CRLF or LF); a lone CR is ordinary data.
 *
 * identity: the bytes as they are. */
int imap_cte_feed(struct imap_cte_decoder *d, const char *in, size_t len);

/* End of input: decode what is held back and hand everything left to the
 * callback. The end of input counts as the end of a line (in a multipart
 * body, the line break before the next boundary belongs to the boundary),
 * so for quoted-printable trailing blanks are removed and a final "="
 * (with or without blanks after it) is a soft line break; "=X" at the end
 * is kept literally. A base64 quantum cut short gives the whole bytes it
 * holds. Returns 0 or the callback's error. *d may then be initialised
 * again; it holds nothing to free. */
int imap_cte_finish(struct imap_cte_decoder *d);

/* One shot: decode in[0..len) and append the result to out. Returns 0,
 * IMAP_ERR_LIMIT when out would grow past its max, or IMAP_ERR_NOMEM; on
 * error out is rolled back to its length on entry. in is borrowed (NULL
 * allowed with len 0); out is caller-owned. */
int imap_cte_decode(enum imap_cte cte, const char *in, size_t len, struct imap_buf *out);

#endif
