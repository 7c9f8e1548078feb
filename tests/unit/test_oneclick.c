/*
 * tests/unit/test_oneclick.c — which addresses a one-click unsubscribe may
 * reach (api/oneclick.h), in IPv4 and every IPv6 form that hides an IPv4
 * address, and the URIs refused before any connection is tried.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "api/oneclick.h"

TestSuite(oneclick);

static bool public(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1, "%s", ip);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1, "%s", ip);
	}
	return api_oneclick_address_public((struct sockaddr *)&ss);
}

Test(oneclick, blocked_ranges)
{
	static const char *const blocked[] = {
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
		"127.0.0.1", "127.1.2.3", "169.254.169.254", "169.254.0.1", "172.16.0.1",
		"172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1", "198.18.0.1",
		"198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
		"240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"::127.0.0.1", "::10.0.0.1", "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:7f00:1::1",
		"2002:a9fe:a9fe::1", "fc00::1", "fd00:ec2::254", "fe80::1", "fec0::1", "ff02::1",
		"2001:db8::1", "2001::1", "2001:10::1", "2001:2::1", "100::1", "4000::1", "::2" };
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		cr_expect_not(public(blocked[i]), "%s passed", blocked[i]);
	}
}

Test(oneclick, public_addresses_pass)
{
	static const char *const ok[] = {
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255",
		"172.32.0.1", "169.253.255.255", "192.0.1.1", "198.17.255.255", "223.255.255.255",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111",
		"2a00:1450:4001:80b::200e", "2001:4860:4860::8888" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		cr_expect(public(ok[i]), "%s refused", ok[i]);
}

Test(oneclick, other_families_refused)
{
	struct sockaddr sa = {.sa_family = AF_UNIX};
	cr_expect_not(api_oneclick_address_public(&sa));
	cr_expect_not(api_oneclick_address_public(NULL));
}

/* Refused before anything is resolved or sent (no network needed). */
Test(oneclick, uris_refused_before_connecting)
{
	static const struct { const char *uri, *why; } bad[] = {
		{"http://example.com/u", "https"},
		{"ftp://example.com/u", "https"},
		{"https://user:pw@example.com/u", "credentials"},
		{"https://user@example.com/u", "credentials"},
		{"not a uri", "malformed"},
		{"https:///nohost", ""},
		{"https://127.0.0.1/u", "address"},
		{"https://[::1]/u", "address"},
		{"https://[::ffff:169.254.169.254]/u", "address"},
		{"https://10.0.0.1:8443/u", "address"},
		{"https://[fe80::1%25eth0]/u", ""},
		{"https://0x7f.1/u", ""},
		{"https://2130706433/u", ""},
	};
	struct api_oneclick_config cfg = {.timeout_ms = 500};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_oneclick r;
		api_oneclick_post(bad[i].uri, &cfg, &r);
		cr_expect_neq(r.result, API_ONECLICK_DONE, "%s", bad[i].uri);
		cr_expect_eq(r.http_status, 0, "%s", bad[i].uri);
		if (bad[i].why[0])
			cr_expect(strstr(r.reason, bad[i].why), "%s: %s", bad[i].uri, r.reason);
	}
	/* an allow-listed host skips the address check, nothing else */
	cfg.allow_hosts = "127.0.0.1, localhost";
	struct api_oneclick r;
	api_oneclick_post("http://127.0.0.1/u", &cfg, &r);
	cr_expect_eq(r.result, API_ONECLICK_REFUSED);
}
