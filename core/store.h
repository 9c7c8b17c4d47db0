/*
 * The session store: a root-owned directory on tmpfs (default /run/pam_jwt) holding one
 * small record file per session, revoked JWT id, used single-use JWT id and user lock.
 *
 * Record files are named by kind and the SHA-256 of what they are about, never by the
 * credential itself: "s-<hex sha256(session id)>", "j-<hex sha256(jti)>" (revoked),
 * "u-<hex sha256(service NUL jti)>" (used once), "l-<hex sha256(user)>" (lock),
 * "i-<hex sha256(user)>" (the user's index: digests of their sessions). Nothing taken from
 * a token or a request ever becomes a path, and a copy of the store holds no usable
 * credential.
 *
 * Every record is a text file, "pam_jwt-store 1" on its first line, then "key=value"
 * lines (see record_format in store.c and pam_jwt.conf(5)). Writes go to a temporary file
 * in the same directory, are fsync'd and renamed over the record (a crash leaves the old
 * or the new record, never a torn one). Read-modify-write happens under flock(2) on the
 * store's ".lock" file, and state is re-read after the lock is taken. A record that does
 * not parse is treated as absent-and-refused: it never makes anything valid.
 *
 * Lookups are O(1) in the number of records (one open by name). Listing and garbage
 * collection scan the directory; they run in pam-jwtctl (and the helper daemon), never on the login
 * path.
 */
#ifndef PAM_JWT_STORE_H
#define PAM_JWT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "verdict.h"

#define STORE_SESSION_PREFIX "pjs_"
#define STORE_REFRESH_PREFIX "pjr_"
#define STORE_ID_RAW_BYTES 32
/* "pjs_" + 43 base64url characters */
#define STORE_SESSION_ID_LEN (4 + 43)
#define STORE_DIGEST_HEX_LEN 64
#define STORE_FIELD_MAX 256

struct store;
struct store_session;

/* Called per session by scans and revocations; return 0 to go on. */
typedef int (*store_session_fn)(const struct store_session *sess, void *ctx);

struct store_options {
	bool allow_non_tmpfs;       /* default false: the directory must be on tmpfs */
	size_t max_sessions_per_user; /* 0: no limit but the index size (1024 sessions) */
	size_t max_sessions_total;    /* 0: unlimited */
};

struct store_session {
	char digest[STORE_DIGEST_HEX_LEN + 1]; /* hex SHA-256 of the session ID */
	char user[STORE_FIELD_MAX];
	uid_t uid;
	char service[STORE_FIELD_MAX];
	char tty[STORE_FIELD_MAX];
	char rhost[STORE_FIELD_MAX];
	pid_t leader_pid;
	int64_t created;
	int64_t expires;            /* absolute expiry (seconds since the epoch) */
	int64_t idle_timeout;       /* seconds; 0: none */
	int64_t last_seen;
	int64_t leader_start;       /* the leader's start time (clock ticks after boot, from
				     * /proc/PID/stat); 0: unknown. Guards against pid reuse. */
	char parent[STORE_DIGEST_HEX_LEN + 1];     /* the session whose ID authenticated this
						    * login; "": none */
	char origin_jti[STORE_DIGEST_HEX_LEN + 1]; /* hex SHA-256 of the jti of the JWT that
						    * authenticated this login (or its parent's);
						    * "": none */
	bool tokens;                /* pam-jwtd keeps access tokens for it (keyring) */
};

/* A refresh token's record: "r-<hex sha256(token)>". Its family is its session: a used
 * token presented again revokes the session, and with it every token of the family. */
struct store_refresh {
	char digest[STORE_DIGEST_HEX_LEN + 1];  /* of the refresh token */
	char session[STORE_DIGEST_HEX_LEN + 1]; /* the session it belongs to */
	char user[STORE_FIELD_MAX];
	uid_t uid;
	int64_t created;
	int64_t expires;
	bool used;
	char next[STORE_DIGEST_HEX_LEN + 1];    /* its successor once used; "" before */
};

/* Open (and check) a store directory: a real directory (not a symlink), owned by root or
 * the effective user, no group/other access, on tmpfs unless allowed otherwise. Returns
 * 0, or -1 with v set (VERDICT_UNAVAILABLE). */
int store_open(const char *dir, const struct store_options *opts, struct store **out,
	       struct verdict *v);
void store_close(struct store *st);

/* A new random session ID ("pjs_" + base64url of 256 random bits) into id_out. */
int store_session_id_new(char id_out[STORE_SESSION_ID_LEN + 1]);
/* True if the string has the exact shape of a session ID (prefix, length, charset). */
bool store_session_id_looks_like(const char *s, size_t len);
/* Hex SHA-256 of arbitrary bytes (what names a record). */
void store_digest_hex(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1]);

/* Record a new session for the ID (its digest is filled in by the store). Refuses with a
 * reason when a capacity limit would be exceeded; never evicts. */
int store_session_put(struct store *st, const char *session_id,
		      const struct store_session *sess, struct verdict *v);
/* Look a session up by ID (VERDICT_REJECT "unknown session" when absent or unreadable). */
int store_session_get(struct store *st, const char *session_id, struct store_session *out,
		      struct verdict *v);
/* The same by hex digest (for admins: pam-jwtctl). */
int store_session_get_digest(struct store *st, const char *digest, struct store_session *out,
			     struct verdict *v);
/* Check that a session can authenticate `user` on `service` (NULL: any) at `now`: live,
 * not expired, not idle past its limit, bound to the user (and service when bind_service);
 * on success last_seen is set to now (under the lock). */
int store_session_use(struct store *st, const char *session_id, const char *user,
		      const char *service, bool bind_service, int64_t now,
		      struct store_session *out, struct verdict *v);
/* The rules a session record must meet to stand for `user` on `service` (NULL: any;
 * checked only with bind_service) at `now`: not expired, not idle past its limit, bound to
 * the user, the JWT that opened it (origin_jti) not revoked, and every session it descends
 * from (parent) still there. Read-only. */
int store_session_check(struct store *st, const struct store_session *sess, const char *user,
			const char *service, bool bind_service, int64_t now, struct verdict *v);
/* Remove a session by digest (idempotent: absent is success). */
int store_session_delete(struct store *st, const char *digest, struct verdict *v);
/* Find sessions whose digest starts with prefix (at least 8 hex chars); exactly one match
 * fills digest_out, otherwise a reason ("no session", "prefix is ambiguous"). */
int store_session_resolve_prefix(struct store *st, const char *prefix,
				 char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v);

/* Revoke a session and every session opened with it (its descendants, found through the
 * user's index): each record is removed and, when fn is not NULL, fn is called with the
 * removed record (after the lock is released) so a caller can end the live login.
 * *count (may be NULL) gets how many sessions went. Absent: success, count 0. */
int store_session_revoke(struct store *st, const char *digest, store_session_fn fn,
			 void *ctx, size_t *count, struct verdict *v);
/* Revoke every session that a JWT with this jti opened, or that descends from one (scan).
 * fn as for store_session_revoke. */
int store_revoke_jti_sessions(struct store *st, const char *jti, store_session_fn fn,
			      void *ctx, size_t *count, struct verdict *v);

/* Call fn for each session record (user NULL: all users). Scans; for tools, not logins.
 * Records that fail to parse are skipped and counted in *unreadable (may be NULL). */
int store_session_scan(struct store *st, const char *user, store_session_fn fn, void *ctx,
		       size_t *unreadable, struct verdict *v);
/* Delete every session of a user; *count gets how many; fn as for store_session_revoke. */
int store_revoke_user(struct store *st, const char *user, store_session_fn fn, void *ctx,
		      size_t *count, struct verdict *v);
/* Mark a session as having (or no longer having) tokens kept by pam-jwtd. */
int store_session_set_tokens(struct store *st, const char *digest, bool tokens,
			     struct verdict *v);

/* Refresh tokens. A new token is "pjr_" + 43 base64url characters (256 random bits). */
int store_refresh_id_new(char id_out[STORE_SESSION_ID_LEN + 1]);
bool store_refresh_id_looks_like(const char *s, size_t len);
/* Record a refresh token for a live session (rec->session); rec->digest is filled in.
 * rec->expires is capped at the session's expiry. */
int store_refresh_put(struct store *st, const char *token, struct store_refresh *rec,
		      int64_t now, struct verdict *v);
/* Read a refresh token's record (read-only: e.g. to check whose it is). */
int store_refresh_get(struct store *st, const char *token, struct store_refresh *out,
		      struct verdict *v);
/* Rotate: under the lock, old_token must be known, unused, unexpired, and its session
 * live at `now`; then new_token is recorded for the same session (expiring at
 * min(new_expires, the session's expiry)) and old_token is marked used. A used token
 * presented again is reuse: its session and the session's descendants are revoked,
 * *reuse is set, and the verdict is VERDICT_REJECT "refresh token reuse: session revoked".
 * sess_out (may be NULL) gets the session record (also on reuse, as it was before it went:
 * the caller ends that login); rec_out (may be NULL) the new token's record; fn (may be
 * NULL) is called, outside the lock, for each session a reuse revoked. */
int store_refresh_rotate(struct store *st, const char *old_token, const char *new_token,
			 int64_t new_expires, int64_t now, struct store_refresh *rec_out,
			 struct store_session *sess_out, bool *reuse, store_session_fn fn,
			 void *ctx, struct verdict *v);
/* Codec, for tests and the fuzzer. */
int store_refresh_parse(const char *text, size_t len, struct store_refresh *out);
char *store_refresh_format(const struct store_refresh *rec);

/* Revoked JWT ids: kept until `exp` (then garbage). */
int store_jti_revoke(struct store *st, const char *jti, int64_t exp, struct verdict *v);
/* VERDICT_OK when not revoked; VERDICT_REJECT "token id is revoked"; unreadable record:
 * VERDICT_UNAVAILABLE (never treated as "not revoked"). */
int store_jti_check(struct store *st, const char *jti, int64_t now, struct verdict *v);
/* Single use: the first call for (service, jti) records it until exp and succeeds; any
 * later call is VERDICT_REJECT "token was already used". Atomic across processes. */
int store_jti_use_once(struct store *st, const char *service, const char *jti, int64_t exp,
		       int64_t now, struct verdict *v);

/* User locks: until a time (0: until unlocked). */
int store_user_lock(struct store *st, const char *user, int64_t until, struct verdict *v);
int store_user_unlock(struct store *st, const char *user, struct verdict *v);
/* VERDICT_OK when not locked at `now`, VERDICT_REJECT "user is locked" otherwise. */
int store_user_check(struct store *st, const char *user, int64_t now, struct verdict *v);

/* Drop expired sessions (absolute or idle), revoked/used JWT ids past their exp, expired
 * locks and refresh tokens that expired or whose session is gone. *removed gets how many
 * records went. */
int store_gc(struct store *st, int64_t now, size_t *removed, struct verdict *v);

/* Copy the revocations and locks of `from` that are still in force at `now` into `to`
 * (e.g. from a persistent directory into the tmpfs store after a reboot). *copied gets
 * how many records were written. Records that do not parse are skipped and counted in
 * *unreadable. */
int store_import_revocations(struct store *to, struct store *from, int64_t now,
			     size_t *copied, size_t *unreadable, struct verdict *v);

/* Record codec, exposed for tests and the fuzzer: parse a session record's text. */
int store_session_parse(const char *text, size_t len, struct store_session *out);
/* Serialise a session record; returns a malloc'd NUL-terminated string. */
char *store_session_format(const struct store_session *sess);

#endif
