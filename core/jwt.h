/* The verdict pipeline for JWTs: JWS layer, then claims. */
#ifndef PAM_JWT_JWT_H
#define PAM_JWT_JWT_H

#include <jansson.h>
#include <stdbool.h>
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

/* How long a login waits for pam-jwtd's early refetch of the issuer's keys. A fetch that
 * takes longer goes on in the daemon; this login is refused, a later one finds the keys. */
#define JWT_REFETCH_WAIT_MS 500

/* What jwt_verify_refetch did about an unknown kid, for the caller to log. */
struct jwt_refetch {
	bool asked;        /* the kid named no key and pam-jwtd was asked for the keys */
	bool fetched;      /* it fetched them, and the token was verified once more */
	char answer[192];  /* what the daemon (or the socket) said; printable ASCII */
};

/* As jwt_verify_full (below). When that fails only because the token's kid names no key
 * and the keys are fetched from the issuer (jwks_cache is set), ask pam-jwtd once for an
 * early refetch on socket_path, waiting at most JWT_REFETCH_WAIT_MS; if it fetched the
 * keys, load the key set again (*ks is replaced; notes as for jwt_keyset_load) and verify
 * once more. Any failure of the request leaves the first refusal in v. The daemon rate-
 * limits refetches: a token cannot make it fetch more than that. */
int jwt_verify_refetch(const struct config *cfg, struct keyset **ks, struct keyset_notes *notes,
		       const char *token, const char *user, int64_t now,
		       struct jwt_verified *out, struct jwt_refetch *rf, struct verdict *v);

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
