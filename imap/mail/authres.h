/*
 * imap/mail/authres.h — what a message's own header says about who sent it:
 * DKIM-Signature tag lists (RFC 6376 §3.5) and Authentication-Results
 * (RFC 8601), reduced to the facts an unsubscribe decision needs
 * (RFC 8058 §4: the signature must cover List-Unsubscribe and
 * List-Unsubscribe-Post).
 *
 * Pure parsing: no I/O, no shared state (thread-safe). Inputs are borrowed,
 * never read past their lengths and need no NUL termination. Nothing here
 * verifies a signature: a DKIM-Signature field is a claim anyone can write;
 * only the Authentication-Results of a receiving server the operator trusts
 * (by its authserv-id) say whether one verified.
 */
#ifndef IMAPGW_IMAP_MAIL_AUTHRES_H
#define IMAPGW_IMAP_MAIL_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/mail/mime.h"

/* Bytes of one field value looked at; longer values are refused whole. */
#define IMAP_AUTH_FIELD_MAX 16384
/* A domain name (RFC 1035: 253 characters written out). */
#define IMAP_AUTH_DOMAIN_MAX 253
/* dkim=pass results kept from one Authentication-Results field. */
#define IMAP_AUTHRES_PASS_MAX 8

struct imap_dkim_sig {
	char domain[IMAP_AUTH_DOMAIN_MAX + 1]; /* d=, lower case */
	bool covers_unsubscribe;               /* h= names List-Unsubscribe */
	bool covers_unsubscribe_post;          /* h= names List-Unsubscribe-Post */
};

/*
 * Parse one DKIM-Signature field value (RFC 6376 §3.2, §3.5):
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *ALNUMPUNC                 ; ALNUMPUNC = ALPHA / DIGIT / "_"
 *   tag-value = [ tval *( 1*(WSP / FWS) tval ) ] ; tval = 1*(%x21-3A / %x3C-7E)
 *   sig-h-tag = "h" [FWS] "=" [FWS] hdr-name *( [FWS] ":" [FWS] hdr-name )
 *
 * A signature is usable only as RFC 6376 §6.1.1 demands of a verifier:
 * v=1, a=, b=, bh=, d= (a domain name), s= and h= present, h= naming From,
 * no tag twice. Returns 0 and fills *out, or IMAP_ERR_INVALID (out zeroed)
 * for anything else, including values longer than IMAP_AUTH_FIELD_MAX.
 */
int imap_dkim_signature_parse(const char *v, size_t len, struct imap_dkim_sig *out);

struct imap_authres {
	char authserv_id[IMAP_AUTH_DOMAIN_MAX + 1]; /* as written (case kept) */
	/* The domains of the dkim=pass results: header.d, or the domain of
	 * header.i when there is no header.d; lower case. */
	char dkim_pass[IMAP_AUTHRES_PASS_MAX][IMAP_AUTH_DOMAIN_MAX + 1];
	size_t n_pass;
	/* Domains of dkim results that are not pass (fail, neutral, policy,
	 * temperror, permerror ...), as above: a signature said to fail. */
	char dkim_other[IMAP_AUTHRES_PASS_MAX][IMAP_AUTH_DOMAIN_MAX + 1];
	size_t n_other;
};

/*
 * Parse one Authentication-Results field value (RFC 8601 §2.2):
 *
 *   authres-payload = [CFWS] authserv-id [ CFWS authres-version ]
 *                     ( no-result / 1*resinfo ) [CFWS]
 *   resinfo    = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
 *   methodspec = [CFWS] method [CFWS] "=" [CFWS] result
 *   method     = Keyword [ [CFWS] "/" [CFWS] method-version ]
 *   reasonspec = "reason" [CFWS] "=" [CFWS] value
 *   propspec   = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
 *
 * Comments (nested, with quoted pairs) count as blanks; a resinfo that does
 * not follow the grammar is skipped, not fatal. Returns 0 and fills *out, or
 * IMAP_ERR_INVALID (out zeroed) when there is no authserv-id or the value
 * is longer than IMAP_AUTH_FIELD_MAX.
 */
int imap_authres_parse(const char *v, size_t len, struct imap_authres *out);

/* True when d (a C string, any case) is a public suffix by the Public
 * Suffix List (libpsl: the newer of its built-in copy and the system's),
 * ICANN and private sections alike ("co.uk", "github.io"), or has a single
 * label. Without any list only the last rule holds. Thread-safe. */
bool imap_dkim_public_suffix(const char *d);

/* True when DKIM domain d aligns with the From domain: equal, or d is a
 * parent of it ("example.com" for "news.example.com"), ignoring case. A
 * d= that is a public suffix (imap_dkim_public_suffix) never aligns, not
 * even with itself: whoever runs "co.uk" or "github.io" does not speak for
 * the domains under it. Both are C strings. */
bool imap_dkim_aligned(const char *from_domain, const char *d);

/* What the header of one message says about its sender. */
struct imap_sender_trust {
	/* A usable DKIM-Signature covers both List-Unsubscribe and
	 * List-Unsubscribe-Post; and when trusted Authentication-Results
	 * report any dkim result, that signature's d= is among those that
	 * passed (a claimed h= that did not verify covers nothing). */
	bool dkim_covers_unsubscribe;
	/* A trusted Authentication-Results field has dkim=pass. */
	bool dkim_pass;
	/* A passing domain aligns with from_domain (imap_dkim_aligned). */
	bool aligned;
};

/*
 * The trust facts of a header (fields as imap_mime_header_read gives them:
 * "dkim-signature", "authentication-results" are read, others ignored).
 * Authentication-Results fields count only when their authserv-id equals
 * one of trusted[0..ntrusted) ignoring case; the others are ignored, as
 * anyone upstream can write them. from_domain may be NULL or "".
 */
void imap_sender_trust_eval(const struct imap_mime_header *h, const char *const *trusted,
                            size_t ntrusted, const char *from_domain,
                            struct imap_sender_trust *out);

#endif
