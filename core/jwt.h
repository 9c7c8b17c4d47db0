/* The verdict pipeline for JWTs: JWS layer, then claims. */
#ifndef PAM_JWT_JWT_H
#define PAM_JWT_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "keys.h"
#include "verdict.h"

/* Build the key set a config names: its jwks files, merged in order (RSA keys without alg
 * pinned to jwks_rsa_alg), then its key= entries. Unless notes is NULL it receives what
 * loading noted (keys skipped, the key or file refused), whether or not loading succeeded:
 * the caller logs or prints it. */
int jwt_keyset_load(const struct config *cfg, struct keyset **out, struct keyset_notes *notes,
		    struct verdict *v);

/* Full verification of `token` for `user`. On VERDICT_OK and non-NULL claims_out, the
 * verified claims are returned (caller json_decref()s). */
int jwt_verify(const struct config *cfg, struct keyset *ks, const char *token,
	       const char *user, int64_t now, json_t **claims_out, struct verdict *v);

/* What a successful verification established, kept for later phases of one login. */
struct jwt_verified {
	json_t *header;
	json_t *claims;
};

/* As jwt_verify, keeping the verified header and claims in *out (clear it when done). */
int jwt_verify_full(const struct config *cfg, struct keyset *ks, const char *token,
		    const char *user, int64_t now, struct jwt_verified *out, struct verdict *v);
/* Re-check the claims of an already verified token (time, issuer, audience, user, required
 * claims, typ) under a possibly different policy, at a later time. No key is needed. */
int jwt_recheck(const struct config *cfg, const struct jwt_verified *verified,
		const char *user, int64_t now, struct verdict *v);
void jwt_verified_clear(struct jwt_verified *verified);

/* Mint a JWT: header {alg, typ:"JWT", kid}, the given claims. Returns malloc'd token. */
char *jwt_mint(const struct jwa_key *key, const char *kid, const json_t *claims);

#endif
