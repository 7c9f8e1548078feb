/*
 * imap/multisearch.c — ESEARCH IN (mailboxes ...) and its answers; see
 * multisearch.h. Grammar (RFC 7377, RFC 4466, RFC 4731):
 *
 *   esearch = "ESEARCH" [SP "IN" SP "(" "mailboxes" SP "(" mailbox *(SP mailbox) ")" ")"]
 *             [SP "RETURN" SP "(" "ALL" ")"] SP search-program
 *   esearch-response = "ESEARCH" SP "(" "TAG" SP tag-string SP "MAILBOX" SP astring
 *             SP "UIDVALIDITY" SP nz-number ")" SP "UID" *(SP search-return-data)
 */
#include "imap/multisearch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/utf7.h"
#include "imap/parser.h"

void imap_multisearch_cmd(struct imap_cmd *c, const char *const *folders, size_t n,
                          const struct imap_filter *f)
{
	imap_cmd_atom(c, "ESEARCH");
	imap_cmd_atom(c, "IN");
	imap_cmd_open(c);
	imap_cmd_atom(c, "mailboxes");
	imap_cmd_open(c);
	for (size_t i = 0; i < n; i++)
		imap_cmd_mailbox(c, folders[i], strlen(folders[i]));
	imap_cmd_close(c);
	imap_cmd_close(c);
	imap_cmd_raw(c, "RETURN (ALL)");
	imap_filter_criteria(c, f);
}

/* The folder a MAILBOX value names, or -1. */
static long which_folder(const struct imap_multi_parse *p, const struct imap_value *mbox)
{
	struct imap_buf name;
	imap_buf_init(&name, 0);
	int rc = p->utf8 ? (imap_utf8_validate(mbox->str, mbox->len) ? IMAP_ERR_INVALID
	                    : imap_buf_append(&name, mbox->str, mbox->len))
	                 : imap_utf7_decode(mbox->str, mbox->len, &name);
	long hit = -1;
	if (!rc && imap_buf_append(&name, "", 1) == 0) {
		bool inbox = strcasecmp(name.data, "INBOX") == 0;
		for (size_t i = 0; i < p->nfolders && hit < 0; i++)
			if (inbox ? strcasecmp(p->folders[i], "INBOX") == 0
			          : strcmp(p->folders[i], name.data) == 0)
				hit = (long)i;
	}
	imap_buf_free(&name);
	return hit;
}

static int push(struct imap_multi_parse *p, struct imap_multi_folder *f, size_t *cap,
                uint32_t uid)
{
	if (p->out->total >= p->max_uids)
		return IMAP_ERR_LIMIT;
	if (f->n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint32_t *v = realloc(f->uids, c * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		f->uids = v;
		*cap = c;
	}
	f->uids[f->n++] = uid;
	p->out->total++;
	return 0;
}

int imap_multisearch_on_response(void *ctx, const struct imap_response *r)
{
	struct imap_multi_parse *p = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "ESEARCH"))
		return 0;
	const struct imap_value *corr = imap_value_at(r->args, 1);
	if (!corr || corr->kind != IMAP_VALUE_LIST)
		return 0;  /* no correlator: not this command's */
	const struct imap_value *tag = NULL, *mbox = NULL, *v;
	uint64_t uidvalidity = 0;
	size_t i;
	IMAP_LIST_FOREACH(corr, v, i) {
		if (i + 1 >= corr->count || i % 2)
			continue;
		const struct imap_value *val = imap_value_next(v);
		if (imap_value_is_atom(v, "TAG") && imap_value_is_string(val))
			tag = val;
		else if (imap_value_is_atom(v, "MAILBOX") && imap_value_is_string(val))
			mbox = val;
		else if (imap_value_is_atom(v, "UIDVALIDITY") &&
		         imap_value_u64(val, UINT32_MAX, &uidvalidity))
			uidvalidity = 0;
	}
	if (!tag || tag->len != strlen(p->tag) || memcmp(tag->str, p->tag, tag->len) != 0)
		return 0;
	if (!mbox)
		return IMAP_ERR_PROTOCOL;  /* an answer of a search over many names each */
	long k = which_folder(p, mbox);
	if (k < 0) {
		p->out->foreign++;
		return 0;
	}
	struct imap_multi_folder *f = &p->out->v[k];
	if (f->answered)
		return IMAP_ERR_PROTOCOL;
	f->answered = true;
	f->uidvalidity = (uint32_t)uidvalidity;
	size_t cap = 0;
	IMAP_LIST_FOREACH(r->args, v, i) {
		if (i < 2 || i + 1 >= r->args->count)
			continue;
		const struct imap_value *set = imap_value_next(v);
		if (!imap_value_is_atom(v, "ALL") || !imap_value_is_string(set))
			continue;
		size_t pos = 0;
		uint32_t a, b;
		int more;
		while ((more = imap_set_next(set->str, set->len, &pos, &a, &b)) == 1) {
			uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
			if ((uint64_t)(hi - lo) >= p->max_uids)  /* before any work */
				return IMAP_ERR_LIMIT;
			for (uint64_t u = lo; u <= hi; u++) {
				int rc = push(p, f, &cap, (uint32_t)u);
				if (rc)
					return rc;
			}
		}
		if (more)
			return more;
	}
	return 0;
}

int imap_multisearch(struct imap_session *s, const char *const *folders, size_t n,
                     const struct imap_filter *f, size_t max_uids, int64_t deadline,
                     struct imap_multi *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	if (!(out->v = calloc(n ? n : 1, sizeof *out->v)))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	out->n = n;
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	char tag[32];
	size_t tl = strcspn(c.wire.data ? c.wire.data : "", " ");
	snprintf(tag, sizeof tag, "%.*s", (int)(tl < sizeof tag ? tl : sizeof tag - 1),
	         c.wire.data ? c.wire.data : "");
	imap_multisearch_cmd(&c, folders, n, f);
	struct imap_multi_parse p = {.folders = folders, .nfolders = n, .tag = tag,
	                             .utf8 = imap_session_utf8(s), .max_uids = max_uids, .out = out};
	int rc = imap_session_run(s, &c, imap_multisearch_on_response, &p, deadline, err);
	imap_cmd_free(&c);
	if (rc)
		imap_multi_free(out);
	return rc;
}

void imap_multi_free(struct imap_multi *m)
{
	for (size_t i = 0; m->v && i < m->n; i++)
		free(m->v[i].uids);
	free(m->v);
	memset(m, 0, sizeof *m);
}
