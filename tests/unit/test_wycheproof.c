/* Wycheproof (C2SP/wycheproof testvectors_v1) through the signature layer, jwa_verify():
 *   ecdsa_secp{256r1,384r1,521r1}_sha{256,384,512}_p1363  -> ES256/384/512 (raw r||s)
 *   rsa_signature_{2048_sha256,3072_sha384,4096_sha512}    -> RS256/384/512
 *   rsa_pss_{2048_sha256_mgf1_32,2048_sha384_mgf1_48,4096_sha512_mgf1_64} -> PS256/384/512
 *   ed25519                                                -> EdDSA
 *   hmac_sha{256,384,512}                                  -> HS256/384/512
 *
 * One cmocka test per file. For each group we build a struct jwa_key from the group's
 * publicKeyDer (OpenSSL decoder) or, for MACs, from each case's hex key; when the group
 * also carries a JWK we load that through jwk_to_key() as well and require both keys to
 * give the same answer on every case.
 *
 * Labels: "valid" must verify (== 1), "invalid" must not, "acceptable" may go either way
 * (but must not crash). A group that does not map onto a JWS algorithm is counted as "not
 * applicable" (PSS: sLen != hash size or MGF1 hash != message hash; HMAC: tag size != hash
 * size, JWS HS* only uses full-length tags). Keys under our policy minimums (HMAC secret
 * shorter than the hash, RSA < 2048 bits) are refused by jwa_key_check: those cases are
 * counted as "refused by key policy" and every one of them must be refused.
 * Any case where our answer differs from the label must be listed in the file's divergence
 * table below with its tcId and the reason; the test asserts the set is exactly that list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "jwa.h"
#include "keys.h"
#include "verdict.h"
#include "testutil.h"
#include "wycheproof_util.h"

enum wp_kind { WP_ECDSA, WP_RSA, WP_PSS, WP_EDDSA, WP_HMAC };

struct wp_divergence {
	int tcid;
	const char *why;
};

struct wp_file {
	const char *name;      /* file name under wycheproof/testvectors_v1 */
	enum wp_kind kind;
	enum jwa_alg alg;
	const char *sha;       /* the group "sha" that maps to alg (unused for EdDSA/HMAC) */
	const char *algorithm; /* the file's "algorithm" member */
	int n_tests;           /* numberOfTests: every case must be looked at */
	int exp_na;            /* cases in groups that do not map onto the JWS alg */
	int exp_policy;        /* cases whose key our policy refuses */
	const struct wp_divergence *div;
	size_t n_div;
};

/* ---- the divergence tables ----------------------------------------------------------------
 * Cases where our verdict differs from the Wycheproof label, with the reason, per file:
 *
 *   file                                   tcId  reason
 *   (none)                                 -     jwa_verify agrees with every "valid" and
 *                                                "invalid" label of the 13 files; the three
 *                                                "acceptable" RSA PKCS#1 MissingNull cases
 *                                                are refused (allowed either way).
 *
 * A file that gets a divergence gets its own table, e.g.
 *   static const struct wp_divergence ed25519_div[] = { { 42, "why" } };
 * and `ed25519_div, 1` in place of WP_NODIV below. */
#define WP_NODIV NULL, 0

static struct wp_file files[] = {
	{ "ecdsa_secp256r1_sha256_p1363_test.json", WP_ECDSA, JWA_ES256, "SHA-256", "ECDSA",
	  262, 0, 0, WP_NODIV },
	{ "ecdsa_secp384r1_sha384_p1363_test.json", WP_ECDSA, JWA_ES384, "SHA-384", "ECDSA",
	  280, 0, 0, WP_NODIV },
	{ "ecdsa_secp521r1_sha512_p1363_test.json", WP_ECDSA, JWA_ES512, "SHA-512", "ECDSA",
	  318, 0, 0, WP_NODIV },
	{ "rsa_signature_2048_sha256_test.json", WP_RSA, JWA_RS256, "SHA-256",
	  "RSASSA-PKCS1-v1_5", 259, 0, 0, WP_NODIV },
	{ "rsa_signature_3072_sha384_test.json", WP_RSA, JWA_RS384, "SHA-384",
	  "RSASSA-PKCS1-v1_5", 259, 0, 0, WP_NODIV },
	{ "rsa_signature_4096_sha512_test.json", WP_RSA, JWA_RS512, "SHA-512",
	  "RSASSA-PKCS1-v1_5", 259, 0, 0, WP_NODIV },
	{ "rsa_pss_2048_sha256_mgf1_32_test.json", WP_PSS, JWA_PS256, "SHA-256", "RSASSA-PSS",
	  108, 0, 0, WP_NODIV },
	{ "rsa_pss_2048_sha384_mgf1_48_test.json", WP_PSS, JWA_PS384, "SHA-384", "RSASSA-PSS",
	  141, 0, 0, WP_NODIV },
	{ "rsa_pss_4096_sha512_mgf1_64_test.json", WP_PSS, JWA_PS512, "SHA-512", "RSASSA-PSS",
	  179, 0, 0, WP_NODIV },
	{ "ed25519_test.json", WP_EDDSA, JWA_EDDSA, NULL, "EDDSA", 151, 0, 0, WP_NODIV },
	/* HMAC: per file 87 cases have a truncated tag (tagSize = hash/2: not applicable) and
	 * 3 cases have a key of half the hash size with a full tag (refused by key policy). */
	{ "hmac_sha256_test.json", WP_HMAC, JWA_HS256, NULL, "HMACSHA256", 174, 87, 3, WP_NODIV },
	{ "hmac_sha384_test.json", WP_HMAC, JWA_HS384, NULL, "HMACSHA384", 174, 87, 3, WP_NODIV },
	{ "hmac_sha512_test.json", WP_HMAC, JWA_HS512, NULL, "HMACSHA512", 174, 87, 3, WP_NODIV },
};
#define N_FILES (sizeof(files) / sizeof(files[0]))

/* ---- helpers ---------------------------------------------------------------------------- */

static EVP_PKEY *pkey_from_der_hex(const char *hex)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	EVP_PKEY *pkey;

	assert_non_null(hex);
	assert_int_equal(tu_hex_decode(hex, &der, &len), 0);
	p = der;
	pkey = d2i_PUBKEY(NULL, &p, (long)len);
	assert_non_null(pkey);
	assert_true(p == der + len); /* the whole DER was consumed */
	free(der);
	return pkey;
}

/* The group's JWK (publicKeyJwk, or keyJwk in the RSA PKCS#1 files), pinned to alg as our
 * configuration requires, through jwk_to_key(). Returns 0 and fills *out, 1 if the group has
 * no JWK, -1 if jwk_to_key() refused it (reason in *why). */
static int key_from_group_jwk(const json_t *group, enum jwa_alg alg, struct jwa_key *out,
			      const char **why)
{
	const json_t *src = json_object_get(group, "publicKeyJwk");
	json_t *jwk;
	struct verdict v;
	int rc;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (src == NULL)
		src = json_object_get(group, "keyJwk");
	if (!json_is_object(src))
		return 1;
	jwk = json_deep_copy(src);
	assert_non_null(jwk);
	if (jstr(jwk, "alg") != NULL)
		assert_string_equal(jstr(jwk, "alg"), jwa_alg_name(alg));
	else
		json_object_set_new(jwk, "alg", json_string(jwa_alg_name(alg)));
	verdict_init(&v);
	rc = jwk_to_key(jwk, false, out, &v) == 0 ? 0 : -1;
	if (rc != 0)
		*why = v.reason;
	json_decref(jwk);
	return rc;
}

/* Does this group map onto the file's JWS algorithm? */
static int group_applicable(const struct wp_file *wf, const json_t *group)
{
	const char *sha = jstr(group, "sha");
	json_int_t bits;

	switch (wf->kind) {
	case WP_ECDSA:
	case WP_RSA:
		return sha != NULL && strcmp(sha, wf->sha) == 0;
	case WP_PSS:
		return sha != NULL && strcmp(sha, wf->sha) == 0 &&
		       jstr(group, "mgf") != NULL && strcmp(jstr(group, "mgf"), "MGF1") == 0 &&
		       jstr(group, "mgfSha") != NULL && strcmp(jstr(group, "mgfSha"), sha) == 0 &&
		       json_integer_value(json_object_get(group, "sLen")) ==
		       (json_int_t)jwa_hash_size(wf->alg);
	case WP_EDDSA:
		return 1;
	case WP_HMAC:
		bits = json_integer_value(json_object_get(group, "tagSize"));
		return bits == (json_int_t)(8 * jwa_hash_size(wf->alg));
	}
	return 0;
}

struct wp_counts {
	int total, valid, valid_ok, invalid, invalid_refused, acceptable, acceptable_ok;
	int na, policy, jwk_checked;
	int diverged[64];
	size_t n_diverged;
};

static const struct wp_divergence *find_divergence(const struct wp_file *wf, int tcid)
{
	size_t i;

	for (i = 0; i < wf->n_div; i++)
		if (wf->div[i].tcid == tcid)
			return &wf->div[i];
	return NULL;
}

/* jwa_verify must answer 1, 0 or -1, nothing else. */
static int verify(const struct jwa_key *key, const unsigned char *msg, size_t msg_len,
		  const unsigned char *sig, size_t sig_len)
{
	int r = jwa_verify(key, msg, msg_len, sig, sig_len);

	assert_true(r == 1 || r == 0 || r == -1);
	return r;
}

static void run_case(const struct wp_file *wf, const json_t *t, const struct jwa_key *key,
		     const struct jwa_key *jwk_key, int key_refused, struct wp_counts *c)
{
	int tcid = (int)json_integer_value(json_object_get(t, "tcId"));
	const char *result = jstr(t, "result");
	unsigned char *msg = NULL, *sig = NULL;
	size_t msg_len = 0, sig_len = 0;
	int r, accepted;

	assert_non_null(result);
	assert_int_equal(tu_hex_decode(jstr(t, wf->kind == WP_HMAC ? "tag" : "sig"), &sig,
				       &sig_len), 0);
	assert_int_equal(tu_hex_decode(jstr(t, "msg"), &msg, &msg_len), 0);
	r = verify(key, msg, msg_len, sig, sig_len);
	accepted = r == 1;
	if (jwk_key != NULL) {
		/* The same public key loaded from its JWK gives the same answer. */
		if (verify(jwk_key, msg, msg_len, sig, sig_len) != r)
			fail_msg("%s tcId %d: DER key and JWK key disagree", wf->name, tcid);
		c->jwk_checked++;
	}
	if (key_refused) {
		/* Refused by key policy: must never verify, whatever the label says. */
		if (accepted)
			fail_msg("%s tcId %d: accepted with a key our policy refuses", wf->name, tcid);
		c->policy++;
	} else if (strcmp(result, "acceptable") == 0) {
		c->acceptable++;
		c->acceptable_ok += accepted;
	} else {
		int want = strcmp(result, "valid") == 0;

		assert_true(want || strcmp(result, "invalid") == 0);
		if (want) {
			c->valid++;
			c->valid_ok += accepted;
		} else {
			c->invalid++;
			c->invalid_refused += !accepted;
		}
		if (accepted != want) {
			if (find_divergence(wf, tcid) == NULL)
				print_message("# %s tcId %d: label %s but %s (%s) -- not in the "
					      "divergence table\n", wf->name, tcid, result,
					      accepted ? "accepted" : "refused", jstr(t, "comment"));
			assert_true(c->n_diverged < sizeof(c->diverged) / sizeof(c->diverged[0]));
			c->diverged[c->n_diverged++] = tcid;
		}
	}
	free(msg);
	free(sig);
}

/* Build the group key (not for HMAC, whose keys are per case). */
static void group_key(const struct wp_file *wf, const json_t *group, struct jwa_key *key)
{
	memset(key, 0, sizeof(*key));
	key->alg = wf->alg;
	key->pkey = pkey_from_der_hex(jstr(group, "publicKeyDer"));
}

static void run_file(void **state)
{
	struct wp_file *wf = *state;
	json_t *doc = load_file(wf->name), *group, *t;
	struct wp_counts c;
	size_t gi, ti, i, j;

	memset(&c, 0, sizeof(c));
	assert_string_equal(jstr(doc, "algorithm"), wf->algorithm);
	json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
		const json_t *tests = json_object_get(group, "tests");
		struct jwa_key key, jwk_key;
		const char *jwk_why = NULL;
		int have_jwk = 0, key_refused = 0;

		c.total += (int)json_array_size(tests);
		if (!group_applicable(wf, group)) {
			c.na += (int)json_array_size(tests);
			continue;
		}
		memset(&jwk_key, 0, sizeof(jwk_key));
		if (wf->kind != WP_HMAC) {
			group_key(wf, group, &key);
			key_refused = jwa_key_check(&key) != NULL;
			switch (key_from_group_jwk(group, wf->alg, &jwk_key, &jwk_why)) {
			case 0:
				have_jwk = 1;
				break;
			case 1:
				break;
			default:
				/* A JWK for a key that passes our policy must load too. */
				if (!key_refused)
					fail_msg("%s group %zu: DER key loads but its JWK is refused: %s",
						 wf->name, gi, jwk_why);
			}
		}
		json_array_foreach(tests, ti, t) {
			if (wf->kind == WP_HMAC) {
				memset(&key, 0, sizeof(key));
				key.alg = wf->alg;
				assert_int_equal(tu_hex_decode(jstr(t, "key"), &key.secret,
							       &key.secret_len), 0);
				key_refused = jwa_key_check(&key) != NULL;
				/* Our policy refuses exactly the keys shorter than the hash. */
				assert_int_equal(key_refused, key.secret_len < jwa_hash_size(wf->alg));
			}
			run_case(wf, t, &key, have_jwk ? &jwk_key : NULL, key_refused, &c);
			if (wf->kind == WP_HMAC)
				jwa_key_clear(&key);
		}
		if (wf->kind != WP_HMAC)
			jwa_key_clear(&key);
		jwa_key_clear(&jwk_key);
	}

	print_message("# %s (%s): %d cases: valid accepted %d/%d, invalid refused %d/%d, "
		      "acceptable %d (accepted %d), not applicable %d, refused by key policy %d, "
		      "divergences %zu; %d cases cross-checked with the JWK key\n",
		      wf->name, jwa_alg_name(wf->alg), c.total, c.valid_ok, c.valid,
		      c.invalid_refused, c.invalid, c.acceptable, c.acceptable_ok, c.na, c.policy,
		      c.n_diverged, c.jwk_checked);
	for (i = 0; i < c.n_diverged; i++) {
		const struct wp_divergence *d = find_divergence(wf, c.diverged[i]);

		print_message("#   divergence tcId %d: %s\n", c.diverged[i], d ? d->why : "UNLISTED");
	}

	/* Every case was looked at, and the category counts are the expected ones. */
	assert_int_equal(c.total, wf->n_tests);
	assert_int_equal(json_integer_value(json_object_get(doc, "numberOfTests")), wf->n_tests);
	assert_int_equal(c.na, wf->exp_na);
	assert_int_equal(c.policy, wf->exp_policy);
	assert_int_equal(c.valid + c.invalid + c.acceptable + c.na + c.policy, c.total);
	/* The divergences are exactly the listed ones: nothing unlisted, nothing stale. */
	for (i = 0; i < c.n_diverged; i++)
		if (find_divergence(wf, c.diverged[i]) == NULL)
			fail_msg("%s: tcId %d diverges from its label and is not listed", wf->name,
				 c.diverged[i]);
	for (j = 0; j < wf->n_div; j++) {
		for (i = 0; i < c.n_diverged && c.diverged[i] != wf->div[j].tcid; i++)
			;
		if (i == c.n_diverged)
			fail_msg("%s: listed divergence tcId %d (%s) no longer diverges", wf->name,
				 wf->div[j].tcid, wf->div[j].why);
	}
	assert_int_equal(c.n_diverged, wf->n_div);
	assert_int_equal(c.valid - c.valid_ok + c.invalid - c.invalid_refused, (int)wf->n_div);
	json_decref(doc);
}

int main(void)
{
	struct CMUnitTest tests[N_FILES];
	size_t i;

	for (i = 0; i < N_FILES; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = files[i].name;
		tests[i].test_func = run_file;
		tests[i].initial_state = &files[i];
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
