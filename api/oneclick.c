/*
 * api/oneclick.c — the one-click unsubscribe POST. See oneclick.h.
 *
 * libcurl does the HTTPS: a well-kept client whose every risky feature
 * (redirects, cookies, proxies, other protocols, its own resolution) can
 * be switched off or pinned, which is what a request to a URI taken from
 * untrusted mail needs.
 */
#include "api/oneclick.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define TIMEOUT_DEFAULT_MS 10000u
#define BODY_MAX_DEFAULT (64u * 1024)
#define ADDRS_MAX 16  /* addresses of one host looked at */

/* ---- addresses ---- */

static bool v4_public(uint32_t a)  /* host byte order */
{
	static const struct { uint32_t net; unsigned bits; } blocked[] = {
		{0x00000000, 8},   /* "this network", 0.0.0.0 */
		{0x0a000000, 8},   /* 10/8 private */
		{0x64400000, 10},  /* 100.64/10 shared address space (CGNAT) */
		{0x7f000000, 8},   /* loopback */
		{0xa9fe0000, 16},  /* 169.254/16 link-local, 169.254.169.254 metadata */
		{0xac100000, 12},  /* 172.16/12 private */
		{0xc0000000, 24},  /* 192.0.0/24 IETF protocol assignments */
		{0xc0000200, 24},  /* 192.0.2/24 documentation */
		{0xc0586300, 24},  /* 192.88.99/24 6to4 relay anycast */
		{0xc0a80000, 16},  /* 192.168/16 private */
		{0xc6120000, 15},  /* 198.18/15 benchmarking */
		{0xc6336400, 24},  /* 198.51.100/24 documentation */
		{0xcb007100, 24},  /* 203.0.113/24 documentation */
		{0xe0000000, 4},   /* 224/4 multicast */
		{0xf0000000, 4},   /* 240/4 reserved, 255.255.255.255 broadcast */
	};
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		uint32_t mask = ~0u << (32 - blocked[i].bits);
		if ((a & mask) == blocked[i].net)
			return false;
	}
	return true;
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_public(const unsigned char *a)
{
	static const unsigned char zero[12] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	/* forms that carry an IPv4 address: judged by it */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_public(v4_at(a + 12));
	if (memcmp(a, zero, 12) == 0)  /* ::, ::1 and IPv4-compatible ::a.b.c.d */
		return v4_at(a + 12) > 1 && v4_public(v4_at(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02)  /* 2002::/16 6to4: the next 32 bits */
		return v4_public(v4_at(a + 2));
	/* only global unicast (2000::/3) beyond that */
	if ((a[0] & 0xe0) != 0x20)
		return false;  /* fc00::/7 ULA (fd00:ec2::254 metadata), fe80::/10, ff00::/8 ... */
	if (a[0] == 0x20 && a[1] == 0x01) {
		if (a[2] == 0x0d && a[3] == 0xb8)
			return false;  /* 2001:db8::/32 documentation */
		if (a[2] == 0 && a[3] == 0)
			return false;  /* 2001::/32 Teredo: an IPv4 address hidden inside */
		if (a[2] == 0 && (a[3] & 0xf0) == 0x10)
			return false;  /* 2001:10::/28 ORCHID */
		if (a[2] == 0 && a[3] == 0x02 && a[4] == 0 && a[5] == 0)
			return false;  /* 2001:2::/48 benchmarking */
	}
	return true;
}

bool api_oneclick_address_public(const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return v4_public(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return v6_public(in6->sin6_addr.s6_addr);
	}
	return false;
}

/* ---- the request ---- */

static void set(struct api_oneclick *out, enum api_oneclick_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set(struct api_oneclick *out, enum api_oneclick_result r, const char *fmt, ...)
{
	va_list ap;
	out->result = r;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof out->reason, fmt, ap);
	va_end(ap);
}

/* host (a C string, without brackets) is in the comma-separated list. */
static bool allowed_host(const char *list, const char *host)
{
	size_t hl = strlen(host);
	while (list && *list) {
		while (*list == ',' || *list == ' ')
			list++;
		size_t n = strcspn(list, ", ");
		if (n == hl && strncasecmp(list, host, n) == 0)
			return true;
		list += n;
	}
	return false;
}

struct pin {
	struct sockaddr_storage addr;  /* the one address the socket may reach */
	socklen_t len;
	bool any_allowed;              /* an allow-listed host: any address */
	bool refused;                  /* the socket callback said no */
	size_t body, body_max;
	bool too_big;
};

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
		              &((const struct sockaddr_in *)(const void *)b)->sin_addr,
		              sizeof(struct in_addr)) == 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
		              sizeof(struct in6_addr)) == 0;
	return false;
}

/* The last word before connect(): only the pinned address (or, for an
 * allow-listed host, any). */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct pin *p = ctx;
	const struct sockaddr *sa = &a->addr;
	if (purpose != CURLSOCKTYPE_IPCXN ||
	    (!p->any_allowed && !same_addr(sa, (const struct sockaddr *)&p->addr))) {
		p->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	struct pin *p = ctx;
	size_t len = size * n;
	if (len > p->body_max - p->body) {
		p->too_big = true;
		return 0;  /* CURLE_WRITE_ERROR: stop reading */
	}
	p->body += len;
	return len;
}

/* Resolve host once and choose the address to pin into p (the first
 * public one, or the first at all for an allow-listed host). */
static bool resolve(const char *host, struct pin *p, struct api_oneclick *out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		set(out, API_ONECLICK_FAILED, "the host name does not resolve: %s", gai_strerror(rc));
		return false;
	}
	bool found = false;
	char blocked[INET6_ADDRSTRLEN] = "";
	size_t k = 0;
	for (struct addrinfo *ai = res; ai && k < ADDRS_MAX && !found; ai = ai->ai_next, k++) {
		if (ai->ai_addrlen > sizeof p->addr)
			continue;
		if (p->any_allowed || api_oneclick_address_public(ai->ai_addr)) {
			memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
			p->len = (socklen_t)ai->ai_addrlen;
			found = true;
		} else if (!blocked[0]) {
			const void *ip = ai->ai_family == AF_INET
			                 ? (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr
			                 : (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
			inet_ntop(ai->ai_family, ip, blocked, sizeof blocked);
		}
	}
	freeaddrinfo(res);
	if (!found)
		set(out, API_ONECLICK_REFUSED,
		    "the host resolves to %s, a loopback, private, link-local or reserved address",
		    blocked[0] ? blocked : "no usable address");
	return found;
}

/* The URI's parts: scheme https, no user or password; host without
 * brackets and port into the buffers. */
static bool check_uri(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                      struct api_oneclick *out)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *p = NULL, *user = NULL, *pass = NULL;
	bool ok = false;
	if (!u) {
		set(out, API_ONECLICK_FAILED, "out of memory");
		return false;
	}
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		set(out, API_ONECLICK_REFUSED, "the unsubscribe URI is malformed");
	} else if (strcasecmp(scheme, "https") != 0) {
		set(out, API_ONECLICK_REFUSED, "only https: URIs are used for one-click, not %.16s:",
		    scheme);
	} else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	           curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		set(out, API_ONECLICK_REFUSED, "the unsubscribe URI carries credentials");
	} else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	           curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		set(out, API_ONECLICK_REFUSED, "the unsubscribe URI has no host");
	} else {
		size_t hl = strlen(h);
		const char *hs = h;
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			hs++;
			hl -= 2;
		}
		if (hl == 0 || hl >= hcap || strlen(p) >= pcap || memchr(hs, '%', hl)) {
			set(out, API_ONECLICK_REFUSED, "the unsubscribe URI's host is not usable");
		} else {
			memcpy(host, hs, hl);
			host[hl] = '\0';
			strcpy(port, p);
			ok = true;
		}
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ok;
}

void api_oneclick_post(const char *url, const struct api_oneclick_config *cfg,
                       struct api_oneclick *out)
{
	char host[256], port[8], resolve_entry[320], ip[INET6_ADDRSTRLEN];
	struct pin p = {.body_max = cfg->body_max ? cfg->body_max : BODY_MAX_DEFAULT};
	unsigned timeout = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
	memset(out, 0, sizeof *out);
	if (!check_uri(url, host, sizeof host, port, sizeof port, out))
		return;
	p.any_allowed = allowed_host(cfg->allow_hosts, host);
	if (!resolve(host, &p, out))
		return;
	const struct sockaddr *sa = (const struct sockaddr *)&p.addr;
	inet_ntop(sa->sa_family,
	          sa->sa_family == AF_INET
	              ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
	              : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
	          ip, sizeof ip);
	/* HOST:PORT:ADDRESS, an IPv6 address in brackets; a name that is an
	 * IPv6 literal is written in brackets too */
	bool v6 = sa->sa_family == AF_INET6;
	snprintf(resolve_entry, sizeof resolve_entry, "%s%s%s:%s:%s%s%s", strchr(host, ':') ? "[" : "",
	         host, strchr(host, ':') ? "]" : "", port, v6 ? "[" : "", ip, v6 ? "]" : "");

	CURL *c = curl_easy_init();
	struct curl_slist *headers = NULL, *pins = NULL;
	if (!c || !(headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded")) ||
	    !(headers = curl_slist_append(headers, "Expect:")) ||
	    !(pins = curl_slist_append(NULL, resolve_entry))) {
		set(out, API_ONECLICK_FAILED, "out of memory");
		goto done;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
	curl_easy_setopt(c, CURLOPT_RESOLVE, pins);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &p);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "imapgw");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, API_ONECLICK_BODY);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(API_ONECLICK_BODY));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
	if (cfg->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_status);
	if (p.refused) {
		out->http_status = 0;
		set(out, API_ONECLICK_REFUSED, "the connection would have gone to another address");
	} else if (p.too_big) {
		set(out, API_ONECLICK_FAILED, "the answer was longer than %zu bytes", p.body_max);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		set(out, API_ONECLICK_FAILED, "no complete answer within %u ms", timeout);
	} else if (rc != CURLE_OK) {
		set(out, API_ONECLICK_FAILED, "%s", curl_easy_strerror(rc));
	} else if (out->http_status >= 200 && out->http_status < 300) {
		out->result = API_ONECLICK_DONE;
	} else if (out->http_status >= 300 && out->http_status < 400) {
		set(out, API_ONECLICK_FAILED, "the server answered %ld, a redirect, which is not followed",
		    out->http_status);
	} else {
		set(out, API_ONECLICK_FAILED, "the server answered %ld", out->http_status);
	}
done:
	curl_slist_free_all(headers);
	curl_slist_free_all(pins);
	if (c)
		curl_easy_cleanup(c);
}
