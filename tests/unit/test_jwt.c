/* The whole JWT pipeline (JWS, then claims) with an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "clock.h"
#include "jws.h"
#include "jwt.h"

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

struct fixture {
	struct config cfg;
	struct keyset *ks;
	struct jwa_key key;
};

static int setup(void **state)
{
	static struct fixture f;
	struct verdict v;
	json_t *jwk;
	char *text;

	verdict_init(&v);
	config_init(&f.cfg);
	config_set(&f.cfg, "issuer", "iss", &v);
	config_set(&f.cfg, "audience", "sshd", &v);
	memset(&f.key, 0, sizeof(f.key));
	f.key.alg = JWA_EDDSA;
	f.key.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	jwk = jwk_from_key(&f.key, "k1");
	text = json_dumps(jwk, 0);
	f.ks = keyset_new();
	keyset_add_jwks_json(f.ks, text, strlen(text), false, &v);
	free(text);
	json_decref(jwk);
	fake_now = 1800000000;
	clock_set(fake_clock, NULL);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	clock_set(NULL, NULL);
	config_free(&f->cfg);
	keyset_free(f->ks);
	jwa_key_clear(&f->key);
	return 0;
}

static char *mint(struct fixture *f, int64_t iat, int64_t ttl, const char *user)
{
	json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", "iss", "aud", "sshd",
				   "sub", user, "iat", (json_int_t)iat, "exp",
				   (json_int_t)(iat + ttl), "jti", "jti-1");
	char *token = jwt_mint(&f->key, "k1", claims);

	json_decref(claims);
	assert_non_null(token);
	return token;
}

static void test_accept_then_expire(void **state)
{
	struct fixture *f = *state;
	char *token = mint(f, clock_now(), 300, "alice");
	json_t *claims = NULL;
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(jwt_verify(&f->cfg, f->ks, token, "alice", clock_now(), &claims, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_string_equal(v.kid, "k1");
	assert_string_equal(v.jti, "jti-1");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
	json_decref(claims);
	/* the clock moves on past exp + leeway: refused, no claims returned */
	fake_now += 300 + 60;
	verdict_init(&v);
	assert_int_equal(jwt_verify(&f->cfg, f->ks, token, "alice", clock_now(), &claims, &v), -1);
	assert_null(claims);
	assert_string_equal(v.reason, "expired");
	assert_string_equal(v.detail, "60 s ago");
	free(token);
}

static void test_wrong_user_and_unverified_payload(void **state)
{
	struct fixture *f = *state;
	char *token = mint(f, clock_now(), 300, "bob");
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(jwt_verify(&f->cfg, f->ks, token, "alice", clock_now(), NULL, &v), -1);
	assert_string_equal(v.reason, "token is for another user");
	free(token);
}

static void test_payload_must_be_object(void **state)
{
	struct fixture *f = *state;
	json_t *header = json_pack("{s:s, s:s}", "alg", "EdDSA", "kid", "k1");
	json_t *payload = json_pack("[s]", "alice");
	char *token = jws_sign(&f->key, header, payload);
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(jwt_verify(&f->cfg, f->ks, token, "alice", clock_now(), NULL, &v), -1);
	assert_string_equal(v.reason, "payload is not a JSON object");
	free(token);
	json_decref(header);
	json_decref(payload);
}

static void test_verdict_describe(void **state)
{
	struct verdict v;
	char text[200];

	(void)state;
	verdict_init(&v);
	verdict_setf_seconds(&v, VERDICT_REJECT, "expired", "%lld s ago", 3600);
	verdict_label_copy(v.jti, sizeof(v.jti), "abc\n\x1b[31m");
	verdict_label_copy(v.kid, sizeof(v.kid), "k1");
	verdict_describe(&v, text, sizeof(text));
	/* control characters from a token never reach a log line */
	assert_string_equal(text, "expired 3600 s ago (jti=abc???31m, kid=k1)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accept_then_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_user_and_unverified_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_must_be_object, setup, teardown),
		cmocka_unit_test(test_verdict_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
