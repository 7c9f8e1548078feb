/*
 * tests/support/fake_imap.h — a scripted fake IMAP server for fault
 * injection in unit tests (plain TCP on 127.0.0.1, no TLS).
 *
 * A test writes the conversation as a table of steps, starts the fake,
 * points an imap_session at fake_imap_port() and, once the client is done
 * (and its session freed), calls fake_imap_finish() for the verdict and the
 * transcript of everything the client sent:
 *
 *	static const struct fake_step script[] = {
 *		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
 *		FAKE_EXPECT("LOGIN alice secret"),
 *		FAKE_SEND("$TAG OK Logged in\r\n"),
 *	};
 *
 * The server runs on its own thread, accepts ONE connection and plays the
 * steps in order. Every wait (accept, each read) is bounded: by
 * FAKE_IMAP_WAIT_MS per wait and FAKE_IMAP_SCRIPT_MS for the whole run, so
 * fake_imap_finish() never hangs a test run.
 *
 * Steps are written with the macros below (designated initializers, so
 * they compile under -Wextra -Werror, where a positional {op, "text"}
 * would trip -Wmissing-field-initializers).
 *
 * After the last step (unless it is FAKE_CLOSE()) the fake keeps reading until
 * the client closes the connection: any byte the client sends then is an
 * unexpected command, makes the run fail and is added to the transcript.
 * So a script states exactly what the client may send, and "nothing more"
 * is checked for free. A test must therefore free (or time out) its session
 * before calling fake_imap_finish().
 *
 * Loading this file also ignores SIGPIPE for the whole process (a write to
 * a peer that closed must be an error, not a signal).
 */
#ifndef IMAPGW_TESTS_FAKE_IMAP_H
#define IMAPGW_TESTS_FAKE_IMAP_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_IMAP_WAIT_MS 4000    /* longest wait for one accept or read */
#define FAKE_IMAP_SCRIPT_MS 8000  /* longest run of a whole script */

enum fake_op {
	FAKE_OP_SEND,
	FAKE_OP_SEND_BYTES,
	FAKE_OP_EXPECT,
	FAKE_OP_EXPECT_PREFIX,
	FAKE_OP_EXPECT_RAW,
	FAKE_OP_READ_BYTES,
	FAKE_OP_QUIET,
	FAKE_OP_DELAY,
	FAKE_OP_SHUTDOWN,
	FAKE_OP_CLOSE,
};

struct fake_step {
	enum fake_op op;
	/* Borrowed until fake_imap_finish(). It is read only when its step is
	 * played, so a buffer that depends on the port may be filled after
	 * fake_imap_start() as long as that happens before the client connects. */
	const char *text;
	size_t n;         /* SEND_BYTES / READ_BYTES: bytes; QUIET / DELAY: ms */
};

/* The number of steps in a script array. */
#define FAKE_NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

/* The steps, as initializers of a struct fake_step array. */

/* Write `text` in one write, with every "$TAG" replaced by the tag of the
 * last FAKE_EXPECT line (a script error before any). `text` carries its
 * own CRLFs. */
#define FAKE_SEND(str_) {.op = FAKE_OP_SEND, .text = (str_)}
/* Write `n` bytes of `bytes` exactly as they are (may hold NUL). */
#define FAKE_SEND_BYTES(bytes_, len_) {.op = FAKE_OP_SEND_BYTES, .text = (bytes_), .n = (len_)}
/* Read one CRLF-terminated line "<tag> <rest>": the tag is captured for
 * $TAG and <rest> must equal `text`: FAKE_EXPECT("LOGIN alice secret")
 * matches "A1 LOGIN alice secret". */
#define FAKE_EXPECT(str_) {.op = FAKE_OP_EXPECT, .text = (str_)}
/* The same, but <rest> must only start with `text`. */
#define FAKE_EXPECT_PREFIX(str_) {.op = FAKE_OP_EXPECT_PREFIX, .text = (str_)}
/* Read one line with no tag (a SASL response, or what follows literal data
 * on a command line) that must equal `text` ("": an empty line). */
#define FAKE_EXPECT_RAW(str_) {.op = FAKE_OP_EXPECT_RAW, .text = (str_)}
/* Read exactly `len` bytes (literal data), recorded as one transcript entry. */
#define FAKE_READ_BYTES(len_) {.op = FAKE_OP_READ_BYTES, .n = (len_)}
/* The client must send nothing for `ms` (proves it waits, e.g. for the "+"
 * before literal data). Stronger than a delay: a byte that comes early
 * fails the run. */
#define FAKE_QUIET(ms_) {.op = FAKE_OP_QUIET, .n = (ms_)}
/* Sleep `ms`. */
#define FAKE_DELAY(ms_) {.op = FAKE_OP_DELAY, .n = (ms_)}
/* Half-close (shutdown for writing): the client reads EOF, while the fake
 * goes on reading, so bytes the client sends later are still caught. */
#define FAKE_SHUTDOWN() {.op = FAKE_OP_SHUTDOWN}
/* Close the socket now; must be the last step. */
#define FAKE_CLOSE() {.op = FAKE_OP_CLOSE}

struct fake_imap;

/* Bind 127.0.0.1 on a kernel-chosen port, listen, and start the thread
 * that accepts one connection and plays script[0..n). The steps are
 * copied; the strings they point to are borrowed until fake_imap_finish().
 * Returns NULL (with a message on stderr) when the socket or thread cannot
 * be set up. Does not block. */
struct fake_imap *fake_imap_start(const struct fake_step *script, size_t n);

/* The port the fake listens on. */
uint16_t fake_imap_port(const struct fake_imap *f);

/* Wait for the thread (bounded, see above), free the fake and set *f to
 * NULL. Returns 0 when every step was played and matched and the client
 * sent nothing unexpected; else non-zero, with the reason on stderr. When
 * transcript is non-NULL, *transcript receives what the client sent: each
 * line without its CRLF, each FAKE_READ_BYTES block as it came, joined with
 * "\n" (a new heap string, "" when nothing came; the caller frees). */
int fake_imap_finish(struct fake_imap **f, char **transcript);

#endif
