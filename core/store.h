/*
 * The session store: sessions, refresh token families, revoked JWT ids, used single-use
 * JWT ids and user locks, with the rules that govern them (store.c), kept by a backend
 * (store_backend.h: a root-owned directory on tmpfs by default, store_fs.c).
 *
 * Records are named by kind and the SHA-256 of what they are about, never by the
 * credential itself: a session by the digest of its ID, a refresh family by the digest
 * of its tokens' family part, a revoked jti by the digest of the jti, a used single-use
 * jti by the digest of "service NUL jti", a lock by the digest of the user name. Nothing
 * taken from a token or a request ever becomes a path or a key, and a copy of the store
 * holds no usable credential.
 *
 * Every read-modify-write runs as one transaction of the backend, and state is re-read
 * inside it. A record that does not parse is treated as absent-and-refused: it never
 * makes anything valid. Lookups are O(1) in the number of records; listing and garbage
 * collection scan, and run in pam-jwtctl and pam-jwtd, never on the login path.
 */
#ifndef PAM_JWT_STORE_H
#define PAM_JWT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "credid.h"
#include "verdict.h"

#define STORE_FIELD_MAX 256
/* refresh token families one session keeps at most */
#define STORE_SESSION_FAMILIES 3

struct store;
struct store_session;

/* Called per session by scans and revocations; return 0 to go on. */
typedef int (*store_session_fn)(const struct store_session *sess, void *ctx);

/* A session's boot id: 32 hex digits (LEADER_BOOT_LEN). */
#define STORE_BOOT_LEN 32

struct store_options {
	bool allow_non_tmpfs;       /* default false: the directory must be on tmpfs */
	size_t max_sessions_per_user; /* per owner; 0: no limit but the index size (1024) */
	size_t max_sessions_total;    /* 0: unlimited */
	size_t max_refreshes_per_minute; /* rotations of one family; 0: unlimited */
	/* when the location is a Redis URL (see store_open) */
	const char *redis_prefix;        /* key namespace; NULL: "pam_jwt" */
	const char *redis_password_file; /* NULL: no AUTH */
	const char *redis_ca_file;       /* rediss://: NULL is the system CA store */
	const char *redis_cert_file;     /* rediss://: client certificate and key, or NULL */
	const char *redis_key_file;
	int redis_timeout_ms;            /* connect and each command; 0: 1000 */
	/* a directory that holds only a mirror of a shared store's revocations and locks
	 * (store_mirror_sync): every transaction but the sync's is refused */
	bool mirror;
	/* bind_host: a session stands only on the host whose name it recorded */
	bool bind_host;
	const char *redis_sentinel;      /* HOST:PORT,...: find the primary through these */
	const char *redis_master;        /* ... under this name (both or neither) */
	int redis_replicas;              /* each write waits for this many replicas; 0: none */
	bool redis_eval_only;            /* for the benchmark: scripts by text (EVAL), not SHA-1 */
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
	char boot[STORE_BOOT_LEN + 1]; /* the boot (host) the leader runs under
					* (leader_boot_id); "": this host */
	char host[STORE_FIELD_MAX];  /* the name of the host that opened it (gethostname),
				      * printable ASCII; "": a record from before it was kept */
	char parent[STORE_DIGEST_HEX_LEN + 1];     /* the session whose ID authenticated this
						    * login; "": none */
	char origin_jti[STORE_DIGEST_HEX_LEN + 1]; /* hex SHA-256 of the jti of the JWT that
						    * authenticated this login (or its parent's);
						    * "": none */
	bool tokens;                /* pam-jwtd keeps access tokens for it (keyring) */
	char owner[STORE_FIELD_MAX]; /* whom the session counts against (limits, index): the
				      * user, or for sudo and su the user who invoked it;
				      * "" at put: the user */
	char family[STORE_SESSION_FAMILIES][STORE_DIGEST_HEX_LEN + 1];
				     /* its refresh token families, oldest first; "" after the
				      * last */
};

/* A refresh token family: "r-<hex sha256(family part)>", at most STORE_SESSION_FAMILIES
 * per session (each "open" for a session starts one; the oldest goes first). Only
 * the digest of the family's current token is kept: a token of the family that is not the
 * current one was spent (or forged by someone who held one of its tokens), and presenting
 * it is reuse, which revokes the session. So a session's refresh state is one record
 * however often it rotates. */
struct store_refresh {
	char digest[STORE_DIGEST_HEX_LEN + 1];  /* of the family part */
	char session[STORE_DIGEST_HEX_LEN + 1]; /* the session it belongs to */
	char user[STORE_FIELD_MAX];
	uid_t uid;
	int64_t created;
	int64_t expires;
	char current[STORE_DIGEST_HEX_LEN + 1]; /* hex SHA-256 of the current token */
	int64_t rotations;                      /* how often it rotated */
	int64_t window_start;                   /* the rate limit's minute */
	int64_t window_count;                   /* rotations in it */
};

/* Open a store. A location that is a Redis URL (redis://, rediss://, redis+unix://)
 * connects to that server with the redis_* options. Anything else is a directory, opened
 * and checked: a real directory (not a symlink), owned by root or the effective user, no
 * group/other access, on tmpfs unless allowed otherwise. Returns 0, or -1 with v set
 * (VERDICT_UNAVAILABLE; VERDICT_BAD_CONFIG for a malformed URL or prefix). */
int store_open(const char *dir, const struct store_options *opts, struct store **out,
	       struct verdict *v);
void store_close(struct store *st);

/* On a shared store: was this session revoked (announced within the last day)? 1 yes,
 * 0 no (or a store that keeps no such mark), -1 cannot tell. */
int store_session_was_revoked(struct store *st, const char *digest);

/* Is this store location a Redis URL (rather than a directory)? */
bool store_location_is_redis(const char *location);

/* Sessions revoked on any host of a shared (Redis) store, as they are revoked: a
 * subscription of its own. store_watch_open returns 1 (and *out NULL) for a store that
 * only this host uses. store_watch_read waits up to timeout_ms (0: only what has
 * arrived) and calls fn for each session announced; 0 (also when nothing came), or -1
 * with v set when the subscription broke: close it and open it again. */
struct store_watch;
int store_watch_open(const char *location, const struct store_options *opts,
		     struct store_watch **out, struct verdict *v);
int store_watch_fd(const struct store_watch *w);
int store_watch_read(struct store_watch *w, int timeout_ms, store_session_fn fn, void *ctx,
		     struct verdict *v);
void store_watch_close(struct store_watch *w);

/* Record a new session for the ID (its digest is filled in by the store). In the same
 * transaction: the JWT that opened it (origin_jti) is not revoked and its parent (if any)
 * is a session whose own lineage stands. At the owner's limit, the owner's sessions that
 * no longer count (expired, idle, lineage broken, or whose leader process is gone) are
 * dropped first; then a limit that would be exceeded refuses. Never evicts a live one. */
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
/* Delete every session of a user, and every session the user opened as another user
 * with sudo or su (its owner); *count gets how many; fn as for store_session_revoke. */
int store_revoke_user(struct store *st, const char *user, store_session_fn fn, void *ctx,
		      size_t *count, struct verdict *v);
/* Mark a session as having (or no longer having) tokens kept by pam-jwtd. */
int store_session_set_tokens(struct store *st, const char *digest, bool tokens,
			     struct verdict *v);

/* Refresh tokens ("pjr_" + 43 base64url: credid.h). Record the family of a new token
 * (store_refresh_id_new) for a live session (rec->session); rec->expires is capped at
 * the session's expiry; rec is filled in. A session keeps STORE_SESSION_FAMILIES families
 * at most: at that number its oldest is dropped (its tokens become unknown). */
int store_refresh_put(struct store *st, const char *token, struct store_refresh *rec,
		      int64_t now, struct verdict *v);
/* Read a refresh token's family (read-only: e.g. to check whose it is). Any token of the
 * family finds it, spent or current. */
int store_refresh_get(struct store *st, const char *token, struct store_refresh *out,
		      struct verdict *v);
/* Rotate: in one transaction, old_token must be its family's current token, unexpired,
 * within the family's rate limit, and its session live at `now`; then new_token_out gets
 * the family's next token (expiring at min(new_expires, the session's expiry)), which
 * becomes current. A token of the family that is not current is reuse: the session and
 * its descendants are revoked, *reuse is set, and the verdict is VERDICT_REJECT "refresh
 * token reuse: session revoked". A refusal (expired, rate limited, session ended) leaves
 * the family as it was. sess_out (may be NULL) gets the session record (also on reuse, as
 * it was before it went: the caller ends that login); rec_out (may be NULL) the family;
 * fn (may be NULL) is called, outside the transaction, for each session a reuse revoked. */
int store_refresh_rotate(struct store *st, const char *old_token,
			 char new_token_out[STORE_SESSION_ID_LEN + 1], int64_t new_expires,
			 int64_t now, struct store_refresh *rec_out, struct store_session *sess_out,
			 bool *reuse, store_session_fn fn, void *ctx, struct verdict *v);
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

/* A lock or a revoked token ID as listed. A revoked jti is kept only as the SHA-256 of the
 * jti: the digest is all there is to show of it. */
struct store_listed {
	char digest[STORE_DIGEST_HEX_LEN + 1]; /* the record's name */
	char user[STORE_FIELD_MAX];            /* a lock's user; "" for a revoked jti */
	int64_t until;                         /* a lock: its end, 0 until unlocked; a jti: exp */
};
/* Called per listed record; return 0 to go on, anything else stops the scan (no error). */
typedef int (*store_listed_fn)(const struct store_listed *rec, void *ctx);
/* The locks, or the revoked token IDs, in force at now (expired ones are gc's). 0, with
 * *unreadable (may be NULL) the records skipped because they do not parse; -1 with v set. */
int store_lock_scan(struct store *st, int64_t now, store_listed_fn fn, void *ctx,
		    size_t *unreadable, struct verdict *v);
int store_jti_scan(struct store *st, int64_t now, store_listed_fn fn, void *ctx,
		   size_t *unreadable, struct verdict *v);

/* Drop expired sessions (absolute or idle), revoked/used JWT ids past their exp, expired
 * locks and refresh families that expired or whose session is gone, and sessions whose
 * lineage broke (the JWT that opened them was revoked, or a session they descend from is
 * gone): fn (may be NULL) is called for each of those, outside the transaction, so that
 * the caller ends their logins. *removed gets how many records went. Works on a full file
 * system: deleting needs no space. */
int store_gc(struct store *st, int64_t now, store_session_fn fn, void *ctx, size_t *removed,
	     struct verdict *v);

/* Copy the revocations and locks of `from` that are still in force at `now` into `to`
 * (e.g. from a persistent directory into the tmpfs store after a reboot). *copied gets
 * how many records were written. Records that do not parse are skipped and counted in
 * *unreadable. */
int store_import_revocations(struct store *to, struct store *from, int64_t now,
			     size_t *copied, size_t *unreadable, struct verdict *v);

/* A mirror of a shared store's revoked jtis and locks, kept by pam-jwtd in a local
 * directory (opened with opts.mirror) so that logins can still see them while the shared
 * store cannot be reached (store_unavailable = last_known). store_mirror_sync makes the
 * mirror match `from` as of `now` (pass a time taken before the call): it reads the
 * store's change mark first and copies the records only when the mark differs from the
 * last copy's, or the last full copy is STORE_MIRROR_FULL_COPY seconds old; either way the
 * stamp then says the mirror was current at `now`. *written gets how many records it
 * copied or dropped. A failure leaves the stamp as it was, so the mirror ages.
 * store_mirror_synced reads when the mirror was last known current (-1 with v set: never,
 * or unreadable). store_is_mirror tells such a store from the store itself. */
#define STORE_MIRROR_FULL_COPY 600
int store_mirror_sync(struct store *mirror, struct store *from, int64_t now, size_t *written,
		      struct verdict *v);
int store_mirror_synced(struct store *mirror, int64_t *synced, struct verdict *v);
bool store_is_mirror(const struct store *st);

/* Record codec, exposed for tests and the fuzzer: parse a session record's text. */
int store_session_parse(const char *text, size_t len, struct store_session *out);
/* Serialise a session record; returns a malloc'd NUL-terminated string. */
char *store_session_format(const struct store_session *sess);

#endif
