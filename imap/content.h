/*
 * imap/content.h — the content of one message: its source or one body
 * part, streamed as the server sends it.
 *
 * Costs: the folder is selected read-only unless the session has it
 * selected already (no round trip then); then one UID FETCH of
 * BODY.PEEK[section], which never sets \Seen. The data goes to a sink as it
 * arrives (imap_session_run_sink), so memory stays bounded whatever the
 * size of the message.
 */
#ifndef IMAPGW_IMAP_CONTENT_H
#define IMAPGW_IMAP_CONTENT_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/bodystructure.h"
#include "imap/client.h"
#include "imap/mail/mime.h"
#include "imap/messages.h"

/* Select `folder` (UTF-8) and check its UIDVALIDITY when `uidvalidity` is
 * not 0, then stream BODY.PEEK[section] of message `uid` into sink
 * (section "" is the whole RFC 822 source).
 *
 * The sink sees the calls of an imap_literal_sink_fn, for this section of
 * this message only: at most one start call (data NULL, len 0) with the
 * total size, then the bytes in pieces. Which literal that is is decided by
 * the FETCH item it is the value of (BODY[section], as the server spells
 * it) and the UID, never by the order literals arrive: other literals the
 * server sends meanwhile (BODY[HEADER], an unsolicited FETCH of another
 * message, the section a second time) are stored like any response (under
 * the parser's limits) and dropped. When the UID
 * comes after the body and turns out to be another message's, the bytes
 * have gone out: the call fails with IMAP_ERR_PROTOCOL. A section the
 * server sends as a quoted string instead of a literal is handed over the
 * same way, once the response is complete.
 *
 * The sink runs on the calling thread, inside this call (within
 * imap_parser_feed). It may block, e.g. until an HTTP client has taken
 * earlier bytes, but no longer than `deadline`: the session does not check
 * its deadline while the sink runs. It must not use session `s`. A nonzero
 * return stops the stream: the sink is not called again, the rest of the
 * answer is read (the session stays usable) and that value is returned.
 *
 * Returns 0 once the whole section went to the sink; IMAP_ERR_NOT_FOUND
 * for an unknown folder or message; IMAP_ERR_PROTOCOL when the server
 * answers for the message but gives the section as NIL or not at all (the
 * sink is then never called; Yandex does so); IMAP_ERR_STALE when the folder's
 * UIDVALIDITY differs; IMAP_ERR_INVALID for a malformed section
 * (imap_body_section_valid); IMAP_ERR_PROTOCOL as above; the sink's
 * error; or an error of imap_session_run. */
int imap_content_stream(struct imap_session *s, const char *folder, uint32_t uidvalidity,
                        uint32_t uid, const char *section, imap_literal_sink_fn *sink,
                        void *sink_ctx, int64_t deadline, struct imap_error *err);

/* Select `folder` (read-only unless `readwrite`; a selection already made
 * serves when it allows as much) and check UIDVALIDITY as above, for
 * reading message `uid`: a selection already made is brought up to date
 * (NOOP) when uid is at or past its UIDNEXT (or that is unknown), so a
 * message just appended by another session is found. Returns 0,
 * IMAP_ERR_NOT_FOUND, IMAP_ERR_STALE or a session error. */
int imap_content_select(struct imap_session *s, const char *folder, bool readwrite,
                        uint32_t uidvalidity, uint32_t uid, int64_t deadline,
                        struct imap_error *err);

/* One message, as GET /messages/{uid} shows it. */
struct imap_message {
	struct imap_summary sum;                /* as in a page */
	struct imap_bodystructure *structure;   /* NULL when the server's could not be parsed */
	struct imap_mime_header header;         /* every header field, decoded */
	char **references;                      /* the <msg-id>s of References, in order */
	size_t nreferences;
	/* The body text, filled by imap_message_fetch_text: UTF-8 */
	struct imap_buf text, html;             /* text/plain and text/html parts, each
	                                           starting on its own line */
	bool has_text, has_html;                /* the message has such parts */
	bool text_cut;                          /* a part was longer than was fetched */
};

/* Fetch message `uid` of the selected mailbox (imap_content_select first):
 * one UID FETCH of the summary items, BODYSTRUCTURE and BODY.PEEK[HEADER].
 * Returns 0 and fills *out (free with imap_message_free, also after an
 * error); IMAP_ERR_NOT_FOUND when there is no such message; an error of
 * imap_session_run. A header block past the header limits is read up to
 * them; a BODYSTRUCTURE that cannot be parsed leaves `structure` NULL. */
int imap_message_fetch(struct imap_session *s, uint32_t uid, int64_t deadline,
                       struct imap_message *out, struct imap_error *err);
void imap_message_free(struct imap_message *m);

/* Fetch only the BODYSTRUCTURE of message uid in the selected mailbox
 * into a new tree *out (free with imap_bodystructure_free). Returns 0;
 * IMAP_ERR_NOT_FOUND when there is no such message; IMAP_ERR_PROTOCOL
 * when the server's structure cannot be parsed; an error of
 * imap_session_run. */
int imap_content_structure(struct imap_session *s, uint32_t uid, int64_t deadline,
                           struct imap_bodystructure **out, struct imap_error *err);

/* Whether message uid is in the selected mailbox: UID FETCH uid (UID).
 * Returns 0, IMAP_ERR_NOT_FOUND, or an error of imap_session_run. */
int imap_content_exists(struct imap_session *s, uint32_t uid, int64_t deadline,
                        struct imap_error *err);

/* The body text of m (fetched by imap_message_fetch): the parts a mail
 * client shows (imap_body_text_parts) are fetched in one UID FETCH, the
 * first `max` bytes of each (BODY.PEEK[n]<0.max>), decoded from their
 * transfer encoding and charset into m->text and m->html. A part longer
 * than max sets text_cut (a character split by the cut is dropped). At
 * most IMAP_SECTIONS_MAX parts; more also set text_cut. Returns 0 or an
 * error of imap_session_run. */
#define IMAP_SECTIONS_MAX 16
int imap_message_fetch_text(struct imap_session *s, struct imap_message *m, size_t max,
                            int64_t deadline, struct imap_error *err);

/* Set \Seen on m in the selected mailbox (selected read-write): UID STORE
 * +FLAGS.SILENT, then m->sum.flags shows it. Returns 0 or an error of
 * imap_session_run. */
int imap_message_mark_seen(struct imap_session *s, struct imap_message *m, int64_t deadline,
                           struct imap_error *err);

#endif
