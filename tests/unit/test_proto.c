/* The pam-jwtd request protocol: strict request parsing, the permission table, message
 * building, answers, and the SOCK_SEQPACKET transport against a real listener. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "proto.h"

/* Well-formed credentials: "pjs_"/"pjr_" + 43 base64url, the last one's spare bits 0. */
#define B64_43 "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE"
#define SID "pjs_" B64_43
#define RTOK "pjr_" B64_43
#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

_Static_assert(sizeof(B64_43) - 1 == 43, "43 base64url characters");
_Static_assert(sizeof(DIGEST) - 1 == 64, "64 hex characters");

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool request_equal(const struct proto_request *a, const struct proto_request *b)
{
	return a->op == b->op && str_eq(a->session, b->session) &&
	       str_eq(a->session_id, b->session_id) &&
	       str_eq(a->refresh_token, b->refresh_token) && str_eq(a->user, b->user) &&
	       str_eq(a->jti, b->jti) && str_eq(a->aud, b->aud) && a->has_exp == b->has_exp &&
	       (!a->has_exp || a->exp == b->exp) && a->has_until == b->has_until &&
	       (!a->has_until || a->until == b->until) &&
	       a->has_end_logins == b->has_end_logins &&
	       (!a->has_end_logins || a->end_logins == b->end_logins);
}

static bool request_is_zero(const struct proto_request *r)
{
	struct proto_request zero;

	memset(&zero, 0, sizeof(zero));
	return memcmp(r, &zero, sizeof(zero)) == 0;
}

static int parse_str(const char *json, struct proto_request *req, const char **reason)
{
	return proto_request_parse(json, strlen(json), req, reason);
}

/* ---- every op with valid members ------------------------------------------------------ */

static void test_parse_every_op(void **state)
{
	struct proto_request r;
	const char *why = "unset";

	(void)state;
	assert_int_equal(parse_str("{\"op\":\"ping\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_PING);
	assert_null(why);
	proto_request_clear(&r);
	assert_true(request_is_zero(&r));

	assert_int_equal(parse_str(" {\"op\":\"status\"}\n", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_STATUS);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"open\",\"session\":\"" DIGEST "\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_OPEN);
	assert_string_equal(r.session, DIGEST);
	assert_null(r.aud);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"aud\":\"ssh\",\"op\":\"open\",\"session\":\"" DIGEST "\"}",
				   &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_OPEN);
	assert_string_equal(r.aud, "ssh");
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"refresh\",\"refresh_token\":\"" RTOK "\"}", &r,
				   &why), 0);
	assert_int_equal(r.op, PROTO_OP_REFRESH);
	assert_string_equal(r.refresh_token, RTOK);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"token\",\"session_id\":\"" SID "\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_TOKEN);
	assert_string_equal(r.session_id, SID);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"token\",\"session_id\":\"" SID
				   "\",\"aud\":\"https://api.example\"}", &r, &why), 0);
	assert_string_equal(r.aud, "https://api.example");
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"logout\",\"session_id\":\"" SID "\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_LOGOUT);
	assert_string_equal(r.session_id, SID);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"revoke\",\"session\":\"3F1C0B9A\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_REVOKE);
	assert_string_equal(r.session, "3F1C0B9A");
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"revoke\",\"session\":\"" DIGEST "\"}", &r, &why), 0);
	assert_string_equal(r.session, DIGEST);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"revoke\",\"user\":\"alice\"}", &r, &why), 0);
	assert_string_equal(r.user, "alice");
	assert_false(r.has_exp);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"revoke\",\"jti\":\"J-1\",\"exp\":1795438800}", &r,
				   &why), 0);
	assert_string_equal(r.jti, "J-1");
	assert_true(r.has_exp);
	assert_int_equal(r.exp, 1795438800);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"revoke\",\"jti\":\"J-1\"}", &r, &why), 0);
	assert_false(r.has_exp);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"lock\",\"user\":\"alice\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_LOCK);
	assert_false(r.has_until);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"lock\",\"user\":\"alice\",\"until\":0}", &r, &why),
			 0);
	assert_true(r.has_until);
	assert_int_equal(r.until, 0);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"lock\",\"user\":\"a\",\"end_logins\":true}", &r,
				   &why), 0);
	assert_true(r.has_end_logins);
	assert_int_equal(r.end_logins, 1);
	proto_request_clear(&r);
	assert_int_equal(parse_str("{\"op\":\"lock\",\"user\":\"a\",\"end_logins\":false}", &r,
				   &why), 0);
	assert_true(r.has_end_logins);
	assert_int_equal(r.end_logins, 0);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"unlock\",\"user\":\"al ice\\u00e9\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_UNLOCK);
	assert_string_equal(r.user, "al ice\xc3\xa9");
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"sessions\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_SESSIONS);
	assert_null(r.user);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"sessions\",\"user\":\"bob\"}", &r, &why), 0);
	assert_string_equal(r.user, "bob");
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"gc\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_GC);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"reload\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_RELOAD);
	proto_request_clear(&r);

	assert_int_equal(parse_str("{\"op\":\"jwks\"}", &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_JWKS);
	proto_request_clear(&r);
	/* it takes no member: not even a kid the token named */
	assert_int_equal(parse_str("{\"op\":\"jwks\",\"kid\":\"k\"}", &r, &why), -1);
	assert_string_equal(why, "unexpected member");

	proto_request_clear(NULL);
}

/* ---- every rule violated -------------------------------------------------------------- */

struct bad_case {
	const char *json;
	const char *reason;
};

static void check_rejects(const struct bad_case *cases, size_t n)
{
	struct proto_request r;
	const char *why;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		why = NULL;
		memset(&r, 0x5a, sizeof(r));
		rc = parse_str(cases[i].json, &r, &why);
		if (rc != -1 || why == NULL || strcmp(why, cases[i].reason) != 0 ||
		    !request_is_zero(&r))
			fail_msg("case %zu %s: rc %d reason \"%s\", want \"%s\"", i, cases[i].json,
				 rc, why != NULL ? why : "(null)", cases[i].reason);
	}
}

#define CHECK_REJECTS(cases) check_rejects((cases), sizeof(cases) / sizeof((cases)[0]))

static void test_rejects_not_an_object(void **state)
{
	static const struct bad_case cases[] = {
		{ "", "malformed request" },
		{ "   ", "malformed request" },
		{ "[]", "malformed request" },
		{ "[{\"op\":\"ping\"}]", "malformed request" },
		{ "\"ping\"", "malformed request" },
		{ "1", "malformed request" },
		{ "null", "malformed request" },
		{ "true", "malformed request" },
		{ "{\"op\":\"ping\"", "malformed request" },
		{ "{\"op\":\"ping\"}x", "malformed request" },
		{ "{\"op\":\"ping\"}{\"op\":\"ping\"}", "malformed request" },
		{ "{\"op\":\"ping\"},", "malformed request" },
		{ "{'op':'ping'}", "malformed request" },
		{ "{\"op\":\"ping\",}", "malformed request" },
		{ "{\"op\":\"unlock\",\"user\":\"\xff\"}", "malformed request" }, /* not UTF-8 */
		{ "{\"op\":\"unlock\",\"user\":\"\xc0\xaf\"}", "malformed request" }, /* overlong */
	};

	(void)state;
	CHECK_REJECTS(cases);
}

static void test_rejects_bad_op(void **state)
{
	static const struct bad_case cases[] = {
		{ "{}", "missing member" },
		{ "{\"user\":\"alice\"}", "missing member" },
		{ "{\"op\":1}", "member has the wrong type" },
		{ "{\"op\":null}", "member has the wrong type" },
		{ "{\"op\":[\"ping\"]}", "member has the wrong type" },
		{ "{\"op\":\"frobnicate\"}", "unknown operation" },
		{ "{\"op\":\"PING\"}", "unknown operation" },
		{ "{\"op\":\"ping \"}", "unknown operation" },
		{ "{\"op\":\"\"}", "unknown operation" },
		{ "{\"op\":\"pin\"}", "unknown operation" },
		{ "{\"op\":\"pingping\"}", "unknown operation" },
		{ "{\"op\":\"ping\\u0000\"}", "value is malformed" },
		{ "{\"op\":\"ping\",\"op\":\"ping\"}", "duplicate member" },
		{ "{\"op\":\"ping\",\"op\":\"gc\"}", "duplicate member" },
	};

	(void)state;
	CHECK_REJECTS(cases);
}

static void test_rejects_members(void **state)
{
	static const struct bad_case cases[] = {
		/* unknown and not allowed */
		{ "{\"op\":\"ping\",\"x\":1}", "unexpected member" },
		{ "{\"op\":\"ping\",\"user\":\"alice\"}", "unexpected member" },
		{ "{\"op\":\"gc\",\"user\":\"alice\"}", "unexpected member" },
		{ "{\"op\":\"status\",\"Op\":\"ping\"}", "unexpected member" },
		{ "{\"op\":\"token\",\"session_id\":\"" SID "\",\"refresh_token\":\"" RTOK "\"}",
		  "unexpected member" },
		{ "{\"op\":\"logout\",\"session_id\":\"" SID "\",\"aud\":\"x\"}", "unexpected member" },
		{ "{\"op\":\"unlock\",\"user\":\"a\",\"until\":1}", "unexpected member" },
		{ "{\"op\":\"open\",\"session\":\"" DIGEST "\",\"user\":\"a\"}", "unexpected member" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"exp\":1}", "unexpected member" },
		/* duplicate */
		{ "{\"op\":\"unlock\",\"user\":\"a\",\"user\":\"b\"}", "duplicate member" },
		{ "{\"op\":\"unlock\",\"user\":\"a\",\"user\":\"a\"}", "duplicate member" },
		/* missing */
		{ "{\"op\":\"open\"}", "missing member" },
		{ "{\"op\":\"open\",\"aud\":\"x\"}", "missing member" },
		{ "{\"op\":\"refresh\"}", "missing member" },
		{ "{\"op\":\"token\"}", "missing member" },
		{ "{\"op\":\"token\",\"aud\":\"x\"}", "missing member" },
		{ "{\"op\":\"logout\"}", "missing member" },
		{ "{\"op\":\"lock\"}", "missing member" },
		{ "{\"op\":\"lock\",\"until\":5}", "missing member" },
		{ "{\"op\":\"unlock\"}", "missing member" },
		/* wrong type */
		{ "{\"op\":\"unlock\",\"user\":1}", "member has the wrong type" },
		{ "{\"op\":\"unlock\",\"user\":null}", "member has the wrong type" },
		{ "{\"op\":\"unlock\",\"user\":true}", "member has the wrong type" },
		{ "{\"op\":\"unlock\",\"user\":[\"a\"]}", "member has the wrong type" },
		{ "{\"op\":\"unlock\",\"user\":{\"a\":1}}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":\"5\"}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":true}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":null}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"end_logins\":1}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"end_logins\":\"yes\"}",
		  "member has the wrong type" },
		{ "{\"op\":\"unlock\",\"user\":\"a\",\"end_logins\":true}", "unexpected member" },
		{ "{\"op\":\"revoke\",\"jti\":\"j\",\"exp\":\"1\"}", "member has the wrong type" },
		{ "{\"op\":\"token\",\"session_id\":47}", "member has the wrong type" },
		{ "{\"op\":\"open\",\"session\":\"" DIGEST "\",\"aud\":[\"x\"]}",
		  "member has the wrong type" },
	};

	(void)state;
	CHECK_REJECTS(cases);
}

static void test_rejects_string_values(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"op\":\"unlock\",\"user\":\"\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\\nb\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\\tb\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"\\u001f\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\\u007fb\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\\u0085b\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\xc2\x9b" "b\"}", "value is malformed" },
		{ "{\"op\":\"unlock\",\"user\":\"a\\u0000b\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"jti\":\"\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"jti\":\"x\\ry\"}", "value is malformed" },
		{ "{\"op\":\"sessions\",\"user\":\"\"}", "value is malformed" },
		{ "{\"op\":\"open\",\"session\":\"" DIGEST "\",\"aud\":\"\"}", "value is malformed" },
		{ "{\"op\":\"open\",\"session\":\"" DIGEST "\",\"aud\":\"a\\u001bb\"}",
		  "value is malformed" },
	};
	char json[600], user[300];
	struct proto_request r;
	const char *why;

	(void)state;
	CHECK_REJECTS(cases);

	/* PROTO_STRING_MAX bytes pass, one more is too long */
	memset(user, 'u', PROTO_STRING_MAX);
	user[PROTO_STRING_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"op\":\"unlock\",\"user\":\"%s\"}", user);
	assert_int_equal(parse_str(json, &r, &why), 0);
	assert_int_equal(strlen(r.user), PROTO_STRING_MAX);
	proto_request_clear(&r);
	user[PROTO_STRING_MAX] = 'u';
	user[PROTO_STRING_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"op\":\"unlock\",\"user\":\"%s\"}", user);
	assert_int_equal(parse_str(json, &r, &why), -1);
	assert_string_equal(why, "value is too long");
	assert_true(request_is_zero(&r));
	/* counted in bytes, not characters: 128 two-byte characters are 256 bytes */
	json[0] = '\0';
	strcat(json, "{\"op\":\"revoke\",\"jti\":\"");
	for (int i = 0; i < 128; i++)
		strcat(json, "\xc3\xa9");
	strcat(json, "\"}");
	assert_int_equal(parse_str(json, &r, &why), -1);
	assert_string_equal(why, "value is too long");
}

static void test_rejects_numbers(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":-1}", "value is malformed" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":-9223372036854775808}",
		  "value is malformed" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":9223372036854775808}",
		  "value is malformed" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":-9223372036854775809}",
		  "value is malformed" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":99999999999999999999999}",
		  "value is malformed" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":1.5}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":1.0}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":1e3}", "member has the wrong type" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":0x10}", "malformed request" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":+1}", "malformed request" },
		{ "{\"op\":\"lock\",\"user\":\"a\",\"until\":01}", "malformed request" },
		{ "{\"op\":\"revoke\",\"jti\":\"j\",\"exp\":-5}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"jti\":\"j\",\"exp\":0.5}", "member has the wrong type" },
	};
	struct proto_request r;
	const char *why;

	(void)state;
	CHECK_REJECTS(cases);
	assert_int_equal(parse_str("{\"op\":\"lock\",\"user\":\"a\",\"until\":9223372036854775807}",
				   &r, &why), 0);
	assert_int_equal(r.until, INT64_MAX);
	proto_request_clear(&r);
}

static void test_rejects_revoke_rules(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"op\":\"revoke\"}", "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"exp\":5}", "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9a\",\"user\":\"a\"}",
		  "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"user\":\"a\",\"jti\":\"j\"}",
		  "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9a\",\"jti\":\"j\",\"exp\":1}",
		  "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9a\",\"user\":\"a\",\"jti\":\"j\"}",
		  "revoke needs exactly one of session, user, jti" },
		{ "{\"op\":\"revoke\",\"user\":\"a\",\"exp\":5}", "exp needs jti" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9a\",\"exp\":5}", "exp needs jti" },
	};

	(void)state;
	CHECK_REJECTS(cases);
}

static void test_rejects_credential_shapes(void **state)
{
	static const struct bad_case cases[] = {
		/* session IDs */
		{ "{\"op\":\"token\",\"session_id\":\"" RTOK "\"}", "value is malformed" },
		{ "{\"op\":\"token\",\"session_id\":\"PJS_" B64_43 "\"}", "value is malformed" },
		{ "{\"op\":\"token\",\"session_id\":\"pjs_abcdefghijklmnopqrstuvwxyz0123456789-_ABCD\"}",
		  "value is malformed" },                                         /* 42 */
		{ "{\"op\":\"token\",\"session_id\":\"" SID "A\"}", "value is malformed" }, /* 44 */
		{ "{\"op\":\"token\",\"session_id\":\"pjs_abcdefghijklmnopqrstuvwxyz0123456789+_ABCDE\"}",
		  "value is malformed" },
		{ "{\"op\":\"token\",\"session_id\":\"pjs_abcdefghijklmnopqrstuvwxyz0123456789-_ABCD=\"}",
		  "value is malformed" },
		{ "{\"op\":\"token\",\"session_id\":\"pjs_abcdefghijklmnopqrstuvwxyz0123456789-_ABCDF\"}",
		  "value is malformed" },                              /* spare bits not zero */
		{ "{\"op\":\"logout\",\"session_id\":\" " SID "\"}", "value is malformed" },
		{ "{\"op\":\"logout\",\"session_id\":\"\"}", "value is malformed" },
		{ "{\"op\":\"logout\",\"session_id\":\"" DIGEST "\"}", "value is malformed" },
		/* refresh tokens */
		{ "{\"op\":\"refresh\",\"refresh_token\":\"" SID "\"}", "value is malformed" },
		{ "{\"op\":\"refresh\",\"refresh_token\":\"pjr_abcdefghijklmnopqrstuvwxyz0123456789-_ABCD\"}",
		  "value is malformed" },
		{ "{\"op\":\"refresh\",\"refresh_token\":\"" RTOK "E\"}", "value is malformed" },
		{ "{\"op\":\"refresh\",\"refresh_token\":\"pjr_abcdefghijklmnopqrstuvwxyz0123456789/_ABCDE\"}",
		  "value is malformed" },
		{ "{\"op\":\"refresh\",\"refresh_token\":\"pjr_abcdefghijklmnopqrstuvwxyz0123456789-_ABCDB\"}",
		  "value is malformed" },
		/* open: a full lowercase digest */
		{ "{\"op\":\"open\",\"session\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"}",
		  "value is malformed" },                                           /* 63 */
		{ "{\"op\":\"open\",\"session\":\"" DIGEST "0\"}", "value is malformed" }, /* 65 */
		{ "{\"op\":\"open\",\"session\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}",
		  "value is malformed" },
		{ "{\"op\":\"open\",\"session\":\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
		  "value is malformed" },
		{ "{\"op\":\"open\",\"session\":\"3f1c0b9a\"}", "value is malformed" },
		{ "{\"op\":\"open\",\"session\":\"" SID "\"}", "value is malformed" },
		/* revoke: a digest or a prefix of at least 8 hex */
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c0b9g\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"session\":\"3f1c 0b9a\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"session\":\"" DIGEST "0\"}", "value is malformed" },
		{ "{\"op\":\"revoke\",\"session\":\"" SID "\"}", "value is malformed" },
	};

	(void)state;
	CHECK_REJECTS(cases);
}

static void test_rejects_by_size_and_bytes(void **state)
{
	static const char ping[] = "{\"op\":\"ping\"}";
	struct proto_request r;
	const char *why;
	char *big;

	(void)state;
	/* a raw NUL byte, inside or after the object */
	assert_int_equal(proto_request_parse(ping, sizeof(ping), &r, &why), -1);
	assert_string_equal(why, "malformed request");
	assert_int_equal(proto_request_parse("{\"op\":\"pi\0ng\"}", 14, &r, &why), -1);
	assert_string_equal(why, "malformed request");
	assert_int_equal(proto_request_parse(NULL, 5, &r, &why), -1);
	assert_string_equal(why, "malformed request");
	assert_int_equal(proto_request_parse(ping, 0, &r, &why), -1);
	assert_string_equal(why, "malformed request");
	assert_int_equal(proto_request_parse(ping, strlen(ping), NULL, &why), -1);
	/* a reason pointer is optional */
	assert_int_equal(proto_request_parse(ping, strlen(ping), &r, NULL), 0);
	proto_request_clear(&r);

	/* exactly PROTO_REQUEST_MAX bytes (whitespace padding) is fine, one more is not */
	big = malloc(PROTO_REQUEST_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', PROTO_REQUEST_MAX + 1);
	memcpy(big, ping, strlen(ping));
	assert_int_equal(proto_request_parse(big, PROTO_REQUEST_MAX, &r, &why), 0);
	assert_int_equal(r.op, PROTO_OP_PING);
	proto_request_clear(&r);
	assert_int_equal(proto_request_parse(big, PROTO_REQUEST_MAX + 1, &r, &why), -1);
	assert_string_equal(why, "request too large");
	assert_true(request_is_zero(&r));
	free(big);
}

/* ---- building requests ---------------------------------------------------------------- */

static void test_round_trip_every_op(void **state)
{
	struct proto_request reqs[] = {
		{ .op = PROTO_OP_PING },
		{ .op = PROTO_OP_STATUS },
		{ .op = PROTO_OP_OPEN, .session = (char[]){ DIGEST } },
		{ .op = PROTO_OP_OPEN, .session = (char[]){ DIGEST }, .aud = (char[]){ "ssh" } },
		{ .op = PROTO_OP_REFRESH, .refresh_token = (char[]){ RTOK } },
		{ .op = PROTO_OP_TOKEN, .session_id = (char[]){ SID } },
		{ .op = PROTO_OP_TOKEN, .session_id = (char[]){ SID },
		  .aud = (char[]){ "a \"quoted\" \\ aud\xc3\xa9" } },
		{ .op = PROTO_OP_LOGOUT, .session_id = (char[]){ SID } },
		{ .op = PROTO_OP_REVOKE, .session = (char[]){ "3F1c0b9a" } },
		{ .op = PROTO_OP_REVOKE, .user = (char[]){ "alice" } },
		{ .op = PROTO_OP_REVOKE, .jti = (char[]){ "jti/1" } },
		{ .op = PROTO_OP_REVOKE, .jti = (char[]){ "jti/1" }, .exp = INT64_MAX,
		  .has_exp = true },
		{ .op = PROTO_OP_LOCK, .user = (char[]){ "alice" } },
		{ .op = PROTO_OP_LOCK, .user = (char[]){ "alice" }, .until = 0, .has_until = true },
		{ .op = PROTO_OP_LOCK, .user = (char[]){ "alice" }, .until = 1795438800,
		  .has_until = true },
		{ .op = PROTO_OP_LOCK, .user = (char[]){ "alice" }, .end_logins = 1,
		  .has_end_logins = true },
		{ .op = PROTO_OP_LOCK, .user = (char[]){ "alice" }, .end_logins = 0,
		  .has_end_logins = true },
		{ .op = PROTO_OP_UNLOCK, .user = (char[]){ "alice" } },
		{ .op = PROTO_OP_SESSIONS },
		{ .op = PROTO_OP_SESSIONS, .user = (char[]){ "bob" } },
		{ .op = PROTO_OP_GC },
		{ .op = PROTO_OP_RELOAD },
		{ .op = PROTO_OP_JWKS },
	};
	bool seen[PROTO_OP_COUNT] = { false };
	struct proto_request back;
	const char *why;
	char *msg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		why = "unset";
		msg = proto_request_format(&reqs[i], &why);
		if (msg == NULL)
			fail_msg("case %zu: format refused: %s", i, why);
		assert_null(why);
		assert_true(strlen(msg) <= PROTO_REQUEST_MAX);
		assert_null(strchr(msg, '\n')); /* compact */
		if (proto_request_parse(msg, strlen(msg), &back, &why) != 0)
			fail_msg("case %zu: %s: %s", i, msg, why);
		if (!request_equal(&reqs[i], &back))
			fail_msg("case %zu: %s does not parse back equal", i, msg);
		seen[reqs[i].op] = true;
		proto_request_clear(&back);
		proto_message_free(msg);
	}
	for (i = 0; i < PROTO_OP_COUNT; i++)
		assert_true(seen[i]);
}

static void test_format_wire_shape(void **state)
{
	struct proto_request req = { .op = PROTO_OP_REVOKE, .jti = (char[]){ "J" },
				     .exp = 17, .has_exp = true };
	struct proto_request tok = { .op = PROTO_OP_TOKEN, .session_id = (char[]){ SID },
				     .aud = (char[]){ "x" } };
	char *msg;

	(void)state;
	msg = proto_request_format(&req, NULL);
	assert_non_null(msg);
	assert_string_equal(msg, "{\"op\":\"revoke\",\"jti\":\"J\",\"exp\":17}");
	proto_message_free(msg);
	msg = proto_request_format(&tok, NULL);
	assert_non_null(msg);
	assert_string_equal(msg, "{\"op\":\"token\",\"session_id\":\"" SID "\",\"aud\":\"x\"}");
	proto_message_free(msg);
	proto_message_free(NULL);
}

static void test_format_refuses_invalid(void **state)
{
	static char user256[PROTO_STRING_MAX + 2];
	const struct {
		struct proto_request req;
		const char *reason;
	} cases[] = {
		{ { .op = PROTO_OP_COUNT }, "malformed request" },
		{ { .op = (enum proto_op)-1 }, "malformed request" },
		{ { .op = PROTO_OP_PING, .user = (char[]){ "a" } }, "unexpected member" },
		{ { .op = PROTO_OP_UNLOCK }, "missing member" },
		{ { .op = PROTO_OP_UNLOCK, .user = (char[]){ "" } }, "value is malformed" },
		{ { .op = PROTO_OP_UNLOCK, .user = (char[]){ "a\nb" } }, "value is malformed" },
		{ { .op = PROTO_OP_UNLOCK, .user = (char[]){ "\xff" } }, "value is malformed" },
		{ { .op = PROTO_OP_UNLOCK, .user = user256 }, "value is too long" },
		{ { .op = PROTO_OP_LOCK, .user = (char[]){ "a" }, .until = -1, .has_until = true },
		  "value is malformed" },
		{ { .op = PROTO_OP_TOKEN, .session_id = (char[]){ RTOK } }, "value is malformed" },
		{ { .op = PROTO_OP_REVOKE, .user = (char[]){ "a" }, .jti = (char[]){ "j" } },
		  "revoke needs exactly one of session, user, jti" },
		{ { .op = PROTO_OP_REVOKE, .user = (char[]){ "a" }, .exp = 1, .has_exp = true },
		  "exp needs jti" },
	};
	const char *why;
	char *msg;
	size_t i;

	(void)state;
	memset(user256, 'u', PROTO_STRING_MAX + 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		msg = proto_request_format(&cases[i].req, &why);
		if (msg != NULL || why == NULL || strcmp(why, cases[i].reason) != 0)
			fail_msg("case %zu: built \"%s\", reason \"%s\", want \"%s\"", i,
				 msg != NULL ? msg : "(null)", why != NULL ? why : "(null)",
				 cases[i].reason);
	}
	assert_null(proto_request_format(NULL, &why));
	assert_string_equal(why, "malformed request");
}

/* ---- op names and the permission table ------------------------------------------------ */

static void test_op_names(void **state)
{
	static const char *const names[PROTO_OP_COUNT] = {
		[PROTO_OP_PING] = "ping",         [PROTO_OP_STATUS] = "status",
		[PROTO_OP_OPEN] = "open",         [PROTO_OP_REFRESH] = "refresh",
		[PROTO_OP_TOKEN] = "token",       [PROTO_OP_LOGOUT] = "logout",
		[PROTO_OP_REVOKE] = "revoke",     [PROTO_OP_LOCK] = "lock",
		[PROTO_OP_UNLOCK] = "unlock",     [PROTO_OP_SESSIONS] = "sessions",
		[PROTO_OP_GC] = "gc",             [PROTO_OP_RELOAD] = "reload",
		[PROTO_OP_JWKS] = "jwks",
	};
	int i;

	(void)state;
	for (i = 0; i < PROTO_OP_COUNT; i++) {
		assert_non_null(names[i]);
		assert_string_equal(proto_op_name((enum proto_op)i), names[i]);
	}
	assert_null(proto_op_name(PROTO_OP_COUNT));
	assert_null(proto_op_name((enum proto_op)-1));
	assert_null(proto_op_name((enum proto_op)1000));
}

static void test_permission_table(void **state)
{
	/* what an unprivileged caller may ask; root may ask everything */
	static const bool user_may[PROTO_OP_COUNT] = {
		[PROTO_OP_PING] = true,    [PROTO_OP_STATUS] = true,  [PROTO_OP_OPEN] = false,
		[PROTO_OP_REFRESH] = true, [PROTO_OP_TOKEN] = true,   [PROTO_OP_LOGOUT] = true,
		[PROTO_OP_REVOKE] = false, [PROTO_OP_LOCK] = false,   [PROTO_OP_UNLOCK] = false,
		[PROTO_OP_SESSIONS] = true, [PROTO_OP_GC] = false,    [PROTO_OP_RELOAD] = false,
		[PROTO_OP_JWKS] = true,
	};
	int i, user_ops = 0;

	(void)state;
	for (i = 0; i < PROTO_OP_COUNT; i++) {
		if (!proto_op_allowed((enum proto_op)i, true))
			fail_msg("root may not call %s", proto_op_name((enum proto_op)i));
		if (proto_op_allowed((enum proto_op)i, false) != user_may[i])
			fail_msg("unprivileged %s: got %d", proto_op_name((enum proto_op)i),
				 !user_may[i]);
		user_ops += user_may[i];
	}
	assert_int_equal(user_ops, 7);
	assert_false(proto_op_allowed(PROTO_OP_COUNT, true));
	assert_false(proto_op_allowed(PROTO_OP_COUNT, false));
	assert_false(proto_op_allowed((enum proto_op)-1, true));
}

/* ---- answers -------------------------------------------------------------------------- */

static void test_answer_format(void **state)
{
	json_t *body;
	char *msg, *pad;

	(void)state;
	msg = proto_answer_ok(NULL);
	assert_non_null(msg);
	assert_string_equal(msg, "{\"ok\":true}");
	proto_message_free(msg);

	body = json_pack("{s:i, s:s, s:[i]}", "count", 3, "user", "al\"ice", "list", 1);
	assert_non_null(body);
	msg = proto_answer_ok(body);
	assert_non_null(msg);
	assert_string_equal(msg, "{\"ok\":true,\"count\":3,\"user\":\"al\\\"ice\",\"list\":[1]}");
	proto_message_free(msg);
	assert_int_equal(body->refcount, 1); /* borrowed, not consumed */

	assert_int_equal(json_object_set_new(body, "ok", json_false()), 0);
	assert_null(proto_answer_ok(body));
	assert_int_equal(json_object_del(body, "ok"), 0);
	assert_int_equal(json_object_set_new(body, "error", json_string("x")), 0);
	assert_null(proto_answer_ok(body));
	json_decref(body);

	body = json_array();
	assert_null(proto_answer_ok(body));
	json_decref(body);

	/* at most PROTO_ANSWER_MAX bytes */
	pad = malloc(PROTO_ANSWER_MAX + 1);
	assert_non_null(pad);
	memset(pad, 'p', PROTO_ANSWER_MAX);
	pad[PROTO_ANSWER_MAX - strlen("{\"ok\":true,\"p\":\"\"}")] = '\0';
	body = json_pack("{s:s}", "p", pad);
	msg = proto_answer_ok(body);
	assert_non_null(msg);
	assert_int_equal(strlen(msg), PROTO_ANSWER_MAX);
	proto_message_free(msg);
	json_decref(body);
	pad[strlen(pad)] = 'p';
	body = json_pack("{s:s}", "p", pad);
	assert_null(proto_answer_ok(body));
	json_decref(body);
	free(pad);

	msg = proto_answer_error("no such session");
	assert_non_null(msg);
	assert_string_equal(msg, "{\"ok\":false,\"error\":\"no such session\"}");
	proto_message_free(msg);
	assert_null(proto_answer_error(NULL));
	assert_null(proto_answer_error(""));
	assert_null(proto_answer_error("a\nb"));
	assert_null(proto_answer_error("\xff"));
}

static int answer_parse_str(const char *json, struct proto_answer *ans, const char **reason)
{
	return proto_answer_parse(json, strlen(json), ans, reason);
}

static void test_answer_parse(void **state)
{
	static const char *const bad[] = {
		"", "[]", "null", "{}", "{\"ok\":1}", "{\"ok\":\"true\"}", "{\"ok\":null}",
		"{\"ok\":false}", "{\"ok\":false,\"error\":1}", "{\"ok\":false,\"error\":\"\"}",
		"{\"ok\":false,\"error\":\"a\\nb\"}", "{\"ok\":false,\"error\":\"a\\u0000b\"}",
		"{\"ok\":false,\"error\":\"x\",\"detail\":1}", "{\"ok\":true,\"error\":\"x\"}",
		"{\"ok\":true,\"ok\":true}", "{\"ok\":true}x", "{\"error\":\"x\"}",
	};
	struct proto_answer ans;
	const char *why;
	char *big;
	size_t i;

	(void)state;
	assert_int_equal(answer_parse_str("{\"ok\":true}", &ans, &why), 0);
	assert_true(ans.ok);
	assert_null(ans.error);
	assert_non_null(ans.root);
	proto_answer_clear(&ans);
	assert_null(ans.root);

	assert_int_equal(answer_parse_str("{\"ok\":true,\"sessions\":[{\"user\":\"a\"}]}", &ans,
					  &why), 0);
	assert_true(ans.ok);
	assert_true(json_is_array(json_object_get(ans.root, "sessions")));
	proto_answer_clear(&ans);

	assert_int_equal(answer_parse_str("{\"ok\":false,\"error\":\"no session\"}", &ans, &why),
			 0);
	assert_false(ans.ok);
	assert_string_equal(ans.error, "no session");
	proto_answer_clear(&ans);
	proto_answer_clear(NULL);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (proto_answer_parse(bad[i], strlen(bad[i]), &ans, &why) != -1 || why == NULL ||
		    strcmp(why, "daemon answer is malformed") != 0 || ans.root != NULL)
			fail_msg("answer %s accepted or wrong reason %s", bad[i],
				 why != NULL ? why : "(null)");
	}
	big = malloc(PROTO_ANSWER_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', PROTO_ANSWER_MAX + 1);
	memcpy(big, "{\"ok\":true}", 11);
	assert_int_equal(proto_answer_parse(big, PROTO_ANSWER_MAX, &ans, &why), 0);
	proto_answer_clear(&ans);
	assert_int_equal(proto_answer_parse(big, PROTO_ANSWER_MAX + 1, &ans, &why), -1);
	assert_string_equal(why, "daemon answer is too large");
	free(big);
}

/* ---- the transport -------------------------------------------------------------------- */

/* This definition of send(2) takes the place of libc's in this test program, so a test can
 * hold proto_call between its connect and its send (the daemon then hangs up first) and
 * see the flags it sends with. */
static int send_delay_ms;
static int send_last_flags;

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	send_last_flags = flags;
	if (send_delay_ms > 0)
		usleep((useconds_t)send_delay_ms * 1000);
	return sendto(fd, buf, len, flags, NULL, 0);
}

enum server_mode {
	SERVER_ANSWER,    /* answer every request on the connection, as the daemon would */
	SERVER_SILENT,    /* read the request, never answer */
	SERVER_HANG_UP,   /* close every connection at once */
	SERVER_BIG,       /* answer with a message of exactly big_len bytes */
};

struct fixture {
	char dir[64];
	char path[128];
	pid_t server;
	int listen_fd;
};

static int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/pamjwt-proto-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/pam-jwtd.sock", fx->dir);
	fx->server = -1;
	fx->listen_fd = -1;
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->server > 0) {
		kill(fx->server, SIGKILL);
		waitpid(fx->server, NULL, 0);
	}
	if (fx->listen_fd >= 0)
		close(fx->listen_fd);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int listen_on(const char *path, int backlog)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void send_text(int fd, const char *msg)
{
	if (msg != NULL)
		(void)send(fd, msg, strlen(msg), MSG_NOSIGNAL);
}

/* One connection as the daemon would serve it: one answer per request. */
static void serve_connection(int c)
{
	char buf[PROTO_REQUEST_MAX + 1], *msg;
	struct proto_request req;
	const char *why;
	json_t *body;
	uid_t uid;
	size_t len;
	enum proto_recv_result res;

	for (;;) {
		res = proto_recv_request(c, buf, &len);
		if (res == PROTO_RECV_TOO_LARGE) {
			msg = proto_answer_error("request too large");
		} else if (res != PROTO_RECV_MESSAGE) {
			break;
		} else if (proto_request_parse(buf, len, &req, &why) != 0) {
			msg = proto_answer_error(why);
		} else {
			if (proto_peer_cred(c, &uid, NULL, NULL) != 0)
				uid = (uid_t)-1;
			body = json_pack("{s:s, s:I}", "op", proto_op_name(req.op), "uid",
					 (json_int_t)uid);
			if (req.user != NULL)
				json_object_set_new(body, "user", json_string(req.user));
			msg = proto_answer_ok(body);
			json_decref(body);
			proto_request_clear(&req);
		}
		send_text(c, msg);
		proto_message_free(msg);
	}
	close(c);
}

static void server_main(int lfd, enum server_mode mode, size_t big_len)
{
	char buf[PROTO_REQUEST_MAX + 1], *big;
	size_t len;
	int c, sndbuf = 1 << 20;

	for (;;) {
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		switch (mode) {
		case SERVER_ANSWER:
			serve_connection(c);
			break;
		case SERVER_SILENT:
			(void)proto_recv_request(c, buf, &len);
			pause();
			break;
		case SERVER_HANG_UP:
			close(c);
			break;
		case SERVER_BIG:
			(void)proto_recv_request(c, buf, &len);
			(void)setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
			big = malloc(big_len + 1);
			if (big != NULL) {
				/* {"ok":true,"p":"ppp...p"} of exactly big_len bytes */
				memset(big, 'p', big_len);
				memcpy(big, "{\"ok\":true,\"p\":\"", 16);
				memcpy(big + big_len - 2, "\"}", 2);
				(void)send(c, big, big_len, MSG_NOSIGNAL);
				free(big);
			}
			(void)proto_recv_request(c, buf, &len); /* until the client hangs up */
			close(c);
			break;
		}
	}
}

static void server_start(struct fixture *fx, enum server_mode mode, size_t big_len)
{
	int lfd = listen_on(fx->path, 16);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		server_main(lfd, mode, big_len);
		_exit(0);
	}
	close(lfd);
	fx->server = pid;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_call_answered(void **state)
{
	struct fixture *fx = *state;
	struct proto_request req = { .op = PROTO_OP_SESSIONS, .user = (char[]){ "alice" } };
	struct proto_answer ans;
	const char *why = "unset";
	char *request, *answer = NULL;
	size_t len = 0;

	server_start(fx, SERVER_ANSWER, 0);
	request = proto_request_format(&req, NULL);
	assert_non_null(request);
	assert_int_equal(proto_call(fx->path, request, strlen(request), 5000, &answer, &len,
				    &why), 0);
	assert_null(why);
	assert_non_null(answer);
	assert_int_equal(len, strlen(answer));
	assert_int_equal(proto_answer_parse(answer, len, &ans, &why), 0);
	assert_true(ans.ok);
	assert_string_equal(json_string_value(json_object_get(ans.root, "op")), "sessions");
	assert_string_equal(json_string_value(json_object_get(ans.root, "user")), "alice");
	/* the server saw who we are through SO_PEERCRED */
	assert_int_equal(json_integer_value(json_object_get(ans.root, "uid")), getuid());
	proto_answer_clear(&ans);
	proto_message_free(answer);
	proto_message_free(request);

	/* a request the daemon refuses gets an error answer */
	assert_int_equal(proto_call(fx->path, "{\"op\":\"nope\"}", 13, 5000, &answer, &len, &why),
			 0);
	assert_int_equal(proto_answer_parse(answer, len, &ans, &why), 0);
	assert_false(ans.ok);
	assert_string_equal(ans.error, "unknown operation");
	proto_answer_clear(&ans);
	proto_message_free(answer);
}

/* Several requests on one connection, one answer each, in order; an oversize request is
 * answered and the connection goes on. */
static void test_connection_carries_several_requests(void **state)
{
	static const char *const reqs[] = { "{\"op\":\"ping\"}", "{\"op\":\"status\"}", NULL,
					    "{\"op\":\"ping\",\"x\":1}", "{\"op\":\"gc\"}" };
	static const char *const want[] = {
		"\"op\":\"ping\"", "\"op\":\"status\"", "{\"ok\":false,\"error\":\"request too large\"}",
		"{\"ok\":false,\"error\":\"unexpected member\"}", "\"op\":\"gc\"",
	};
	struct fixture *fx = *state;
	struct sockaddr_un addr;
	char big[PROTO_REQUEST_MAX + 100], answer[PROTO_ANSWER_MAX + 1];
	ssize_t n;
	size_t i;
	int fd;

	server_start(fx, SERVER_ANSWER, 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"op\":\"ping\"}", 13);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, fx->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		if (reqs[i] != NULL)
			n = send(fd, reqs[i], strlen(reqs[i]), MSG_NOSIGNAL);
		else
			n = send(fd, big, sizeof(big), MSG_NOSIGNAL);
		assert_true(n > 0);
		n = recv(fd, answer, sizeof(answer) - 1, 0);
		assert_true(n > 0);
		answer[n] = '\0';
		if (strstr(answer, want[i]) == NULL)
			fail_msg("request %zu: answer %s, want %s", i, answer, want[i]);
	}
	close(fd);
}

static void test_call_timeout(void **state)
{
	struct fixture *fx = *state;
	const char *why = NULL;
	char dummy[] = "x", *answer = dummy;
	long long t0, elapsed;

	server_start(fx, SERVER_SILENT, 0);
	t0 = now_ms();
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why),
			 -1);
	elapsed = now_ms() - t0;
	assert_string_equal(why, "daemon did not answer in time");
	assert_null(answer);
	assert_true(elapsed >= 190);
	assert_true(elapsed < 3000);
}

/* A daemon whose backlog is full: connect itself waits, within the same deadline. */
static void test_call_timeout_in_connect(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un addr;
	const char *why = NULL;
	char *answer = NULL;
	int fillers[32], nfill = 0, fd, i;
	long long t0, elapsed;

	fx->listen_fd = listen_on(fx->path, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, fx->path);
	while (nfill < 32) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		assert_true(fd >= 0);
		fillers[nfill++] = fd;
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
	}
	assert_true(nfill < 32);
	t0 = now_ms();
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why),
			 -1);
	elapsed = now_ms() - t0;
	assert_string_equal(why, "daemon did not answer in time");
	assert_true(elapsed >= 150);
	assert_true(elapsed < 3000);
	for (i = 0; i < nfill; i++)
		close(fillers[i]);
}

static void test_call_not_running(void **state)
{
	struct fixture *fx = *state;
	const char *why = NULL;
	char *answer = NULL;
	int fd;

	/* no socket file */
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why),
			 -1);
	assert_string_equal(why, "daemon is not running");
	assert_null(answer);
	/* a socket file with nobody listening (a daemon that died) */
	fd = listen_on(fx->path, 1);
	close(fd);
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why),
			 -1);
	assert_string_equal(why, "daemon is not running");
}

/* A socket whose listener is neither root nor ourselves is not believed: root's module
 * must not take tokens from whoever managed to bind the configured path. */
static void test_call_refuses_foreign_server(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un addr;
	const char *why = NULL;
	char *answer = NULL, ready = 0;
	int lfd, sync_pipe[2];
	pid_t pid;

	if (geteuid() != 0) {
		if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0)
			fail_msg("CI=true but not running as root");
		skip();
	}
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, fx->path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(pipe(sync_pipe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the listener's credentials are those it has at listen() */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0 || listen(lfd, 4) != 0)
			_exit(1);
		if (write(sync_pipe[1], "r", 1) != 1)
			_exit(1);
		server_main(lfd, SERVER_ANSWER, 0);
		_exit(0);
	}
	fx->server = pid;
	close(lfd);
	close(sync_pipe[1]);
	assert_int_equal(read(sync_pipe[0], &ready, 1), 1);
	close(sync_pipe[0]);
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 5000, &answer, NULL,
				    &why), -1);
	assert_null(answer);
	assert_string_equal(why, "daemon socket is not served by root");
}

static void test_call_hang_up_without_sigpipe(void **state)
{
	struct fixture *fx = *state;
	const char *why = NULL;
	char *answer = NULL;
	int i;

	/* A SIGPIPE would kill the test. Linux raises none for SOCK_SEQPACKET today, so the
	 * flag that keeps it away on any kernel is checked as well. */
	signal(SIGPIPE, SIG_DFL);
	server_start(fx, SERVER_HANG_UP, 0);
	/* the daemon hangs up after the request was sent (the answer never comes), and
	 * before it was sent (the send itself fails with EPIPE) */
	for (i = 0; i < 10; i++) {
		send_delay_ms = i % 2 == 0 ? 0 : 100;
		send_last_flags = 0;
		assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 2000, &answer, NULL,
					    &why), -1);
		send_delay_ms = 0;
		assert_true((send_last_flags & MSG_NOSIGNAL) != 0);
		assert_string_equal(why, "daemon closed the connection");
		assert_null(answer);
	}
}

static void test_call_answer_at_limit(void **state)
{
	struct fixture *fx = *state;
	struct proto_answer ans;
	const char *why = NULL;
	char *answer = NULL;
	size_t len = 0;

	server_start(fx, SERVER_BIG, PROTO_ANSWER_MAX);
	assert_int_equal(proto_call(fx->path, "{\"op\":\"status\"}", 15, 5000, &answer, &len,
				    &why), 0);
	assert_int_equal(len, PROTO_ANSWER_MAX);
	assert_int_equal(proto_answer_parse(answer, len, &ans, &why), 0);
	assert_true(ans.ok);
	proto_answer_clear(&ans);
	proto_message_free(answer);
}

static void test_call_answer_too_large(void **state)
{
	struct fixture *fx = *state;
	const char *why = NULL;
	char *answer = NULL;
	size_t len = 7;

	server_start(fx, SERVER_BIG, PROTO_ANSWER_MAX + 1);
	assert_int_equal(proto_call(fx->path, "{\"op\":\"status\"}", 15, 5000, &answer, &len,
				    &why), -1);
	assert_string_equal(why, "daemon answer is too large");
	assert_null(answer);
	assert_int_equal(len, 0);
}

static void test_call_arguments(void **state)
{
	struct fixture *fx = *state;
	char longpath[200], *big, *answer = NULL;
	const char *why = NULL;

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(proto_call(longpath, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why),
			 -1);
	assert_string_equal(why, "socket path is invalid");
	assert_int_equal(proto_call("", "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why), -1);
	assert_string_equal(why, "socket path is invalid");
	assert_int_equal(proto_call(NULL, "{\"op\":\"ping\"}", 13, 200, &answer, NULL, &why), -1);
	assert_string_equal(why, "socket path is invalid");
	assert_int_equal(proto_call(fx->path, "", 0, 200, &answer, NULL, &why), -1);
	assert_string_equal(why, "malformed request");
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 0, &answer, NULL, &why), -1);
	assert_string_equal(why, "invalid argument");
	assert_int_equal(proto_call(fx->path, "{\"op\":\"ping\"}", 13, 200, NULL, NULL, &why), -1);
	assert_string_equal(why, "invalid argument");
	big = calloc(1, PROTO_REQUEST_MAX + 1);
	assert_non_null(big);
	assert_int_equal(proto_call(fx->path, big, PROTO_REQUEST_MAX + 1, 200, &answer, NULL,
				    &why), -1);
	assert_string_equal(why, "request too large");
	free(big);
	assert_null(answer);
}

static void test_server_helpers(void **state)
{
	char buf[PROTO_REQUEST_MAX + 1], big[PROTO_REQUEST_MAX + 1];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	pid_t pid = -1;
	size_t len = 99;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(proto_peer_cred(sv[0], &uid, &gid, &pid), 0);
	assert_int_equal(uid, getuid());
	assert_int_equal(gid, getgid());
	assert_int_equal(pid, getpid());
	assert_int_equal(proto_peer_cred(sv[0], NULL, NULL, NULL), 0);
	assert_int_equal(proto_peer_cred(-1, &uid, NULL, NULL), -1);

	/* exactly PROTO_REQUEST_MAX bytes is a message; one more is discarded whole */
	memset(big, 'x', sizeof(big));
	assert_int_equal(send(sv[1], big, PROTO_REQUEST_MAX, 0), PROTO_REQUEST_MAX);
	assert_int_equal(proto_recv_request(sv[0], buf, &len), PROTO_RECV_MESSAGE);
	assert_int_equal(len, PROTO_REQUEST_MAX);
	assert_int_equal(buf[PROTO_REQUEST_MAX], '\0');
	assert_int_equal(send(sv[1], big, PROTO_REQUEST_MAX + 1, 0), PROTO_REQUEST_MAX + 1);
	assert_int_equal(proto_recv_request(sv[0], buf, &len), PROTO_RECV_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(send(sv[1], "{\"op\":\"gc\"}", 11, 0), 11);
	assert_int_equal(proto_recv_request(sv[0], buf, &len), PROTO_RECV_MESSAGE);
	assert_int_equal(len, 11);
	assert_string_equal(buf, "{\"op\":\"gc\"}");
	close(sv[1]);
	assert_int_equal(proto_recv_request(sv[0], buf, &len), PROTO_RECV_CLOSED);
	close(sv[0]);
	assert_int_equal(proto_recv_request(sv[0], buf, &len), PROTO_RECV_ERROR);
	assert_int_equal(errno, EBADF);
}

/* A child with the given real, effective and saved uids, stopped as an attacker would
 * leave a sudo; its pid, or -1. */
static pid_t child_with_uids(uid_t r, uid_t e, uid_t s)
{
	int ready[2];
	char c = 0;
	pid_t pid;

	if (pipe(ready) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		if (setresuid(r, e, s) != 0)
			_exit(1);
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	close(ready[1]);
	if (pid > 0 && (read(ready[0], &c, 1) != 1 || c != 1)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The uid a daemon connection counts against (issue 9: a stopped sudo held a root slot). */
static void test_peer_account_uid(void **state)
{
	uid_t r = 0, e = 0, s = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(getresuid(&r, &e, &s), 0);
	/* an unprivileged peer counts as itself, whatever its pid */
	assert_int_equal(proto_peer_account_uid(getpid(), 1234), 1234);
	assert_int_equal(proto_peer_account_uid(0, 1234), 1234);
	/* euid 0 and nothing to read: never root's */
	assert_int_equal(proto_peer_account_uid(0, 0), PROTO_UID_UNKNOWN);
	assert_int_equal(proto_peer_account_uid(-1, 0), PROTO_UID_UNKNOWN);
	assert_int_equal(proto_peer_account_uid(INT32_MAX, 0), PROTO_UID_UNKNOWN);
	/* this process: real, else saved, else effective */
	assert_int_equal(proto_peer_account_uid(getpid(), 0), r != 0 ? r : s != 0 ? s : e);
	if (e != 0)
		return; /* the set-user-ID cases need root to set up */
	/* sudo as the user runs it: real uid the user's, effective and saved root's */
	pid = child_with_uids(65534, 0, 0);
	assert_true(pid > 0);
	assert_int_equal(proto_peer_account_uid(pid, 0), 65534);
	reap(pid);
	/* only the saved uid left to the user */
	pid = child_with_uids(0, 0, 65533);
	assert_true(pid > 0);
	assert_int_equal(proto_peer_account_uid(pid, 0), 65533);
	reap(pid);
	/* root through and through */
	pid = child_with_uids(0, 0, 0);
	assert_true(pid > 0);
	assert_int_equal(proto_peer_account_uid(pid, 0), 0);
	reap(pid);
	/* gone: unknown */
	assert_int_equal(proto_peer_account_uid(pid, 0), PROTO_UID_UNKNOWN);
}

static void test_json_wipe_on_free(void **state)
{
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	struct proto_request req;
	char *msg;

	(void)state;
	proto_json_wipe_on_free();
	json_get_alloc_funcs(&m, &f);
	assert_true(m == malloc);
	assert_true(f != NULL && f != free);
	/* jansson keeps working with it */
	assert_int_equal(parse_str("{\"op\":\"token\",\"session_id\":\"" SID "\"}", &req, NULL), 0);
	msg = proto_request_format(&req, NULL);
	assert_non_null(msg);
	proto_message_free(msg);
	proto_request_clear(&req);
	json_set_alloc_funcs(malloc, free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_every_op),
		cmocka_unit_test(test_peer_account_uid),
		cmocka_unit_test(test_rejects_not_an_object),
		cmocka_unit_test(test_rejects_bad_op),
		cmocka_unit_test(test_rejects_members),
		cmocka_unit_test(test_rejects_string_values),
		cmocka_unit_test(test_rejects_numbers),
		cmocka_unit_test(test_rejects_revoke_rules),
		cmocka_unit_test(test_rejects_credential_shapes),
		cmocka_unit_test(test_rejects_by_size_and_bytes),
		cmocka_unit_test(test_round_trip_every_op),
		cmocka_unit_test(test_format_wire_shape),
		cmocka_unit_test(test_format_refuses_invalid),
		cmocka_unit_test(test_op_names),
		cmocka_unit_test(test_permission_table),
		cmocka_unit_test(test_answer_format),
		cmocka_unit_test(test_answer_parse),
		cmocka_unit_test_setup_teardown(test_call_answered, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_connection_carries_several_requests,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_timeout, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_timeout_in_connect, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_refuses_foreign_server, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_not_running, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_hang_up_without_sigpipe, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_answer_at_limit, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_answer_too_large, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_call_arguments, fixture_setup, fixture_teardown),
		cmocka_unit_test(test_server_helpers),
		cmocka_unit_test(test_json_wipe_on_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
