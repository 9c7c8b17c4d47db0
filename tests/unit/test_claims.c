/* Claim checks: exp/nbf/iat/auth_time with leeway (overflow-safe), iss, aud, user, required
 * claims, typ, max_age. Time is passed in explicitly or comes from an injected clock; nothing
 * sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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


/* ---- who the token is: user_domain, user_case, claim paths, user_map ------------------ */

/* Check `claims_json` (BASE's iss and aud added) for `user` at the injected clock's time. */
static struct verdict check_user(const char *claims_json, const char *user)
{
	char text[1024];
	json_t *claims, *header = json_loads("{\"alg\":\"HS256\"}", 0, NULL);
	int64_t now = NOW;
	struct verdict v;

	snprintf(text, sizeof(text),
		 "{\"iss\":\"https://idp.example\",\"aud\":\"sshd\",\"exp\":1700000600,%s}",
		 claims_json);
	/* NUL bytes too: the JWS path refuses them in any claim, claims_check must as well */
	claims = json_loads(text, JSON_ALLOW_NUL, NULL);
	if (claims == NULL)
		fail_msg("bad test JSON: %s", text);
	assert_non_null(header);
	clock_set(fake_clock, &now);
	verdict_init(&v);
	claims_check(&cfg, header, claims, user, clock_now(), &v);
	clock_set(NULL, NULL);
	json_decref(claims);
	json_decref(header);
	return v;
}

static void user_ok(const char *claims_json, const char *user)
{
	struct verdict v = check_user(claims_json, user);

	if (v.code != VERDICT_OK)
		fail_msg("refused %s for %s: %s", claims_json, user, v.reason);
}

static void user_refused(const char *claims_json, const char *user, const char *reason)
{
	struct verdict v = check_user(claims_json, user);

	if (v.code != VERDICT_REJECT || strcmp(v.reason, reason) != 0)
		fail_msg("%s for %s: got %s '%s', want refused '%s'", claims_json, user,
			 verdict_code_name(v.code), v.reason, reason);
}

static void set(const char *key, const char *value)
{
	struct verdict v;

	verdict_init(&v);
	if (config_set(&cfg, key, value, &v) != 0)
		fail_msg("config_set %s = %s: %s", key, value, v.reason);
}

#define ANOTHER "token is for another user"
#define NOT_ASCII "user claim holds a byte that is not printable ASCII"
#define NOT_NAME_AT "user claim is not NAME@DOMAIN"
#define NOT_DOMAIN "user claim's domain is not a user_domain"

/* Without user_domain and user_case the claim must be the login name, byte for byte. */
static void test_user_exact_is_todays_rule(void **state)
{
	(void)state;
	set("user_claim", "email");
	user_ok("\"email\":\"alice\"", "alice");
	user_refused("\"email\":\"alice@example.com\"", "alice", ANOTHER);
	user_refused("\"email\":\"ALICE\"", "alice", ANOTHER);
	user_refused("\"email\":\"alice\"", "ALICE", ANOTHER);
	user_refused("\"email\":\"alice\\u0000x\"", "alice", "user claim holds a NUL byte");
	user_refused("\"email\":\"alice\\u0000\"", "alice", "user claim holds a NUL byte");
	/* non-ASCII is compared as bytes: only the very same bytes match */
	user_ok("\"email\":\"\\u00e5sa\"", "\xc3\xa5sa");
	user_refused("\"email\":\"\\u0430lice\"", "alice", ANOTHER);
}

static void test_user_domain(void **state)
{
	(void)state;
	set("user_claim", "email");
	set("user_domain", "example.com");
	set("user_domain", "Corp.Example");
	user_ok("\"email\":\"alice@example.com\"", "alice");
	user_ok("\"email\":\"alice@EXAMPLE.com\"", "alice");
	user_ok("\"email\":\"alice@corp.example\"", "alice");
	user_ok("\"email\":\"bob@CORP.EXAMPLE\"", "bob");
	user_ok("\"email\":\"a.b-c_d@example.com\"", "a.b-c_d");
	/* the name is for one user only */
	user_refused("\"email\":\"alice@example.com\"", "bob", ANOTHER);
	user_refused("\"email\":\"bob@example.com\"", "alice", ANOTHER);
	/* a domain not listed never matches, whatever the name */
	user_refused("\"email\":\"alice@evil.example\"", "alice", NOT_DOMAIN);
	user_refused("\"email\":\"alice@example.com.evil.example\"", "alice", NOT_DOMAIN);
	user_refused("\"email\":\"alice@evil.example.com\"", "alice", NOT_DOMAIN);
	user_refused("\"email\":\"alice@example.co\"", "alice", NOT_DOMAIN);
	user_refused("\"email\":\"alice@example.com.\"", "alice", NOT_DOMAIN);
	user_refused("\"email\":\"alice@xexample.com\"", "alice", NOT_DOMAIN);
	/* exactly one '@', a name before it and a domain after it */
	user_refused("\"email\":\"alice@EXAMPLE.com@evil\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"alice@evil@example.com\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"alice@example.com@example.com\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"@example.com\"", "", NOT_NAME_AT);
	user_refused("\"email\":\"@example.com\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"alice@\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"alice\"", "alice", NOT_NAME_AT);
	user_refused("\"email\":\"\"", "alice", NOT_NAME_AT);
	/* NUL, control characters, spaces and anything outside ASCII never reach a comparison */
	user_refused("\"email\":\"alice\\u0000@example.com\"", "alice", "user claim holds a NUL byte");
	user_refused("\"email\":\"alice@example.com\\u0000\"", "alice", "user claim holds a NUL byte");
	user_refused("\"email\":\"alice\\n@example.com\"", "alice", NOT_ASCII);
	user_refused("\"email\":\"alice@example.com\\r\"", "alice", NOT_ASCII);
	user_refused("\"email\":\"ali ce@example.com\"", "ali ce", NOT_ASCII);
	user_refused("\"email\":\"alice\\u007f@example.com\"", "alice", NOT_ASCII);
	user_refused("\"email\":\"\\u0430lice@example.com\"", "alice", NOT_ASCII);  /* Cyrillic a */
	user_refused("\"email\":\"alice@ex\\u0430mple.com\"", "alice", NOT_ASCII);
	user_refused("\"email\":\"alice@example\\u3002com\"", "alice", NOT_ASCII); /* ideographic . */
	user_refused("\"email\":\"\\u212alice@example.com\"", "klice", NOT_ASCII); /* Kelvin K */
	/* exact case by default: the name part is compared byte for byte */
	user_refused("\"email\":\"ALICE@example.com\"", "alice", ANOTHER);
	user_refused("\"email\":\"Alice@example.com\"", "alice", ANOTHER);
	user_ok("\"email\":\"Alice@example.com\"", "Alice");
	/* no claim, or not a string */
	user_refused("\"sub\":\"alice@example.com\"", "alice", "token has no user claim");
	user_refused("\"email\":[\"alice@example.com\"]", "alice", "token has no user claim");
	user_refused("\"email\":{\"v\":\"alice@example.com\"}", "alice", "token has no user claim");
}

static void test_user_case_lower(void **state)
{
	(void)state;
	set("user_case", "lower");
	/* without user_domain: the whole claim, lowercased, is the name */
	user_ok("\"sub\":\"ALICE\"", "alice");
	user_ok("\"sub\":\"Alice\"", "alice");
	user_ok("\"sub\":\"alice\"", "alice");
	user_refused("\"sub\":\"ALICE\"", "ALICE", ANOTHER); /* the login name is not folded */
	user_refused("\"sub\":\"alice\"", "Alice", ANOTHER);
	user_refused("\"sub\":\"ALICE \"", "alice", NOT_ASCII);
	user_refused("\"sub\":\"AL\\u0130CE\"", "alice", NOT_ASCII);  /* Turkish dotted I */
	user_refused("\"sub\":\"\\u212aAREN\"", "karen", NOT_ASCII);  /* Kelvin K */
	user_refused("\"sub\":\"alice@example.com\"", "alice", ANOTHER);
	/* with user_domain: the name part, lowercased; the domain ignores case anyway */
	set("user_claim", "upn");
	set("user_domain", "contoso.example");
	user_ok("\"upn\":\"Alice@Contoso.EXAMPLE\"", "alice");
	user_ok("\"upn\":\"ALICE@contoso.example\"", "alice");
	user_refused("\"upn\":\"ALICE@contoso.example.evil\"", "alice", NOT_DOMAIN);
	user_refused("\"upn\":\"ALICE@EVIL@contoso.example\"", "alice", NOT_NAME_AT);
	user_refused("\"upn\":\"Bob@contoso.example\"", "alice", ANOTHER);
}

static void test_user_claim_paths(void **state)
{
	(void)state;
	/* Kubernetes: a nested name under a member whose name holds a dot */
	set("user_claim", "/kubernetes.io/serviceaccount/name");
	user_ok("\"kubernetes.io\":{\"namespace\":\"ci\",\"serviceaccount\":{\"name\":\"deployer\"}}",
		"deployer");
	user_refused("\"kubernetes.io\":{\"serviceaccount\":{\"name\":\"deployer\"}}", "alice",
		     ANOTHER);
	user_refused("\"kubernetes.io\":{\"serviceaccount\":{\"uid\":\"x\"}}", "deployer",
		     "token has no user claim");
	user_refused("\"kubernetes.io\":{\"serviceaccount\":[{\"name\":\"deployer\"}]}",
		     "deployer", "token has no user claim");
	user_refused("\"kubernetes.io/serviceaccount/name\":\"deployer\"", "deployer",
		     "token has no user claim");
	user_refused("\"sub\":\"deployer\"", "deployer", "token has no user claim");
	/* Cognito and Auth0: member names with ':' and '/' are plain names */
	set("user_claim", "cognito:username");
	user_ok("\"cognito:username\":\"alice\"", "alice");
	user_refused("\"cognito\":{\"username\":\"alice\"}", "alice", "token has no user claim");
	set("user_claim", "https://example.com/username");
	user_ok("\"https://example.com/username\":\"alice\"", "alice");
	set("user_claim", "/https:~1~1example.com~1username");
	user_ok("\"https://example.com/username\":\"alice\"", "alice");
	/* a pointer to a top-level member is that member */
	set("user_claim", "/preferred_username");
	user_ok("\"preferred_username\":\"alice\"", "alice");
	user_refused("\"preferred_username\":\"alice2\"", "alice", ANOTHER);
}

static void test_required_claim_paths(void **state)
{
	(void)state;
	/* Keycloak's roles, nested */
	set("require_claim", "/realm_access/roles=admin");
	user_ok("\"sub\":\"alice\",\"realm_access\":{\"roles\":[\"user\",\"admin\"]}", "alice");
	user_ok("\"sub\":\"alice\",\"realm_access\":{\"roles\":\"admin\"}", "alice");
	user_refused("\"sub\":\"alice\",\"realm_access\":{\"roles\":[\"administrator\"]}", "alice",
		     "a required claim is missing or differs");
	user_refused("\"sub\":\"alice\",\"realm_access\":{\"roles\":[[\"admin\"]]}", "alice",
		     "a required claim is missing or differs");
	user_refused("\"sub\":\"alice\",\"realm_access.roles\":[\"admin\"]", "alice",
		     "a required claim is missing or differs");
	user_refused("\"sub\":\"alice\",\"roles\":[\"admin\"]", "alice",
		     "a required claim is missing or differs");
	config_free(&cfg);
	assert_int_equal(setup(NULL), 0);
	/* names with ':' and '/', values with ':' and '=' */
	set("require_claim", "/cognito:groups=ops");
	set("require_claim", "/https:~1~1example.com~1roles=dba");
	set("require_claim", "/sub=repo:org/app:environment:prod");
	set("require_claim", "/x=a=b");
	user_ok("\"sub\":\"repo:org/app:environment:prod\",\"cognito:groups\":[\"ops\"],"
		"\"https://example.com/roles\":[\"dba\",\"dev\"],\"x\":\"a=b\"",
		"repo:org/app:environment:prod");
	user_refused("\"sub\":\"repo:org/app:environment:staging\",\"cognito:groups\":[\"ops\"],"
		     "\"https://example.com/roles\":[\"dba\"],\"x\":\"a=b\"",
		     "repo:org/app:environment:staging", "a required claim is missing or differs");
	user_refused("\"sub\":\"repo:org/app:environment:prod\",\"cognito:groups\":[\"ops\"],"
		     "\"https://example.com/roles\":[\"dba\"],\"x\":\"a\"",
		     "repo:org/app:environment:prod", "a required claim is missing or differs");
	user_refused("\"sub\":\"repo:org/app:environment:prod\",\"cognito\":{\"groups\":[\"ops\"]},"
		     "\"https://example.com/roles\":[\"dba\"],\"x\":\"a=b\"",
		     "repo:org/app:environment:prod", "a required claim is missing or differs");
	/* today's NAME:VALUE splits at the first ':' as before, so it cannot name cognito:groups */
	config_free(&cfg);
	assert_int_equal(setup(NULL), 0);
	set("require_claim", "cognito:groups:ops");
	assert_string_equal(cfg.required[0].name, "cognito");
	assert_string_equal(cfg.required[0].value, "groups:ops");
	user_refused("\"sub\":\"alice\",\"cognito:groups\":[\"ops\"]", "alice",
		     "a required claim is missing or differs");
	user_ok("\"sub\":\"alice\",\"cognito\":\"groups:ops\"", "alice");
}

/* A private directory holding a user_map file with `text`; returns the file's path. */
static char map_dir[] = "/tmp/pam_jwt_claims_map.XXXXXX";
static char map_path[128];

static const char *write_map(const char *text)
{
	FILE *f;

	if (map_path[0] == '\0') {
		assert_non_null(mkdtemp(map_dir));
		snprintf(map_path, sizeof(map_path), "%s/user_map", map_dir);
	}
	f = fopen(map_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(map_path, 0644), 0);
	return map_path;
}

static void remove_map(void)
{
	if (map_path[0] != '\0') {
		unlink(map_path);
		rmdir(map_dir);
		map_path[0] = '\0';
		strcpy(map_dir, "/tmp/pam_jwt_claims_map.XXXXXX");
	}
}

#define GH_PROD "repo:org/app:environment:prod"

static void test_user_map(void **state)
{
	struct verdict v;

	(void)state;
	set("user_map", write_map("# GitHub Actions\n" GH_PROD " deploy\n"
				  "project_path:group/app:ref_type:branch:ref:main deploy\n"
				  "system:serviceaccount:ci:builder builder\n"));
	user_ok("\"sub\":\"" GH_PROD "\"", "deploy");
	user_ok("\"sub\":\"project_path:group/app:ref_type:branch:ref:main\"", "deploy");
	user_ok("\"sub\":\"system:serviceaccount:ci:builder\"", "builder");
	/* mapped to one account only */
	user_refused("\"sub\":\"" GH_PROD "\"", "builder", ANOTHER);
	user_refused("\"sub\":\"" GH_PROD "\"", "root", ANOTHER);
	/* nothing outside the map matches: not the account's own name, not a near value */
	user_refused("\"sub\":\"deploy\"", "deploy", "user claim is not in user_map");
	user_refused("\"sub\":\"repo:org/app:environment:staging\"", "deploy",
		     "user claim is not in user_map");
	user_refused("\"sub\":\"repo:org/app:environment:prod \"", "deploy",
		     "user claim is not in user_map");
	user_refused("\"sub\":\"REPO:org/app:environment:prod\"", "deploy",
		     "user claim is not in user_map");
	user_refused("\"sub\":\"repo:org/app:environment:pro\"", "deploy",
		     "user claim is not in user_map");
	user_refused("\"sub\":\"repo:org/app:environment:prod\\u0000x\"", "deploy",
		     "user claim holds a NUL byte");
	user_refused("\"sub\":[\"" GH_PROD "\"]", "deploy", "token has no user claim");
	/* a map that breaks a rule refuses everyone, as unavailable */
	write_map(GH_PROD " deploy\n" GH_PROD " root\n");
	v = check_user("\"sub\":\"" GH_PROD "\"", "deploy");
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "user_map: a claim value is listed twice");
	write_map(GH_PROD " deploy\n");
	assert_int_equal(chmod(map_path, 0666), 0);
	v = check_user("\"sub\":\"" GH_PROD "\"", "deploy");
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "file is group- or world-writable");
	/* with user_domain or user_case too (config_validate refuses it), nobody passes */
	write_map(GH_PROD " deploy\n");
	user_ok("\"sub\":\"" GH_PROD "\"", "deploy");
	set("user_case", "lower");
	v = check_user("\"sub\":\"" GH_PROD "\"", "deploy");
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	set("user_case", "exact");
	set("user_domain", "example.com");
	v = check_user("\"sub\":\"" GH_PROD "\"", "deploy");
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	remove_map();
	/* a map that does not exist refuses everyone */
	config_free(&cfg);
	assert_int_equal(setup(NULL), 0);
	set("user_map", "/nonexistent-dir/user_map");
	v = check_user("\"sub\":\"" GH_PROD "\"", "deploy");
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
}

/* claims_user_name is also what pam-jwtctl verify without -u and the lock check use. */
static void test_user_name(void **state)
{
	json_t *claims = json_loads("{\"email\":\"Alice@Example.com\"}", 0, NULL);
	struct verdict v;
	static char sentinel[] = "sentinel";
	char *name = sentinel;

	(void)state;
	verdict_init(&v);
	assert_int_equal(claims_user_name(&cfg, claims, &name, &v), -1);
	assert_null(name);
	assert_string_equal(v.reason, "token has no user claim");
	set("user_claim", "email");
	assert_int_equal(claims_user_name(&cfg, claims, &name, &v), 0);
	assert_string_equal(name, "Alice@Example.com");
	free(name);
	set("user_domain", "example.com");
	assert_int_equal(claims_user_name(&cfg, claims, &name, &v), 0);
	assert_string_equal(name, "Alice");
	free(name);
	set("user_case", "lower");
	assert_int_equal(claims_user_name(&cfg, claims, &name, &v), 0);
	assert_string_equal(name, "alice");
	free(name);
	json_decref(claims);
}

/* What pam-jwtd mints: a user claim that reads back as exactly the session's user. */
static void test_set_user(void **state)
{
	json_t *claims = json_object();
	struct verdict v;
	char *name = NULL;

	(void)state;
	verdict_init(&v);
	assert_int_equal(claims_set_user(&cfg, claims, "alice", &v), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
	set("user_claim", "/kubernetes.io/serviceaccount/name");
	assert_int_equal(claims_set_user(&cfg, claims, "deployer", &v), 0);
	assert_int_equal(claims_user_name(&cfg, claims, &name, &v), 0);
	assert_string_equal(name, "deployer");
	free(name);
	set("user_claim", "email");
	set("user_domain", "Example.com");
	set("user_domain", "other.example");
	assert_int_equal(claims_set_user(&cfg, claims, "alice", &v), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "email")),
			    "alice@example.com");
	/* a name that would not read back as itself is not minted */
	set("user_case", "lower");
	assert_int_equal(claims_set_user(&cfg, claims, "Alice", &v), -1);
	assert_int_equal(claims_set_user(&cfg, claims, "al ice", &v), -1);
	json_decref(claims);
	config_free(&cfg);
	assert_int_equal(setup(NULL), 0);
	claims = json_object();
	set("user_map", write_map("v:one deploy\nv:two deploy\nv:three builder\n"));
	assert_int_equal(claims_set_user(&cfg, claims, "deploy", &v), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "v:one");
	assert_int_equal(claims_set_user(&cfg, claims, "builder", &v), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "v:three");
	assert_int_equal(claims_set_user(&cfg, claims, "alice", &v), -1);
	assert_string_equal(v.reason, "user_map maps no claim value to this user");
	remove_map();
	json_decref(claims);
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
		T(test_user_exact_is_todays_rule), T(test_user_domain), T(test_user_case_lower),
		T(test_user_claim_paths), T(test_required_claim_paths), T(test_user_map),
		T(test_user_name), T(test_set_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
