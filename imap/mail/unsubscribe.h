/*
 * imap/mail/unsubscribe.h — List-Unsubscribe (RFC 2369) and List-Unsubscribe-Post
 * (RFC 8058) header values -> the ways a user can leave a list.
 *
 * Pure parsing: no I/O, no shared state (thread-safe). Inputs are borrowed,
 * never read past their lengths and need no NUL termination. Every string
 * produced is valid UTF-8 without NUL, owned by the struct and released by
 * imap_unsubscribe_free.
 */
#ifndef IMAPGW_IMAP_MAIL_UNSUBSCRIBE_H
#define IMAPGW_IMAP_MAIL_UNSUBSCRIBE_H

#include <stdbool.h>
#include <stddef.h>

/* Input beyond this many bytes of either header is ignored (an entry cut
 * by the limit is dropped, not kept half). */
#define IMAP_UNSUB_INPUT_MAX 16384
/* At most this many URIs (mailto and http together) are kept. */
#define IMAP_UNSUB_ENTRIES_MAX 32

struct imap_unsub_mailto {
	/* The recipient (RFC 6068 addr-spec, or the "to=" field when the path
	 * is empty), percent-decoded; never NULL, always holds an "@" and no
	 * blank or control character (it is safe to put in a header). */
	char *address;
	/* "subject=" / "body=" (field name in any case; the first of each
	 * wins), percent-decoded, NULL when absent. The subject has every
	 * control character replaced by a space; the body keeps CR, LF, TAB. */
	char *subject;
	char *body;
	/* The URI as given, blanks removed ("mailto:x@y?subject=..."). */
	char *uri;
};

struct imap_unsubscribe {
	struct imap_unsub_mailto *mailto; /* n_mailto entries, header order */
	size_t n_mailto;
	/* http: and https: URIs in header order, as given: not
	 * percent-decoded, only the blanks inside the brackets removed. */
	char **http;
	size_t n_http;
	/* The Post header says List-Unsubscribe=One-Click AND an https URI
	 * exists (RFC 8058 §3.1: the POST must go over HTTPS). */
	bool one_click;
	/* "List-Unsubscribe=One-Click" when the Post header has it (even with
	 * no https URI), else NULL. */
	char *post;
};

/* Parse raw header values: list_unsubscribe[0..len) and post[0..post_len)
 * (either NULL/0 when the header is absent). Values may be folded, hold
 * tabs and stray blanks, be RFC 2047-encoded or carry raw 8-bit bytes.
 *
 * Lenient by design: entries are "<URI>" separated by commas, but a comma
 * inside <...> belongs to the URI and blanks inside it are ignored
 * (RFC 2369 §2); bare "mailto:x@y" or "https://..." entries without
 * brackets, separated by commas or blanks, are accepted; an unclosed "<"
 * ends at the next "<"; comments "(...)" are skipped. Only mailto:, http:
 * and https: are kept (scheme in any case; an http URI needs a host, a
 * mailto an address with "@"); anything else is ignored, and duplicates
 * are kept once (mailto: same address ignoring case, subject and body;
 * http: same URI, scheme ignoring case).
 *
 * Returns 0 and fills *out (out->n_mailto == 0 && out->n_http == 0 means
 * "no usable unsubscribe"); IMAP_ERR_NOMEM, after which *out is empty.
 * *out need not be initialised; the caller releases it with
 * imap_unsubscribe_free. */
int imap_unsubscribe_parse(const char *list_unsubscribe, size_t len, const char *post,
			   size_t post_len, struct imap_unsubscribe *out);

/* Free everything *u owns and leave it empty (all NULL/0); calling it
 * again, or on a zeroed struct, is harmless. u may be NULL. */
void imap_unsubscribe_free(struct imap_unsubscribe *u);

/* The URI a mail client should offer, with the policy of Thunderbird for
 * Android (K-9 Mail) ListUnsubscribeHelper: the first mailto: URI, else the
 * first https: URI; plain http: is never offered. Returns a pointer
 * borrowed from *u (valid until imap_unsubscribe_free), or NULL when there
 * is none. u may be NULL. */
const char *imap_unsubscribe_preferred(const struct imap_unsubscribe *u);

#endif
