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
	char *source;             /* the JWKS file the JWK came from, or NULL */
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

/* What loading had to say about single keys: one line for each key it skipped (with the
 * file, the key's index and kid, and why) and one for a refusal that made loading fail.
 * Core never logs: the callers log or print these. */
#define KEYSET_NOTES_MAX 16
#define KEYSET_NOTE_LEN 384
struct keyset_notes {
	char line[KEYSET_NOTES_MAX][KEYSET_NOTE_LEN]; /* printable ASCII, NUL-terminated */
	size_t count;             /* lines kept */
	size_t dropped;           /* lines that did not fit */
};

struct keyset {
	struct key_entry entries[KEYSET_MAX_KEYS];
	size_t count;
	enum jwa_alg rsa_alg;     /* pinned to RSA JWKs that name no alg (jwks_rsa_alg) */
	struct keyset_notes notes;
	struct keyset_header_cache header_cache;
};

/* An empty set; RSA JWKs without alg are pinned to RS256 until rsa_alg is changed. */
struct keyset *keyset_new(void);
void keyset_free(struct keyset *ks);
/* Add the keys of a JWKS (or a single JWK) document that can verify signatures here. A key
 * that cannot (not for signatures, an algorithm, key type or curve we do not verify with,
 * an alg that does not fit the key, key material missing) is skipped with a note. EC and
 * OKP keys without alg take it from their curve, RSA keys from ks->rsa_alg; secret (oct)
 * keys need an alg, and secret_ok. The document is refused when no key of it is usable,
 * when a usable key has the kid of a different key already in the set (the same key again
 * is kept once), or when the set would grow past KEYSET_MAX_KEYS. */
int keyset_add_jwks_json(struct keyset *ks, const char *text, size_t len, bool secret_ok,
			 struct verdict *v);
/* The same for a JWKS file (secfile rules: a file holding a usable oct key must be
 * private); notes name the file. */
int keyset_add_jwks_file(struct keyset *ks, const char *path, struct verdict *v);
/* A PEM public key (or, for HS*, a raw secret file) for one algorithm; read lazily, but a
 * file that cannot be opened (secfile rules) is refused now. Its kid must not be taken. */
int keyset_add_file(struct keyset *ks, enum jwa_alg alg, const char *kid, const char *path,
		    struct verdict *v);
/* Pick the key for a header (alg, kid) and load it. The key's alg must equal header_alg.
 * A kid that names no key is refused unless the set has exactly one key without a kid;
 * a missing kid is refused when the set has more than one key. */
int keyset_select(struct keyset *ks, enum jwa_alg header_alg, const char *kid,
		  const struct jwa_key **out, struct verdict *v);
/* Load the key material of entry i now (what keyset_select does for the key it picks), so
 * that a check can find a bad key before a token needs it. */
int keyset_load_entry(struct keyset *ks, size_t i, struct verdict *v);
/* The reason keyset_select gives for a kid that names no key: the one refusal that new
 * keys from the issuer can change (compare the pointer, see jwt_verify_refetch). */
extern const char keyset_reason_unknown_kid[];

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
