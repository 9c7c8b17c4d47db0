#include "keys.h"

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

int jwk_to_key(const json_t *jwk, bool want_private, struct jwa_key *out, struct verdict *v)
{
	const char *kty = json_string_member(jwk, "kty");
	enum jwa_alg alg = jwa_alg_from_name(json_string_member(jwk, "alg"));
	const char *bad;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(jwk) || kty == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no kty");
		goto out;
	}
	if (alg == JWA_INVALID) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no supported alg");
		goto out;
	}
	if (strcmp(kty, jwk_kty_for(jwa_alg_family(alg))) != 0) {
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
	return calloc(1, sizeof(struct keyset));
}

static void key_entry_clear(struct key_entry *e)
{
	free(e->kid);
	free(e->path);
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

static int keyset_kid_taken(const struct keyset *ks, const char *kid)
{
	size_t i;

	for (i = 0; i < ks->count; i++)
		if (ks->entries[i].kid != NULL && kid != NULL && strcmp(ks->entries[i].kid, kid) == 0)
			return 1;
	return 0;
}

static int keyset_add_jwk(struct keyset *ks, json_t *jwk, bool secret_ok, struct verdict *v)
{
	const char *kty = json_string_member(jwk, "kty");
	const char *kid = json_string_member(jwk, "kid");
	enum jwa_alg alg = jwa_alg_from_name(json_string_member(jwk, "alg"));
	struct key_entry *e;
	int rc = -1;

	if (ks->count >= KEYSET_MAX_KEYS) {
		verdict_set(v, VERDICT_UNAVAILABLE, "too many keys");
		goto out;
	}
	if (!json_is_object(jwk) || kty == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no kty");
		goto out;
	}
	if (alg == JWA_INVALID) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK has no supported alg");
		goto out;
	}
	if (json_object_get(jwk, "kid") != NULL && (kid == NULL || strlen(kid) > KEY_KID_MAX)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWK kid is not a short string");
		goto out;
	}
	if (keyset_kid_taken(ks, kid)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "two keys have the same kid");
		goto out;
	}
	if (strcmp(kty, "oct") == 0 && !secret_ok) {
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "key set holding a secret key is group- or world-readable");
		goto out;
	}
	e = &ks->entries[ks->count];
	memset(e, 0, sizeof(*e));
	e->alg = alg;
	e->kid = kid != NULL ? strdup(kid) : NULL;
	if (kid != NULL && e->kid == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	e->jwk = json_incref(jwk);
	ks->count++;
	rc = 0;
out:
	return rc;
}

int keyset_add_jwks_json(struct keyset *ks, const char *text, size_t len, bool secret_ok,
			 struct verdict *v)
{
	json_error_t err;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	json_t *keys, *jwk;
	size_t i;
	int rc = -1;

	if (!json_is_object(doc)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "key set is not a JSON object");
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (keys == NULL && json_object_get(doc, "kty") != NULL) {
		rc = keyset_add_jwk(ks, doc, secret_ok, v);
		goto out;
	}
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "key set has no keys");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		if (keyset_add_jwk(ks, jwk, secret_ok, v) != 0)
			goto out;
	}
	rc = 0;
out:
	jwk_wipe_secrets(doc);
	json_array_foreach(json_object_get(doc, "keys"), i, jwk)
		jwk_wipe_secrets(jwk);
	json_decref(doc);
	return rc;
}

int keyset_add_jwks_file(struct keyset *ks, const char *path, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	int is_private = 0, rc = -1;

	if (secfile_read_public(path, &text, &len, &is_private, v) != 0)
		goto out;
	rc = keyset_add_jwks_json(ks, (const char *)text, len, is_private != 0, v);
out:
	secmem_free(text, len);
	return rc;
}

int keyset_add_file(struct keyset *ks, enum jwa_alg alg, const char *kid, const char *path,
		    struct verdict *v)
{
	struct key_entry *e;
	int rc = -1;

	if (ks->count >= KEYSET_MAX_KEYS) {
		verdict_set(v, VERDICT_UNAVAILABLE, "too many keys");
		goto out;
	}
	if (keyset_kid_taken(ks, kid)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "two keys have the same kid");
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
		if (jwk_to_key(e->jwk, false, &e->key, v) != 0)
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
			verdict_set(v, VERDICT_REJECT, "unknown kid");
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
