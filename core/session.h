/*
 * Server-tracked sessions: the store checks that complete a JWT verdict, the session-ID
 * login path, and recording a login's session. Decides only; never logs, never sees a PAM
 * handle.
 */
#ifndef PAM_JWT_SESSION_H
#define PAM_JWT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "jwt.h"
#include "store.h"
#include "verdict.h"

/* How many hex digits of a session digest logs and listings show. */
#define SESSION_DIGEST_SHOWN 12

/* Open the store a config names (store_dir, allow_non_tmpfs, the limits). With
 * must_exist false, a store directory that does not exist at all is not an error: *out is
 * NULL and 0 is returned (nothing can have been locked or revoked there). Anything else
 * that is wrong with it is VERDICT_UNAVAILABLE. */
int session_store_open(const struct config *cfg, bool must_exist, struct store **out,
		       struct verdict *v);

/* Complete the verdict of a JWT whose signature and claims have passed (call it only
 * then: a forged token must not touch the store). In order: the jti is not revoked, the
 * user is not locked, with require_session the "sid" claim (the hex digest of a session,
 * never a session ID) names a live session of this user (and service, with bind_service),
 * with single_use the token has a jti and (consume) is recorded as used for `service`;
 * consume false checks only that a jti is there, so pam-jwtctl verify and the account
 * phase never burn a single-use token. user NULL: the token's user claim. st NULL (a store
 * that does not exist, see session_store_open): nothing is revoked or locked, but
 * require_session and a consuming single_use are VERDICT_UNAVAILABLE. */
int session_check_jwt(struct store *st, const struct config *cfg,
		      const struct jwt_verified *verified, const char *user, const char *service,
		      int64_t now, bool consume, struct verdict *v);

/* A session-ID login: the session is live, not expired, not idle, belongs to `user` (and
 * `service` with bind_service); the user is not locked. On success last_seen is now and
 * digest_out (may be NULL) holds the session's digest. */
int session_check_id(struct store *st, const struct config *cfg, const char *session_id,
		     const char *user, const char *service, int64_t now,
		     char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v);

/* Read-only check of a session by digest (the account phase, a JWT's sid): live, not
 * expired, not idle, belongs to `user`, and to `service` when bind_service (service NULL:
 * any). */
int session_check_digest(struct store *st, const struct config *cfg, const char *digest,
			 const char *user, const char *service, int64_t now, struct verdict *v);

/* What a login is, for its session record. */
struct session_login {
	const char *user;
	uid_t uid;
	const char *service;
	const char *tty;     /* may be NULL */
	const char *rhost;   /* may be NULL */
	pid_t leader_pid;
};

/* Record a new session for a login: created and last seen now, expiring after
 * session_ttl, idle_timeout from the config. id_out gets the new session ID (a
 * credential: the caller wipes it) and digest_out its digest. */
int session_record_new(struct store *st, const struct config *cfg,
		       const struct session_login *login, int64_t now,
		       char id_out[STORE_SESSION_ID_LEN + 1],
		       char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v);

/* True if s is exactly a lowercase hex SHA-256 digest. */
bool session_digest_looks_like(const char *s);

#endif
