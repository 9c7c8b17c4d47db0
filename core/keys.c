#include "keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "secfile.h"
#include "secmem.h"

const char keyset_reason_unknown_kid[] = "unknown kid";

static const char *json_string_member(const json_t *obj, const char *name)
{
	const json_t *m = json_object_get(obj, name);

	return json_is_string(m) ? json_string_value(m) : NULL;
}

/* Decode a base64url member into a fresh buffer (wiped by the caller). */
static int jwk_member_bytes(const json_t *jwk, const char *name, unsigned char **out,
			    size_t *out_len)
{
	const json_t *m = json_object_get(jwk, name);

	*out = NULL;
	*out_len = 0;
	if (!json_is_string(m) || json_string_length(m) == 0)
		return -1;
	return b64url_decode_alloc(json_string_value(m), json_string_length(m), out, out_len);
}

static int jwk_param_bn(OSSL_PARAM_BLD *bld, const json_t *jwk, const char *member,
			const char *param, BIGNUM **keep)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc = -1;

	*keep = NULL;
	if (jwk_member_bytes(jwk, member, &bytes, &len) != 0 || len > 1024)
		goto out;
	*keep = BN_bin2bn(bytes, (int)len, NULL);
	if (*keep == NULL || OSSL_PARAM_BLD_push_BN(bld, param, *keep) != 1)
		goto out;
	rc = 0;
out:
	secmem_free(bytes, len);
	return rc;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* The private members of an RSA JWK and the OpenSSL parameters they map to. */
static const char *const rsa_private_params[][2] = {
	{ "d", OSSL_PKEY_PARAM_RSA_D },
	{ "p", OSSL_PKEY_PARAM_RSA_FACTOR1 },
	{ "q", OSSL_PKEY_PARAM_RSA_FACTOR2 },
	{ "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1 },
	{ "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2 },
	{ "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
};
#define RSA_MEMBERS (2 + sizeof(rsa_private_params) / sizeof(rsa_private_params[0]))

static EVP_PKEY *jwk_rsa(const json_t *jwk, bool want_private)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn[RSA_MEMBERS] = { NULL };
	EVP_PKEY *pkey = NULL;
	size_t i, used = 0;

	if (bld == NULL)
		goto out;
	if (jwk_param_bn(bld, jwk, "n", OSSL_PKEY_PARAM_RSA_N, &bn[used++]) != 0 ||
	    jwk_param_bn(bld, jwk, "e", OSSL_PKEY_PARAM_RSA_E, &bn[used++]) != 0)
		goto out;
	if (want_private) {
		for (i = 0; i < RSA_MEMBERS - 2; i++)
			if (jwk_param_bn(bld, jwk, rsa_private_params[i][0],
					 rsa_private_params[i][1], &bn[used++]) != 0)
				goto out;
	}
	pkey = pkey_from_params("RSA", bld, want_private ? EVP_PKEY_KEYPAIR :
				EVP_PKEY_PUBLIC_KEY);
out:
	for (i = 0; i < used; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

static const char *jwk_ec_crv_for(enum jwa_alg alg)
{
	switch (alg) {
	case JWA_ES256: return "P-256";
	case JWA_ES384: return "P-384";
	case JWA_ES512: return "P-521";
	default: return NULL;
	}
}

static EVP_PKEY *jwk_ec(const json_t *jwk, enum jwa_alg alg, bool want_private)
{
	const char *crv = json_string_member(jwk, "crv");
	size_t field = jwa_ec_sig_size(alg) / 2;
	unsigned char *x = NULL, *y = NULL, *pub = NULL;
	size_t x_len = 0, y_len = 0;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *d = NULL;
	EVP_PKEY *pkey = NULL;

	if (bld == NULL || crv == NULL || jwk_ec_crv_for(alg) == NULL ||
	    strcmp(crv, jwk_ec_crv_for(alg)) != 0)
		goto out;
	if (jwk_member_bytes(jwk, "x", &x, &x_len) != 0 || x_len != field ||
	    jwk_member_bytes(jwk, "y", &y, &y_len) != 0 || y_len != field)
		goto out;
	pub = malloc(1 + 2 * field);
	if (pub == NULL)
		goto out;
	pub[0] = 0x04;
	memcpy(pub + 1, x, field);
	memcpy(pub + 1 + field, y, field);
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    jwa_alg_curve(alg), 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					     1 + 2 * field) != 1)
		goto out;
	if (want_private && jwk_param_bn(bld, jwk, "d", OSSL_PKEY_PARAM_PRIV_KEY, &d) != 0)
		goto out;
	/* the point itself is checked by jwa_key_check, for keys from every source */
	pkey = pkey_from_params("EC", bld, want_private ? EVP_PKEY_KEYPAIR :
				EVP_PKEY_PUBLIC_KEY);
out:
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(bld);
	free(pub);
	free(x);
	free(y);
	return pkey;
}

static EVP_PKEY *jwk_okp(const json_t *jwk, bool want_private)
{
	const char *crv = json_string_member(jwk, "crv");
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	EVP_PKEY *pkey = NULL;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
		goto out;
	if (jwk_member_bytes(jwk, want_private ? "d" : "x", &raw, &raw_len) != 0 ||
	    raw_len != 32)
		goto out;
	pkey = want_private ?
		EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, raw_len) :
		EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len);
out:
	secmem_free(raw, raw_len);
	return pkey;
}

static const char *jwk_kty_for(enum jwa_family family)
{
	switch (family) {
	case JWA_FAMILY_HMAC: return "oct";
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS: return "RSA";
	case JWA_FAMILY_EC: return "EC";
	case JWA_FAMILY_EDDSA: return "OKP";
	case JWA_FAMILY_NONE: break;
	}
	return NULL;
}

/* "use" must be "sig" when present; "key_ops" must contain the operation when present. */
static int jwk_usage_ok(const json_t *jwk, const char *op)
{
	const char *use = json_string_member(jwk, "use");
	const json_t *ops = json_object_get(jwk, "key_ops");
	const json_t *item;
	size_t i;

	if (json_object_get(jwk, "use") != NULL && (use == NULL || strcmp(use, "sig") != 0))
		return 0;
	if (ops == NULL)
		return 1;
	if (!json_is_array(ops))
		return 0;
	json_array_foreach(ops, i, item)
		if (json_is_string(item) && strcmp(json_string_value(item), op) == 0)
			return 1;
	return 0;
}

/* Convert a JWK into key material for alg, the one algorithm the caller pinned it to. */
static int jwk_convert(const json_t *jwk, enum jwa_alg alg, bool want_private,
		       struct jwa_key *out, struct verdict *v)
{
	const char *kty = json_string_member(jwk, "kty");
	const char *bad;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (kty == NULL || strcmp(kty, jwk_kty_for(jwa_alg_family(alg))) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK kty does not fit its alg");
		goto out;
	}
	if (!jwk_usage_ok(jwk, want_private ? "sign" : "verify")) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK use or key_ops forbid this use");
		goto out;
	}
	out->alg = alg;
	switch (jwa_alg_family(alg)) {
	case JWA_FAMILY_HMAC:
		if (jwk_member_bytes(jwk, "k", &out->secret, &out->secret_len) != 0)
			out->secret = NULL;
		break;
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS:
		out->pkey = jwk_rsa(jwk, want_private);
		break;
	case JWA_FAMILY_EC:
		out->pkey = jwk_ec(jwk, alg, want_private);
		break;
	case JWA_FAMILY_EDDSA:
		out->pkey = jwk_okp(jwk, want_private);
		break;
	case JWA_FAMILY_NONE:
		break;
	}
	if (out->pkey == NULL && out->secret == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK key material is malformed");
		goto out;
	}
	bad = jwa_key_check(out);
	if (bad != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, bad);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		jwa_key_clear(out);
	return rc;
}

int jwk_to_key(const json_t *jwk, bool want_private, struct jwa_key *out, struct verdict *v)
{
	enum jwa_alg alg = jwa_alg_from_name(json_string_member(jwk, "alg"));
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(jwk) || json_string_member(jwk, "kty") == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no kty");
		goto out;
	}
	if (alg == JWA_INVALID) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no supported alg");
		goto out;
	}
	rc = jwk_convert(jwk, alg, want_private, out, v);
out:
	return rc;
}

static int json_set_b64(json_t *obj, const char *name, const unsigned char *bytes, size_t len)
{
	char *enc = b64url_encode_alloc(bytes, len);
	int rc = -1;

	if (enc != NULL && json_object_set_new(obj, name, json_string(enc)) == 0)
		rc = 0;
	secmem_free_string(enc);
	return rc;
}

static int json_set_bn_param(json_t *obj, const char *name, const EVP_PKEY *pkey,
			     const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		goto out;
	len = pad != 0 ? pad : (size_t)BN_num_bytes(bn);
	buf = malloc(len ? len : 1);
	if (buf == NULL || BN_bn2binpad(bn, buf, (int)len) < 0)
		goto out;
	rc = json_set_b64(obj, name, buf, len);
out:
	secmem_free(buf, len);
	BN_clear_free(bn);
	return rc;
}

/* Add the private members of an asymmetric key to its public JWK. */
static int jwk_add_private(json_t *jwk, const struct jwa_key *key)
{
	unsigned char raw[32];
	size_t raw_len = sizeof(raw), i;
	int rc = -1;

	switch (jwa_alg_family(key->alg)) {
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS:
		rc = 0;
		for (i = 0; i < sizeof(rsa_private_params) / sizeof(rsa_private_params[0]); i++)
			rc |= json_set_bn_param(jwk, rsa_private_params[i][0], key->pkey,
						rsa_private_params[i][1], 0);
		break;
	case JWA_FAMILY_EC:
		rc = json_set_bn_param(jwk, "d", key->pkey, OSSL_PKEY_PARAM_PRIV_KEY,
				       jwa_ec_sig_size(key->alg) / 2);
		break;
	case JWA_FAMILY_EDDSA:
		if (EVP_PKEY_get_raw_private_key(key->pkey, raw, &raw_len) == 1)
			rc = json_set_b64(jwk, "d", raw, raw_len);
		OPENSSL_cleanse(raw, sizeof(raw));
		break;
	case JWA_FAMILY_HMAC: /* "k" is already there */
		rc = 0;
		break;
	case JWA_FAMILY_NONE:
		break;
	}
	return rc;
}

json_t *jwk_from_private_key(const struct jwa_key *key, const char *kid)
{
	json_t *jwk = jwk_from_key(key, kid);

	if (jwk != NULL && jwk_add_private(jwk, key) != 0) {
		jwk_wipe_secrets(jwk);
		json_decref(jwk);
		jwk = NULL;
	}
	return jwk;
}

json_t *jwk_from_key(const struct jwa_key *key, const char *kid)
{
	json_t *jwk = json_object();
	enum jwa_family family = jwa_alg_family(key->alg);
	size_t field = jwa_ec_sig_size(key->alg) / 2;
	unsigned char raw[32];
	size_t raw_len = sizeof(raw);
	int rc = -1;

	if (jwk == NULL || jwk_kty_for(family) == NULL)
		goto out;
	if (json_object_set_new(jwk, "kty", json_string(jwk_kty_for(family))) != 0 ||
	    json_object_set_new(jwk, "alg", json_string(jwa_alg_name(key->alg))) != 0 ||
	    json_object_set_new(jwk, "use", json_string("sig")) != 0 ||
	    (kid != NULL && json_object_set_new(jwk, "kid", json_string(kid)) != 0))
		goto out;
	switch (family) {
	case JWA_FAMILY_HMAC:
		rc = json_set_b64(jwk, "k", key->secret, key->secret_len);
		break;
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS:
		rc = json_set_bn_param(jwk, "n", key->pkey, OSSL_PKEY_PARAM_RSA_N, 0) |
		     json_set_bn_param(jwk, "e", key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		break;
	case JWA_FAMILY_EC:
		rc = json_object_set_new(jwk, "crv", json_string(jwk_ec_crv_for(key->alg))) |
		     json_set_bn_param(jwk, "x", key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, field) |
		     json_set_bn_param(jwk, "y", key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, field);
		break;
	case JWA_FAMILY_EDDSA:
		rc = (EVP_PKEY_get_raw_public_key(key->pkey, raw, &raw_len) == 1 ? 0 : -1) |
		     json_object_set_new(jwk, "crv", json_string("Ed25519")) |
		     json_set_b64(jwk, "x", raw, raw_len);
		break;
	case JWA_FAMILY_NONE:
		break;
	}
out:
	if (rc != 0) {
		json_decref(jwk);
		jwk = NULL;
	}
	return jwk;
}

struct keyset *keyset_new(void)
{
	struct keyset *ks = calloc(1, sizeof(struct keyset));

	if (ks != NULL)
		ks->rsa_alg = JWA_RS256;
	return ks;
}

static void key_entry_clear(struct key_entry *e)
{
	free(e->kid);
	free(e->path);
	free(e->source);
	json_decref(e->jwk); /* oct members are wiped by the owner before release */
	jwa_key_clear(&e->key);
	memset(e, 0, sizeof(*e));
}

/* Wipe the secret members of a JWK that is about to be released by its last owner. */
void jwk_wipe_secrets(json_t *jwk)
{
	static const char *const secret_members[] = { "k", "d", "p", "q", "dp", "dq", "qi" };
	json_t *m;
	size_t i;

	if (!json_is_object(jwk) || jwk->refcount != 1)
		return;
	for (i = 0; i < sizeof(secret_members) / sizeof(secret_members[0]); i++) {
		m = json_object_get(jwk, secret_members[i]);
		if (json_is_string(m))
			OPENSSL_cleanse((void *)(uintptr_t)json_string_value(m),
					json_string_length(m));
	}
}

void keyset_free(struct keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	free(ks->header_cache.text);
	json_decref(ks->header_cache.header);
	for (i = 0; i < ks->count; i++) {
		jwk_wipe_secrets(ks->entries[i].jwk);
		key_entry_clear(&ks->entries[i]);
	}
	free(ks);
}

/* ---- key sets as identity providers publish them ----------------------------------------
 *
 * A published set may hold keys for other uses (encryption), for algorithms and curves we
 * do not verify with, and keys without "alg". RFC 7517, section 5, asks a reader to ignore
 * keys it does not understand, so such a key is skipped with a note and the others stay
 * usable; the set is refused only when no key of it is usable. Whatever a key is pinned to
 * comes from the key and the administrator (jwks_rsa_alg), never from a token. */

__attribute__((format(printf, 2, 3)))
static void keyset_note(struct keyset *ks, const char *fmt, ...)
{
	char *line;
	size_t i;
	va_list ap;

	if (ks->notes.count >= KEYSET_NOTES_MAX) {
		ks->notes.dropped++;
		return;
	}
	line = ks->notes.line[ks->notes.count++];
	va_start(ap, fmt);
	vsnprintf(line, KEYSET_NOTE_LEN, fmt, ap);
	va_end(ap);
	/* file names and key members end up in logs: printable ASCII only */
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			line[i] = '?';
}

/* Where a JWK sits: its file (or "key set" for text) and its index in "keys". */
struct jwk_place {
	const char *source;
	size_t index;
	bool in_array;            /* false: the document is this one JWK */
};

/* How a note names a JWK: "keys[I] (kid K)", "keys[I] (no kid)" or "key (kid K)" for a
 * document that is one JWK; the kid cut to 64 characters. */
static void jwk_place_label(const struct jwk_place *at, const char *kid, char *buf,
			    size_t size)
{
	char index[32];

	if (at->in_array)
		snprintf(index, sizeof(index), "keys[%zu]", at->index);
	else
		snprintf(index, sizeof(index), "key");
	snprintf(buf, size, "%s (%s%.64s)", index, kid != NULL ? "kid " : "no kid",
		 kid != NULL ? kid : "");
}

/* "SOURCE: keys[I] (kid K) VERB: WHY[ (WHAT)]"; what cut to 64 characters. */
static void keyset_note_key(struct keyset *ks, const struct jwk_place *at, const char *kid,
			    const char *verb, const char *why, const char *what)
{
	char label[128];

	jwk_place_label(at, kid, label, sizeof(label));
	keyset_note(ks, "%s: %s %s: %s%s%.64s%s", at->source, label, verb, why,
		    what != NULL ? " (" : "", what != NULL ? what : "", what != NULL ? ")" : "");
}

/* The algorithm we verify with on an EC or OKP curve, or JWA_INVALID. */
static enum jwa_alg jwk_alg_for_curve(const char *kty, const char *crv)
{
	static const enum jwa_alg ec_algs[] = { JWA_ES256, JWA_ES384, JWA_ES512 };
	enum jwa_alg alg = JWA_INVALID;
	size_t i;

	if (crv == NULL)
		return JWA_INVALID;
	if (strcmp(kty, "EC") == 0) {
		for (i = 0; i < sizeof(ec_algs) / sizeof(ec_algs[0]); i++)
			if (strcmp(crv, jwk_ec_crv_for(ec_algs[i])) == 0)
				alg = ec_algs[i];
	} else if (strcmp(kty, "OKP") == 0 && strcmp(crv, "Ed25519") == 0) {
		alg = JWA_EDDSA;
	}
	return alg;
}

/* The members that make up the key of a kty: what must be present, and what two JWKs must
 * share to be the same key. NULL for a kty we do not verify with. */
static const char *const *jwk_key_members(const char *kty)
{
	static const char *const rsa[] = { "n", "e", NULL };
	static const char *const ec[] = { "crv", "x", "y", NULL };
	static const char *const okp[] = { "crv", "x", NULL };
	static const char *const oct[] = { "k", NULL };

	if (strcmp(kty, "RSA") == 0)
		return rsa;
	if (strcmp(kty, "EC") == 0)
		return ec;
	if (strcmp(kty, "OKP") == 0)
		return okp;
	if (strcmp(kty, "oct") == 0)
		return oct;
	return NULL;
}

/* Why a JWK cannot verify signatures here, or NULL when it can; then *alg is the one
 * algorithm it is pinned to: its own alg, else its curve's (EC, OKP), else rsa_alg (RSA).
 * *what is the member value the reason is about, or NULL.
 *
 * An alg that contradicts the key (ES384 on a P-256 key, RS256 on an EC key) skips the
 * key rather than refusing the set: no signature can ever verify with such a key, so
 * leaving it out refuses exactly what keeping it would, while a provider's document with
 * one odd entry keeps its good keys. A token naming that kid then finds no key. */
static const char *jwk_verify_alg(const json_t *jwk, enum jwa_alg rsa_alg, enum jwa_alg *alg,
				  const char **what)
{
	const json_t *kid = json_object_get(jwk, "kid");
	const char *kty = json_string_member(jwk, "kty");
	const char *name = json_string_member(jwk, "alg");
	const char *crv = json_string_member(jwk, "crv");
	const char *const *member;
	const json_t *ops = json_object_get(jwk, "key_ops"), *op;
	enum jwa_alg by_curve;
	const char *why = NULL;
	bool verify_listed = false;
	size_t i;

	*alg = JWA_INVALID;
	*what = NULL;
	if (!json_is_object(jwk)) {
		why = "not a JSON object";
		goto out;
	}
	if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) > KEY_KID_MAX)) {
		why = "kid is not a string of at most 256 characters";
		goto out;
	}
	if (kty == NULL) {
		why = "no kty";
		goto out;
	}
	if (json_object_get(jwk, "use") != NULL) {
		*what = json_string_member(jwk, "use");
		if (*what == NULL || strcmp(*what, "sig") != 0) {
			why = "use is not sig";
			goto out;
		}
		*what = NULL;
	}
	if (ops != NULL) {
		json_array_foreach(ops, i, op)
			if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
				verify_listed = true;
		if (!verify_listed) {
			why = "key_ops does not list verify";
			goto out;
		}
	}
	if (json_object_get(jwk, "alg") != NULL) {
		*alg = jwa_alg_from_name(name);
		if (*alg == JWA_INVALID) {
			why = "alg is not a signature algorithm pam_jwt verifies with";
			*what = name;
			goto out;
		}
	}
	member = jwk_key_members(kty);
	if (member == NULL) {
		why = "kty is not one pam_jwt verifies with";
		*what = kty;
		goto out;
	}
	if (*alg != JWA_INVALID && strcmp(kty, jwk_kty_for(jwa_alg_family(*alg))) != 0) {
		why = "alg does not fit the key type";
		*what = name;
		goto out;
	}
	if (strcmp(kty, "EC") == 0 || strcmp(kty, "OKP") == 0) {
		by_curve = jwk_alg_for_curve(kty, crv);
		if (by_curve == JWA_INVALID) {
			why = crv != NULL ? "curve is not one pam_jwt verifies with" : "no crv";
			*what = crv;
			goto out;
		}
		if (*alg != JWA_INVALID && *alg != by_curve) {
			why = "alg does not fit the curve";
			*what = name;
			goto out;
		}
		*alg = by_curve;
	} else if (*alg == JWA_INVALID && strcmp(kty, "RSA") == 0) {
		/* the administrator's choice; fail closed if there is none */
		if (jwa_alg_family(rsa_alg) != JWA_FAMILY_RSA &&
		    jwa_alg_family(rsa_alg) != JWA_FAMILY_RSA_PSS) {
			why = "RSA key has no alg";
			goto out;
		}
		*alg = rsa_alg;
	} else if (*alg == JWA_INVALID) {
		why = "secret key has no alg";
		goto out;
	}
	for (; *member != NULL; member++) {
		if (json_string_member(jwk, *member) == NULL ||
		    json_string_length(json_object_get(jwk, *member)) == 0) {
			why = "key member missing";
			*what = *member;
			goto out;
		}
	}
out:
	if (why != NULL)
		*alg = JWA_INVALID;
	return why;
}

/* Whether entry e holds the same key as jwk, pinned to the same alg. */
static bool jwk_same_key(const struct key_entry *e, const json_t *jwk, enum jwa_alg alg)
{
	const char *kty = json_string_member(jwk, "kty");
	const char *const *member;
	const json_t *a, *b;

	if (e->jwk == NULL || e->alg != alg || kty == NULL ||
	    !json_equal(json_object_get(e->jwk, "kty"), json_object_get(jwk, "kty")))
		return false;
	for (member = jwk_key_members(kty); member != NULL && *member != NULL; member++) {
		a = json_object_get(e->jwk, *member);
		b = json_object_get(jwk, *member);
		if (!json_is_string(a) || !json_is_string(b) ||
		    json_string_length(a) != json_string_length(b) ||
		    !secmem_equal(json_string_value(a), json_string_value(b),
				  json_string_length(a)))
			return false;
	}
	return member != NULL;
}

/* The entry a new key would duplicate or clash with: the entry with its kid, or (for a key
 * without kid) an entry without kid holding the same key. */
static const struct key_entry *keyset_match(const struct keyset *ks, const char *kid,
					    const json_t *jwk, enum jwa_alg alg)
{
	const struct key_entry *e;
	size_t i;

	for (i = 0; i < ks->count; i++) {
		e = &ks->entries[i];
		if (kid != NULL && e->kid != NULL && strcmp(e->kid, kid) == 0)
			return e;
		if (kid == NULL && e->kid == NULL && jwk != NULL && jwk_same_key(e, jwk, alg))
			return e;
	}
	return NULL;
}

/* Add one JWK of a document, or skip it with a note; *usable counts the keys of the
 * document that could verify (kept, or already in the set). Fails only for a reason that
 * must stop the whole document. */
static int keyset_add_jwk(struct keyset *ks, json_t *jwk, const struct jwk_place *at,
			  bool secret_ok, size_t *usable, struct verdict *v)
{
	const char *kid = json_string_member(jwk, "kid"), *what, *why, *other;
	const struct key_entry *match;
	struct key_entry *e;
	char label[128];
	enum jwa_alg alg;
	int rc = -1;

	why = jwk_verify_alg(jwk, ks->rsa_alg, &alg, &what);
	if (why != NULL) {
		keyset_note_key(ks, at, kid, "skipped", why, what);
		rc = 0;
		goto out;
	}
	(*usable)++;
	if (jwa_alg_family(alg) == JWA_FAMILY_HMAC && !secret_ok) {
		/* anyone who can read the file could sign tokens */
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "key set holding a secret key is group- or world-readable");
		keyset_note_key(ks, at, kid, "refused", "a secret key in a file that group or "
				"others can read", NULL);
		goto out;
	}
	match = keyset_match(ks, kid, jwk, alg);
	if (match != NULL && jwk_same_key(match, jwk, alg)) {
		rc = 0; /* the same key from another set (or twice in one): kept once */
		goto out;
	}
	if (match != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "two different keys have the same kid");
		verdict_label_copy(v->kid, sizeof(v->kid), kid);
		other = match->source != NULL ? match->source : match->path;
		jwk_place_label(at, kid, label, sizeof(label));
		if (other != NULL && strcmp(other, at->source) != 0)
			keyset_note(ks, "%s: %s refused: a different key with this kid is in %s",
				    at->source, label, other);
		else
			keyset_note(ks, "%s: %s refused: a different key with this kid is earlier "
				    "in this set", at->source, label);
		goto out;
	}
	if (ks->count >= KEYSET_MAX_KEYS) {
		verdict_set(v, VERDICT_UNAVAILABLE, "too many keys");
		keyset_note_key(ks, at, kid, "refused", "more than 64 keys in all", NULL);
		goto out;
	}
	e = &ks->entries[ks->count];
	memset(e, 0, sizeof(*e));
	e->alg = alg;
	e->kid = kid != NULL ? strdup(kid) : NULL;
	e->source = strdup(at->source);
	if ((kid != NULL && e->kid == NULL) || e->source == NULL) {
		key_entry_clear(e);
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	e->jwk = json_incref(jwk);
	ks->count++;
	rc = 0;
out:
	return rc;
}

/* Refuse a whole document, with a note naming it. */
static void keyset_refuse_doc(struct keyset *ks, const char *source, const char *reason,
			      struct verdict *v)
{
	verdict_set(v, VERDICT_UNAVAILABLE, reason);
	keyset_note(ks, "%s: not used: %s", source, reason);
}

/* A JWKS (or single JWK) document from source; on failure the set is as before. */
static int keyset_add_jwks_doc(struct keyset *ks, const char *text, size_t len,
			       bool secret_ok, const char *source, struct verdict *v)
{
	json_error_t err;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	json_t *keys, *jwk;
	struct jwk_place at = { source, 0, true };
	size_t i, usable = 0, before = ks->count;
	int rc = -1;

	if (!json_is_object(doc)) {
		keyset_refuse_doc(ks, source, "key set is not a JSON object", v);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (keys == NULL && json_object_get(doc, "kty") != NULL) {
		at.in_array = false;
		if (keyset_add_jwk(ks, doc, &at, secret_ok, &usable, v) != 0)
			goto out;
	} else if (!json_is_array(keys) || json_array_size(keys) == 0) {
		keyset_refuse_doc(ks, source, "key set has no keys", v);
		goto out;
	} else {
		json_array_foreach(keys, i, jwk) {
			at.index = i;
			if (keyset_add_jwk(ks, jwk, &at, secret_ok, &usable, v) != 0)
				goto out;
		}
	}
	if (usable == 0) {
		keyset_refuse_doc(ks, source, "key set has no key that can verify signatures", v);
		goto out;
	}
	rc = 0;
out:
	while (rc != 0 && ks->count > before)
		key_entry_clear(&ks->entries[--ks->count]);
	jwk_wipe_secrets(doc);
	json_array_foreach(json_object_get(doc, "keys"), i, jwk)
		jwk_wipe_secrets(jwk);
	json_decref(doc);
	return rc;
}

int keyset_add_jwks_json(struct keyset *ks, const char *text, size_t len, bool secret_ok,
			 struct verdict *v)
{
	return keyset_add_jwks_doc(ks, text, len, secret_ok, "key set", v);
}

int keyset_add_jwks_file(struct keyset *ks, const char *path, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	int is_private = 0, rc = -1;

	if (secfile_read_public(path, &text, &len, &is_private, v) != 0) {
		keyset_note(ks, "%s: not used: %s", path,
			    v->reason != NULL ? v->reason : "cannot be read");
		goto out;
	}
	rc = keyset_add_jwks_doc(ks, (const char *)text, len, is_private != 0, path, v);
out:
	secmem_free(text, len);
	return rc;
}

int keyset_add_file(struct keyset *ks, enum jwa_alg alg, const char *kid, const char *path,
		    struct verdict *v)
{
	const struct key_entry *match = kid != NULL ? keyset_match(ks, kid, NULL, alg) : NULL;
	struct key_entry *e;
	int rc = -1;

	if (ks->count >= KEYSET_MAX_KEYS) {
		verdict_set(v, VERDICT_UNAVAILABLE, "too many keys");
		keyset_note(ks, "%s: not used: more than 64 keys in all", path);
		goto out;
	}
	if (match != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "two different keys have the same kid");
		verdict_label_copy(v->kid, sizeof(v->kid), kid);
		keyset_note(ks, "%s: not used: kid %.64s is taken by a key from %s", path, kid,
			    match->source != NULL ? match->source : match->path);
		goto out;
	}
	/* read when a token selects it, but a file that cannot be opened is refused now */
	if (secfile_check(path, jwa_alg_family(alg) == JWA_FAMILY_HMAC ? SECFILE_SECRET :
					SECFILE_PUBLIC, v) != 0) {
		keyset_note(ks, "%s: not used: %s", path, v->reason);
		goto out;
	}
	e = &ks->entries[ks->count];
	memset(e, 0, sizeof(*e));
	e->alg = alg;
	e->kid = kid != NULL ? strdup(kid) : NULL;
	e->path = strdup(path);
	if (e->path == NULL || (kid != NULL && e->kid == NULL)) {
		key_entry_clear(e);
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	ks->count++;
	rc = 0;
out:
	return rc;
}

static EVP_PKEY *pem_parse(const unsigned char *text, size_t len, bool want_private)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pkey = NULL;

	if (bio != NULL)
		pkey = want_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) :
				      PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return pkey;
}

/* Convert an entry's source into key material (once). */
static int key_entry_load(struct key_entry *e, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	const char *bad;
	int rc = -1;

	if (e->loaded) {
		rc = 0;
		goto out;
	}
	if (e->jwk != NULL) {
		if (jwk_convert(e->jwk, e->alg, false, &e->key, v) != 0)
			goto out;
	} else if (jwa_alg_family(e->alg) == JWA_FAMILY_HMAC) {
		if (secfile_read(e->path, SECFILE_SECRET, &text, &len, v) != 0)
			goto out;
		/* A PEM or JSON file here is a configuration mistake (a public key used as
		 * an HMAC secret would let anyone sign): refuse it. */
		if ((len >= 10 && memcmp(text, "-----BEGIN", 10) == 0) ||
		    (len >= 1 && text[0] == '{')) {
			verdict_set(v, VERDICT_UNAVAILABLE,
				    "HMAC secret file holds a PEM or JSON document, not raw bytes");
			goto out;
		}
		e->key.alg = e->alg;
		e->key.secret = text;
		e->key.secret_len = len;
		text = NULL;
	} else {
		if (secfile_read(e->path, SECFILE_PUBLIC, &text, &len, v) != 0)
			goto out;
		e->key.alg = e->alg;
		e->key.pkey = pem_parse(text, len, false);
		if (e->key.pkey == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "PEM public key does not parse");
			goto out;
		}
	}
	bad = jwa_key_prepare(&e->key);
	if (bad != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, bad);
		jwa_key_clear(&e->key);
		goto out;
	}
	e->loaded = true;
	rc = 0;
out:
	secmem_free(text, len);
	return rc;
}

int keyset_load_entry(struct keyset *ks, size_t i, struct verdict *v)
{
	int rc = -1;

	if (i >= ks->count) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no such key");
		goto out;
	}
	if (key_entry_load(&ks->entries[i], v) != 0) {
		verdict_label_copy(v->kid, sizeof(v->kid), ks->entries[i].kid);
		verdict_where_fill(v, NULL, 0, NULL, ks->entries[i].path != NULL ?
					       ks->entries[i].path : ks->entries[i].source);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int keyset_select(struct keyset *ks, enum jwa_alg header_alg, const char *kid,
		  const struct jwa_key **out, struct verdict *v)
{
	struct key_entry *e = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (ks->count == 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no verification keys configured");
		goto out;
	}
	if (kid != NULL) {
		for (i = 0; i < ks->count && e == NULL; i++)
			if (ks->entries[i].kid != NULL && strcmp(ks->entries[i].kid, kid) == 0)
				e = &ks->entries[i];
		if (e == NULL && ks->count == 1 && ks->entries[0].kid == NULL)
			e = &ks->entries[0];
		if (e == NULL) {
			verdict_set(v, VERDICT_REJECT, keyset_reason_unknown_kid);
			goto out;
		}
	} else if (ks->count == 1) {
		e = &ks->entries[0];
	} else {
		verdict_set(v, VERDICT_REJECT, "token has no kid and several keys are configured");
		goto out;
	}
	if (e->alg != header_alg) {
		verdict_set(v, VERDICT_REJECT, "token alg does not match the key's alg");
		goto out;
	}
	if (key_entry_load(e, v) != 0)
		goto out;
	*out = &e->key;
	rc = 0;
out:
	return rc;
}

static enum jwa_alg default_alg_for(const EVP_PKEY *pkey)
{
	char group[64];
	size_t len = 0;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		return JWA_RS256;
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return JWA_EDDSA;
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), &len)) {
		if (strcmp(group, "prime256v1") == 0)
			return JWA_ES256;
		if (strcmp(group, "secp384r1") == 0)
			return JWA_ES384;
		if (strcmp(group, "secp521r1") == 0)
			return JWA_ES512;
	}
	return JWA_INVALID;
}

/* Pick one JWK from a JWK or JWKS document: by kid, or the only one. */
static const json_t *jwks_pick(const json_t *doc, const char *kid)
{
	const json_t *keys = json_object_get(doc, "keys"), *jwk, *found = NULL;
	size_t i;

	if (keys == NULL) {
		const char *own = json_string_member(doc, "kid");
		return kid == NULL || own == NULL || strcmp(own, kid) == 0 ? doc : NULL;
	}
	if (!json_is_array(keys))
		return NULL;
	if (kid == NULL)
		return json_array_size(keys) == 1 ? json_array_get(keys, 0) : NULL;
	json_array_foreach(keys, i, jwk) {
		const char *k = json_string_member(jwk, "kid");
		if (k != NULL && strcmp(k, kid) == 0)
			found = jwk;
	}
	return found;
}

int key_load_private(const char *path, enum jwa_alg alg_hint, const char *kid_wanted,
		     struct jwa_key *out, char **kid_out, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	const json_t *jwk;
	json_t *k;
	const char *kid = kid_wanted, *bad;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*kid_out = NULL;
	if (secfile_read(path, SECFILE_SECRET, &text, &len, v) != 0)
		goto out;
	if (len > 10 && memcmp(text, "-----BEGIN", 10) == 0) {
		out->pkey = pem_parse(text, len, true);
		if (out->pkey == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "PEM private key does not parse");
			goto out;
		}
		out->alg = alg_hint != JWA_INVALID ? alg_hint : default_alg_for(out->pkey);
	} else {
		doc = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
		jwk = doc != NULL ? jwks_pick(doc, kid_wanted) : NULL;
		if (jwk == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "private key file has no matching key");
			goto out;
		}
		if (jwk_to_key(jwk, true, out, v) != 0)
			goto out;
		if (alg_hint != JWA_INVALID && alg_hint != out->alg) {
			verdict_set(v, VERDICT_UNAVAILABLE, "key's alg differs from the one asked for");
			goto out;
		}
		if (kid == NULL)
			kid = json_string_member(jwk, "kid");
	}
	bad = jwa_key_check(out);
	if (bad != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, bad);
		goto out;
	}
	if (kid != NULL) {
		*kid_out = strdup(kid);
		if (*kid_out == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		jwa_key_clear(out);
	jwk_wipe_secrets(doc);
	json_array_foreach(json_object_get(doc, "keys"), i, k)
		jwk_wipe_secrets(k);
	json_decref(doc);
	secmem_free(text, len);
	return rc;
}
