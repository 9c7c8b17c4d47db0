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

/* Watch the configured store for sessions revoked on any host (store_watch_open): 1 when
 * the store is this host's alone. */
int session_watch_open(const struct config *cfg, struct store_watch **out, struct verdict *v);

/* Open the store a config names (store_dir, allow_non_tmpfs, the limits). With
 * must_exist false, a store directory that does not exist at all is not an error: *out is
 * NULL and 0 is returned (nothing can have been locked or revoked there). Anything else
 * that is wrong with it is VERDICT_UNAVAILABLE. */
int session_store_open(const struct config *cfg, bool must_exist, struct store **out,
		       struct verdict *v);

/* While a shared (Redis) store cannot be reached, logins with store_unavailable =
 * last_known see pam-jwtd's mirror of its revoked jtis and locks, kept in store_dir
 * (store_mirror_sync). session_mirror_open opens that directory as a mirror.
 * session_store_open_jwt is session_store_open for the checks of a JWT: when the store
 * cannot be reached (VERDICT_UNAVAILABLE) and store_unavailable is last_known, it opens
 * the mirror instead, provided pam-jwtd found it current within max_staleness
 * (session_max_staleness) of `now` but not within the last two renewals (a mirror
 * that fresh means pam-jwtd reaches the store: what fails is this process's own
 * connection, which its user may have stalled, so it refuses); then v is VERDICT_OK with
 * a reason and the mirror's
 * age to log, and store_v holds why the store failed (VERDICT_OK otherwise). A mirror
 * refuses every write and every session check (store_is_mirror), so only JWTs that
 * need no session and are not single-use pass through it. */
#define SESSION_MIRROR_SYNC_SECONDS 5 /* how often pam-jwtd renews the mirror */
int session_mirror_open(const struct config *cfg, struct store **out, struct verdict *v);
int session_store_open_jwt(const struct config *cfg, bool must_exist, int64_t now,
			   struct store **out, struct verdict *store_v, struct verdict *v);
int64_t session_max_staleness(const struct config *cfg);

/* Open the directory that keeps revocations and locks across reboots (persist_dir, any
 * file system, same ownership rules as the store). *out is NULL and 0 is returned when
 * persist_dir is "none" or does not exist. */
int session_persist_open(const struct config *cfg, struct store **out, struct verdict *v);

/* Keep an admin's change across reboots: a revoked jti (until t), a lock (until t, 0:
 * until unlocked) or an unlock, written to persist_dir as well. Returns 0 when written,
 * 1 when there is no persist_dir (none, or it does not exist), -1 with v set. */
enum session_persist_change { SESSION_PERSIST_JTI, SESSION_PERSIST_LOCK, SESSION_PERSIST_UNLOCK };
int session_persist_change(const struct config *cfg, enum session_persist_change what,
			   const char *name, int64_t t, struct verdict *v);

/* Complete the verdict of a JWT whose signature and claims have passed (call it only
 * then: a forged token must not touch the store). In order: the jti is not revoked, the
 * user is not locked, with require_session the "sid" claim (the hex digest of a session,
 * never a session ID) names a live session of this user (and service, with bind_service),
 * and without it a "sid" of that shape (pam-jwtd's tokens) still names a live session of
 * this user,
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
	int64_t leader_start; /* the leader's start time (leader_start_time); 0: unknown */
	const char *parent;   /* digest of the session whose ID authenticated the login, or NULL */
	const char *ruser;    /* PAM_RUSER (sudo: the invoking user), or NULL */
	const char *origin_jti; /* hex SHA-256 of the jti of the JWT that authenticated it, or NULL */
	const char *owner;    /* whom the session counts against: the user who ran sudo or su
			       * (the process's real user), or NULL: user */
};

/* Record a new session for a login: created and last seen now, expiring after
 * session_ttl, idle_timeout from the config. A login authenticated by another session's
 * ID, or by a token minted for another session (its "sid"), is that session's child
 * (login->parent): it must still be live, the child expires no later than it, keeps the
 * token's origin_jti (or inherits the parent's) and ends with it; the lineage is checked
 * again in the transaction that records it. service, tty and
 * rhost are kept with every byte outside 0x21..0x7e replaced by '?' (tty and rhost cut to
 * 255 bytes); user is kept exactly or refused. id_out gets the new session ID (a
 * credential: the caller wipes it) and digest_out its digest. */
int session_record_new(struct store *st, const struct config *cfg,
		       const struct session_login *login, int64_t now,
		       char id_out[STORE_SESSION_ID_LEN + 1],
		       char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v);

/* True if s is exactly a lowercase hex SHA-256 digest. */
bool session_digest_looks_like(const char *s);

#endif
