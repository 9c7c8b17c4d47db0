/* JSON Web Algorithms (RFC 7518, RFC 8037): the signature layer. */
#ifndef PAM_JWT_JWA_H
#define PAM_JWT_JWA_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>

enum jwa_alg {
	JWA_INVALID = 0,
	JWA_HS256, JWA_HS384, JWA_HS512,
	JWA_RS256, JWA_RS384, JWA_RS512,
	JWA_PS256, JWA_PS384, JWA_PS512,
	JWA_ES256, JWA_ES384, JWA_ES512,
	JWA_EDDSA,
};

enum jwa_family { JWA_FAMILY_NONE, JWA_FAMILY_HMAC, JWA_FAMILY_RSA, JWA_FAMILY_RSA_PSS,
		  JWA_FAMILY_EC, JWA_FAMILY_EDDSA };

enum jwa_alg jwa_alg_from_name(const char *name);        /* JWA_INVALID if unknown/none */
const char *jwa_alg_name(enum jwa_alg alg);              /* NULL for JWA_INVALID */
enum jwa_family jwa_alg_family(enum jwa_alg alg);
const EVP_MD *jwa_alg_md(enum jwa_alg alg);              /* NULL for EdDSA */
size_t jwa_hash_size(enum jwa_alg alg);                  /* 0 for EdDSA */
/* Raw ECDSA signature size for ES*: 64/96/132; 0 otherwise. */
size_t jwa_ec_sig_size(enum jwa_alg alg);
/* OpenSSL group name of an ES key ("prime256v1"...), or "ED25519" for EdDSA. */
const char *jwa_alg_curve(enum jwa_alg alg);

/* A key pinned to exactly one algorithm. For HMAC, secret holds the bytes; otherwise pkey
 * (public, or private when used for signing). */
struct jwa_key {
	enum jwa_alg alg;
	EVP_PKEY *pkey;
	unsigned char *secret;
	size_t secret_len;
	/* Set by jwa_key_prepare: the policy check passed and a keyed verification context
	 * is ready to be copied for each signature. */
	bool prepared;
	EVP_MD_CTX *verify_ctx;
	EVP_MAC_CTX *mac_ctx;
	/* Set by jwa_key_prepare_signing: a keyed signing context, copied for each signature. */
	EVP_MD_CTX *sign_ctx;
};

/* Check that the key material fits its algorithm (type, curve, RSA >= 2048 bits, HMAC
 * secret >= hash size). Returns NULL if it does, else a fixed reason. */
const char *jwa_key_check(const struct jwa_key *key);

/* Check the key once (jwa_key_check) and set up its reusable verification context, so that
 * each later jwa_verify only copies it. Returns NULL, or the reason the key is refused. */
const char *jwa_key_prepare(struct jwa_key *key);
/* The same for a private key that signs: also a reusable signing context. */
const char *jwa_key_prepare_signing(struct jwa_key *key);

/* 1 = valid signature, 0 = invalid, -1 = internal error. sig is the raw JWS signature.
 * A key that was not prepared is checked against the policy on every call. */
int jwa_verify(const struct jwa_key *key, const unsigned char *data, size_t data_len,
	       const unsigned char *sig, size_t sig_len);
/* Produce a raw JWS signature (*sig malloc'd). 0 on success. As for jwa_verify, a key that
 * was not prepared is checked against the policy on every call. */
int jwa_sign(const struct jwa_key *key, const unsigned char *data, size_t data_len,
	     unsigned char **sig, size_t *sig_len);
/* A new key pair for an asymmetric algorithm (RSA with rsa_bits); NULL for HMAC. */
EVP_PKEY *jwa_pkey_generate(enum jwa_alg alg, unsigned int rsa_bits);
/* The same, calling progress(ctx) now and then while an RSA key is searched for (seconds
 * for 4096 bits and more), so a caller can show that it works. */
EVP_PKEY *jwa_pkey_generate_progress(enum jwa_alg alg, unsigned int rsa_bits,
				     void (*progress)(void *ctx), void *ctx);
/* Wipe and release key material (not the struct). NULL ok. */
void jwa_key_clear(struct jwa_key *key);

#endif
