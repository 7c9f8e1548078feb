/*
 * imap/envelope.h — the IMAP ENVELOPE (RFC 3501 §7.4.2) as plain C data,
 * and a lenient parser for raw address headers (RFC 5322 §3.4).
 *
 * Pure functions: no I/O, no state, thread-safe. Everything returned is a
 * new heap copy owned by the caller; the parsed IMAP values are borrowed
 * only for the duration of the call.
 *
 * Every string handed out is valid UTF-8 without NUL bytes, so it can go
 * into JSON as is. Display names and subjects go through
 * imap_rfc2047_decode (encoded words decoded, stray 8-bit bytes read as
 * windows-1252, control characters turned into spaces); display names are
 * also trimmed. Everything else (addresses, message ids, the raw date) is
 * kept as sent except that NUL bytes and bytes that do not form UTF-8 are
 * each replaced by U+FFFD.
 */
#ifndef IMAPGW_IMAP_ENVELOPE_H
#define IMAPGW_IMAP_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"

/*
 * One mailbox.
 *   name     the decoded display name; NULL when absent or blank.
 *   address  never NULL: "mailbox@host"; the mailbox alone when there is
 *            no host (or the host is a server's placeholder for a missing
 *            one: Dovecot's "MISSING_DOMAIN", UW/Exchange's
 *            ".MISSING-HOST-NAME."); "" when there is no mailbox (then
 *            name is set: an entry never has neither). The source route
 *            (addr-adl, "@route1,@route2:") is dropped.
 */
struct imap_address {
	char *name;
	char *address;
};

/* Groups are flattened: the members are kept, in order; the group names
 * and markers are dropped (so "undisclosed-recipients:;" is no entry). */
struct imap_address_list {
	struct imap_address *v; /* n entries; NULL when n == 0 */
	size_t n;
};

struct imap_envelope {
	char *date_raw;  /* the Date header as sent; NULL when NIL or empty */
	bool has_date;   /* date_raw parsed with imap_date_parse_rfc5322: */
	int64_t date;    /*   the instant (epoch seconds), 0 unless has_date */
	int date_tz;     /*   the writer's UTC offset in minutes, 0 unless has_date */
	char *subject;   /* decoded; NULL when NIL ("" stays "") */
	struct imap_address_list from, sender, reply_to, to, cc, bcc;
	char *in_reply_to, *message_id; /* as sent; NULL when NIL or empty */
};

/*
 * Decode the ENVELOPE list `env` into *out (which is overwritten; free it
 * with imap_envelope_free, also after an error — it is then empty).
 *
 *   envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *              env-reply-to SP env-to SP env-cc SP env-bcc SP
 *              env-in-reply-to SP env-message-id ")"
 *   env-from = "(" 1*address ")" / nil          (likewise the other lists)
 *   address  = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
 *
 * Group syntax (RFC 3501 §7.4.2): an address with a NIL host and a non-NIL
 * mailbox starts a group named by the mailbox; one with NIL host and NIL
 * mailbox ends it. A start is taken as a group marker only when an end
 * marker follows it in the same list: a lone (NIL NIL "user" NIL), which
 * servers send for an unqualified "user", is the address "user". An end
 * marker outside a group is dropped too, unless it carries a name (then
 * it is a name-only entry with address "").
 *
 * Lenient, as real servers require: NIL or a list wherever a string is
 * expected counts as NIL; strings may be quoted, literals or bare atoms;
 * fewer than 10 fields fill what is there (the rest stay NULL/empty), more
 * are ignored; fields wrapped in one more pair of parentheses (Domino)
 * are read as if they were not; an address list that is NIL, "()" or not
 * a list is empty;
 * an item of it that is not a list is skipped; an address with fewer than
 * four fields uses what it has. Empty strings count as NIL in addresses.
 *
 * Returns 0; IMAP_ERR_PROTOCOL when env is NULL or not a list at all;
 * IMAP_ERR_NOMEM (or IMAP_ERR_LIMIT from the RFC 2047 decoder).
 */
int imap_envelope_parse(const struct imap_value *env, struct imap_envelope *out);

/* Free everything *e owns and leave it zeroed. NULL-safe; safe on a
 * zero-initialised struct. */
void imap_envelope_free(struct imap_envelope *e);

/*
 * Parse a raw address header value (From, To, Cc, Reply-To …, folding
 * included) into *out (overwritten; free with imap_address_list_free, also
 * after an error):
 *
 *   address-list = address *("," address)
 *   address      = mailbox / group
 *   mailbox      = name-addr / addr-spec
 *   name-addr    = [display-name] "<" [obs-route] addr-spec ">"
 *   group        = display-name ":" [mailbox-list] ";"
 *
 * Lenient: display names quoted or not, with obs-phrase dots
 * ("John Q. Public"), RFC 2047 encoded words (also inside quotes, as broken
 * mailers write them); comments anywhere, and for a bare addr-spec the
 * comment is the name ("user@host (Real Name)"); "Real Name user@host"
 * without brackets; groups flattened as above; empty elements (",,")
 * skipped; an unclosed "<" or quote runs to the end. Elements with neither
 * an address nor a name are dropped ("<>", "undisclosed-recipients:;").
 * The address is the addr-spec as written less whitespace and comments
 * (a quoted local part keeps its quotes; "john . doe @ example . com" is
 * "john.doe@example.com"); an obs-route or a "mailto:" before it inside
 * "<...>" is dropped.
 *
 * Never fails on syntax. Returns 0, or IMAP_ERR_NOMEM / IMAP_ERR_LIMIT.
 * value is borrowed and need not be NUL-terminated.
 */
int imap_address_parse_header(const char *value, size_t len, struct imap_address_list *out);

/* Free the entries of *l and leave it empty. NULL-safe. */
void imap_address_list_free(struct imap_address_list *l);

#endif
