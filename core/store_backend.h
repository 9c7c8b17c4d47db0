/*
 * The interface between the store's policy (store.c) and where records live: a small
 * table of operations that a directory on tmpfs (store_fs.c) implements, and that a
 * key-value server with atomic scripts, keys with expiry and sets (Redis) can implement
 * too. The policy never sees a file, a key or a lock; a backend never decides whether a
 * session is valid.
 *
 * A record is addressed by a kind (one letter, STORE_KIND_*) and the hex SHA-256 digest
 * of what it is about; its content is the text of store_record.h, opaque to the backend.
 * Session records also live in the per-user index of their owner (the user they count
 * against), which the backend keeps in step with the records, together with the count
 * of sessions, even across a crash between writes.
 *
 * Reads (get, scan, index, count) may run at any time and see each record either as it
 * was or as it is, never torn. Everything that reads, decides and writes runs inside
 * txn: no other transaction of any process interleaves with it. A backend must make sure
 * that no process an unprivileged user can stop holds what other transactions wait for.
 * Deleting never needs free space.
 */
#ifndef PAM_JWT_STORE_BACKEND_H
#define PAM_JWT_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis.h"
#include "store_record.h"
#include "verdict.h"

enum store_kind {
	STORE_KIND_SESSION = 's',
	STORE_KIND_REFRESH = 'r', /* a refresh token family */
	STORE_KIND_JTI = 'j',     /* a revoked JWT id */
	STORE_KIND_USED = 'u',    /* a used single-use JWT id */
	STORE_KIND_LOCK = 'l',    /* a user lock */
	STORE_KIND_MIRROR = 'm',  /* when a mirror of revocations and locks was taken */
};

enum store_rec {
	STORE_REC_UNREADABLE = -1, /* not a record, too large, I/O error */
	STORE_REC_PRESENT = 0,
	STORE_REC_ABSENT = 1,
};

struct store_backend;

/* A transaction body: 0 to commit what it wrote, anything else with v set. */
typedef int (*store_txn_fn)(void *ctx, struct verdict *v);

struct store_backend_ops {
	/* Read a record of at most max bytes: STORE_REC_PRESENT with *text (malloc'd,
	 * NUL-terminated) and *len, STORE_REC_ABSENT or STORE_REC_UNREADABLE. */
	int (*get)(struct store_backend *be, char kind, const char *digest, size_t max,
		   char **text, size_t *len);
	/* Create or replace a record, forgettable after `expires` (0: kept until deleted).
	 * A session record goes into the index of `owner` (NULL for other kinds). 0, or -1. */
	int (*put)(struct store_backend *be, char kind, const char *digest, const char *text,
		   size_t len, int64_t expires, const char *owner);
	/* Delete a record (and a session's index entry under `owner`, NULL: unknown). Absent
	 * is success. 0, or -1. Needs no free space. */
	int (*del)(struct store_backend *be, char kind, const char *digest, const char *owner);
	/* The digests of every record of a kind. */
	int (*scan)(struct store_backend *be, char kind, struct digest_list *out);
	/* The digests of the sessions in owner's index. */
	int (*index)(struct store_backend *be, const char *owner, struct digest_list *out);
	/* How many session records there are; with `exact`, counted from the records
	 * themselves (slower: for a decision at a limit). */
	int (*count)(struct store_backend *be, bool exact, size_t *n);
	/* Run fn(ctx, v) as one transaction. ctx is ctx_size bytes, flat (no pointer to
	 * memory fn allocates): a backend may run fn in another process and copy ctx back.
	 * Returns fn's result, or -1 with v set when the transaction could not run. */
	int (*txn)(struct store_backend *be, store_txn_fn fn, void *ctx, size_t ctx_size,
		   struct verdict *v);
	/* Drop what is left of interrupted writers (temporary files); 0, or -1. Inside a
	 * transaction. */
	int (*tidy)(struct store_backend *be);
	/* Optional (NULL: one host): tell the other hosts that a session was revoked, with
	 * its record's text, so that the host where its login runs ends it. Best effort. */
	void (*ended)(struct store_backend *be, const char *digest, const char *text);
	/* Optional: was this session announced as revoked (within the last day)? 1, 0, -1.
	 * A session that is merely gone (a store that lost its data) is not. */
	int (*was_ended)(struct store_backend *be, const char *digest);
	/* Optional: a mark that every write of a revoked jti or a lock replaces with a new
	 * random one, so that a copy of those needs renewing only when it differs; "" when
	 * none was written yet. 0, or -1. */
#define STORE_CHANGES_MAX 64
	int (*changes)(struct store_backend *be, char out[STORE_CHANGES_MAX + 1]);
	void (*close)(struct store_backend *be);
};

struct store_backend {
	const struct store_backend_ops *ops;
};

/* The tmpfs backend: open (and check) a directory; see store_fs.c. */
struct store_fs_options {
	int allow_non_tmpfs;
};
int store_fs_open(const char *dir, const struct store_fs_options *opts,
		  struct store_backend **out, struct verdict *v);

/* The Redis backend: connect to the server of a store URL (redis://, rediss://,
 * redis+unix://); see store_redis.c. */
#define STORE_REDIS_DEFAULT_PREFIX "pam_jwt"
#define STORE_REDIS_TIMEOUT_MS 1000
struct store_redis_options {
	const char *url;
	const char *prefix;           /* the key namespace; NULL: STORE_REDIS_DEFAULT_PREFIX */
	int replicas;                 /* each write waits for this many replicas; 0: none */
	bool eval_only;               /* scripts by their text every time, never by SHA-1 */
	struct redis_options conn;
};
int store_redis_open(const struct store_redis_options *opts, struct store_backend **out,
		     struct verdict *v);

/* Watching a Redis store for sessions revoked on any host (see store.h). */
struct store_watch;
int store_redis_watch_open(const struct store_redis_options *opts, struct store_watch **out,
			   struct verdict *v);
int store_redis_watch_fd(const struct store_watch *w);
int store_redis_watch_read(struct store_watch *w, int timeout_ms, char **digest_and_text,
			   struct verdict *v);
void store_redis_watch_close(struct store_watch *w);


#endif
