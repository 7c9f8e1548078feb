/*
 * api/mailto.c — a mailto: unsubscribe sent over SMTP. See mailto.h.
 *
 * The message is built here, header by header, from values that cannot
 * break out of their lines: the recipient has no blank or control (the
 * List-Unsubscribe parser guarantees it), the subject's controls are gone
 * and non-ASCII subjects are RFC 2047 encoded; the body is text whose line
 * ends are normalised to CRLF (libcurl dot-stuffs it on the wire).
 */
#include "api/mailto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "imap/base/buf.h"

#define TIMEOUT_DEFAULT_MS 30000u
#define ADDRESS_MAX 320

bool api_smtp_tls_parse(const char *s, enum api_smtp_tls *out)
{
	static const char *const names[] = {[API_SMTP_STARTTLS] = "starttls",
	                                    [API_SMTP_IMPLICIT] = "implicit",
	                                    [API_SMTP_NONE] = "none"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum api_smtp_tls)i;
			return true;
		}
	}
	return false;
}

/* The sender address: the user name when it is an address (no blank,
 * control or bracket), else user@from_domain; false when neither works. */
static bool sender_of(const char *user, const char *domain, char *out, size_t cap)
{
	for (const char *p = user; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"')
			return false;
	int n;
	if (strchr(user, '@'))
		n = snprintf(out, cap, "%s", user);
	else if (domain && *domain && !strpbrk(domain, " \t\r\n<>@\""))
		n = snprintf(out, cap, "%s@%s", user, domain);
	else
		return false;
	return n > 0 && (size_t)n < cap;
}

static bool ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* "Subject: ..." with an RFC 2047 B-encoded word when it is not ASCII. */
static void subject_line(struct imap_buf *b, const char *subject)
{
	imap_buf_puts(b, "Subject: ");
	if (ascii(subject)) {
		imap_buf_puts(b, subject);
	} else {
		size_t len = strlen(subject);
		unsigned char enc[4 * 256 / 3 + 8];
		/* one encoded word holds at most 75 characters: chunks of 45 bytes,
		 * cut at a character boundary */
		size_t at = 0;
		while (at < len) {
			size_t n = len - at < 45 ? len - at : 45;
			while (n < len - at && n > 0 && ((unsigned char)subject[at + n] & 0xc0) == 0x80)
				n--;
			int m = EVP_EncodeBlock(enc, (const unsigned char *)subject + at, (int)n);
			imap_buf_printf(b, "%s=?UTF-8?B?%.*s?=", at ? "\r\n " : "", m, (const char *)enc);
			at += n;
		}
	}
	imap_buf_puts(b, "\r\n");
}

static void build(struct imap_buf *b, const char *from, const char *to, const char *subject,
                  const char *body)
{
	char date[64], id[33];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	const char *at = strrchr(from, '@');
	imap_buf_printf(b, "From: <%s>\r\nTo: <%s>\r\n", from, to);
	subject_line(b, subject);
	imap_buf_printf(b, "Date: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
	                   "Content-Type: text/plain; charset=utf-8\r\n"
	                   "Content-Transfer-Encoding: 8bit\r\n\r\n",
	                date, id, at ? at + 1 : "localhost");
	for (const char *p = body; *p; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;  /* the \n that follows writes the CRLF */
		if (*p == '\n' || *p == '\r')
			imap_buf_puts(b, "\r\n");
		else
			imap_buf_putc(b, *p);
	}
	imap_buf_puts(b, "\r\n");
}

struct reader {
	const char *data;
	size_t len, at;
};

static size_t on_read(char *out, size_t size, size_t n, void *ctx)
{
	struct reader *r = ctx;
	size_t want = size * n, left = r->len - r->at;
	if (want > left)
		want = left;
	memcpy(out, r->data + r->at, want);
	r->at += want;
	return want;
}

bool api_mailto_send(const struct api_smtp_config *cfg, const struct imap_credentials *cred,
                     const char *to, const char *subject, const char *body, bool *refused,
                     char *reason, size_t cap)
{
	char from[ADDRESS_MAX + 1], url[600], mail_from[ADDRESS_MAX + 3], rcpt[ADDRESS_MAX + 3];
	*refused = false;
	reason[0] = '\0';
	if (!sender_of(cred->user, cfg->from_domain, from, sizeof from)) {
		*refused = true;
		snprintf(reason, cap, "the user name is not a mail address and no --smtp-from-domain "
		                      "is configured");
		return false;
	}
	if (strlen(to) > ADDRESS_MAX || strpbrk(to, " \t\r\n<>")) {
		*refused = true;
		snprintf(reason, cap, "the unsubscribe address cannot be used");
		return false;
	}
	unsigned port = cfg->port ? cfg->port : cfg->tls == API_SMTP_IMPLICIT ? 465 : 587;
	bool v6 = strchr(cfg->host, ':') != NULL;
	snprintf(url, sizeof url, "%s://%s%s%s:%u", cfg->tls == API_SMTP_IMPLICIT ? "smtps" : "smtp",
	         v6 ? "[" : "", cfg->host, v6 ? "]" : "", port);
	snprintf(mail_from, sizeof mail_from, "<%s>", from);
	snprintf(rcpt, sizeof rcpt, "<%s>", to);

	struct imap_buf msg;
	imap_buf_init(&msg, 1u << 20);
	build(&msg, from, to, subject && *subject ? subject : "unsubscribe",
	      body && *body ? body : "unsubscribe");
	struct reader rd = {msg.data, msg.len, 0};
	CURL *c = curl_easy_init();
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	bool ok = false;
	if (!c || !rcpts || !msg.data) {
		snprintf(reason, cap, "out of memory");
		goto done;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_USE_SSL,
	                 (long)(cfg->tls == API_SMTP_NONE ? CURLUSESSL_NONE : CURLUSESSL_ALL));
	if (cfg->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	unsigned timeout = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(c, CURLOPT_USERNAME, cred->user);
	if (cred->kind == IMAP_CRED_TOKEN) {
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, cred->secret);
		curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
	} else {
		curl_easy_setopt(c, CURLOPT_PASSWORD, cred->secret);
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	curl_easy_setopt(c, CURLOPT_INFILESIZE, (long)msg.len);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK) {
		ok = true;
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(reason, cap, "the SMTP server did not finish within %u ms", timeout);
	} else if (code) {
		snprintf(reason, cap, "the SMTP server answered %ld (%s)", code, curl_easy_strerror(rc));
	} else {
		snprintf(reason, cap, "SMTP: %s", curl_easy_strerror(rc));
	}
done:
	curl_slist_free_all(rcpts);
	if (c)
		curl_easy_cleanup(c);
	imap_buf_free(&msg);
	return ok;
}
