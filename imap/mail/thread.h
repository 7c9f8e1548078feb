/*
 * imap/mail/thread.h — conversations: the base subject and the REFERENCES
 * threading algorithm of RFC 5256, on messages from anywhere (one folder,
 * or several: a reply in Sent beside the message it answers).
 *
 * Pure functions: no I/O, no state. Bounded work: threading n messages
 * with r references in all costs O((n + r) log(n + r)) time plus the loop
 * checks (each walks one chain of ancestors) and O(n + r) memory. The
 * pruning and sorting recurse once per level of the tree: a caller bounds
 * n (a reply chain of n messages is n levels; --thread-max allows at most
 * 50,000, a few MB of a thread's 8 MB stack).
 */
#ifndef IMAPGW_IMAP_MAIL_THREAD_H
#define IMAPGW_IMAP_MAIL_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

/* RFC 5256 §2.1 base subject of a decoded subject (NULL: ""): whitespace
 * runs made one space, then repeatedly the trailing "(fwd)", the leading
 * "Re:", "Fw:", "Fwd:" (any case, with "[blob]"s around them), a leading
 * "[blob]" that does not make up the whole subject, and a "[Fwd: ...]"
 * wrapper removed. The case of what remains is kept. *reply (may be NULL)
 * tells whether a reply or forward marker was removed (RFC 5256 calls such
 * a subject a reply or forward). New string, or NULL out of memory. */
char *imap_base_subject(const char *subject, bool *reply);

struct imap_thread_msg {
	const char *message_id;  /* Message-ID header value, or NULL */
	const char *references;  /* References header value, or NULL */
	const char *in_reply_to; /* In-Reply-To header value, or NULL */
	const char *subject;     /* decoded Subject, or NULL */
	int64_t date;            /* sent date: Date, else INTERNALDATE (RFC 5256 §2.2) */
};

/* A tree node: a message (msg is its index in the input) or a dummy
 * (msg -1: a message referred to but not given, or one made to gather
 * messages of one subject). Links are node indexes, -1 for none. */
struct imap_thread_node {
	long msg;
	long parent, child, next;
};

struct imap_threads {
	struct imap_thread_node *v;
	size_t n;
	long first;              /* the first root; roots are linked by next */
	long last_root_;         /* private: imap_threads_add's last root */
};

/* Thread msgs[0..n) as RFC 5256 REFERENCES does, the input order standing
 * for the mailbox order (ties of dates). Message ids are the "<...>" of
 * the headers (References: every one, in order; In-Reply-To: the first,
 * used when References has none), compared exactly. Roots and siblings
 * end sorted by sent date. Returns 0 and fills *out (free with
 * imap_threads_free), or -1 out of memory. */
int imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
                           struct imap_threads *out);

void imap_threads_free(struct imap_threads *t);

/* Add a node for msg (-1: a dummy) as the last child of parent (-1: the
 * last root), for trees read from elsewhere (a server's THREAD answer);
 * t starts zeroed with first -1. Returns the node, or -1 out of memory. */
long imap_threads_add(struct imap_threads *t, long msg, long parent);

/* The id of the conversation a message belongs to, from its own headers:
 * the first id of References (the conversation's first message), else of
 * In-Reply-To, else its Message-ID; NULL when it has none of them. *len
 * is the id's length, brackets included. */
const char *imap_thread_root_id(const char *message_id, const char *references,
                                const char *in_reply_to, size_t *len);

/* The threads in the syntax of an IMAP THREAD response (RFC 5256 §4):
 * "(3 6 (4 23)(44 7 96))", with ids[msg] for each message. */
void imap_threads_format(const struct imap_threads *t, const uint32_t *ids, struct imap_buf *out);

/* The first "<...>" in s[0..len) (no blanks inside), or NULL; *len_out
 * its length with the brackets. */
const char *imap_msgid_next(const char *s, size_t len, size_t *pos, size_t *len_out);

#endif
