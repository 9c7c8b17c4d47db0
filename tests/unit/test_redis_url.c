/* The Redis store URL (redis_url_parse) and the checks redis_connect makes before any
 * I/O. Connections to real servers are tests/integration/test_redis_conn.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "redis.h"

struct good_case {
	const char *url;
	enum redis_transport transport;
	const char *host;
	unsigned port;
	const char *path;
	const char *user;
	unsigned db;
};

static void test_url_accepted(void **state)
{
	static const struct good_case good[] = {
		{ "redis://localhost", REDIS_TCP, "localhost", 6379, "", "", 0 },
		{ "redis://127.0.0.1:6380", REDIS_TCP, "127.0.0.1", 6380, "", "", 0 },
		{ "redis://redis.example.com:1/15", REDIS_TCP, "redis.example.com", 1, "", "", 15 },
		{ "redis://pamjwt@redis-1.example.com", REDIS_TCP, "redis-1.example.com", 6379, "",
		  "pamjwt", 0 },
		{ "redis://pam_jwt.host-1@r:65535/0", REDIS_TCP, "r", 65535, "", "pam_jwt.host-1", 0 },
		{ "redis://[::1]", REDIS_TCP, "::1", 6379, "", "", 0 },
		{ "redis://[2001:db8::7]:7000/3", REDIS_TCP, "2001:db8::7", 7000, "", "", 3 },
		{ "redis://u@[::ffff:10.0.0.1]:6379", REDIS_TCP, "::ffff:10.0.0.1", 6379, "", "u", 0 },
		{ "rediss://redis.example.com", REDIS_TLS, "redis.example.com", 6379, "", "", 0 },
		{ "rediss://acl@10.1.2.3:6390/2147483647", REDIS_TLS, "10.1.2.3", 6390, "", "acl",
		  2147483647 },
		{ "rediss://[fe80::1]:6390", REDIS_TLS, "fe80::1", 6390, "", "", 0 },
		{ "redis+unix:///run/redis/redis.sock", REDIS_UNIX, "", 0, "/run/redis/redis.sock",
		  "", 0 },
		{ "redis+unix:///tmp/r.sock?db=4", REDIS_UNIX, "", 0, "/tmp/r.sock", "", 4 },
		{ "redis+unix:///s?db=0", REDIS_UNIX, "", 0, "/s", "", 0 },
		{ "redis+unix://pamjwt@/run/redis/redis.sock", REDIS_UNIX, "", 0,
		  "/run/redis/redis.sock", "pamjwt", 0 },
		{ "redis+unix://pam_jwt.host-1@/tmp/r.sock?db=2", REDIS_UNIX, "", 0, "/tmp/r.sock",
		  "pam_jwt.host-1", 2 },
		{ "redis+unix:///tmp/a@b.sock", REDIS_UNIX, "", 0, "/tmp/a@b.sock", "", 0 },
	};
	struct redis_target t;
	const char *reason;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		reason = "unset";
		if (redis_url_parse(good[i].url, &t, &reason) != 0)
			fail_msg("%s refused: %s", good[i].url, reason);
		assert_null(reason);
		assert_int_equal(t.transport, good[i].transport);
		assert_string_equal(t.host, good[i].host);
		assert_int_equal(t.port, good[i].port);
		assert_string_equal(t.path, good[i].path);
		assert_string_equal(t.user, good[i].user);
		assert_int_equal(t.db, good[i].db);
	}
}

struct bad_case {
	const char *url;
	const char *reason; /* a part of the reason */
};

static void test_url_refused(void **state)
{
	static const struct bad_case bad[] = {
		{ "", "missing" },
		{ "redis://host name", "space or control" },
		{ "redis://host\t", "space or control" },
		{ "redis://h\xc3\xa9st", "space or control" },
		{ "http://localhost", "scheme" },
		{ "REDIS://localhost", "scheme" },
		{ "redis:/localhost", "scheme" },
		{ "unix:///tmp/r.sock", "scheme" },
		{ "redis+tls://h", "scheme" },
		{ "redis://user:secret@host", "password" },
		{ "redis://:secret@host", "password" },
		{ "rediss://u:@host", "password" },
		{ "redis://@host", "user name" },
		{ "redis://us%65r@host", "user name" },
		{ "redis://a@b@host", "bad host" },
		{ "redis://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@h",
		  "user name" },
		{ "redis://", "no host" },
		{ "redis://:6379", "no host" },
		{ "redis://user@", "no host" },
		{ "redis:///0", "no host" },
		{ "redis://::1", "no host" },
		{ "redis://[::1", "bad host" },
		{ "redis://[]", "bad host" },
		{ "redis://[127.0.0.1]", "bad host" },
		{ "redis://[::1%eth0]", "bad host" },
		{ "redis://[::1]x", "bad host" },
		{ "redis://-host", "bad host" },
		{ "redis://host-", "bad host" },
		{ "redis://a..b", "bad host" },
		{ "redis://.host", "bad host" },
		{ "redis://host.", "bad host" },
		{ "redis://ho_st", "bad host" },
		{ "redis://host:", "bad port" },
		{ "redis://host:0", "bad port" },
		{ "redis://host:65536", "bad port" },
		{ "redis://host:99999999999", "bad port" },
		{ "redis://host:-1", "bad port" },
		{ "redis://host:+1", "bad port" },
		{ "redis://host:63x", "bad port" },
		{ "redis://[::1]:", "bad port" },
		{ "redis://host/", "database" },
		{ "redis://host/x", "database" },
		{ "redis://host/1/2", "database" },
		{ "redis://host/-1", "database" },
		{ "redis://host/2147483648", "database" },
		{ "redis://host?db=1", "query" },
		{ "redis://host/1?timeout=3", "query" },
		{ "redis://host#frag", "query" },
		{ "rediss://host/0?ssl_cert_reqs=none", "query" },
		{ "redis+unix://", "absolute" },
		{ "redis+unix://tmp/r.sock", "absolute" },
		{ "redis+unix://host/tmp/r.sock", "absolute" },
		{ "redis+unix://?db=1", "absolute" },
		{ "redis+unix:///tmp/", "socket path" },
		{ "redis+unix:///tmp/r%20.sock", "socket path" },
		{ "redis+unix:///tmp/r.sock#x", "socket path" },
		{ "redis+unix:///tmp/r.sock?db=", "database" },
		{ "redis+unix:///tmp/r.sock?db=x", "database" },
		{ "redis+unix:///tmp/r.sock?db=1&x=2", "database" },
		{ "redis+unix:///tmp/r.sock?password=x", "query parameter" },
		{ "redis+unix:///tmp/r.sock?db=1?db=2", "database" },
		{ "redis+unix://user:secret@/tmp/r.sock", "password" },
		{ "redis+unix://:secret@/tmp/r.sock", "password" },
		{ "redis+unix://@/tmp/r.sock", "user name" },
		{ "redis+unix://us%65r@/tmp/r.sock", "user name" },
		{ "redis+unix://a@b@/tmp/r.sock", "user name" },
		{ "redis+unix://u?db=1@/tmp/r.sock", "user name" },
		{ "redis+unix://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@/s",
		  "user name" },
		{ "redis+unix://user@host/tmp/r.sock", "absolute" },
		{ "redis+unix://user@tmp/r.sock", "absolute" },
		{ "redis+unix://user@", "absolute" },
		{ "redis+unix://user@?db=1", "absolute" },
		{ "redis+unix://user@//tmp/", "socket path" },
		{ "redis+unix:///0123456789012345678901234567890123456789012345678901234567890123456789"
		  "01234567890123456789012345678901234567", "too long" },
	};
	struct redis_target t;
	const char *reason;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reason = NULL;
		if (redis_url_parse(bad[i].url, &t, &reason) == 0)
			fail_msg("%s accepted", bad[i].url);
		assert_non_null(reason);
		if (strstr(reason, bad[i].reason) == NULL)
			fail_msg("%s: reason \"%s\", want \"%s\"", bad[i].url, reason, bad[i].reason);
	}
	reason = NULL;
	assert_int_equal(redis_url_parse(NULL, &t, &reason), -1);
	assert_non_null(reason);
}

/* The longest socket path that fits sun_path (107 bytes and the NUL) is accepted. */
static void test_url_path_limit(void **state)
{
	char url[160], path[108];
	struct redis_target t;
	const char *reason;

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(url, sizeof(url), "redis+unix://%s", path);
	assert_int_equal(redis_url_parse(url, &t, &reason), 0);
	assert_string_equal(t.path, path);
	snprintf(url, sizeof(url), "redis+unix://%sp", path);
	assert_int_equal(redis_url_parse(url, &t, &reason), -1);
}

/* A refused URL leaves no half-filled target behind. */
static void test_url_clears_target(void **state)
{
	struct redis_target t;
	const char *reason;

	(void)state;
	assert_int_equal(redis_url_parse("redis://u@host:7/3", &t, &reason), 0);
	assert_int_equal(redis_url_parse("redis://u@host:0", &t, &reason), -1);
	assert_string_equal(t.host, "");
	assert_string_equal(t.user, "");
	assert_int_equal(t.db, 0);
}

/* What redis_connect refuses before any I/O, and a server that is not there. */
static void test_connect_refusals(void **state)
{
	struct redis_options o = { .timeout_ms = 1000 };
	struct redis_target t;
	struct redis_conn *c = (struct redis_conn *)&o;
	struct verdict v;
	const char *reason;
	redisReply *r = (redisReply *)&o;
	const char *argv[] = { "PING" };
	size_t lens[] = { 4 };

	(void)state;
	assert_int_equal(redis_url_parse("redis+unix:///nonexistent/pamjwt-test.sock", &t,
					  &reason), 0);
	verdict_init(&v);
	assert_int_equal(redis_connect(&t, &o, &c, &v), -1);
	assert_null(c);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "cannot connect to redis");

	o.timeout_ms = 0;
	verdict_init(&v);
	assert_int_equal(redis_connect(&t, &o, &c, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);

	o.timeout_ms = 1000;
	assert_int_equal(redis_url_parse("redis://acl@127.0.0.1:1", &t, &reason), 0);
	verdict_init(&v);
	assert_int_equal(redis_connect(&t, &o, &c, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_non_null(strstr(v.reason, "redis_password_file"));

	o.password_file = "relative/password";
	verdict_init(&v);
	assert_int_equal(redis_connect(&t, &o, &c, &v), -1);
	assert_string_equal(v.reason, "redis_password_file is unusable");

	o.password_file = NULL;
	assert_int_equal(redis_url_parse("rediss://127.0.0.1:1", &t, &reason), 0);
	o.cert_file = "/nonexistent/cert.pem";
	verdict_init(&v);
	assert_int_equal(redis_connect(&t, &o, &c, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG); /* a certificate needs its key */

	/* no connection: every call fails at once */
	verdict_init(&v);
	assert_int_equal(redis_command(NULL, 1, argv, lens, &r, &v), -1);
	assert_null(r);
	assert_int_equal(redis_append(NULL, 1, argv, lens, &v), -1);
	assert_int_equal(redis_read(NULL, &r, &v), -1);
	assert_int_equal(redis_wait(NULL, 0, &r, &v), -1);
	assert_int_equal(redis_fd(NULL), -1);
	redis_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_accepted),
		cmocka_unit_test(test_url_refused),
		cmocka_unit_test(test_url_path_limit),
		cmocka_unit_test(test_url_clears_target),
		cmocka_unit_test(test_connect_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
