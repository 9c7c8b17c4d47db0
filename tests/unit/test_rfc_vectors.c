/* RFC test vectors through the real JWS verifier (jws_verify + keyset_add_jwks_json):
 *   RFC 7515 A.1-A.4 (latchset-jose rfc7515_A.N.jwk/.jwsc), A.5 (alg none: refused)
 *   RFC 7520 4.1-4.4 (jose-cookbook jws/4_*.json, and latchset rfc7520_4.N.jwsc + jwk)
 *   RFC 8037 A.4/A.5 Ed25519 (jose-cookbook curve25519/jws.json)
 * For every valid vector we also check that one flipped signature bit, one changed payload
 * character and a changed header alg are refused.
 *
 * The vectors live in ../shared/vectors beside the repository (or $PAM_JWT_VECTORS); a
 * missing vector directory or file is a failure, never a skip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "b64url.h"
#include "jwa.h"
#include "jws.h"
#include "keys.h"
#include "verdict.h"
#include "testutil.h"

struct rfc_vector {
	const char *name;
	/* Either a JWK file + compact JWS file (latchset-jose) ... */
	const char *jwk_file;
	const char *jws_file;
	/* ... or a jose-cookbook JSON file (key in input.key, token in output.compact,
	 * payload in input.payload). */
	const char *cookbook;
	const char *alg;          /* the alg the RFC section signs with */
	const char *payload;      /* expected payload when the vector states it, else NULL */
};

/* The RFC 7520 payload, stated once for the latchset copies of 4.1-4.4. */
#define RFC7520_PAYLOAD "It\xe2\x80\x99s a dangerous business, Frodo, going out your door. " \
	"You step onto the road, and if you don't keep your feet, there\xe2\x80\x99s no knowing " \
	"where you might be swept off to."

static struct rfc_vector vectors[] = {
	{ "RFC 7515 A.1 HS256", "latchset-jose/rfc7515_A.1.jwk", "latchset-jose/rfc7515_A.1.jwsc",
	  NULL, "HS256", NULL },
	{ "RFC 7515 A.2 RS256", "latchset-jose/rfc7515_A.2.jwk", "latchset-jose/rfc7515_A.2.jwsc",
	  NULL, "RS256", NULL },
	{ "RFC 7515 A.3 ES256", "latchset-jose/rfc7515_A.3.jwk", "latchset-jose/rfc7515_A.3.jwsc",
	  NULL, "ES256", NULL },
	{ "RFC 7515 A.4 ES512", "latchset-jose/rfc7515_A.4.jwk", "latchset-jose/rfc7515_A.4.jwsc",
	  NULL, "ES512", "Payload" },
	{ "RFC 7520 4.1 RS256 (cookbook)", NULL, NULL,
	  "jose-cookbook/jws/4_1.rsa_v15_signature.json", "RS256", NULL },
	{ "RFC 7520 4.2 PS384 (cookbook)", NULL, NULL,
	  "jose-cookbook/jws/4_2.rsa-pss_signature.json", "PS384", NULL },
	{ "RFC 7520 4.3 ES512 (cookbook)", NULL, NULL,
	  "jose-cookbook/jws/4_3.ecdsa_signature.json", "ES512", NULL },
	{ "RFC 7520 4.4 HS256 (cookbook)", NULL, NULL,
	  "jose-cookbook/jws/4_4.hmac-sha2_integrity_protection.json", "HS256", NULL },
	{ "RFC 7520 4.1 RS256 (latchset)", "latchset-jose/rfc7520_4.1.jwk",
	  "latchset-jose/rfc7520_4.1.jwsc", NULL, "RS256", RFC7520_PAYLOAD },
	{ "RFC 7520 4.2 PS384 (latchset)", "latchset-jose/rfc7520_4.2.jwk",
	  "latchset-jose/rfc7520_4.2.jwsc", NULL, "PS384", RFC7520_PAYLOAD },
	{ "RFC 7520 4.3 ES512 (latchset)", "latchset-jose/rfc7520_4.3.jwk",
	  "latchset-jose/rfc7520_4.3.jwsc", NULL, "ES512", RFC7520_PAYLOAD },
	{ "RFC 7520 4.4 HS256 (latchset)", "latchset-jose/rfc7520_4.4.jwk",
	  "latchset-jose/rfc7520_4.4.jwsc", NULL, "HS256", RFC7520_PAYLOAD },
	{ "RFC 8037 A.4 Ed25519 (cookbook)", NULL, NULL, "jose-cookbook/curve25519/jws.json",
	  "EdDSA", "Example of Ed25519 signing" },
};
#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

static const char *const all_algs[] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
};

/* ---- loading ------------------------------------------------------------------------ */

static char *vectors_dir(void)
{
	char *dir = tu_vectors_dir();

	if (dir == NULL)
		fail_msg("vector directory not found: set PAM_JWT_VECTORS or put shared/vectors "
			 "beside the repository (../shared/vectors)");
	return dir;
}

/* Load a latchset JWK file. Some rfc7520_4.N.jwk files are git symlinks stored as text
 * ("rfc7520_3.4.jwk"): follow such a one-line pointer within the same directory. */
static json_t *load_jwk_file(const char *dir, const char *name)
{
	char *text = tu_read_vector(dir, name, NULL), *target = NULL;
	char path[PATH_MAX];
	const char *slash;
	json_t *jwk;
	json_error_t err;

	if (text == NULL)
		fail_msg("cannot read vector %s/%s", dir, name);
	tu_rstrip(text);
	if (text[0] != '{') {
		slash = strrchr(name, '/');
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash ? slash - name : 0), name, text);
		target = tu_read_vector(dir, path, NULL);
		if (target == NULL)
			fail_msg("cannot read %s (pointed to by %s)", path, name);
		free(text);
		text = target;
	}
	jwk = json_loads(text, 0, &err);
	free(text);
	if (!json_is_object(jwk))
		fail_msg("%s is not a JSON object: %s", name, err.text);
	return jwk;
}

/* Fill *jwk (a new reference), *token (malloc'd) and *payload (expected payload or NULL;
 * borrowed from the vector or malloc'd into *payload_owned). */
static void load_vector(const struct rfc_vector *rv, const char *dir, json_t **jwk, char **token,
			char **payload_owned)
{
	json_error_t err;
	json_t *doc, *compact, *payload;
	char *text;

	*payload_owned = NULL;
	if (rv->cookbook != NULL) {
		text = tu_read_vector(dir, rv->cookbook, NULL);
		if (text == NULL)
			fail_msg("cannot read vector %s/%s", dir, rv->cookbook);
		doc = json_loads(text, 0, &err);
		free(text);
		assert_non_null(doc);
		*jwk = json_deep_copy(json_object_get(json_object_get(doc, "input"), "key"));
		compact = json_object_get(json_object_get(doc, "output"), "compact");
		payload = json_object_get(json_object_get(doc, "input"), "payload");
		assert_true(json_is_object(*jwk));
		assert_true(json_is_string(compact));
		assert_true(json_is_string(payload));
		/* The cookbook states the alg it signed with: it must be the one we test. */
		assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "input"),
								      "alg")), rv->alg);
		*token = strdup(json_string_value(compact));
		*payload_owned = strdup(json_string_value(payload));
		json_decref(doc);
	} else {
		*jwk = load_jwk_file(dir, rv->jwk_file);
		*token = tu_read_vector(dir, rv->jws_file, NULL);
		if (*token == NULL)
			fail_msg("cannot read vector %s/%s", dir, rv->jws_file);
		tu_rstrip(*token);
	}
	assert_non_null(*token);
}

static int is_oct(const json_t *jwk)
{
	return strcmp(json_string_value(json_object_get(jwk, "kty")), "oct") == 0;
}

/* A key set holding just this JWK. Fails the test if the key is refused. */
static struct keyset *keyset_of(const json_t *jwk)
{
	struct keyset *ks = keyset_new();
	struct verdict v;
	char *text = json_dumps(jwk, JSON_COMPACT);

	verdict_init(&v);
	assert_non_null(ks);
	assert_non_null(text);
	if (keyset_add_jwks_json(ks, text, strlen(text), is_oct(jwk), &v) != 0)
		fail_msg("JWK refused: %s", v.reason);
	free(text);
	return ks;
}

/* ---- verification outcomes ------------------------------------------------------------ */

/* Verify and expect acceptance; returns nothing, checks the result. */
static void expect_accept(struct keyset *ks, const char *token, enum jwa_alg alg,
			  const char *payload)
{
	struct jws_result res;
	struct verdict v;
	int rc;

	verdict_init(&v);
	rc = jws_verify(token, strlen(token), JWS_DEFAULT_MAX_SIZE, ks, &res, &v);
	if (rc != 0)
		fail_msg("valid token refused: %s", v.reason ? v.reason : "(no reason)");
	assert_int_equal(res.alg, alg);
	assert_true(json_is_object(res.header));
	assert_non_null(res.payload);
	if (payload != NULL) {
		assert_int_equal(res.payload_len, strlen(payload));
		assert_memory_equal(res.payload, payload, res.payload_len);
	}
	jws_result_clear(&res);
}

/* Verify and expect refusal; if want_reason is not NULL the reason must be exactly it, so
 * that a mutation is caught by the check it targets and not by some earlier accident. */
static void expect_refuse(struct keyset *ks, const char *token, const char *want_reason,
			  const char *what)
{
	struct jws_result res;
	struct verdict v;
	int rc;

	verdict_init(&v);
	rc = jws_verify(token, strlen(token), JWS_DEFAULT_MAX_SIZE, ks, &res, &v);
	if (rc == 0) {
		jws_result_clear(&res);
		fail_msg("%s: tampered token was accepted", what);
	}
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_non_null(v.reason);
	assert_null(res.header);
	assert_null(res.payload);
	if (want_reason != NULL && strcmp(v.reason, want_reason) != 0)
		fail_msg("%s: refused for \"%s\", expected \"%s\"", what, v.reason, want_reason);
}

/* ---- mutations -------------------------------------------------------------------------- */

struct segments {
	char *header, *payload, *sig; /* malloc'd copies of the three segments */
};

static void split_token(const char *token, struct segments *s)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

	assert_non_null(d1);
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	s->header = strndup(token, (size_t)(d1 - token));
	s->payload = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
	s->sig = strdup(d2 + 1);
	assert_non_null(s->header);
	assert_non_null(s->payload);
	assert_non_null(s->sig);
}

static void segments_free(struct segments *s)
{
	free(s->header);
	free(s->payload);
	free(s->sig);
}

static char *join_token(const char *h, const char *p, const char *s)
{
	size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
	char *t = malloc(n);

	assert_non_null(t);
	snprintf(t, n, "%s.%s.%s", h, p, s);
	return t;
}

/* Flip one bit of the decoded signature at byte `pos` and re-encode. */
static void check_sig_bit_flips(struct keyset *ks, const struct segments *s)
{
	unsigned char *sig = NULL;
	size_t sig_len = 0, positions[3], i;
	char *enc, *token, what[96];

	assert_int_equal(b64url_decode_alloc(s->sig, strlen(s->sig), &sig, &sig_len), 0);
	assert_true(sig_len > 0);
	positions[0] = 0;
	positions[1] = sig_len / 2;
	positions[2] = sig_len - 1;
	for (i = 0; i < 3; i++) {
		unsigned char bit = (unsigned char)(1u << (positions[i] % 8));

		sig[positions[i]] ^= bit;
		enc = b64url_encode_alloc(sig, sig_len);
		assert_non_null(enc);
		assert_string_not_equal(enc, s->sig);
		token = join_token(s->header, s->payload, enc);
		snprintf(what, sizeof(what), "signature bit flipped in byte %zu", positions[i]);
		expect_refuse(ks, token, "bad signature", what);
		free(token);
		free(enc);
		sig[positions[i]] ^= bit;
	}
	/* The harness only changed what it meant to: restored bytes re-encode to the input. */
	enc = b64url_encode_alloc(sig, sig_len);
	assert_string_equal(enc, s->sig);
	free(enc);
	free(sig);
}

/* Replace one payload character with another base64url character (first and middle
 * positions: never the last one, whose spare bits could make the segment non-canonical
 * and be refused by the decoder instead of the signature check). */
static void check_payload_char(struct keyset *ks, const struct segments *s)
{
	size_t n = strlen(s->payload), positions[2], i;
	char *payload, *token, what[96];

	assert_true(n >= 4);
	positions[0] = 0;
	positions[1] = n / 2 - 1;
	for (i = 0; i < 2; i++) {
		payload = strdup(s->payload);
		assert_non_null(payload);
		payload[positions[i]] = payload[positions[i]] == 'A' ? 'B' : 'A';
		token = join_token(s->header, payload, s->sig);
		snprintf(what, sizeof(what), "payload character %zu changed", positions[i]);
		expect_refuse(ks, token, "bad signature", what);
		free(token);
		free(payload);
	}
}

/* Replace the header's alg value with every other alg (and with "none"), re-encode the
 * header keeping everything else byte for byte, and expect a refusal. */
static void check_header_alg(struct keyset *ks, const struct segments *s, const char *alg)
{
	unsigned char *hdr = NULL;
	size_t hdr_len = 0, i;
	char quoted[32], repl[32], *text, *at, *enc, *token, what[96];

	assert_int_equal(b64url_decode_alloc(s->header, strlen(s->header), &hdr, &hdr_len), 0);
	/* Sanity: the decoded header re-encodes to the very same segment. */
	enc = b64url_encode_alloc(hdr, hdr_len);
	assert_string_equal(enc, s->header);
	free(enc);
	snprintf(quoted, sizeof(quoted), "\"%s\"", alg);
	at = strstr((const char *)hdr, quoted);
	assert_non_null(at);
	assert_null(strstr(at + 1, quoted)); /* the alg value occurs once */
	for (i = 0; i <= sizeof(all_algs) / sizeof(all_algs[0]); i++) {
		const char *other = i < sizeof(all_algs) / sizeof(all_algs[0]) ? all_algs[i] : "none";
		size_t prefix = (size_t)(at - (const char *)hdr), n;

		if (strcmp(other, alg) == 0)
			continue;
		snprintf(repl, sizeof(repl), "\"%s\"", other);
		n = hdr_len - strlen(quoted) + strlen(repl);
		text = malloc(n + 1);
		assert_non_null(text);
		memcpy(text, hdr, prefix);
		memcpy(text + prefix, repl, strlen(repl));
		memcpy(text + prefix + strlen(repl), at + strlen(quoted),
		       hdr_len - prefix - strlen(quoted));
		text[n] = '\0';
		enc = b64url_encode_alloc((const unsigned char *)text, n);
		token = join_token(enc, s->payload, s->sig);
		snprintf(what, sizeof(what), "header alg %s changed to %s", alg, other);
		expect_refuse(ks, token, strcmp(other, "none") == 0 ?
			      "alg none is never accepted" : "token alg does not match the key's alg",
			      what);
		free(token);
		free(enc);
		free(text);
	}
	free(hdr);
}

/* ---- the test ---------------------------------------------------------------------------- */

static void test_rfc_vector(void **state)
{
	const struct rfc_vector *rv = *state;
	char *dir = vectors_dir(), *token = NULL, *payload_owned = NULL, *text;
	const char *payload = rv->payload;
	json_t *jwk = NULL;
	struct keyset *ks;
	struct verdict v;
	struct segments seg;
	enum jwa_alg alg = jwa_alg_from_name(rv->alg);

	assert_int_not_equal(alg, JWA_INVALID);
	load_vector(rv, dir, &jwk, &token, &payload_owned);
	if (payload == NULL)
		payload = payload_owned;

	/* Every key is pinned to exactly one alg. The RFC JWKs mostly omit it: an EC or OKP
	 * key then takes it from its curve, an RSA key from the admin's jwks_rsa_alg
	 * (ks->rsa_alg), and a secret key, with nothing to take it from, is skipped. Show
	 * that, then go on with the alg the RFC section signs with written into the JWK, as
	 * an admin would for a secret key. */
	if (json_object_get(jwk, "alg") == NULL) {
		ks = keyset_new();
		assert_non_null(ks);
		text = json_dumps(jwk, JSON_COMPACT);
		verdict_init(&v);
		if (is_oct(jwk)) {
			assert_int_not_equal(keyset_add_jwks_json(ks, text, strlen(text), true, &v),
					     0);
			assert_string_equal(v.reason,
					    "key set has no key that can verify signatures");
			assert_non_null(strstr(ks->notes.line[0], "skipped: secret key has no alg"));
		} else {
			if (jwa_alg_family(alg) == JWA_FAMILY_RSA ||
			    jwa_alg_family(alg) == JWA_FAMILY_RSA_PSS)
				ks->rsa_alg = alg;
			assert_int_equal(keyset_add_jwks_json(ks, text, strlen(text), true, &v), 0);
			assert_int_equal(ks->count, 1);
			assert_int_equal(ks->entries[0].alg, alg);
		}
		free(text);
		keyset_free(ks);
		assert_int_equal(json_object_set_new(jwk, "alg", json_string(rv->alg)), 0);
	}
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")), rv->alg);
	/* A secret (oct) key is only accepted from a source declared private (secret_ok). */
	if (is_oct(jwk)) {
		ks = keyset_new();
		text = json_dumps(jwk, JSON_COMPACT);
		verdict_init(&v);
		assert_int_not_equal(keyset_add_jwks_json(ks, text, strlen(text), false, &v), 0);
		free(text);
		keyset_free(ks);
	}

	ks = keyset_of(jwk);
	expect_accept(ks, token, alg, payload);

	split_token(token, &seg);
	check_sig_bit_flips(ks, &seg);
	check_payload_char(ks, &seg);
	check_header_alg(ks, &seg, rv->alg);
	segments_free(&seg);

	/* Still accepted after all the refusals (no state was poisoned). */
	expect_accept(ks, token, alg, payload);

	keyset_free(ks);
	json_decref(jwk);
	free(token);
	free(payload_owned);
	free(dir);
}

/* RFC 7515 A.5: an unsecured JWS (alg none, empty signature) is refused, whatever key of
 * whatever alg is configured. */
static void test_rfc7515_a5_none(void **state)
{
	static const char *const keys[] = {
		"latchset-jose/rfc7515_A.1.jwk", "latchset-jose/rfc7515_A.2.jwk",
		"latchset-jose/rfc7515_A.3.jwk",
	};
	static const char *const key_algs[] = { "HS256", "RS256", "ES256" };
	char *dir = vectors_dir(), *token, *with_sig;
	struct segments seg;
	size_t i;

	(void)state;
	token = tu_read_vector(dir, "latchset-jose/rfc7515_A.5.jwsc", NULL);
	if (token == NULL)
		fail_msg("cannot read vector %s/latchset-jose/rfc7515_A.5.jwsc", dir);
	tu_rstrip(token);
	assert_non_null(strstr(token, "eyJhbGciOiJub25lIn0.")); /* {"alg":"none"} */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *jwk = load_jwk_file(dir, keys[i]);
		struct keyset *ks;

		json_object_set_new(jwk, "alg", json_string(key_algs[i]));
		ks = keyset_of(jwk);
		/* As published (empty signature segment): not even a compact JWS for us. */
		expect_refuse(ks, token, NULL, "RFC 7515 A.5 as published");
		/* With some signature bytes appended, alg none itself is what is refused. */
		assert_true(token[strlen(token) - 1] == '.');
		with_sig = malloc(strlen(token) + 8);
		assert_non_null(with_sig);
		sprintf(with_sig, "%sAAAA", token);
		split_token(with_sig, &seg);
		segments_free(&seg);
		expect_refuse(ks, with_sig, "alg none is never accepted", "RFC 7515 A.5 + sig");
		free(with_sig);
		keyset_free(ks);
		json_decref(jwk);
	}
	free(token);
	free(dir);
}

int main(void)
{
	struct CMUnitTest tests[N_VECTORS + 1];
	size_t i;

	/* One test per vector, named after it (cmocka would name them all after the one
	 * function otherwise). */
	for (i = 0; i < N_VECTORS; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = vectors[i].name;
		tests[i].test_func = test_rfc_vector;
		tests[i].initial_state = &vectors[i];
	}
	memset(&tests[N_VECTORS], 0, sizeof(tests[N_VECTORS]));
	tests[N_VECTORS].name = "RFC 7515 A.5 alg none is refused";
	tests[N_VECTORS].test_func = test_rfc7515_a5_none;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
