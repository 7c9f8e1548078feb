/*
 * imap/command.h — building IMAP commands safely.
 *
 * Every byte a command sends passes through one of these builders. Trusted
 * protocol words (command names, fetch items) go through imap_cmd_atom /
 * imap_cmd_raw, which refuse anything that could break framing. Everything
 * that comes from a user goes through imap_cmd_astring / imap_cmd_string /
 * imap_cmd_mailbox / imap_cmd_literal, which choose the encoding:
 *
 *   atom     when every byte is a safe ATOM-CHAR and the word is not NIL
 *   quoted   "..." with \" and \\ escaped, for printable text (8-bit only
 *            when UTF8=ACCEPT is enabled) of at most IMAP_CMD_QUOTED_MAX bytes
 *   literal  {n} + CRLF + n bytes otherwise: CR and LF travel as literal data,
 *            never spliced into the command line. NUL cannot be sent (that
 *            needs BINARY's literal8) and is refused.
 *
 * Literals are non-synchronizing ({n+}) when the server offers LITERAL+, or
 * LITERAL- and n <= 4096; otherwise synchronizing: the command records a
 * sync point after "{n}\r\n" and the sender must wait for the server's "+"
 * before sending the rest (imap_cmd_segment).
 *
 * Arguments are separated by one space automatically (none after "(").
 * The first error sticks: later calls do nothing and imap_cmd_end returns it,
 * so a builder sequence needs one check at the end.
 *
 * Alongside the wire bytes the builder keeps a trace copy for logs in which
 * secrets read "***" and literal data reads "<n bytes>".
 */
#ifndef IMAPGW_IMAP_COMMAND_H
#define IMAPGW_IMAP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

#define IMAP_CMD_QUOTED_MAX 1024  /* longer strings go as literals */
#define IMAP_CMD_SYNC_MAX 16      /* synchronizing literals in one command */
#define IMAP_CMD_LITERAL_MINUS_MAX 4096

enum imap_cmd_flags {
	IMAP_CMD_LITERAL_PLUS = 1 << 0,  /* server offers LITERAL+ */
	IMAP_CMD_LITERAL_MINUS = 1 << 1, /* server offers LITERAL- */
	IMAP_CMD_UTF8 = 1 << 2,          /* UTF8=ACCEPT is enabled */
};

struct imap_cmd {
	struct imap_buf wire;   /* what goes to the server */
	struct imap_buf trace;  /* what a log may show */
	size_t sync[IMAP_CMD_SYNC_MAX]; /* wire offsets just after "{n}\r\n" */
	size_t nsync;
	unsigned flags;
	int err;
};

/* Start a command with its tag; `max` bounds the wire size (0: no bound
 * beyond memory). */
void imap_cmd_init(struct imap_cmd *c, const char *tag, unsigned flags, size_t max);

/* Free the buffers. The struct may be initialised again. */
void imap_cmd_free(struct imap_cmd *c);

/* A trusted protocol word: command name, fetch item, flag, sequence set.
 * Refused (IMAP_ERR_INVALID) unless every byte is printable ASCII other
 * than SP ( ) { " and, outside "[...]", no ] — enough for "UID", "\Seen",
 * "BODY.PEEK[HEADER.FIELDS", "1:*", "+FLAGS.SILENT". */
void imap_cmd_atom(struct imap_cmd *c, const char *word);

/* Trusted protocol text such as "(UID FLAGS)": refused when it holds CR,
 * LF, NUL, "{" or 8-bit bytes. Text that starts with ")" closes a list and
 * gets no space before it. */
void imap_cmd_raw(struct imap_cmd *c, const char *text);

/* A decimal number. */
void imap_cmd_number(struct imap_cmd *c, uint64_t n);

/* User data as an astring: atom, quoted or literal, whichever is safe. */
void imap_cmd_astring(struct imap_cmd *c, const char *s, size_t len);

/* User data that must be a string (never an atom): quoted or literal. For
 * SEARCH keys and the like. */
void imap_cmd_string(struct imap_cmd *c, const char *s, size_t len);

/* Like imap_cmd_astring, but the trace shows "***". */
void imap_cmd_secret(struct imap_cmd *c, const char *s, size_t len);

/* A mailbox name given in UTF-8. INBOX (any case) is sent as INBOX; other
 * names are sent as UTF-8 when IMAP_CMD_UTF8 is set, else in modified
 * UTF-7. Invalid UTF-8 is refused. */
void imap_cmd_mailbox(struct imap_cmd *c, const char *utf8, size_t len);

/* Always a literal (message data for APPEND). NUL bytes are refused. */
void imap_cmd_literal(struct imap_cmd *c, const void *data, size_t len);

/* "(" and ")" around a list of arguments. */
void imap_cmd_open(struct imap_cmd *c);
void imap_cmd_close(struct imap_cmd *c);

/* Finish with CRLF. Returns 0 or the first error (IMAP_ERR_INVALID,
 * IMAP_ERR_LIMIT, IMAP_ERR_NOMEM). */
int imap_cmd_end(struct imap_cmd *c);

/* The i-th piece to send: pieces are separated by sync points, so piece
 * i > 0 may be sent only after the server's "+" continuation. Returns the
 * number of pieces (nsync + 1); sets *data and *len for piece i when i is in
 * range. */
size_t imap_cmd_segment(const struct imap_cmd *c, size_t i, const char **data, size_t *len);

/* Choose how s would be encoded: 0 atom, 1 quoted, 2 literal, or
 * IMAP_ERR_INVALID when it cannot be sent. `as_string` excludes atoms. */
int imap_cmd_encoding(const char *s, size_t len, unsigned flags, bool as_string);

#endif
