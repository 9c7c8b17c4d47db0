/* Claim checks: exp/nbf/iat/auth_time with leeway (overflow-safe), iss, aud, user, required
 * claims, typ, max_age. Time is passed in explicitly or comes from an injected clock; nothing
 * sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "clock.h"
#include "config.h"

#define NOW 1700000000

static struct config cfg;

static int setup(void **state)
{
	struct verdict v;

	(void)state;
	verdict_init(&v);
	if (config_init(&cfg) != 0)
		return -1;
	return config_set(&cfg, "issuer", "https://idp.example", &v) |
	       config_set(&cfg, "audience", "sshd", &v);
}

static int teardown(void **state)
{
	(void)state;
	config_free(&cfg);
	return 0;
}

/* Check `claims_json` for alice at NOW; returns the verdict. */
static struct verdict check(const char *claims_json, const char *header_json)
{
	json_t *claims = json_loads(claims_json, 0, NULL);
	json_t *header = json_loads(header_json != NULL ? header_json : "{\"alg\":\"HS256\"}", 0,
				    NULL);
	struct verdict v;

	assert_non_null(claims);
	assert_non_null(header);
	verdict_init(&v);
	claims_check(&cfg, header, claims, "alice", NOW, &v);
	json_decref(claims);
	json_decref(header);
	return v;
}

#define BASE "\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"sub\":\"alice\""

static void assert_refused(const char *claims, const char *reason)
{
	struct verdict v = check(claims, NULL);

	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, reason);
}

static void test_valid(void **state)
{
	struct verdict v = check("{" BASE ",\"exp\":1700000600,\"iat\":1699999990,\"jti\":\"j-1\"}",
				 NULL);

	(void)state;
	assert_int_equal(v.code, VERDICT_OK);
	assert_string_equal(v.jti, "j-1");
}

static void test_exp(void **state)
{
	struct verdict v;

	(void)state;
	assert_refused("{" BASE "}", "token has no exp");
	assert_refused("{" BASE ",\"exp\":\"1700000600\"}", "exp is not a NumericDate");
	assert_refused("{" BASE ",\"exp\":null}", "exp is not a NumericDate");
	/* expired beyond the 60 s leeway */
	v = check("{" BASE ",\"exp\":1699996400}", NULL);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "expired");
	assert_string_equal(v.detail, "3600 s ago");
	/* within leeway: accepted; at the edge: refused */
	assert_int_equal(check("{" BASE ",\"exp\":1699999941}", NULL).code, VERDICT_OK);
	assert_int_equal(check("{" BASE ",\"exp\":1699999940}", NULL).code, VERDICT_REJECT);
	/* reals are accepted and floored */
	assert_int_equal(check("{" BASE ",\"exp\":1700000000.5}", NULL).code, VERDICT_OK);
}

static void test_time_overflow(void **state)
{
	(void)state;
	/* extreme values must not wrap around into acceptance */
	assert_refused("{" BASE ",\"exp\":-9223372036854775807}", "expired");
	assert_refused("{" BASE ",\"exp\":1e300}", "exp is not a NumericDate");
	assert_refused("{" BASE ",\"exp\":1700000600,\"nbf\":9223372036854775807}",
		       "not yet valid");
	assert_refused("{" BASE ",\"exp\":1700000600,\"iat\":9223372036854775807}",
		       "issued in the future");
	assert_int_equal(check("{" BASE ",\"exp\":9223372036854775807}", NULL).code, VERDICT_OK);
}

static void test_nbf_iat(void **state)
{
	(void)state;
	assert_refused("{" BASE ",\"exp\":1700000600,\"nbf\":1700000100}", "not yet valid");
	assert_int_equal(check("{" BASE ",\"exp\":1700000600,\"nbf\":1700000060}", NULL).code,
			 VERDICT_OK);
	assert_refused("{" BASE ",\"exp\":1700000600,\"iat\":1700000100}", "issued in the future");
	assert_refused("{" BASE ",\"exp\":1700000600,\"iat\":true}", "iat is not a NumericDate");
	assert_refused("{" BASE ",\"exp\":1700000600,\"nbf\":[1]}", "nbf is not a NumericDate");
}

static void test_iss_aud(void **state)
{
	(void)state;
	assert_refused("{\"aud\":\"sshd\",\"sub\":\"alice\",\"exp\":1700000600}", "token has no iss");
	assert_refused("{\"iss\":\"https://idp.example/\",\"aud\":\"sshd\",\"sub\":\"alice\","
		       "\"exp\":1700000600}", "wrong issuer");
	assert_refused("{\"iss\":\"https://idp.example\",\"sub\":\"alice\",\"exp\":1700000600}",
		       "token has no aud");
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":\"SSHD\",\"sub\":\"alice\","
		       "\"exp\":1700000600}", "wrong audience");
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":[\"sudo\",\"web\"],"
		       "\"sub\":\"alice\",\"exp\":1700000600}", "wrong audience");
	assert_int_equal(check("{\"iss\":\"https://idp.example\",\"aud\":[\"web\",\"sshd\"],"
			       "\"sub\":\"alice\",\"exp\":1700000600}", NULL).code, VERDICT_OK);
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":7,\"sub\":\"alice\","
		       "\"exp\":1700000600}", "aud is neither a string nor an array");
}

static void test_aud_without_configured_audience(void **state)
{
	struct verdict v;

	(void)state;
	free(cfg.audience);
	cfg.audience = NULL;
	v = check("{" BASE ",\"exp\":1700000600}", NULL);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "token has an aud but no audience is configured");
	assert_int_equal(check("{\"iss\":\"https://idp.example\",\"sub\":\"alice\","
			       "\"exp\":1700000600}", NULL).code, VERDICT_OK);
}

static void test_user_claim(void **state)
{
	struct verdict v;

	(void)state;
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"sub\":\"Alice\","
		       "\"exp\":1700000600}", "token is for another user");
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"sub\":\"alice \","
		       "\"exp\":1700000600}", "token is for another user");
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"exp\":1700000600}",
		       "token has no user claim");
	assert_refused("{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"sub\":[\"alice\"],"
		       "\"exp\":1700000600}", "token has no user claim");
	/* another claim names the user */
	free(cfg.user_claim);
	cfg.user_claim = strdup("preferred_username");
	v = check("{" BASE ",\"preferred_username\":\"alice\",\"exp\":1700000600}", NULL);
	assert_int_equal(v.code, VERDICT_OK);
	v = check("{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"sub\":\"alice\","
		  "\"exp\":1700000600}", NULL);
	assert_int_equal(v.code, VERDICT_REJECT);
}

static void test_required_claims(void **state)
{
	struct verdict v;

	(void)state;
	verdict_init(&v);
	assert_int_equal(config_set(&cfg, "require_claim", "groups:admins", &v), 0);
	assert_int_equal(config_set(&cfg, "require_claim", "acr:mfa", &v), 0);
	assert_int_equal(check("{" BASE ",\"exp\":1700000600,\"groups\":[\"staff\",\"admins\"],"
			       "\"acr\":\"mfa\"}", NULL).code, VERDICT_OK);
	assert_refused("{" BASE ",\"exp\":1700000600,\"groups\":[\"staff\"],\"acr\":\"mfa\"}",
		       "a required claim is missing or differs");
	assert_refused("{" BASE ",\"exp\":1700000600,\"groups\":\"admins\"}",
		       "a required claim is missing or differs");
	assert_refused("{" BASE ",\"exp\":1700000600,\"groups\":\"admins\",\"acr\":\"pwd\"}",
		       "a required claim is missing or differs");
}

static void test_typ(void **state)
{
	struct verdict v;

	(void)state;
	cfg.typ = strdup("at+jwt");
	v = check("{" BASE ",\"exp\":1700000600}", "{\"alg\":\"HS256\",\"typ\":\"at+JWT\"}");
	assert_int_equal(v.code, VERDICT_OK);
	v = check("{" BASE ",\"exp\":1700000600}", "{\"alg\":\"HS256\",\"typ\":\"application/at+jwt\"}");
	assert_int_equal(v.code, VERDICT_OK);
	v = check("{" BASE ",\"exp\":1700000600}", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "wrong typ");
	v = check("{" BASE ",\"exp\":1700000600}", NULL);
	assert_int_equal(v.code, VERDICT_REJECT);
}

static void test_max_age(void **state)
{
	(void)state;
	cfg.max_age = 300;
	assert_int_equal(check("{" BASE ",\"exp\":1700000600,\"iat\":1699999800}", NULL).code,
			 VERDICT_OK);
	assert_refused("{" BASE ",\"exp\":1700000600,\"iat\":1699999000}", "authentication is too old");
	/* auth_time wins over a fresh iat */
	assert_refused("{" BASE ",\"exp\":1700000600,\"iat\":1699999990,\"auth_time\":1699990000}",
		       "authentication is too old");
	assert_refused("{" BASE ",\"exp\":1700000600}",
		       "max_age is set but the token has no iat or auth_time");
}

/* The clock the module reads (clock_now), set by the test. */
static int64_t fake_clock(void *ctx)
{
	return *(const int64_t *)ctx;
}

/* Check `claims_json` for alice at whatever time the injected clock says. */
static struct verdict check_at_clock(const char *claims_json)
{
	json_t *claims = json_loads(claims_json, 0, NULL);
	json_t *header = json_loads("{\"alg\":\"HS256\"}", 0, NULL);
	struct verdict v;

	assert_non_null(claims);
	assert_non_null(header);
	verdict_init(&v);
	claims_check(&cfg, header, claims, "alice", clock_now(), &v);
	json_decref(claims);
	json_decref(header);
	return v;
}

/* A time claim from the future must not turn max_age's age negative (issue 9): auth_time
 * and iat later than now + leeway are refused, with or without max_age. */
static void test_future_auth_time(void **state)
{
	int64_t now = NOW;
	struct verdict v;

	(void)state;
	clock_set(fake_clock, &now);
	cfg.max_age = 300;
	/* the attack: a stale iat, and an auth_time a year ahead */
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"iat\":1699000000,"
			   "\"auth_time\":1731536000}");
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "authenticated in the future");
	assert_string_equal(v.detail, "by 31536000 s");
	/* at the edge of the 60 s leeway: accepted; one second past it: refused */
	assert_int_equal(check_at_clock("{" BASE ",\"exp\":1700000600,\"auth_time\":1700000060}")
				 .code, VERDICT_OK);
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"auth_time\":1700000061}");
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "authenticated in the future");
	/* as far ahead as a NumericDate goes: no wrap-around into a small age */
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"auth_time\":9223372036854775807}");
	assert_string_equal(v.reason, "authenticated in the future");
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"auth_time\":9.1e18}");
	assert_string_equal(v.reason, "authenticated in the future");
	/* iat is the fallback for max_age: the same rule */
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"iat\":1731536000}");
	assert_string_equal(v.reason, "issued in the future");
	/* a future auth_time with a fresh iat is refused too: auth_time is the one max_age uses */
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"iat\":1699999990,"
			   "\"auth_time\":1700003600}");
	assert_string_equal(v.reason, "authenticated in the future");
	/* the clock moves on: the same claims are judged at the new time */
	now = NOW + 3600;
	assert_int_equal(check_at_clock("{" BASE ",\"exp\":1700003700,\"auth_time\":1700003600}")
				 .code, VERDICT_OK);
	now = NOW + 3600 + 300 + 60 + 1;
	v = check_at_clock("{" BASE ",\"exp\":1700009000,\"auth_time\":1700003600}");
	assert_string_equal(v.reason, "authentication is too old");
	/* without max_age a future auth_time is refused all the same */
	now = NOW;
	cfg.max_age = -1;
	v = check_at_clock("{" BASE ",\"exp\":1700000600,\"auth_time\":1700000100}");
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(v.reason, "authenticated in the future");
	clock_set(NULL, NULL);
}

static void test_jti_must_be_string(void **state)
{
	(void)state;
	assert_refused("{" BASE ",\"exp\":1700000600,\"jti\":42}", "jti is not a string");
}

static void test_numeric_date(void **state)
{
	int64_t t = 0;
	json_t *j;

	(void)state;
	j = json_real(12.9);
	assert_int_equal(claims_numeric_date(j, &t), 0);
	assert_int_equal(t, 12);
	json_decref(j);
	j = json_string("12");
	assert_int_equal(claims_numeric_date(j, &t), -1);
	json_decref(j);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_valid), T(test_exp), T(test_time_overflow), T(test_nbf_iat),
		T(test_iss_aud), T(test_aud_without_configured_audience), T(test_user_claim),
		T(test_required_claims), T(test_typ), T(test_max_age), T(test_future_auth_time),
		T(test_jti_must_be_string),
		T(test_numeric_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
