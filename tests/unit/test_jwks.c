/* Key sets as identity providers publish them: a key that cannot verify signatures here is
 * skipped with a note naming it and why, EC and OKP keys without alg follow their curve,
 * RSA keys without alg are pinned to jwks_rsa_alg, and several jwks files merge into one
 * table by kid. Every test builds its keys and tokens itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "jws.h"
#include "jwt.h"
#include "keys.h"

struct fixture {
	struct jwa_key rsa, p256, p384, p521, ed;  /* key pairs; alg as generated */
	char dir[32];                             /* a private temp dir for key files */
};

static struct fixture fx;

static void make_pair(struct jwa_key *k, enum jwa_alg alg, EVP_PKEY *pkey)
{
	memset(k, 0, sizeof(*k));
	k->alg = alg;
	k->pkey = pkey;
	assert_non_null(k->pkey);
	assert_null(jwa_key_check(k));
}

static int setup(void **state)
{
	make_pair(&fx.rsa, JWA_RS256, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
	make_pair(&fx.p256, JWA_ES256, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	make_pair(&fx.p384, JWA_ES384, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
	make_pair(&fx.p521, JWA_ES512, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
	make_pair(&fx.ed, JWA_EDDSA, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/pam_jwt_jwks.XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	jwa_key_clear(&fx.rsa);
	jwa_key_clear(&fx.p256);
	jwa_key_clear(&fx.p384);
	jwa_key_clear(&fx.p521);
	jwa_key_clear(&fx.ed);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* The public JWK of a key pair, with kid (unless NULL) and without "alg" unless with_alg. */
static json_t *public_jwk(const struct jwa_key *k, const char *kid, bool with_alg)
{
	json_t *jwk = jwk_from_key(k, kid);

	assert_non_null(jwk);
	if (!with_alg)
		assert_int_equal(json_object_del(jwk, "alg"), 0);
	return jwk;
}

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

/* {"keys": [ ...every JWK given, references stolen... ]} as text (caller frees). */
static char *jwks_of(json_t *first, ...)
{
	json_t *doc = json_pack("{s:[]}", "keys"), *jwk;
	char *text;
	va_list ap;

	assert_non_null(doc);
	va_start(ap, first);
	for (jwk = first; jwk != NULL; jwk = va_arg(ap, json_t *))
		assert_int_equal(json_array_append_new(json_object_get(doc, "keys"), jwk), 0);
	va_end(ap);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	json_decref(doc);
	return text;
}

static int add_text(struct keyset *ks, const char *text, bool secret_ok, struct verdict *v)
{
	verdict_init(v);
	return keyset_add_jwks_json(ks, text, strlen(text), secret_ok, v);
}

/* Whether some note of the set contains needle. */
static bool has_note(const struct keyset_notes *notes, const char *needle)
{
	size_t i;

	for (i = 0; i < notes->count; i++)
		if (strstr(notes->line[i], needle) != NULL)
			return true;
	return false;
}

static void assert_note(const struct keyset_notes *notes, const char *needle)
{
	size_t i;

	if (has_note(notes, needle))
		return;
	for (i = 0; i < notes->count; i++)
		print_message("# note: %s\n", notes->line[i]);
	fail_msg("no note contains \"%s\"", needle);
}

/* A token over {"sub":"alice"} signed by pair k as alg, with kid (or none). */
static char *sign_as(const struct jwa_key *k, enum jwa_alg alg, const char *kid)
{
	struct jwa_key as = *k; /* borrows k's pkey: never cleared */
	json_t *claims = json_pack("{s:s}", "sub", "alice");
	char *token;

	as.alg = alg;
	as.prepared = false;
	as.verify_ctx = NULL;
	as.mac_ctx = NULL;
	as.sign_ctx = NULL;
	token = jwt_mint(&as, kid, claims);
	assert_non_null(token);
	json_decref(claims);
	return token;
}

/* jws_verify: 0 accepted, else -1 with v set. */
static int verify_token(struct keyset *ks, const char *token, struct verdict *v)
{
	struct jws_result res;
	int rc;

	verdict_init(v);
	rc = jws_verify(token, strlen(token), JWS_DEFAULT_MAX_SIZE, ks, &res, v);
	jws_result_clear(&res);
	return rc;
}

static void assert_accepts(struct keyset *ks, const struct jwa_key *k, enum jwa_alg alg,
			   const char *kid)
{
	char *token = sign_as(k, alg, kid);
	struct verdict v;

	if (verify_token(ks, token, &v) != 0)
		fail_msg("%s token (kid %s) refused: %s", jwa_alg_name(alg), kid ? kid : "-",
			 v.reason);
	free(token);
}

static void assert_refuses(struct keyset *ks, const struct jwa_key *k, enum jwa_alg alg,
			   const char *kid, enum verdict_code code, const char *reason)
{
	char *token = sign_as(k, alg, kid);
	struct verdict v;

	assert_int_equal(verify_token(ks, token, &v), -1);
	assert_int_equal(v.code, code);
	assert_string_equal(v.reason, reason);
	free(token);
}

/* Write text to DIR/name with mode; returns the path (static buffer per slot). */
static const char *write_file(int slot, const char *name, const char *text, mode_t mode)
{
	static char paths[4][96];
	int fd;

	assert_true(slot >= 0 && slot < 4);
	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", fx.dir, name);
	(void)unlink(paths[slot]);
	fd = open(paths[slot], O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return paths[slot];
}

/* A config naming the given jwks files (NULL-terminated) and, unless NULL, jwks_rsa_alg. */
static void config_with(struct config *cfg, const char *rsa_alg, const char *first, ...)
{
	struct verdict v;
	const char *path;
	va_list ap;

	assert_int_equal(config_init(cfg), 0);
	verdict_init(&v);
	va_start(ap, first);
	for (path = first; path != NULL; path = va_arg(ap, const char *))
		assert_int_equal(config_set(cfg, "jwks", path, &v), 0);
	va_end(ap);
	if (rsa_alg != NULL)
		assert_int_equal(config_set(cfg, "jwks_rsa_alg", rsa_alg, &v), 0);
}

/* ---- keys that are not for signatures --------------------------------------------------- */

/* Each key here cannot verify signatures: beside one good key, each is skipped with a note
 * that names it (set, index, kid) and why; the good key still verifies. The set is read as
 * world-readable (secret_ok false), so the A128KW and dir secret keys are skipped, not
 * fatal. */
static void test_skips_keys_not_for_signatures(void **state)
{
	static const struct {
		const char *jwk, *note;
	} skipped[] = {
		{ "{\"kty\":\"RSA\",\"kid\":\"enc-oaep\",\"use\":\"enc\",\"alg\":\"RSA-OAEP\","
		  "\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		  "(kid enc-oaep) skipped: use is not sig (enc)" },
		{ "{\"kty\":\"RSA\",\"kid\":\"wrap\",\"key_ops\":[\"encrypt\",\"wrapKey\"],"
		  "\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		  "(kid wrap) skipped: key_ops does not list verify" },
		{ "{\"kty\":\"RSA\",\"kid\":\"oaep\",\"alg\":\"RSA-OAEP\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		  "(kid oaep) skipped: alg is not a signature algorithm pam_jwt verifies "
		  "with (RSA-OAEP)" },
		{ "{\"kty\":\"RSA\",\"kid\":\"oaep256\",\"alg\":\"RSA-OAEP-256\",\"n\":\"AQAB\","
		  "\"e\":\"AQAB\"}",
		  "(kid oaep256) skipped: alg is not a signature algorithm pam_jwt "
		  "verifies with (RSA-OAEP-256)" },
		{ "{\"kty\":\"RSA\",\"kid\":\"rsa15\",\"alg\":\"RSA1_5\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		  "(kid rsa15) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(RSA1_5)" },
		{ "{\"kty\":\"EC\",\"kid\":\"ecdh\",\"alg\":\"ECDH-ES\",\"crv\":\"P-256\",\"x\":\"AA\","
		  "\"y\":\"AA\"}",
		  "(kid ecdh) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(ECDH-ES)" },
		{ "{\"kty\":\"EC\",\"kid\":\"ecdh-kw\",\"alg\":\"ECDH-ES+A128KW\",\"crv\":\"P-384\","
		  "\"x\":\"AA\",\"y\":\"AA\"}",
		  "(kid ecdh-kw) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(ECDH-ES+A128KW)" },
		{ "{\"kty\":\"oct\",\"kid\":\"kw\",\"alg\":\"A128KW\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		  "(kid kw) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(A128KW)" },
		{ "{\"kty\":\"oct\",\"kid\":\"dir\",\"alg\":\"dir\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		  "(kid dir) skipped: alg is not a signature algorithm pam_jwt verifies with (dir)" },
		{ "{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}",
		  "(kid k1) skipped: curve is not one pam_jwt verifies with (secp256k1)" },
		{ "{\"kty\":\"EC\",\"kid\":\"k1-alg\",\"alg\":\"ES256K\",\"crv\":\"secp256k1\","
		  "\"x\":\"AA\",\"y\":\"AA\"}",
		  "(kid k1-alg) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(ES256K)" },
		{ "{\"kty\":\"OKP\",\"kid\":\"x25519\",\"crv\":\"X25519\",\"x\":\"AA\"}",
		  "(kid x25519) skipped: curve is not one pam_jwt verifies with (X25519)" },
		{ "{\"kty\":\"OKP\",\"kid\":\"ed448\",\"alg\":\"EdDSA\",\"crv\":\"Ed448\",\"x\":\"AA\"}",
		  "(kid ed448) skipped: curve is not one pam_jwt verifies with (Ed448)" },
		{ "{\"kty\":\"AKP\",\"kid\":\"pq\",\"alg\":\"ML-DSA-44\",\"pub\":\"AA\"}",
		  "(kid pq) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(ML-DSA-44)" },
		{ "{\"kty\":\"XYZ\",\"kid\":\"xyz\"}",
		  "(kid xyz) skipped: kty is not one pam_jwt verifies with (XYZ)" },
		{ "{\"kid\":\"nokty\",\"alg\":\"RS256\"}", "(kid nokty) skipped: no kty" },
		{ "{\"kty\":\"RSA\",\"kid\":\"none\",\"alg\":\"none\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		  "(kid none) skipped: alg is not a signature algorithm pam_jwt verifies with "
		  "(none)" },
	};
	struct keyset *ks;
	struct verdict v;
	char *text, want[KEYSET_NOTE_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		text = jwks_of(public_jwk(&fx.p256, "good", false), parse(skipped[i].jwk), NULL);
		ks = keyset_new();
		assert_int_equal(add_text(ks, text, false, &v), 0);
		assert_int_equal(ks->count, 1);
		assert_string_equal(ks->entries[0].kid, "good");
		assert_int_equal(ks->notes.count, 1);
		snprintf(want, sizeof(want), "key set: keys[1] %s", skipped[i].note);
		assert_string_equal(ks->notes.line[0], want);
		assert_accepts(ks, &fx.p256, JWA_ES256, "good");
		free(text);
		keyset_free(ks);
	}
}

/* Several such keys in one set: each is skipped, and a token naming one finds no key. */
static void test_skips_several_in_one_set(void **state)
{
	char *text = jwks_of(
		parse("{\"kty\":\"RSA\",\"kid\":\"enc-1\",\"use\":\"enc\",\"alg\":\"RSA-OAEP\","
		      "\"n\":\"AQAB\",\"e\":\"AQAB\"}"),
		public_jwk(&fx.rsa, "sig-1", true),
		parse("{\"kty\":\"EC\",\"kid\":\"enc-2\",\"use\":\"enc\",\"crv\":\"P-256\","
		      "\"x\":\"AA\",\"y\":\"AA\"}"),
		public_jwk(&fx.ed, "sig-2", false), NULL);
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 2);
	assert_int_equal(ks->notes.count, 2);
	assert_string_equal(ks->notes.line[0], "key set: keys[0] (kid enc-1) skipped: use is not "
			    "sig (enc)");
	assert_string_equal(ks->notes.line[1], "key set: keys[2] (kid enc-2) skipped: use is not "
			    "sig (enc)");
	assert_accepts(ks, &fx.rsa, JWA_RS256, "sig-1");
	assert_accepts(ks, &fx.ed, JWA_EDDSA, "sig-2");
	assert_refuses(ks, &fx.rsa, JWA_RS256, "enc-1", VERDICT_REJECT, "unknown kid");
	free(text);
	keyset_free(ks);
}

/* A key without kid is named by its index. */
static void test_skip_note_names_index_without_kid(void **state)
{
	char *text = jwks_of(public_jwk(&fx.ed, "good", true),
			     parse("{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"),
			     NULL);
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_int_equal(ks->notes.count, 1);
	assert_string_equal(ks->notes.line[0], "key set: keys[1] (no kid) skipped: use is not sig "
			    "(enc)");
	free(text);
	keyset_free(ks);
}

/* Skipping is never fatal, but a set in which no key can verify is still an error, with
 * every skipped key and the refusal noted. */
static void test_no_usable_key_is_an_error(void **state)
{
	char *text = jwks_of(
		parse("{\"kty\":\"RSA\",\"kid\":\"e1\",\"use\":\"enc\",\"alg\":\"RSA-OAEP\","
		      "\"n\":\"AQAB\",\"e\":\"AQAB\"}"),
		parse("{\"kty\":\"OKP\",\"kid\":\"x1\",\"crv\":\"X25519\",\"x\":\"AA\"}"), NULL);
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	assert_int_equal(add_text(ks, text, true, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "key set has no key that can verify signatures");
	assert_int_equal(ks->count, 0);
	assert_int_equal(ks->notes.count, 3);
	assert_note(&ks->notes, "keys[0] (kid e1) skipped: use is not sig (enc)");
	assert_note(&ks->notes, "keys[1] (kid x1) skipped: curve is not one");
	assert_string_equal(ks->notes.line[2],
			    "key set: not used: key set has no key that can verify signatures");
	free(text);
	keyset_free(ks);
}

/* ---- what a key without alg is pinned to ------------------------------------------------- */

/* EC and OKP keys without alg take the one algorithm of their curve; a token with any other
 * alg is refused. */
static void test_alg_from_curve(void **state)
{
	static const struct {
		const struct jwa_key *k, *other;
		const char *kid;
		enum jwa_alg alg;
	} curves[] = {
		{ &fx.p256, &fx.p384, "p256", JWA_ES256 },
		{ &fx.p384, &fx.p256, "p384", JWA_ES384 },
		{ &fx.p521, &fx.p384, "p521", JWA_ES512 },
		{ &fx.ed, &fx.p256, "ed", JWA_EDDSA },
	};
	char *text = jwks_of(public_jwk(&fx.p256, "p256", false), public_jwk(&fx.p384, "p384", false),
			     public_jwk(&fx.p521, "p521", false), public_jwk(&fx.ed, "ed", false),
			     NULL);
	struct keyset *ks = keyset_new();
	struct verdict v;
	size_t i;

	(void)state;
	assert_null(strstr(text, "\"alg\""));
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 4);
	assert_int_equal(ks->notes.count, 0);
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		assert_int_equal(ks->entries[i].alg, curves[i].alg);
		assert_accepts(ks, curves[i].k, curves[i].alg, curves[i].kid);
		/* a token naming this kid with another curve's alg is refused by the pin */
		assert_refuses(ks, curves[i].other, curves[i].other->alg, curves[i].kid,
			       VERDICT_REJECT, "token alg does not match the key's alg");
	}
	free(text);
	keyset_free(ks);
}

/* An alg that contradicts the key skips that key, with a note naming kid and why; the other
 * keys stay usable and a token naming the skipped key finds none. */
static void test_alg_contradicting_key_is_skipped(void **state)
{
	static const struct {
		const char *alg, *kid, *note;
	} bad[] = {
		{ "ES384", "es384-on-p256", "(kid es384-on-p256) skipped: alg does not fit the curve "
		  "(ES384)" },
		{ "RS256", "rs256-on-ec", "(kid rs256-on-ec) skipped: alg does not fit the key type "
		  "(RS256)" },
		{ "EdDSA", "eddsa-on-ec", "(kid eddsa-on-ec) skipped: alg does not fit the key type "
		  "(EdDSA)" },
		{ "HS256", "hs256-on-ec", "(kid hs256-on-ec) skipped: alg does not fit the key type "
		  "(HS256)" },
	};
	json_t *doc = json_pack("{s:[o]}", "keys", public_jwk(&fx.p384, "good", true)), *jwk;
	struct keyset *ks = keyset_new();
	struct verdict v;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jwk = public_jwk(&fx.p256, bad[i].kid, false);
		json_object_set_new(jwk, "alg", json_string(bad[i].alg));
		json_array_append_new(json_object_get(doc, "keys"), jwk);
	}
	/* and an EC alg on an RSA key and an OKP key */
	jwk = public_jwk(&fx.rsa, "es256-on-rsa", false);
	json_object_set_new(jwk, "alg", json_string("ES256"));
	json_array_append_new(json_object_get(doc, "keys"), jwk);
	jwk = public_jwk(&fx.ed, "es256-on-okp", false);
	json_object_set_new(jwk, "alg", json_string("ES256"));
	json_array_append_new(json_object_get(doc, "keys"), jwk);
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_int_equal(ks->notes.count, 6);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_note(&ks->notes, bad[i].note);
	assert_note(&ks->notes, "(kid es256-on-rsa) skipped: alg does not fit the key type (ES256)");
	assert_note(&ks->notes, "(kid es256-on-okp) skipped: alg does not fit the key type (ES256)");
	assert_accepts(ks, &fx.p384, JWA_ES384, "good");
	assert_refuses(ks, &fx.p384, JWA_ES384, "es384-on-p256", VERDICT_REJECT, "unknown kid");
	assert_refuses(ks, &fx.p256, JWA_ES256, "es384-on-p256", VERDICT_REJECT, "unknown kid");
	free(text);
	json_decref(doc);
	keyset_free(ks);
}

/* An RSA key without alg is pinned to the administrator's jwks_rsa_alg (RS256 unless set),
 * never to what a token says: the same key signing as PS256 is refused under RS256. A key
 * that names its own alg keeps it. */
static void test_rsa_without_alg_pinned(void **state)
{
	json_t *own = public_jwk(&fx.rsa, "own-ps512", false);
	char *text;
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	json_object_set_new(own, "alg", json_string("PS512"));
	text = jwks_of(public_jwk(&fx.rsa, "rsa", false), own, NULL);
	assert_int_equal(ks->rsa_alg, JWA_RS256);
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->entries[0].alg, JWA_RS256);
	assert_int_equal(ks->entries[1].alg, JWA_PS512);
	assert_accepts(ks, &fx.rsa, JWA_RS256, "rsa");
	assert_refuses(ks, &fx.rsa, JWA_PS256, "rsa", VERDICT_REJECT,
		       "token alg does not match the key's alg");
	assert_refuses(ks, &fx.rsa, JWA_RS512, "rsa", VERDICT_REJECT,
		       "token alg does not match the key's alg");
	assert_accepts(ks, &fx.rsa, JWA_PS512, "own-ps512");
	keyset_free(ks);

	ks = keyset_new();
	ks->rsa_alg = JWA_PS256;
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->entries[0].alg, JWA_PS256);
	assert_int_equal(ks->entries[1].alg, JWA_PS512);
	assert_accepts(ks, &fx.rsa, JWA_PS256, "rsa");
	assert_refuses(ks, &fx.rsa, JWA_RS256, "rsa", VERDICT_REJECT,
		       "token alg does not match the key's alg");
	keyset_free(ks);

	/* no pin at all (a set not made by keyset_new): the key is skipped, never guessed */
	ks = keyset_new();
	ks->rsa_alg = JWA_INVALID;
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_note(&ks->notes, "(kid rsa) skipped: RSA key has no alg");
	keyset_free(ks);
	free(text);
}

/* jwks_rsa_alg in the configuration reaches the key table; only RSA algorithms are taken. */
static void test_jwks_rsa_alg_option(void **state)
{
	static const char *const good[] = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512" };
	static const char *const bad[] = { "ES256", "HS256", "EdDSA", "none", "rs256", "RSA-OAEP",
					   "PS256 " };
	char *text = jwks_of(public_jwk(&fx.rsa, "rsa", false), NULL);
	const char *path = write_file(0, "rsa.jwks", text, 0644);
	struct config cfg;
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct verdict v;
	size_t i;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.jwks_rsa_alg, JWA_RS256);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		verdict_init(&v);
		assert_int_equal(config_set(&cfg, "jwks_rsa_alg", good[i], &v), 0);
		assert_int_equal(cfg.jwks_rsa_alg, jwa_alg_from_name(good[i]));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		verdict_init(&v);
		assert_int_equal(config_set(&cfg, "jwks_rsa_alg", bad[i], &v), -1);
		assert_int_equal(v.code, VERDICT_BAD_CONFIG);
		assert_int_equal(cfg.jwks_rsa_alg, JWA_PS512); /* unchanged */
	}
	config_free(&cfg);

	config_with(&cfg, "PS384", path, NULL);
	verdict_init(&v);
	assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_int_equal(ks->entries[0].alg, JWA_PS384);
	assert_int_equal(notes.count, 0);
	assert_accepts(ks, &fx.rsa, JWA_PS384, "rsa");
	assert_refuses(ks, &fx.rsa, JWA_RS256, "rsa", VERDICT_REJECT,
		       "token alg does not match the key's alg");
	keyset_free(ks);
	config_free(&cfg);
	free(text);
}

/* Members providers add (x5c, x5t, x5t#S256, issuer, key_ops with verify, use sig, and
 * anything else) are accepted and change nothing. */
static void test_provider_members_accepted(void **state)
{
	json_t *jwk = public_jwk(&fx.rsa, "entra", false);
	char *text;
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	json_object_set_new(jwk, "x5c", json_pack("[s]", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
	json_object_set_new(jwk, "x5t", json_string("bm90LWEtcmVhbC10aHVtYnByaW50"));
	json_object_set_new(jwk, "x5t#S256", json_string("bm90LWEtcmVhbC10aHVtYnByaW50LXNoYTI1Ng"));
	json_object_set_new(jwk, "issuer", json_string("https://login.example/tenant/v2.0"));
	json_object_set_new(jwk, "key_ops", json_pack("[s]", "verify"));
	json_object_set_new(jwk, "cloud_instance_name", json_string("example.net"));
	text = jwks_of(jwk, NULL);
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_int_equal(ks->notes.count, 0);
	assert_accepts(ks, &fx.rsa, JWA_RS256, "entra");
	free(text);
	keyset_free(ks);
}

/* ---- several sets -------------------------------------------------------------------------- */

/* The same kid with the same key in two files is one entry; the other keys of both files
 * are merged. */
static void test_same_kid_same_key_in_two_files(void **state)
{
	char *a = jwks_of(public_jwk(&fx.rsa, "shared", false), public_jwk(&fx.p256, "a-only", true),
			  NULL);
	char *b = jwks_of(public_jwk(&fx.ed, "b-only", true), public_jwk(&fx.rsa, "shared", false),
			  NULL);
	const char *pa = write_file(0, "a.jwks", a, 0644), *pb = write_file(1, "b.jwks", b, 0644);
	struct config cfg;
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct verdict v;

	(void)state;
	config_with(&cfg, NULL, pa, pb, NULL);
	assert_int_equal(cfg.jwks_count, 2);
	verdict_init(&v);
	assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), 0);
	assert_int_equal(ks->count, 3);
	assert_int_equal(notes.count, 0);
	assert_accepts(ks, &fx.rsa, JWA_RS256, "shared");
	assert_accepts(ks, &fx.p256, JWA_ES256, "a-only");
	assert_accepts(ks, &fx.ed, JWA_EDDSA, "b-only");
	keyset_free(ks);
	config_free(&cfg);
	free(a);
	free(b);
}

/* The same kid with different keys in two files is an error naming both files and the
 * kid; so is the same key pinned to different algorithms. */
static void test_same_kid_different_keys_in_two_files(void **state)
{
	char *a = jwks_of(public_jwk(&fx.p256, "a-only", true), public_jwk(&fx.rsa, "shared", false),
			  NULL);
	char *b = jwks_of(public_jwk(&fx.p384, "shared", true), NULL);
	json_t *ps = public_jwk(&fx.rsa, "shared", false);
	char *c;
	const char *pa = write_file(0, "a.jwks", a, 0644), *pb = write_file(1, "b.jwks", b, 0644);
	const char *pc;
	char want[256];
	struct config cfg;
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct verdict v;

	(void)state;
	json_object_set_new(ps, "alg", json_string("PS256"));
	c = jwks_of(ps, NULL);
	pc = write_file(2, "c.jwks", c, 0644);

	config_with(&cfg, NULL, pa, pb, NULL);
	verdict_init(&v);
	assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), -1);
	assert_null(ks);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "two different keys have the same kid");
	assert_string_equal(v.kid, "shared");
	snprintf(want, sizeof(want), "%s: keys[0] (kid shared) refused: a different key with "
		 "this kid is in %s", pb, pa);
	assert_int_equal(notes.count, 1);
	assert_string_equal(notes.line[0], want);
	config_free(&cfg);

	/* the same RSA key, RS256 (jwks_rsa_alg) in one file and PS256 in the other */
	config_with(&cfg, NULL, pa, pc, NULL);
	verdict_init(&v);
	assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), -1);
	assert_string_equal(v.reason, "two different keys have the same kid");
	snprintf(want, sizeof(want), "%s: keys[0] (kid shared) refused: a different key with "
		 "this kid is in %s", pc, pa);
	assert_note(&notes, want);
	config_free(&cfg);
	free(a);
	free(b);
	free(c);
}

/* A set that is refused leaves the table as it was: none of its keys is kept. */
static void test_refused_set_adds_nothing(void **state)
{
	char *a = jwks_of(public_jwk(&fx.rsa, "shared", true), NULL);
	char *b = jwks_of(public_jwk(&fx.ed, "b-new", true), public_jwk(&fx.p256, "shared", true),
			  NULL);
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	assert_int_equal(add_text(ks, a, false, &v), 0);
	assert_int_equal(add_text(ks, b, false, &v), -1);
	assert_string_equal(v.reason, "two different keys have the same kid");
	assert_int_equal(ks->count, 1);
	assert_string_equal(ks->entries[0].kid, "shared");
	assert_note(&ks->notes, "key set: keys[1] (kid shared) refused: a different key with this "
		    "kid is earlier in this set");
	assert_refuses(ks, &fx.ed, JWA_EDDSA, "b-new", VERDICT_REJECT, "unknown kid");
	free(a);
	free(b);
	keyset_free(ks);
}

/* A key= file whose kid a jwks file already gave is refused, naming both files. */
static void test_key_file_kid_clash(void **state)
{
	char *a = jwks_of(public_jwk(&fx.p256, "idp-1", true), NULL);
	const char *pa = write_file(0, "a.jwks", a, 0644);
	char pem[96], spec[128], want[256];
	struct config cfg;
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct verdict v;
	FILE *f;

	(void)state;
	snprintf(pem, sizeof(pem), "%s/idp-1.pem", fx.dir);
	f = fopen(pem, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, fx.p384.pkey), 1);
	fclose(f);
	chmod(pem, 0644);
	snprintf(spec, sizeof(spec), "ES384:idp-1:%s", pem);
	config_with(&cfg, NULL, pa, NULL);
	verdict_init(&v);
	assert_int_equal(config_set(&cfg, "key", spec, &v), 0);
	assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), -1);
	assert_string_equal(v.reason, "two different keys have the same kid");
	snprintf(want, sizeof(want), "%s: not used: kid idp-1 is taken by a key from %s", pem, pa);
	assert_note(&notes, want);
	config_free(&cfg);
	free(a);
}

/* ---- rules that stay --------------------------------------------------------------------- */

/* A usable secret key in a set others can read is still fatal (anyone could sign). */
static void test_secret_key_in_readable_set_refused(void **state)
{
	const char *text = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"hs\",\"alg\":\"HS256\","
			   "\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}";
	struct keyset *ks = keyset_new();
	struct verdict v;

	(void)state;
	assert_int_equal(add_text(ks, text, false, &v), -1);
	assert_string_equal(v.reason, "key set holding a secret key is group- or world-readable");
	assert_note(&ks->notes, "key set: keys[0] (kid hs) refused: a secret key in a file that "
		    "group or others can read");
	assert_int_equal(ks->count, 0);
	keyset_free(ks);
	ks = keyset_new();
	assert_int_equal(add_text(ks, text, true, &v), 0);
	assert_int_equal(ks->count, 1);
	keyset_free(ks);
}

/* The key-size policy holds for keys without alg too: a 1024-bit RSA key loads as an entry
 * but is refused when a token selects it. */
static void test_key_size_policy_stays(void **state)
{
	struct jwa_key weak;
	json_t *jwk;
	char *text;
	struct keyset *ks = keyset_new();
	struct verdict v;
	const struct jwa_key *out;

	(void)state;
	memset(&weak, 0, sizeof(weak));
	weak.alg = JWA_RS256;
	weak.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(weak.pkey);
	jwk = jwk_from_key(&weak, "weak");
	assert_non_null(jwk);
	json_object_del(jwk, "alg");
	text = jwks_of(jwk, NULL);
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	verdict_init(&v);
	assert_int_equal(keyset_select(ks, JWA_RS256, "weak", &out, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "RSA key is shorter than 2048 bits");
	jwa_key_clear(&weak);
	free(text);
	keyset_free(ks);
}

/* Notes are bounded (the rest counted) and printable ASCII: control bytes become '?'. */
static void test_notes_bounded_and_printable(void **state)
{
	json_t *doc = json_pack("{s:[o]}", "keys", public_jwk(&fx.ed, "good", true)), *jwk;
	struct keyset *ks = keyset_new();
	struct verdict v;
	char kid[32], *text;
	size_t i, j;

	(void)state;
	for (i = 0; i < KEYSET_NOTES_MAX + 4; i++) {
		snprintf(kid, sizeof(kid), "enc\n%zu\x1b[31m", i);
		jwk = parse("{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}");
		json_object_set_new(jwk, "kid", json_string(kid));
		json_array_append_new(json_object_get(doc, "keys"), jwk);
	}
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(add_text(ks, text, false, &v), 0);
	assert_int_equal(ks->count, 1);
	assert_int_equal(ks->notes.count, KEYSET_NOTES_MAX);
	assert_int_equal(ks->notes.dropped, 4);
	for (i = 0; i < ks->notes.count; i++)
		for (j = 0; ks->notes.line[i][j] != '\0'; j++)
			assert_true(ks->notes.line[i][j] >= 0x20 && ks->notes.line[i][j] < 0x7f);
	assert_string_equal(ks->notes.line[0], "key set: keys[1] (kid enc?0?[31m) skipped: use is "
			    "not sig (enc)");
	free(text);
	json_decref(doc);
	keyset_free(ks);
}

/* ---- the provider corpus (tests/vectors/providers) ---------------------------------------- */

/* The corpus directory, found from the current directory upwards (the repository top holds
 * core/jws.h); malloc'd, or NULL. */
static char *corpus_dir(void)
{
	char dir[PATH_MAX], probe[PATH_MAX + 64], *slash;

	if (getcwd(dir, sizeof(dir)) == NULL)
		return NULL;
	for (;;) {
		snprintf(probe, sizeof(probe), "%s/core/jws.h", dir);
		if (access(probe, F_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/tests/vectors/providers", dir);
			return strdup(probe);
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			return NULL;
		*slash = '\0';
	}
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)len + 1);
		if (buf != NULL && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* Split a line at tabs into at most max fields; returns how many. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *tab;

	while (n < max) {
		f[n++] = line;
		tab = strchr(line, '\t');
		if (tab == NULL)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return n;
}

/* Every provider-shaped set loads with the usable and skipped keys MANIFEST.tsv lists, each
 * signing key pinned to the alg its tokens carry; then all of them merge into one table
 * (Entra's v1 and v2 documents share their keys). */
static void test_provider_corpus(void **state)
{
	char *dir = corpus_dir(), *text, *line, *save = NULL, *f[7], *manifest;
	char path[PATH_MAX + 64];
	struct keyset *ks = NULL, *all = keyset_new();
	const struct key_entry *e;
	struct verdict v;
	size_t sets = 0, keys = 0, total_usable = 0, nf, i;

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/MANIFEST.tsv", dir);
	manifest = read_text(path);
	assert_non_null(manifest);
	for (line = strtok_r(manifest, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		nf = split_tabs(line, f, 7);
		if (strcmp(f[0], "set") == 0) {
			assert_int_equal(nf, 7);
			keyset_free(ks);
			ks = keyset_new();
			snprintf(path, sizeof(path), "%s/%s", dir, f[2]);
			text = read_text(path);
			assert_non_null(text);
			if (add_text(ks, text, false, &v) != 0)
				fail_msg("%s: %s", f[1], v.reason);
			assert_int_equal(ks->count, strtoul(f[3], NULL, 10));
			assert_int_equal(ks->notes.count, strtoul(f[4], NULL, 10));
			if (add_text(all, text, false, &v) != 0)
				fail_msg("%s merged: %s", f[1], v.reason);
			total_usable += ks->count;
			free(text);
			sets++;
		} else {
			assert_string_equal(f[0], "key");
			assert_int_equal(nf, 5);
			assert_non_null(ks);
			for (i = 0, e = NULL; i < ks->count; i++)
				if (ks->entries[i].kid != NULL && strcmp(ks->entries[i].kid, f[2]) == 0)
					e = &ks->entries[i];
			if (e == NULL)
				fail_msg("%s: kid %s is not in the set", f[1], f[2]);
			assert_int_equal(e->alg, jwa_alg_from_name(f[3]));
			keys++;
		}
	}
	assert_int_equal(sets, 13);
	assert_int_equal(keys, total_usable);
	assert_int_equal(all->count, total_usable - 5); /* Entra v2 = Entra v1 */
	assert_int_equal(all->notes.count, 1);         /* Keycloak's encryption key */
	keyset_free(ks);
	keyset_free(all);
	free(manifest);
	free(dir);
}

/* ---- the jwks option ------------------------------------------------------------------- */

/* jwks is repeatable (each path once, up to CONFIG_MAX_JWKS, absolute); as module arguments
 * the entries replace the file's list, as for key and require_claim. */
static void test_jwks_option_repeatable(void **state)
{
	const char *conf_text = "jwks = /etc/a.jwks\njwks = /etc/b.jwks\njwks = /etc/a.jwks\n";
	const char *conf = write_file(3, "pam_jwt.conf", conf_text, 0600);
	char arg_config[128], name[32];
	const char *args[3];
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_load_text(&cfg, conf_text, strlen(conf_text), &v), 0);
	assert_int_equal(cfg.jwks_count, 2);
	assert_string_equal(cfg.jwks_paths[0], "/etc/a.jwks");
	assert_string_equal(cfg.jwks_paths[1], "/etc/b.jwks");
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);

	assert_int_equal(config_init(&cfg), 0);
	for (i = 0; i < CONFIG_MAX_JWKS; i++) {
		snprintf(name, sizeof(name), "/etc/k%zu.jwks", i);
		assert_int_equal(config_set(&cfg, "jwks", name, &v), 0);
	}
	assert_int_equal(config_set(&cfg, "jwks", "/etc/one-more.jwks", &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_string_equal(v.reason, "too many jwks entries");
	assert_int_equal(config_set(&cfg, "jwks", "/etc/k0.jwks", &v), 0); /* listed already */
	assert_int_equal(cfg.jwks_count, CONFIG_MAX_JWKS);
	assert_int_equal(config_set(&cfg, "jwks", "relative.jwks", &v), -1);
	assert_string_equal(v.reason, "path must be absolute");
	config_free(&cfg);

	snprintf(arg_config, sizeof(arg_config), "config=%s", conf);
	args[0] = arg_config;
	args[1] = "jwks=/etc/c.jwks";
	args[2] = "jwks=/etc/d.jwks";
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_from_args(&cfg, 3, args, &v), 0);
	assert_int_equal(cfg.jwks_count, 2);
	assert_string_equal(cfg.jwks_paths[0], "/etc/c.jwks");
	assert_string_equal(cfg.jwks_paths[1], "/etc/d.jwks");
	config_free(&cfg);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 1, args, &v), 0);
	assert_int_equal(cfg.jwks_count, 2); /* no argument: the file's list */
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skips_keys_not_for_signatures),
		cmocka_unit_test(test_skips_several_in_one_set),
		cmocka_unit_test(test_skip_note_names_index_without_kid),
		cmocka_unit_test(test_no_usable_key_is_an_error),
		cmocka_unit_test(test_alg_from_curve),
		cmocka_unit_test(test_alg_contradicting_key_is_skipped),
		cmocka_unit_test(test_rsa_without_alg_pinned),
		cmocka_unit_test(test_jwks_rsa_alg_option),
		cmocka_unit_test(test_provider_members_accepted),
		cmocka_unit_test(test_same_kid_same_key_in_two_files),
		cmocka_unit_test(test_same_kid_different_keys_in_two_files),
		cmocka_unit_test(test_refused_set_adds_nothing),
		cmocka_unit_test(test_key_file_kid_clash),
		cmocka_unit_test(test_secret_key_in_readable_set_refused),
		cmocka_unit_test(test_key_size_policy_stays),
		cmocka_unit_test(test_notes_bounded_and_printable),
		cmocka_unit_test(test_provider_corpus),
		cmocka_unit_test(test_jwks_option_repeatable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
