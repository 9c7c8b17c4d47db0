/* The JWS layer's rules (RFC 7515, RFC 8725): the key pins the algorithm, kid selects from
 * a fixed table, dangerous headers are refused, and only a real signature passes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "jws.h"
#include "jwt.h"
#include "keys.h"
#include "secfile.h"

struct fixture {
	struct jwa_key hs, es, ed, rs, ps;
	struct keyset *ks; /* kids: hs, es, ed, rs, ps */
};

static void make_key(struct jwa_key *k, enum jwa_alg alg)
{
	memset(k, 0, sizeof(*k));
	k->alg = alg;
	switch (jwa_alg_family(alg)) {
	case JWA_FAMILY_HMAC:
		k->secret_len = 32;
		k->secret = malloc(32);
		assert_int_equal(RAND_bytes(k->secret, 32), 1);
		break;
	case JWA_FAMILY_EC:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JWA_FAMILY_EDDSA:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	}
	assert_null(jwa_key_check(k));
}

static void add_public(struct keyset *ks, const struct jwa_key *k, const char *kid)
{
	json_t *jwk = jwk_from_key(k, kid);
	char *text = json_dumps(jwk, 0);
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(keyset_add_jwks_json(ks, text, strlen(text), true, &v), 0);
	free(text);
	json_decref(jwk);
}

static int setup(void **state)
{
	static struct fixture f;

	make_key(&f.hs, JWA_HS256);
	make_key(&f.es, JWA_ES256);
	make_key(&f.ed, JWA_EDDSA);
	make_key(&f.rs, JWA_RS256);
	/* one RSA key pair, pinned twice: as RS256 (kid rs) and as PS256 (kid ps) */
	memset(&f.ps, 0, sizeof(f.ps));
	f.ps.alg = JWA_PS256;
	f.ps.pkey = f.rs.pkey;
	EVP_PKEY_up_ref(f.rs.pkey);
	f.ks = keyset_new();
	add_public(f.ks, &f.hs, "hs");
	add_public(f.ks, &f.es, "es");
	add_public(f.ks, &f.ed, "ed");
	add_public(f.ks, &f.rs, "rs");
	add_public(f.ks, &f.ps, "ps");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	jwa_key_clear(&f->hs);
	jwa_key_clear(&f->es);
	jwa_key_clear(&f->ed);
	jwa_key_clear(&f->rs);
	jwa_key_clear(&f->ps);
	keyset_free(f->ks);
	return 0;
}

static char *sign_with_header(const struct jwa_key *k, const char *header_json)
{
	json_t *header = json_loads(header_json, 0, NULL);
	json_t *payload = json_pack("{s:s, s:I}", "sub", "alice", "exp", (json_int_t)4000000000);
	char *token;

	assert_non_null(header);
	token = jws_sign(k, header, payload);
	assert_non_null(token);
	json_decref(header);
	json_decref(payload);
	return token;
}

static struct verdict verify(struct keyset *ks, const char *token)
{
	struct jws_result r;
	struct verdict v;

	verdict_init(&v);
	if (jws_verify(token, strlen(token), JWS_DEFAULT_MAX_SIZE, ks, &r, &v) == 0) {
		assert_non_null(r.header);
		verdict_ok(&v);
	} else {
		assert_null(r.header);
		assert_null(r.payload);
	}
	jws_result_clear(&r);
	return v;
}

static void expect_refused(struct keyset *ks, const char *token, const char *reason)
{
	struct verdict v = verify(ks, token);

	assert_int_not_equal(v.code, VERDICT_OK);
	if (reason != NULL)
		assert_string_equal(v.reason, reason);
}

static void test_every_family_verifies(void **state)
{
	struct fixture *f = *state;
	const struct { struct jwa_key *k; const char *header; } cases[] = {
		{ &f->hs, "{\"alg\":\"HS256\",\"kid\":\"hs\"}" },
		{ &f->es, "{\"alg\":\"ES256\",\"kid\":\"es\"}" },
		{ &f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}" },
		{ &f->rs, "{\"alg\":\"RS256\",\"kid\":\"rs\"}" },
		{ &f->ps, "{\"alg\":\"PS256\",\"kid\":\"ps\"}" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *token = sign_with_header(cases[i].k, cases[i].header);
		struct verdict v = verify(f->ks, token);
		assert_int_equal(v.code, VERDICT_OK);
		assert_int_equal(strncmp(v.kid, strstr(cases[i].header, "kid\":\"") + 6, 2), 0);
		/* one flipped bit anywhere in the signature is refused */
		token[strlen(token) - 3] ^= 0x01;
		expect_refused(f->ks, token, NULL);
		free(token);
	}
}

/* A key prepared for signing signs through its reusable context: every family still
 * verifies, twice in a row (the context is copied, never used up), and ECDSA/EdDSA/PS
 * signatures differ or not as their algorithm says (fresh nonce / deterministic). */
static void test_prepared_signing_key(void **state)
{
	struct fixture *f = *state;
	struct jwa_key *keys[] = { &f->hs, &f->es, &f->ed, &f->rs, &f->ps };
	static const char *const headers[] = {
		"{\"alg\":\"HS256\",\"kid\":\"hs\"}", "{\"alg\":\"ES256\",\"kid\":\"es\"}",
		"{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", "{\"alg\":\"RS256\",\"kid\":\"rs\"}",
		"{\"alg\":\"PS256\",\"kid\":\"ps\"}",
	};
	char *first, *second;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_null(jwa_key_prepare_signing(keys[i]));
		assert_true(keys[i]->prepared);
		if (keys[i]->alg == JWA_HS256)
			assert_null(keys[i]->sign_ctx);
		else
			assert_non_null(keys[i]->sign_ctx);
		first = sign_with_header(keys[i], headers[i]);
		second = sign_with_header(keys[i], headers[i]);
		assert_int_equal(verify(f->ks, first).code, VERDICT_OK);
		assert_int_equal(verify(f->ks, second).code, VERDICT_OK);
		if (keys[i]->alg == JWA_ES256 || keys[i]->alg == JWA_PS256)
			assert_string_not_equal(first, second);
		else
			assert_string_equal(first, second);
		free(first);
		free(second);
	}
}

static void test_payload_tamper_refused(void **state)
{
	struct fixture *f = *state;
	char *token = sign_with_header(&f->es, "{\"alg\":\"ES256\",\"kid\":\"es\"}");
	char *dot = strchr(token, '.');

	dot[2] = dot[2] == 'A' ? 'B' : 'A';
	expect_refused(f->ks, token, "bad signature");
	free(token);
}

static void test_alg_none_and_unknown(void **state)
{
	struct fixture *f = *state;
	char token[256], *h;

	h = b64url_encode_alloc((const unsigned char *)"{\"alg\":\"none\"}", 14);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "alg none is never accepted");
	free(h);
	h = b64url_encode_alloc((const unsigned char *)"{\"alg\":\"NONE\"}", 14);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "alg none is never accepted");
	free(h);
	h = b64url_encode_alloc((const unsigned char *)"{\"alg\":\"HS1\"}", 13);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "unsupported alg");
	free(h);
	h = b64url_encode_alloc((const unsigned char *)"{\"kid\":\"es\"}", 12);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "header has no alg");
	free(h);
}

/* The classic confusion: an HS256 token "signed" with the bytes of a public key. */
static void test_alg_pinned_by_key(void **state)
{
	struct fixture *f = *state;
	struct jwa_key fake;
	unsigned char pub[32];
	size_t pub_len = sizeof(pub);
	char *token;

	assert_int_equal(EVP_PKEY_get_raw_public_key(f->ed.pkey, pub, &pub_len), 1);
	fake.alg = JWA_HS256;
	fake.pkey = NULL;
	fake.secret = pub;
	fake.secret_len = pub_len;
	token = sign_with_header(&fake, "{\"alg\":\"HS256\",\"kid\":\"ed\"}");
	expect_refused(f->ks, token, "token alg does not match the key's alg");
	free(token);
	/* RS256 key, token says PS256 with the same kid */
	token = sign_with_header(&f->ps, "{\"alg\":\"PS256\",\"kid\":\"rs\"}");
	expect_refused(f->ks, token, "token alg does not match the key's alg");
	free(token);
}

static void test_forbidden_headers(void **state)
{
	struct fixture *f = *state;
	static const char *const headers[] = {
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"crit\":[\"exp\"],\"exp\":1}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"jku\":\"https://evil.example/k\"}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"x5u\":\"https://evil.example/c\"}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"x5c\":[\"MIIB\"]}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"b64\":true}",
		"{\"alg\":\"HS256\",\"kid\":\"hs\",\"b64\":false,\"crit\":[\"b64\"]}",
	};
	size_t i;

	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *token = sign_with_header(&f->hs, headers[i]);
		expect_refused(f->ks, token, "header has a forbidden member (crit, jku, x5u, jwk, x5c or b64)");
		free(token);
	}
}

static void test_nested_jwt_refused(void **state)
{
	struct fixture *f = *state;
	char *token = sign_with_header(&f->hs, "{\"alg\":\"HS256\",\"kid\":\"hs\",\"cty\":\"jwt\"}");

	expect_refused(f->ks, token, "nested JWTs (cty JWT) are not accepted");
	free(token);
}

static void test_header_json_rules(void **state)
{
	struct fixture *f = *state;
	char token[512], *h;
	const char *dup = "{\"alg\":\"HS256\",\"alg\":\"none\",\"kid\":\"hs\"}";

	h = b64url_encode_alloc((const unsigned char *)dup, strlen(dup));
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "header is not a JSON object");
	free(h);
	h = b64url_encode_alloc((const unsigned char *)"[1]", 3);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "header is not a JSON object");
	free(h);
	h = b64url_encode_alloc((const unsigned char *)"{\"alg\":\"HS256\",\"kid\":7}", 23);
	snprintf(token, sizeof(token), "%s.eyJzdWIiOiJhbGljZSJ9.AAAA", h);
	expect_refused(f->ks, token, "header kid is not a short string");
	free(h);
}

static void test_shape_and_size(void **state)
{
	struct fixture *f = *state;
	char *token = sign_with_header(&f->hs, "{\"alg\":\"HS256\",\"kid\":\"hs\"}");
	size_t len = strlen(token);
	char *big, *padded = malloc(len + 3);
	struct jws_result r;
	struct verdict v;

	expect_refused(f->ks, "a.b", "token is not a compact JWS (three segments)");
	expect_refused(f->ks, "a.b.c.d", "token is not a compact JWS (three segments)");
	expect_refused(f->ks, ".b.c", "token is not a compact JWS (three segments)");
	expect_refused(f->ks, "a.b.", "token is not a compact JWS (three segments)");
	expect_refused(f->ks, "", "empty token");
	/* padding on the signature */
	snprintf(padded, len + 3, "%s==", token);
	expect_refused(f->ks, padded, NULL);
	free(padded);
	/* over the cap: refused before anything is decoded */
	verdict_init(&v);
	assert_int_equal(jws_verify(token, len, len - 1, f->ks, &r, &v), -1);
	assert_string_equal(v.reason, "token is too large");
	big = calloc(1, JWS_DEFAULT_MAX_SIZE + 2);
	memset(big, 'A', JWS_DEFAULT_MAX_SIZE + 1);
	expect_refused(f->ks, big, "token is too large");
	free(big);
	free(token);
}

static void test_kid_selection(void **state)
{
	struct fixture *f = *state;
	struct keyset *single = keyset_new();
	char *token;

	/* several keys: a missing or unknown kid is refused */
	token = sign_with_header(&f->es, "{\"alg\":\"ES256\"}");
	expect_refused(f->ks, token, "token has no kid and several keys are configured");
	free(token);
	token = sign_with_header(&f->es, "{\"alg\":\"ES256\",\"kid\":\"other\"}");
	expect_refused(f->ks, token, "unknown kid");
	free(token);
	/* one key without a kid: it is the only candidate */
	add_public(single, &f->es, NULL);
	token = sign_with_header(&f->es, "{\"alg\":\"ES256\",\"kid\":\"whatever\"}");
	assert_int_equal(verify(single, token).code, VERDICT_OK);
	free(token);
	token = sign_with_header(&f->es, "{\"alg\":\"ES256\"}");
	assert_int_equal(verify(single, token).code, VERDICT_OK);
	free(token);
	keyset_free(single);
}

static void test_ecdsa_signature_size(void **state)
{
	struct fixture *f = *state;
	unsigned char sig[72];
	const char *input = "eyJhbGciOiJFUzI1NiJ9.e30";
	size_t i;

	memset(sig, 1, sizeof(sig));
	for (i = 0; i < sizeof(sig); i++)
		if (i != 64)
			assert_int_equal(jwa_verify(&f->es, (const unsigned char *)input,
						    strlen(input), sig, i), 0);
	/* an all-zero signature (r = s = 0) is never valid */
	memset(sig, 0, sizeof(sig));
	assert_int_equal(jwa_verify(&f->es, (const unsigned char *)input, strlen(input), sig, 64),
			 0);
}

static void test_key_policy(void **state)
{
	static const char short_hmac[] = "{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"AAAA\"}]}";
	struct jwa_key k;
	struct keyset *ks = keyset_new();
	struct verdict v;
	const struct jwa_key *out;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.alg = JWA_HS256;
	k.secret = (unsigned char *)strdup("0123456789012345678901234567890"); /* 31 bytes */
	k.secret_len = 31;
	assert_string_equal(jwa_key_check(&k), "HMAC key is shorter than the hash size");
	jwa_key_clear(&k);
	k.alg = JWA_RS256;
	k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_string_equal(jwa_key_check(&k), "RSA key is shorter than 2048 bits");
	jwa_key_clear(&k);
	k.alg = JWA_ES384;
	k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_string_equal(jwa_key_check(&k), "EC key is on the wrong curve for its algorithm");
	jwa_key_clear(&k);
	/* a short HMAC key in a JWKS loads but is refused when selected */
	verdict_init(&v);
	assert_int_equal(keyset_add_jwks_json(ks, short_hmac, strlen(short_hmac), true, &v), 0);
	assert_int_equal(keyset_select(ks, JWA_HS256, NULL, &out, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	keyset_free(ks);
}

static void test_jwks_rules(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"keys\":[]}",
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}", /* a secret key without alg */
		"{\"keys\":[{\"kty\":\"EC\",\"alg\":\"none\"}]}",
		"{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"kid\":\"a\",\"k\":\"AAAA\"},"
		"{\"kty\":\"oct\",\"alg\":\"HS256\",\"kid\":\"a\",\"k\":\"BBBB\"}]}", /* dup kid */
		"{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"kid\":1,\"k\":\"AAAA\"}]}",
		"{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"AAAA\",\"k\":\"BBBB\"}]}",
	};
	static const char oct[] = "{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"AAAA\"}";
	struct keyset *ks;
	struct verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ks = keyset_new();
		verdict_init(&v);
		assert_int_equal(keyset_add_jwks_json(ks, bad[i], strlen(bad[i]), true, &v), -1);
		assert_int_equal(v.code, VERDICT_UNAVAILABLE);
		keyset_free(ks);
	}
	/* a secret key from a readable file is refused */
	ks = keyset_new();
	assert_int_equal(keyset_add_jwks_json(ks, oct, strlen(oct), false, &v), -1);
	assert_string_equal(v.reason, "key set holding a secret key is group- or world-readable");
	keyset_free(ks);
}

static void test_jwk_usage_and_kty(void **state)
{
	static const char *const bad[] = {
		"{\"kty\":\"EC\",\"alg\":\"HS256\",\"k\":\"AAAA\"}",
		"{\"kty\":\"oct\",\"alg\":\"HS256\",\"use\":\"enc\",\"k\":"
		"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"kty\":\"oct\",\"alg\":\"HS256\",\"key_ops\":[\"sign\"],\"k\":"
		"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"kty\":\"OKP\",\"alg\":\"EdDSA\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}",
		"{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
		/* a point not on the curve */
		"{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-256\","
		"\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
		"\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
	};
	struct jwa_key k;
	struct verdict v;
	json_t *jwk;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jwk = json_loads(bad[i], 0, NULL);
		assert_non_null(jwk);
		verdict_init(&v);
		assert_int_equal(jwk_to_key(jwk, false, &k, &v), -1);
		assert_null(k.pkey);
		assert_null(k.secret);
		json_decref(jwk);
	}
}

/* RSA with e = 1 would let anyone "sign"; even exponents are never valid. */
static void test_rsa_exponent_policy(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_e[] = { "AQ", "Ag", "AAE", "BA" };
	struct jwa_key k;
	struct verdict v;
	size_t i;

	for (i = 0; i < sizeof(bad_e) / sizeof(bad_e[0]); i++) {
		json_t *jwk = jwk_from_key(&f->rs, "r");
		assert_int_equal(json_object_set_new(jwk, "e", json_string(bad_e[i])), 0);
		verdict_init(&v);
		assert_int_equal(jwk_to_key(jwk, false, &k, &v), -1);
		assert_string_equal(v.reason, "RSA public exponent is not an odd number of at least 3");
		json_decref(jwk);
	}
}

/* Keys that verify forged signatures: Ed25519 points of small order, the point at
 * infinity on P-256, and a public key used as an HMAC secret. */
static void test_degenerate_keys_refused(void **state)
{
	static const char *const small_order_x[] = {
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 00..00 */
		"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 01 00..00: the identity */
		"7P_______________________________________38", /* ec ff..ff 7f */
		"7f________________________________________8", /* ed ff..ff ff: sign bit set */
	};
	char dir[] = "/tmp/pam_jwt_deg.XXXXXX", path[128];
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	const struct jwa_key *out;
	struct keyset *ks = keyset_new();
	struct jwa_key k;
	struct verdict v;
	unsigned char infinity = 0x00;
	json_t *jwk;
	size_t i;
	FILE *f;

	(void)state;
	for (i = 0; i < sizeof(small_order_x) / sizeof(small_order_x[0]); i++) {
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "alg", "EdDSA", "crv",
				"Ed25519", "x", small_order_x[i]);
		verdict_init(&v);
		assert_int_equal(jwk_to_key(jwk, false, &k, &v), -1);
		assert_string_equal(v.reason, "Ed25519 public key has small order");
		json_decref(jwk);
	}
	/* P-256 "public key" that is the point at infinity, as a PEM file could carry it */
	memset(&k, 0, sizeof(k));
	k.alg = JWA_ES256;
	assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, "group", "prime256v1", 0), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, "pub", &infinity, 1), 1);
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &k.pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	assert_string_equal(jwa_key_check(&k), "EC public key is not a point of the curve's group");
	jwa_key_clear(&k);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	/* key = HS256:/path/to/a.pem: a PEM (or JSON) file is never an HMAC secret */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/idp.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
	      "-----END PUBLIC KEY-----\n", f);
	fclose(f);
	chmod(path, 0600);
	verdict_init(&v);
	assert_int_equal(keyset_add_file(ks, JWA_HS256, NULL, path, &v), 0);
	assert_int_equal(keyset_select(ks, JWA_HS256, NULL, &out, &v), -1);
	assert_string_equal(v.reason, "HMAC secret file holds a PEM or JSON document, not raw bytes");
	keyset_free(ks);
	unlink(path);
	rmdir(dir);
}

static void test_jwk_round_trip(void **state)
{
	struct fixture *f = *state;
	const struct jwa_key *keys[] = { &f->hs, &f->es, &f->ed, &f->rs };
	struct jwa_key back;
	struct verdict v;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *jwk = jwk_from_key(keys[i], "k");
		assert_non_null(jwk);
		verdict_init(&v);
		assert_int_equal(jwk_to_key(jwk, false, &back, &v), 0);
		assert_int_equal(back.alg, keys[i]->alg);
		if (back.pkey != NULL)
			assert_int_equal(EVP_PKEY_eq(back.pkey, keys[i]->pkey), 1);
		else
			assert_memory_equal(back.secret, keys[i]->secret, back.secret_len);
		jwa_key_clear(&back);
		json_decref(jwk);
	}
}

static void test_looks_like(void **state)
{
	(void)state;
	assert_true(jws_looks_like("eyJh.eyJ.sig", 12));
	assert_true(jws_looks_like("eyJh..sig", 9));
	assert_false(jws_looks_like("hunter2", 7));
	assert_false(jws_looks_like("eyJh.eyJ.", 9));
	assert_false(jws_looks_like("eyJh.eyJ.s.g", 12));
	assert_false(jws_looks_like("eyJh.ey J.sig", 13));
	assert_false(jws_looks_like("abc.def.ghi", 11));
	assert_false(jws_looks_like("pjs_abcdef", 10));
}

/* Files: symlinks, loose modes and relative paths are refused. */
static void test_secfile_rules(void **state)
{
	char dir[] = "/tmp/pam_jwt_sf.XXXXXX";
	char path[128], link[128];
	unsigned char *buf;
	size_t len;
	struct verdict v;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(symlink(path, link), 0);
	verdict_init(&v);
	assert_int_equal(secfile_read(path, SECFILE_SECRET, &buf, &len, &v), 0);
	assert_int_equal(len, 3);
	free(buf);
	assert_int_equal(secfile_read(link, SECFILE_SECRET, &buf, &len, &v), -1);
	assert_string_equal(v.reason, "file is a symbolic link");
	chmod(path, 0640);
	assert_int_equal(secfile_read(path, SECFILE_SECRET, &buf, &len, &v), -1);
	assert_string_equal(v.reason, "secret file is group- or world-accessible");
	assert_int_equal(secfile_read(path, SECFILE_PUBLIC, &buf, &len, &v), 0);
	free(buf);
	chmod(path, 0620);
	assert_int_equal(secfile_read(path, SECFILE_PUBLIC, &buf, &len, &v), -1);
	assert_string_equal(v.reason, "file is group- or world-writable");
	chmod(path, 0600);
	chmod(dir, 0777);
	assert_int_equal(secfile_read(path, SECFILE_SECRET, &buf, &len, &v), -1);
	assert_string_equal(v.reason,
			    "file's directory or one above it has unsafe owner or permissions");
	chmod(dir, 0700);
	/* a writable directory further up the path is refused too */
	{
		char sub[160], inner[176], deep[200];
		snprintf(sub, sizeof(sub), "%s/open", dir);
		snprintf(inner, sizeof(inner), "%s/inner", sub);
		snprintf(deep, sizeof(deep), "%s/key", inner);
		assert_int_equal(mkdir(sub, 0700), 0);
		assert_int_equal(mkdir(inner, 0700), 0);
		fd = open(deep, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(secfile_read(deep, SECFILE_SECRET, &buf, &len, &v), 0);
		free(buf);
		chmod(sub, 0777);
		assert_int_equal(secfile_read(deep, SECFILE_SECRET, &buf, &len, &v), -1);
		assert_string_equal(v.reason,
				    "file's directory or one above it has unsafe owner or permissions");
		unlink(deep);
		rmdir(inner);
		rmdir(sub);
	}
	assert_int_equal(secfile_read("relative/path", SECFILE_PUBLIC, &buf, &len, &v), -1);
	assert_int_equal(secfile_read(dir, SECFILE_PUBLIC, &buf, &len, &v), -1);
	/* atomic write replaces the file and keeps the mode asked for */
	assert_int_equal(secfile_write_atomic(path, "xyz!", 4, 0600, &v), 0);
	assert_int_equal(secfile_read(path, SECFILE_SECRET, &buf, &len, &v), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "xyz!", 4);
	free(buf);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_family_verifies),
		cmocka_unit_test(test_prepared_signing_key),
		cmocka_unit_test(test_payload_tamper_refused),
		cmocka_unit_test(test_alg_none_and_unknown),
		cmocka_unit_test(test_alg_pinned_by_key),
		cmocka_unit_test(test_forbidden_headers),
		cmocka_unit_test(test_nested_jwt_refused),
		cmocka_unit_test(test_header_json_rules),
		cmocka_unit_test(test_shape_and_size),
		cmocka_unit_test(test_kid_selection),
		cmocka_unit_test(test_ecdsa_signature_size),
		cmocka_unit_test(test_key_policy),
		cmocka_unit_test(test_jwks_rules),
		cmocka_unit_test(test_jwk_usage_and_kty),
		cmocka_unit_test(test_rsa_exponent_policy),
		cmocka_unit_test(test_degenerate_keys_refused),
		cmocka_unit_test(test_jwk_round_trip),
		cmocka_unit_test(test_looks_like),
		cmocka_unit_test(test_secfile_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
