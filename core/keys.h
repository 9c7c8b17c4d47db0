/* Verification key sets: JWK (RFC 7517), JWKS files and PEM files, selected by kid from a
 * fixed table. Key material is converted only when a key is first selected. */
#ifndef PAM_JWT_KEYS_H
#define PAM_JWT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "jwa.h"
#include "verdict.h"

#define KEYSET_MAX_KEYS 64
#define KEY_KID_MAX 256

struct key_entry {
	char *kid;                /* NULL when the key has none */
	enum jwa_alg alg;         /* pinned */
	json_t *jwk;              /* JWK source, or NULL for a PEM/raw file */
	char *path;               /* PEM or raw secret path, or NULL */
	bool loaded;
	struct jwa_key key;       /* valid once loaded */
};

/* The last protected header that passed the header rules, kept by its exact base64url
 * text: tokens from one issuer share a header, so it is parsed and checked once. */
struct keyset_header_cache {
	char *text;
	size_t len;
	json_t *header;
	enum jwa_alg alg;
	const struct jwa_key *key;
	char kid_label[VERDICT_LABEL_MAX + 1];
};

struct keyset {
	struct key_entry entries[KEYSET_MAX_KEYS];
	size_t count;
	struct keyset_header_cache header_cache;
};

struct keyset *keyset_new(void);
void keyset_free(struct keyset *ks);
/* Add every key of a JWKS (or a single JWK) document. Each key needs kty and alg; kid is
 * needed when the set has more than one key. Secret (oct) keys require secret_ok. */
int keyset_add_jwks_json(struct keyset *ks, const char *text, size_t len, bool secret_ok,
			 struct verdict *v);
/* Read a JWKS file with secfile rules: a file holding an oct key must be private. */
int keyset_add_jwks_file(struct keyset *ks, const char *path, struct verdict *v);
/* A PEM public key (or, for HS*, a raw secret file) for one algorithm; read lazily. */
int keyset_add_file(struct keyset *ks, enum jwa_alg alg, const char *kid, const char *path,
		    struct verdict *v);
/* Pick the key for a header (alg, kid) and load it. The key's alg must equal header_alg.
 * A kid that names no key is refused unless the set has exactly one key without a kid;
 * a missing kid is refused when the set has more than one key. */
int keyset_select(struct keyset *ks, enum jwa_alg header_alg, const char *kid,
		  const struct jwa_key **out, struct verdict *v);

/* Convert one JWK object into key material pinned to its alg (public or private parts as
 * present when want_private). Returns 0, or -1 with v set. */
int jwk_to_key(const json_t *jwk, bool want_private, struct jwa_key *out, struct verdict *v);
/* Public JWK (with kid and alg) for a key; caller json_decref()s. For HMAC it holds "k". */
json_t *jwk_from_key(const struct jwa_key *key, const char *kid);
/* The same with the private members; wipe with jwk_wipe_secrets() before releasing. */
json_t *jwk_from_private_key(const struct jwa_key *key, const char *kid);
/* Wipe the secret members (k, d, p, q, dp, dq, qi) of a JWK held by nobody else. */
void jwk_wipe_secrets(json_t *jwk);
/* Load a private signing key: PEM (any of our algs) or a JWK/JWKS file holding one key. */
int key_load_private(const char *path, enum jwa_alg alg_hint, const char *kid_wanted,
		     struct jwa_key *out, char **kid_out, struct verdict *v);

#endif
