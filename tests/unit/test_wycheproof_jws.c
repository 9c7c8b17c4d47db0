/* Wycheproof JOSE vectors through the JWS layer:
 *   json_web_signature_test.json: every case through jws_verify() with the group's key,
 *     loaded with keyset_add_jwks_json() (public JWK when the group has one, else the
 *     private/secret one; the key set only ever uses the public parts).
 *   json_web_key_test.json: every key of each group's key set through jwk_to_key(), then
 *     the group's token through a key set of those keys and jws_verify(): a "valid" case
 *     needs every key to load and the token to verify; an "invalid" case must be refused,
 *     either when the keys are loaded or when the token is verified.
 *
 * Our verifier is stricter than the labels in a few places; each such case is listed in a
 * divergence table below with its reason, and the test asserts that the cases diverging
 * from their labels are exactly the listed ones. tests/vectors/test_wycheproof_cli.sh
 * runs the same JWS file through `pam-jwtctl verify --jws-only` and reads the JWS table
 * from this file (between the BEGIN/END markers), so both must agree.
 */
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
#include "wycheproof_util.h"

struct divergence {
	int tcid;
	int we_accept;     /* our verdict: 1 accepted, 0 refused (the label says the opposite) */
	const char *why;
};

/* json_web_signature_test.json, keys as published (public JWK if present, else private).
 * BEGIN JWS DIVERGENCES */
static const struct divergence jws_divergences[] = {
	{ 346, 0, "RFC 7520 Figure 20: token alg PS384, JWK alg PS256; the alg is pinned by "
		  "the key (RFC 8725 3.1), a token alg that differs is refused" },
	{ 347, 0, "RFC 7520 Figure 27: JWK alg \"ES521\" is not a registered alg (ES512 is), "
		  "so the key is refused when loaded and nothing verifies" },
	{ 350, 0, "as 346, with key_ops [\"verify\"]: token alg PS384, JWK alg PS256" },
	{ 351, 0, "as 347, with key_ops [\"verify\"]: JWK alg \"ES521\" is refused" },
	{ 367, 1, "labelled invalidBase64Padding, but the token is byte-identical to the valid "
		  "tcId 357 (the padding the case was meant to add is absent from the vector)" },
	{ 370, 1, "labelled invalidBase64PaddingInPayload, but byte-identical to the valid tcId "
		  "357 (no padding in the vector)" },
	{ 372, 0, "'?' inside the header segment: not base64url; the MAC is over the unmodified "
		  "string, a strict RFC 7515 verifier (MAC over the received ASCII) refuses it" },
	{ 373, 0, "'?' inside the payload segment: not base64url (as 372)" },
};
/* END JWS DIVERGENCES */

/* Extra for the private-key pass (groups that have both a public and a private JWK). */
static const struct divergence jws_private_divergences[] = {
	{ 349, 0, "the private JWK of this group has key_ops [\"sign, verify\"]: one string, "
		  "not the two operations, so it does not permit \"verify\" and is refused" },
};

/* json_web_key_test.json.
 * tcId 9 (rejectsPublicExponent1) must never appear here: with e = 1 anyone could forge a
 * signature (sig = the PKCS#1 encoding of the hash), and jwa_key_check refuses such keys. */
static const struct divergence jwk_divergences[] = {
	{ 1, 1, "MixedKeySet (HS256 + ES256 keys in one set, labelled ambiguous): we pin one alg "
		"per key and select by kid, so the HS256 token verifies with the HS256 key only; "
		"the EC key can never be used as an HMAC secret (key-confusion is impossible)" },
	{ 7, 1, "ROCA-vulnerable RSA key (CVE-2017-15361): we do not fingerprint ROCA moduli; "
		"the 2048-bit key passes our policy and its (genuine) signature verifies" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------------ */

static const struct divergence *find_div(const struct divergence *tab, size_t n, int tcid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tab[i].tcid == tcid)
			return &tab[i];
	return NULL;
}

/* A key set from a JWK or JWKS object; NULL (and *why) if keyset_add_jwks_json refuses. */
static struct keyset *keyset_from(const json_t *keys, const char **why)
{
	struct keyset *ks = keyset_new();
	struct verdict v;
	char *text = json_dumps(keys, JSON_COMPACT);

	assert_non_null(ks);
	assert_non_null(text);
	verdict_init(&v);
	*why = NULL;
	/* secret_ok: the test plays an admin whose key file is private (0600). */
	if (keyset_add_jwks_json(ks, text, strlen(text), true, &v) != 0) {
		*why = v.reason;
		keyset_free(ks);
		ks = NULL;
	}
	free(text);
	return ks;
}

/* 1 accepted, 0 refused. A refusal must carry a reason and leave the result empty. */
static int jws_accepts(struct keyset *ks, const char *token, const char **reason)
{
	struct jws_result res;
	struct verdict v;
	int rc;

	verdict_init(&v);
	rc = jws_verify(token, strlen(token), JWS_DEFAULT_MAX_SIZE, ks, &res, &v);
	*reason = NULL;
	if (rc == 0) {
		assert_true(json_is_object(res.header));
		assert_non_null(res.payload);
		assert_int_not_equal(res.alg, JWA_INVALID);
		jws_result_clear(&res);
		return 1;
	}
	assert_true(v.code == VERDICT_REJECT || v.code == VERDICT_UNAVAILABLE);
	assert_non_null(v.reason);
	assert_null(res.header);
	assert_null(res.payload);
	*reason = v.reason;
	return 0;
}

/* A JWK that is not for signatures is skipped, with a note saying why; alone in its set,
 * it leaves the set without a usable key. */
static void assert_skipped_for_use(const json_t *jwk)
{
	struct keyset *ks = keyset_new();
	char *text = json_dumps(jwk, JSON_COMPACT);
	struct verdict v;

	assert_non_null(ks);
	assert_non_null(text);
	verdict_init(&v);
	assert_int_equal(keyset_add_jwks_json(ks, text, strlen(text), true, &v), -1);
	assert_string_equal(v.reason, "key set has no key that can verify signatures");
	assert_int_equal(ks->count, 0);
	assert_int_equal(ks->notes.count, 2); /* the key skipped, then the set refused */
	assert_true(strstr(ks->notes.line[0], "skipped: use is not sig") != NULL ||
		    strstr(ks->notes.line[0], "skipped: key_ops does not list verify") != NULL);
	free(text);
	keyset_free(ks);
}

/* The alg named in a token's header, or NULL (malloc'd). */
static char *token_header_alg(const char *token)
{
	const char *dot = strchr(token, '.');
	unsigned char *hdr = NULL;
	size_t len = 0;
	json_t *h;
	char *alg = NULL;

	if (dot == NULL || b64url_decode_alloc(token, (size_t)(dot - token), &hdr, &len) != 0)
		return NULL;
	h = json_loadb((const char *)hdr, len, 0, NULL);
	if (jstr(h, "alg") != NULL)
		alg = strdup(jstr(h, "alg"));
	json_decref(h);
	free(hdr);
	return alg;
}

struct tally {
	int valid, valid_ok, invalid, invalid_refused, key_refused_groups, key_refused_cases;
	int diverged[64];
	size_t n_diverged;
	int seen[512];     /* every tcId judged in this pass */
	size_t n_seen;
};

static int tally_saw(const struct tally *c, int tcid)
{
	size_t i;

	for (i = 0; i < c->n_seen; i++)
		if (c->seen[i] == tcid)
			return 1;
	return 0;
}

/* Compare one outcome with the label and the divergence table(s). */
static void judge(const char *pass, const json_t *t, int accepted, const char *reason,
		  const struct divergence *tab, size_t n_tab, const struct divergence *tab2,
		  size_t n_tab2, struct tally *c)
{
	int tcid = (int)json_integer_value(json_object_get(t, "tcId"));
	const char *result = jstr(t, "result");
	int want;
	const struct divergence *d;

	assert_non_null(result);
	assert_true(strcmp(result, "valid") == 0 || strcmp(result, "invalid") == 0);
	want = strcmp(result, "valid") == 0;
	assert_false(tally_saw(c, tcid));
	assert_true(c->n_seen < N_OF(c->seen));
	c->seen[c->n_seen++] = tcid;
	if (want) {
		c->valid++;
		c->valid_ok += accepted;
	} else {
		c->invalid++;
		c->invalid_refused += !accepted;
	}
	if (accepted == want)
		return;
	d = find_div(tab, n_tab, tcid);
	if (d == NULL)
		d = find_div(tab2, n_tab2, tcid);
	if (d == NULL)
		print_message("# %s: tcId %d (%s) labelled %s but %s%s%s -- not in the divergence "
			      "table\n", pass, tcid, jstr(t, "comment"), result,
			      accepted ? "accepted" : "refused: ", reason ? reason : "", "");
	else
		assert_int_equal(d->we_accept, accepted);
	assert_true(c->n_diverged < N_OF(c->diverged));
	c->diverged[c->n_diverged++] = tcid;
}

/* The diverging cases are exactly the listed ones (union of the tables) among the cases this
 * pass ran. */
static void assert_divergences(const char *pass, const struct tally *c,
			       const struct divergence *tab, size_t n_tab,
			       const struct divergence *tab2, size_t n_tab2)
{
	size_t i, j, n_listed = 0;

	for (i = 0; i < c->n_diverged; i++) {
		const struct divergence *d = find_div(tab, n_tab, c->diverged[i]);

		if (d == NULL)
			d = find_div(tab2, n_tab2, c->diverged[i]);
		print_message("#   %s divergence tcId %d: %s\n", pass, c->diverged[i],
			      d ? d->why : "UNLISTED");
		if (d == NULL)
			fail_msg("%s: tcId %d diverges from its label and is not listed", pass,
				 c->diverged[i]);
	}
	for (j = 0; j < n_tab + n_tab2; j++) {
		const struct divergence *d = j < n_tab ? &tab[j] : &tab2[j - n_tab];

		if (!tally_saw(c, d->tcid))
			continue; /* not a case of this pass */
		n_listed++;
		for (i = 0; i < c->n_diverged && c->diverged[i] != d->tcid; i++)
			;
		if (i == c->n_diverged)
			fail_msg("%s: listed divergence tcId %d no longer diverges (%s)", pass,
				 d->tcid, d->why);
	}
	assert_int_equal(c->n_diverged, n_listed);
}

static void print_tally(const char *pass, const struct tally *c)
{
	print_message("# %s: valid accepted %d/%d, invalid refused %d/%d, divergences %zu; "
		      "%d group(s) with %d case(s) refused at key load\n", pass, c->valid_ok,
		      c->valid, c->invalid_refused, c->invalid, c->n_diverged,
		      c->key_refused_groups, c->key_refused_cases);
}

/* ---- json_web_signature_test.json ---------------------------------------------------------- */

/* Run every case of a group with one JWK. */
static void jws_group(const char *pass, const json_t *group, const json_t *jwk,
		      const struct divergence *tab, size_t n_tab, const struct divergence *tab2,
		      size_t n_tab2, struct tally *c)
{
	const json_t *tests = json_object_get(group, "tests"), *t;
	const char *why = NULL, *reason;
	struct keyset *ks = keyset_from(jwk, &why);
	size_t i;

	if (ks == NULL) {
		c->key_refused_groups++;
		c->key_refused_cases += (int)json_array_size(tests);
	}
	json_array_foreach(tests, i, t) {
		const char *token = jstr(t, "jws");
		int accepted = 0;

		assert_non_null(token);
		reason = why;
		if (ks != NULL)
			accepted = jws_accepts(ks, token, &reason);
		judge(pass, t, accepted, reason, tab, n_tab, tab2, n_tab2, c);
	}
	keyset_free(ks);
}

static void test_json_web_signature(void **state)
{
	json_t *doc = load_file("json_web_signature_test.json"), *group, *jwk, *t;
	struct tally pub, priv, conf;
	size_t gi, ti;
	int total = 0, conf_groups = 0;

	(void)state;
	memset(&pub, 0, sizeof(pub));
	memset(&priv, 0, sizeof(priv));
	memset(&conf, 0, sizeof(conf));
	json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
		const json_t *pubk = json_object_get(group, "public");
		const json_t *privk = json_object_get(group, "private");
		const json_t *key = pubk != NULL ? pubk : privk;

		assert_true(json_is_object(key));
		total += (int)json_array_size(json_object_get(group, "tests"));

		/* Pass 1: the group's key as published. */
		jws_group("JWS", group, key, jws_divergences, N_OF(jws_divergences), NULL, 0,
			  &pub);

		/* Pass 2: the private JWK of groups that have both: the key set takes only its
		 * public parts, so it must agree with pass 1 (plus one key_ops quirk). */
		if (pubk != NULL && privk != NULL)
			jws_group("JWS private JWK", group, privk, jws_divergences,
				  N_OF(jws_divergences), jws_private_divergences,
				  N_OF(jws_private_divergences), &priv);

		/* Pass 3: groups 17-20 (tcIds 353-356) publish keys without "alg" that are not
		 * for signatures (use "enc" / key_ops "encrypt"). Such a key is skipped with a
		 * note saying why, which leaves the set without a usable key, so pass 1 refuses
		 * these cases at load. An admin adding the alg changes nothing: the key is still
		 * skipped for its use / key_ops, which is what those cases test. Same labels, no
		 * divergence allowed. */
		if (jstr(key, "alg") == NULL) {
			char *alg;

			assert_skipped_for_use(key);
			conf_groups++;
			jwk = json_deep_copy(key);
			alg = token_header_alg(jstr(json_array_get(json_object_get(group, "tests"),
								   0), "jws"));
			assert_non_null(alg);
			json_object_set_new(jwk, "alg", json_string(alg));
			assert_skipped_for_use(jwk);
			json_array_foreach(json_object_get(group, "tests"), ti, t)
				judge("JWS alg configured", t, 0, "key skipped for its use", NULL, 0,
				      NULL, 0, &conf);
			free(alg);
			json_decref(jwk);
		}
	}

	print_tally("json_web_signature_test.json (keys as published)", &pub);
	assert_divergences("JWS", &pub, jws_divergences, N_OF(jws_divergences), NULL, 0);
	print_tally("json_web_signature_test.json (private JWKs)", &priv);
	assert_divergences("JWS private JWK", &priv, jws_divergences, N_OF(jws_divergences),
			   jws_private_divergences, N_OF(jws_private_divergences));
	print_tally("json_web_signature_test.json (alg added to alg-less keys)", &conf);
	assert_int_equal(conf.n_diverged, 0);

	assert_int_equal(total, json_integer_value(json_object_get(doc, "numberOfTests")));
	assert_int_equal(pub.valid + pub.invalid, total);
	/* Fixed expectations, so that a changed vector file is noticed. */
	assert_int_equal(total, 401);
	assert_int_equal(pub.valid, 46);
	assert_int_equal(pub.valid_ok, 46 - 6);      /* 346 347 350 351 372 373 */
	assert_int_equal(pub.invalid_refused, 355 - 2); /* 367 370 */
	/* Refused at load: 347/351 (alg ES521), 353-356 (not for signatures). */
	assert_int_equal(pub.key_refused_groups, 6);
	assert_int_equal(conf_groups, 4);
	json_decref(doc);
}

/* ---- json_web_key_test.json ---------------------------------------------------------------- */

static void test_json_web_key(void **state)
{
	json_t *doc = load_file("json_web_key_test.json"), *group, *jwk, *t;
	struct tally c;
	size_t gi, ki, ti;
	int total = 0, keys_loaded = 0, keys_refused = 0, set_refused = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
		const json_t *set = json_object_get(group, "public");
		const char *why = NULL;
		struct keyset *ks;
		int all_load = 1;

		if (set == NULL)
			set = json_object_get(group, "private");
		assert_true(json_is_array(json_object_get(set, "keys")));
		total += (int)json_array_size(json_object_get(group, "tests"));

		/* Each key on its own through jwk_to_key (public parts, as a verifier would). */
		json_array_foreach(json_object_get(set, "keys"), ki, jwk) {
			struct jwa_key key;
			struct verdict v;

			verdict_init(&v);
			if (jwk_to_key(jwk, false, &key, &v) == 0) {
				assert_null(jwa_key_check(&key));
				keys_loaded++;
				jwa_key_clear(&key);
			} else {
				/* jwk_to_key leaves nothing behind on failure */
				assert_int_equal(key.alg, JWA_INVALID);
				assert_null(key.pkey);
				assert_null(key.secret);
				assert_int_equal(v.code, VERDICT_UNAVAILABLE);
				assert_non_null(v.reason);
				keys_refused++;
				all_load = 0;
			}
		}

		/* Then the set as a whole, and the token through it. */
		ks = keyset_from(set, &why);
		if (ks == NULL) {
			set_refused++;
			c.key_refused_groups++;
			c.key_refused_cases += (int)json_array_size(json_object_get(group, "tests"));
		}
		json_array_foreach(json_object_get(group, "tests"), ti, t) {
			const char *reason = why;
			int accepted = 0;

			if (ks != NULL)
				accepted = jws_accepts(ks, jstr(t, "jws"), &reason);
			/* A token never verifies through a key that jwk_to_key refuses. */
			if (accepted)
				assert_true(all_load);
			/* A valid case needs every key of its set to load. */
			if (strcmp(jstr(t, "result"), "valid") == 0)
				assert_true(all_load);
			judge("JWK", t, accepted, reason, jwk_divergences, N_OF(jwk_divergences),
			      NULL, 0, &c);
		}
		keyset_free(ks);
	}
	print_tally("json_web_key_test.json", &c);
	print_message("# json_web_key_test.json: %d keys loaded by jwk_to_key, %d refused; "
		      "%d key sets refused by keyset_add_jwks_json\n", keys_loaded, keys_refused,
		      set_refused);
	assert_int_equal(total, json_integer_value(json_object_get(doc, "numberOfTests")));
	assert_int_equal(c.valid + c.invalid, total);
	assert_int_equal(total, 26);
	assert_int_equal(c.valid_ok, 5);
	json_decref(doc);
	/* Last, so that the counts above are checked even when this fails. */
	assert_divergences("JWK", &c, jwk_divergences, N_OF(jwk_divergences), NULL, 0);
	assert_int_equal(c.invalid_refused, 21 - (int)N_OF(jwk_divergences));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_web_signature),
		cmocka_unit_test(test_json_web_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
