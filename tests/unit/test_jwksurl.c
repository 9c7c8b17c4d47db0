/* The pure rules of the JWKS fetcher: URL policy, discovery document, Cache-Control. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "jwksurl.h"

static int check(const char *url)
{
	struct verdict v;

	verdict_init(&v);
	return jwksurl_check(url, &v);
}

static void test_url_policy(void **state)
{
	static const char *const good[] = {
		"https://idp.example.com/keys", "https://idp.example.com:8443/x?y=1",
		"http://127.0.0.1:8080/jwks", "http://127.9.9.9/jwks", "http://[::1]:9/jwks",
		"https://[2001:db8::1]/jwks",
	};
	static const char *const bad[] = {
		"http://idp.example.com/keys", "http://10.0.0.1/jwks", "http://localhost/jwks",
		"http://128.0.0.1/jwks", "http://[::2]/jwks", "http://127.0.0.1.evil.com/",
		"http://user@127.0.0.1/", "https://user:pw@idp.example.com/", "ftp://127.0.0.1/",
		"file:///etc/passwd", "HTTPS://idp.example.com/", "https:///nohost",
		"https://idp.example.com/a b", "https://idp.example.com/\n", "", "https://:443/",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(check(good[i]), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(check(bad[i]), 0);
	assert_int_not_equal(check(NULL), 0);
}

static void test_discovery_url(void **state)
{
	char out[256];
	struct verdict v;

	(void)state;
	verdict_init(&v);
	assert_int_equal(jwksurl_discovery("https://idp.example.com", out, sizeof(out), &v), 0);
	assert_string_equal(out, "https://idp.example.com/.well-known/openid-configuration");
	assert_int_equal(jwksurl_discovery("https://idp.example.com/realm/", out, sizeof(out), &v), 0);
	assert_string_equal(out, "https://idp.example.com/realm/.well-known/openid-configuration");
	assert_int_not_equal(jwksurl_discovery("http://idp.example.com", out, sizeof(out), &v), 0);
	assert_int_not_equal(jwksurl_discovery("https://idp.example.com", out, 20, &v), 0);
	assert_int_not_equal(jwksurl_discovery("", out, sizeof(out), &v), 0);
}

static int parse(const char *doc, const char *issuer, char *out)
{
	struct verdict v;

	verdict_init(&v);
	return jwksurl_parse_discovery(doc, strlen(doc), issuer, out, 256, &v);
}

static void test_discovery_document(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(parse("{\"issuer\":\"https://i.example\",\"jwks_uri\":\"https://i.example/k\"}",
			       "https://i.example", out), 0);
	assert_string_equal(out, "https://i.example/k");
	/* issuer must match exactly: no trailing slash, case or prefix games */
	assert_int_not_equal(parse("{\"issuer\":\"https://i.example/\",\"jwks_uri\":\"https://i.example/k\"}",
				   "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"issuer\":\"https://I.example\",\"jwks_uri\":\"https://i.example/k\"}",
				   "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"jwks_uri\":\"https://i.example/k\"}", "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"issuer\":\"https://i.example\"}", "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"issuer\":\"https://i.example\",\"jwks_uri\":\"http://evil.example/k\"}",
				   "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"issuer\":\"https://i.example\",\"jwks_uri\":7}", "https://i.example", out), 0);
	assert_int_not_equal(parse("{\"issuer\":\"https://i.example\",\"issuer\":\"https://i.example\","
				   "\"jwks_uri\":\"https://i.example/k\"}", "https://i.example", out), 0);
	assert_int_not_equal(parse("[]", "https://i.example", out), 0);
	assert_int_not_equal(parse("garbage", "https://i.example", out), 0);
}

static void test_cache_control(void **state)
{
	(void)state;
	assert_int_equal(jwksurl_refresh_from_cache_control(NULL, 3600), 3600);
	assert_int_equal(jwksurl_refresh_from_cache_control("public", 3600), 3600);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=7200", 3600), 7200);
	assert_int_equal(jwksurl_refresh_from_cache_control("public, max-age=900, must-revalidate", 3600), 900);
	assert_int_equal(jwksurl_refresh_from_cache_control("MAX-AGE=1000", 3600), 1000);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=10", 3600), JWKS_REFRESH_MIN);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=0", 3600), JWKS_REFRESH_MIN);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=999999999999999999999", 3600),
			 JWKS_REFRESH_MAX);
	assert_int_equal(jwksurl_refresh_from_cache_control("no-store", 3600), JWKS_REFRESH_MIN);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=600, no-cache", 3600), JWKS_REFRESH_MIN);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=-5", 3600), 3600);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=12x", 3600), 3600);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=", 3600), 3600);
	assert_int_equal(jwksurl_refresh_from_cache_control("s-maxage=9000", 3600), 3600);
}

/* A jwks_refresh shorter than the floor is the floor: the server cannot slow it down
 * below the admin's choice with no-store, but max-age still counts above it. */
static void test_cache_control_short_refresh(void **state)
{
	(void)state;
	assert_int_equal(jwksurl_refresh_from_cache_control("no-store", 2), 2);
	assert_int_equal(jwksurl_refresh_from_cache_control("no-cache", 60), 60);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=0", 2), 2);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=1", 2), 2);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=10", 2), 10);
	assert_int_equal(jwksurl_refresh_from_cache_control("max-age=100000", 2), JWKS_REFRESH_MAX);
	assert_int_equal(jwksurl_refresh_from_cache_control(NULL, 2), 2);
	assert_int_equal(jwksurl_refresh_from_cache_control("no-store", 600), JWKS_REFRESH_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_discovery_url),
		cmocka_unit_test(test_discovery_document),
		cmocka_unit_test(test_cache_control),
		cmocka_unit_test(test_cache_control_short_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
