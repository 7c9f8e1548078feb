/*
 * tests/fuzz/fuzz_authres.c — libFuzzer target for imap/mail/authres: each
 * input is a DKIM-Signature value, an Authentication-Results value, and
 * (with a header line in front) a header block for the trust facts.
 *
 * Properties: DKIM parse gives 0 with a lower-case domain of letters,
 * digits, "-", "_" and dots, or IMAP_ERR_INVALID with everything zeroed;
 * A-R parse keeps at most IMAP_AUTHRES_PASS_MAX results each, every domain
 * NUL-terminated and lower case; the trust facts never claim alignment
 * without a pass. Any broken property calls abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/mail/authres.h"
#include "imap/mail/mime.h"

static void check_domain(const char *d)
{
	size_t n = strnlen(d, IMAP_AUTH_DOMAIN_MAX + 1);
	if (n > IMAP_AUTH_DOMAIN_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct imap_dkim_sig sig;
	int rc = imap_dkim_signature_parse(in, size, &sig);
	if (rc != 0 && rc != IMAP_ERR_INVALID)
		abort();
	if (rc == 0 && !sig.domain[0])
		abort();
	if (rc != 0 && (sig.domain[0] || sig.covers_unsubscribe || sig.covers_unsubscribe_post))
		abort();
	check_domain(sig.domain);

	struct imap_authres ar;
	rc = imap_authres_parse(in, size, &ar);
	if (rc != 0 && rc != IMAP_ERR_INVALID)
		abort();
	if (ar.n_pass > IMAP_AUTHRES_PASS_MAX || ar.n_other > IMAP_AUTHRES_PASS_MAX)
		abort();
	for (size_t i = 0; i < ar.n_pass; i++)
		check_domain(ar.dkim_pass[i]);

	/* the same bytes as a header block, after a field of each kind */
	size_t hn = size + 64;
	char *h = malloc(hn);
	if (!h)
		return 0;
	int k = snprintf(h, hn, "Authentication-Results: mx.test; dkim=pass header.d=a.test\r\n");
	memcpy(h + k, in, size);
	struct imap_mime_header hdr;
	if (imap_mime_header_read(h, (size_t)k + size, NULL, &hdr) == 0) {
		static const char *const trusted[] = {"mx.test"};
		struct imap_sender_trust t;
		imap_sender_trust_eval(&hdr, trusted, 1, "a.test", &t);
		if (t.aligned && !t.dkim_pass)
			abort();
		imap_mime_header_free(&hdr);
	}
	free(h);
	return 0;
}
