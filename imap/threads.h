/*
 * imap/threads.h — the conversations of a folder.
 *
 * With THREAD=REFERENCES (Dovecot, Cyrus, Courier) the server threads:
 * one UID THREAD REFERENCES UTF-8 ALL, plus one UID SEARCH and one UID
 * FETCH (INTERNALDATE) to order the conversations. Without it (Gmail,
 * Office 365, or when --imap-ignore-caps names THREAD=REFERENCES) the
 * newest `max` messages' summaries are fetched and threaded here by the
 * same algorithm (imap/mail/thread.h).
 */
#ifndef IMAPGW_IMAP_THREADS_H
#define IMAPGW_IMAP_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/client.h"
#include "imap/mail/thread.h"
#include "imap/messages.h"

struct imap_folder_threads {
	uint32_t uidvalidity;
	struct imap_threads t;   /* node msg: an index into m */
	struct imap_match *m;    /* the messages, ascending by UID, with INTERNALDATE */
	size_t n;
	bool by_server;          /* the server's THREAD answered */
};

/* Thread folder (selected read-only). Returns 0 and fills *out (free with
 * imap_folder_threads_free), or an error as imap_messages_page. */
int imap_threads_folder(struct imap_session *s, const char *folder, size_t max,
                        int64_t deadline, struct imap_folder_threads *out,
                        struct imap_error *err);

void imap_folder_threads_free(struct imap_folder_threads *f);

/* The input of the threading algorithm for a summary (borrowed strings):
 * its ids, subject, and sent date (Date, else INTERNALDATE). */
void imap_thread_msg_of(const struct imap_summary *m, struct imap_thread_msg *out);

#endif
