#include "jwa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "secmem.h"

struct jwa_info {
	enum jwa_alg alg;
	const char *name;
	enum jwa_family family;
	const char *md_name;     /* NULL for EdDSA */
	size_t hash_size;
	size_t ec_sig_size;
	const char *curve;       /* OpenSSL group name for ES*, key type for EdDSA */
};

static const struct jwa_info jwa_table[] = {
	{ JWA_HS256, "HS256", JWA_FAMILY_HMAC, "SHA256", 32, 0, NULL },
	{ JWA_HS384, "HS384", JWA_FAMILY_HMAC, "SHA384", 48, 0, NULL },
	{ JWA_HS512, "HS512", JWA_FAMILY_HMAC, "SHA512", 64, 0, NULL },
	{ JWA_RS256, "RS256", JWA_FAMILY_RSA, "SHA256", 32, 0, NULL },
	{ JWA_RS384, "RS384", JWA_FAMILY_RSA, "SHA384", 48, 0, NULL },
	{ JWA_RS512, "RS512", JWA_FAMILY_RSA, "SHA512", 64, 0, NULL },
	{ JWA_PS256, "PS256", JWA_FAMILY_RSA_PSS, "SHA256", 32, 0, NULL },
	{ JWA_PS384, "PS384", JWA_FAMILY_RSA_PSS, "SHA384", 48, 0, NULL },
	{ JWA_PS512, "PS512", JWA_FAMILY_RSA_PSS, "SHA512", 64, 0, NULL },
	{ JWA_ES256, "ES256", JWA_FAMILY_EC, "SHA256", 32, 64, "prime256v1" },
	{ JWA_ES384, "ES384", JWA_FAMILY_EC, "SHA384", 48, 96, "secp384r1" },
	{ JWA_ES512, "ES512", JWA_FAMILY_EC, "SHA512", 64, 132, "secp521r1" },
	{ JWA_EDDSA, "EdDSA", JWA_FAMILY_EDDSA, NULL, 0, 0, "ED25519" },
};

static const struct jwa_info *jwa_info(enum jwa_alg alg)
{
	size_t i;

	for (i = 0; i < sizeof(jwa_table) / sizeof(jwa_table[0]); i++)
		if (jwa_table[i].alg == alg)
			return &jwa_table[i];
	return NULL;
}

enum jwa_alg jwa_alg_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return JWA_INVALID;
	for (i = 0; i < sizeof(jwa_table) / sizeof(jwa_table[0]); i++)
		if (strcmp(jwa_table[i].name, name) == 0)
			return jwa_table[i].alg;
	return JWA_INVALID;
}

const char *jwa_alg_name(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	return info != NULL ? info->name : NULL;
}

enum jwa_family jwa_alg_family(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	return info != NULL ? info->family : JWA_FAMILY_NONE;
}

const EVP_MD *jwa_alg_md(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	if (info == NULL || info->md_name == NULL)
		return NULL;
	switch (info->hash_size) {
	case 32: return EVP_sha256();
	case 48: return EVP_sha384();
	case 64: return EVP_sha512();
	default: return NULL;
	}
}

size_t jwa_hash_size(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	return info != NULL ? info->hash_size : 0;
}

size_t jwa_ec_sig_size(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	return info != NULL ? info->ec_sig_size : 0;
}

const char *jwa_alg_curve(enum jwa_alg alg)
{
	const struct jwa_info *info = jwa_info(alg);

	return info != NULL ? info->curve : NULL;
}

/* e = 1 makes "signing" the identity (anyone can forge); an even e is never valid. */
static int jwa_rsa_exponent_ok(const EVP_PKEY *pkey)
{
	BIGNUM *e = NULL;
	int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
		 !BN_is_one(e);

	BN_free(e);
	return ok;
}

/* The point must be on the curve and not the point at infinity. P-256/384/521 have
 * cofactor 1, so that also gives it the group's order. */
static int jwa_ec_point_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok = ctx != NULL && EVP_PKEY_public_check_quick(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Encodings (sign bit cleared) of the Ed25519 points of small order, canonical and not.
 * A key among them verifies forged signatures for every message. */
static const unsigned char ed25519_small_order[][32] = {
	{ 0 },
	{ 0x01 },
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
	  0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
	  0x6d, 0x53, 0xfc, 0x05 },
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
	  0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
	  0x92, 0xac, 0x03, 0x7a },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0x7f },
};

static int jwa_ed25519_order_ok(const EVP_PKEY *pkey)
{
	unsigned char pub[32];
	size_t len = sizeof(pub), i;
	int ok = 0;

	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != sizeof(pub))
		goto out;
	pub[31] &= 0x7f;
	for (i = 0; i < sizeof(ed25519_small_order) / sizeof(ed25519_small_order[0]); i++)
		if (memcmp(pub, ed25519_small_order[i], sizeof(pub)) == 0)
			goto out;
	ok = 1;
out:
	return ok;
}

const char *jwa_key_check(const struct jwa_key *key)
{
	const struct jwa_info *info = jwa_info(key->alg);
	char group[64];
	size_t group_len = 0;

	if (info == NULL)
		return "unsupported algorithm";
	switch (info->family) {
	case JWA_FAMILY_HMAC:
		if (key->secret == NULL || key->pkey != NULL)
			return "HMAC key is not a symmetric key";
		if (key->secret_len < info->hash_size)
			return "HMAC key is shorter than the hash size";
		return NULL;
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS:
		if (key->pkey == NULL || !EVP_PKEY_is_a(key->pkey, "RSA"))
			return "key is not an RSA key";
		if (EVP_PKEY_get_bits(key->pkey) < 2048)
			return "RSA key is shorter than 2048 bits";
		return jwa_rsa_exponent_ok(key->pkey) ? NULL :
		       "RSA public exponent is not an odd number of at least 3";
	case JWA_FAMILY_EC:
		if (key->pkey == NULL || !EVP_PKEY_is_a(key->pkey, "EC"))
			return "key is not an EC key";
		if (!EVP_PKEY_get_utf8_string_param(key->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						    sizeof(group), &group_len) ||
		    strcmp(group, info->curve) != 0)
			return "EC key is on the wrong curve for its algorithm";
		return jwa_ec_point_ok(key->pkey) ? NULL :
		       "EC public key is not a point of the curve's group";
	case JWA_FAMILY_EDDSA:
		if (key->pkey == NULL || !EVP_PKEY_is_a(key->pkey, info->curve))
			return "key is not an Ed25519 key";
		return jwa_ed25519_order_ok(key->pkey) ? NULL :
		       "Ed25519 public key has small order";
	case JWA_FAMILY_NONE:
		break;
	}
	return "unsupported algorithm";
}

/* Set up a digest-sign/verify context for the key's algorithm. */
static EVP_MD_CTX *jwa_md_ctx(const struct jwa_key *key, int for_sign)
{
	const struct jwa_info *info = jwa_info(key->alg);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = jwa_alg_md(key->alg);
	int ok;

	if (ctx == NULL || info == NULL)
		goto fail;
	if (for_sign)
		ok = EVP_DigestSignInit(ctx, &pctx, md, NULL, key->pkey);
	else
		ok = EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey);
	if (ok != 1)
		goto fail;
	if (info->family == JWA_FAMILY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto fail;
	if (info->family == JWA_FAMILY_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)info->hash_size) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
		goto fail;
	return ctx;
fail:
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* Raw r||s (each half of sig_len) to a DER ECDSA-Sig-Value. */
static int jwa_ec_raw_to_der(const unsigned char *sig, size_t sig_len, unsigned char **der,
			     size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(sig_len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + sig_len / 2, (int)(sig_len / 2), NULL);
	int len, rc = -1;

	*der = NULL;
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es now */
	len = i2d_ECDSA_SIG(es, der);
	if (len <= 0)
		goto out;
	*der_len = (size_t)len;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

static int jwa_hmac(const struct jwa_key *key, const unsigned char *data, size_t data_len,
		    unsigned char *mac, unsigned int *mac_len)
{
	if (key->secret_len > (size_t)INT32_MAX)
		return -1;
	return HMAC(jwa_alg_md(key->alg), key->secret, (int)key->secret_len, data, data_len,
		    mac, mac_len) != NULL ? 0 : -1;
}

/* HMAC of data with the key's prepared MAC context (a keyed copy per call). */
static int jwa_hmac_prepared(const struct jwa_key *key, const unsigned char *data,
			     size_t data_len, unsigned char *mac, unsigned int *mac_len)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(key->mac_ctx);
	size_t len = 0;
	int rc = -1;

	if (ctx != NULL && EVP_MAC_update(ctx, data, data_len) == 1 &&
	    EVP_MAC_final(ctx, mac, &len, EVP_MAX_MD_SIZE) == 1) {
		*mac_len = (unsigned int)len;
		rc = 0;
	}
	EVP_MAC_CTX_free(ctx);
	return rc;
}

const char *jwa_key_prepare(struct jwa_key *key)
{
	const char *bad = jwa_key_check(key);
	EVP_MAC *mac = NULL;
	OSSL_PARAM params[2];
	char md_name[16];

	if (bad != NULL || key->prepared)
		goto out;
	bad = "cannot set up the key for verification";
	if (jwa_alg_family(key->alg) == JWA_FAMILY_HMAC) {
		snprintf(md_name, sizeof(md_name), "%s", jwa_info(key->alg)->md_name);
		params[0] = OSSL_PARAM_construct_utf8_string("digest", md_name, 0);
		params[1] = OSSL_PARAM_construct_end();
		mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		key->mac_ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
		if (key->mac_ctx == NULL ||
		    EVP_MAC_init(key->mac_ctx, key->secret, key->secret_len, params) != 1)
			goto out;
	} else {
		key->verify_ctx = jwa_md_ctx(key, 0);
		if (key->verify_ctx == NULL)
			goto out;
	}
	key->prepared = true;
	bad = NULL;
out:
	EVP_MAC_free(mac);
	return bad;
}

const char *jwa_key_prepare_signing(struct jwa_key *key)
{
	const char *bad = jwa_key_prepare(key);

	if (bad != NULL || key->sign_ctx != NULL || jwa_alg_family(key->alg) == JWA_FAMILY_HMAC)
		goto out;
	key->sign_ctx = jwa_md_ctx(key, 1);
	if (key->sign_ctx == NULL)
		bad = "cannot set up the key for signing";
out:
	return bad;
}

int jwa_verify(const struct jwa_key *key, const unsigned char *data, size_t data_len,
	       const unsigned char *sig, size_t sig_len)
{
	const struct jwa_info *info = jwa_info(key->alg);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	unsigned char *der = NULL;
	size_t der_len = 0;
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	if (info == NULL || (!key->prepared && jwa_key_check(key) != NULL))
		goto out;
	switch (info->family) {
	case JWA_FAMILY_HMAC:
		if ((key->prepared ? jwa_hmac_prepared(key, data, data_len, mac, &mac_len) :
				     jwa_hmac(key, data, data_len, mac, &mac_len)) != 0)
			goto out;
		rc = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
		goto out;
	case JWA_FAMILY_EC:
		if (sig_len != info->ec_sig_size) {
			rc = 0;
			goto out;
		}
		if (jwa_ec_raw_to_der(sig, sig_len, &der, &der_len) != 0)
			goto out;
		sig = der;
		sig_len = der_len;
		break;
	case JWA_FAMILY_EDDSA:
		if (sig_len != 64) {
			rc = 0;
			goto out;
		}
		break;
	default:
		break;
	}
	if (key->prepared) {
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL || EVP_MD_CTX_copy_ex(ctx, key->verify_ctx) != 1)
			goto out;
	} else {
		ctx = jwa_md_ctx(key, 0);
		if (ctx == NULL)
			goto out;
	}
	/* Only exactly 1 is a valid signature; 0 and negative values are failures. */
	rc = EVP_DigestVerify(ctx, sig, sig_len, data, data_len) == 1 ? 1 : 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* DER ECDSA-Sig-Value to raw r||s of out_len bytes. */
static int jwa_ec_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *out,
			     size_t out_len)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int rc = -1;

	if (es == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, out, (int)(out_len / 2)) < 0 ||
	    BN_bn2binpad(s, out + out_len / 2, (int)(out_len / 2)) < 0)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(es);
	return rc;
}

int jwa_sign(const struct jwa_key *key, const unsigned char *data, size_t data_len,
	     unsigned char **sig, size_t *sig_len)
{
	const struct jwa_info *info = jwa_info(key->alg);
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL, *raw = NULL;
	unsigned int mac_len = 0;
	size_t len = 0;
	int rc = -1;

	*sig = NULL;
	*sig_len = 0;
	/* a prepared key passed jwa_key_check once, in jwa_key_prepare */
	if (info == NULL || (!key->prepared && jwa_key_check(key) != NULL))
		goto out;
	if (info->family == JWA_FAMILY_HMAC) {
		buf = malloc(EVP_MAX_MD_SIZE);
		if (buf == NULL || jwa_hmac(key, data, data_len, buf, &mac_len) != 0)
			goto out;
		len = mac_len;
	} else {
		if (key->sign_ctx != NULL) {
			ctx = EVP_MD_CTX_new();
			if (ctx != NULL && EVP_MD_CTX_copy_ex(ctx, key->sign_ctx) != 1) {
				EVP_MD_CTX_free(ctx);
				ctx = NULL;
			}
		} else {
			ctx = jwa_md_ctx(key, 1);
		}
		if (ctx == NULL || EVP_DigestSign(ctx, NULL, &len, data, data_len) != 1)
			goto out;
		buf = malloc(len);
		if (buf == NULL || EVP_DigestSign(ctx, buf, &len, data, data_len) != 1)
			goto out;
	}
	if (info->family == JWA_FAMILY_EC) {
		raw = malloc(info->ec_sig_size);
		if (raw == NULL || jwa_ec_der_to_raw(buf, len, raw, info->ec_sig_size) != 0)
			goto out;
		free(buf);
		buf = raw;
		raw = NULL;
		len = info->ec_sig_size;
	}
	*sig = buf;
	*sig_len = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	free(raw);
	EVP_MD_CTX_free(ctx);
	return rc;
}

void jwa_key_clear(struct jwa_key *key)
{
	if (key == NULL)
		return;
	EVP_MD_CTX_free(key->verify_ctx);
	EVP_MD_CTX_free(key->sign_ctx);
	EVP_MAC_CTX_free(key->mac_ctx);
	EVP_PKEY_free(key->pkey);
	secmem_free(key->secret, key->secret_len);
	memset(key, 0, sizeof(*key));
}

struct keygen_progress {
	void (*fn)(void *ctx);
	void *ctx;
};

static int keygen_tick(EVP_PKEY_CTX *pctx)
{
	struct keygen_progress *p = EVP_PKEY_CTX_get_app_data(pctx);

	if (p != NULL && p->fn != NULL)
		p->fn(p->ctx);
	return 1;
}

static EVP_PKEY *rsa_generate(unsigned int bits, struct keygen_progress *p)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;

	if (pctx == NULL || EVP_PKEY_keygen_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, (int)bits) != 1)
		goto out;
	EVP_PKEY_CTX_set_app_data(pctx, p);
	EVP_PKEY_CTX_set_cb(pctx, keygen_tick);
	if (EVP_PKEY_generate(pctx, &pkey) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(pctx);
	return pkey;
}

EVP_PKEY *jwa_pkey_generate(enum jwa_alg alg, unsigned int rsa_bits)
{
	return jwa_pkey_generate_progress(alg, rsa_bits, NULL, NULL);
}

EVP_PKEY *jwa_pkey_generate_progress(enum jwa_alg alg, unsigned int rsa_bits,
				     void (*progress)(void *ctx), void *ctx)
{
	struct keygen_progress p = { progress, ctx };
	EVP_PKEY *pkey = NULL;

	switch (jwa_alg_family(alg)) {
	case JWA_FAMILY_RSA:
	case JWA_FAMILY_RSA_PSS:
		pkey = rsa_generate(rsa_bits, &p);
		break;
	case JWA_FAMILY_EC:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", alg == JWA_ES256 ? "P-256" :
					 alg == JWA_ES384 ? "P-384" : "P-521");
		break;
	case JWA_FAMILY_EDDSA:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case JWA_FAMILY_HMAC:
	case JWA_FAMILY_NONE:
		break;
	}
	return pkey;
}
