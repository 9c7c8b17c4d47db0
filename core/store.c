/*
 * The session store's policy (see store.h): expiry, idle time, lineage, limits, refresh
 * rotation and reuse, revoked and single-use JWT ids, locks, garbage collection and
 * import, written against the backend interface of store_backend.h. Nothing here knows
 * how or where records are kept.
 *
 * Every operation that reads, decides and writes is one backend transaction: a context
 * struct (flat: the backend may run the body in another process and copy the struct
 * back) and a body function "*_txn" that re-reads what it decides on.
 *
 * Callers pass `exp` values that already include their verifier's leeway: a revoked or
 * used JWT id is forgotten once `exp` is in the past.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "leader.h"
#include "store_backend.h"

/* How many ancestors a session may have (sessions opened with a session ID). */
#define STORE_LINEAGE_MAX 8
/* How many sessions one revocation transaction removes (deepest first); a larger tree
 * takes several, each short. */
#define STORE_REVOKE_BATCH 32
/* The refresh rate limit's window (seconds). */
#define STORE_REFRESH_WINDOW 60

struct store {
	struct store_backend *be;
	struct store_options opts;
	bool syncing; /* a mirror, while store_mirror_sync writes it */
};

static void redis_options_of(const char *url, const struct store_options *opts,
			     struct store_redis_options *out)
{
	memset(out, 0, sizeof(*out));
	out->url = url;
	out->prefix = opts->redis_prefix;
	out->eval_only = opts->redis_eval_only;
	out->conn.password_file = opts->redis_password_file;
	out->conn.ca_file = opts->redis_ca_file;
	out->conn.cert_file = opts->redis_cert_file;
	out->conn.key_file = opts->redis_key_file;
	out->conn.timeout_ms = opts->redis_timeout_ms > 0 ? opts->redis_timeout_ms :
							    STORE_REDIS_TIMEOUT_MS;
	out->conn.sentinels = opts->redis_sentinel;
	out->conn.master = opts->redis_master;
	out->replicas = opts->redis_replicas;
}

int store_open(const char *dir, const struct store_options *opts, struct store **out,
	       struct verdict *v)
{
	static const struct store_options defaults = { 0 };
	struct store_fs_options fs_opts;
	struct store_redis_options redis_opts;
	struct store_backend *be = NULL;
	struct store *st = NULL;
	int rc = -1;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || dir == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot open store directory");
		goto out;
	}
	if (opts == NULL)
		opts = &defaults;
	if (store_location_is_redis(dir)) {
		redis_options_of(dir, opts, &redis_opts);
		if (store_redis_open(&redis_opts, &be, v) != 0)
			goto out;
	} else {
		memset(&fs_opts, 0, sizeof(fs_opts));
		fs_opts.allow_non_tmpfs = opts->allow_non_tmpfs;
		if (store_fs_open(dir, &fs_opts, &be, v) != 0)
			goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	st->be = be;
	st->opts = *opts;
	be = NULL;
	*out = st;
	rc = 0;
	verdict_ok(v);
out:
	if (be != NULL)
		be->ops->close(be);
	return rc;
}

int store_session_was_revoked(struct store *st, const char *digest)
{
	if (st == NULL || st->be->ops->was_ended == NULL)
		return 0;
	return st->be->ops->was_ended(st->be, digest);
}

int store_watch_open(const char *location, const struct store_options *opts,
		     struct store_watch **out, struct verdict *v)
{
	static const struct store_options defaults = { 0 };
	struct store_redis_options redis_opts;

	*out = NULL;
	if (!store_location_is_redis(location))
		return 1;
	redis_options_of(location, opts != NULL ? opts : &defaults, &redis_opts);
	return store_redis_watch_open(&redis_opts, out, v);
}

int store_watch_fd(const struct store_watch *w)
{
	return store_redis_watch_fd(w);
}

int store_watch_read(struct store_watch *w, int timeout_ms, store_session_fn fn, void *ctx,
		     struct verdict *v)
{
	struct store_session sess;
	char *msg = NULL, *nl;
	int rc;

	/* each message: the digest, a newline, the record's text */
	while ((rc = store_redis_watch_read(w, timeout_ms, &msg, v)) > 0) {
		timeout_ms = 0;
		if (rc != 1)
			continue;
		nl = strchr(msg, '\n');
		if (nl != NULL && (size_t)(nl - msg) == STORE_DIGEST_HEX_LEN &&
		    store_session_parse(nl + 1, strlen(nl + 1), &sess) == 0) {
			memcpy(sess.digest, msg, STORE_DIGEST_HEX_LEN);
			sess.digest[STORE_DIGEST_HEX_LEN] = '\0';
			if (store_digest_looks_like(sess.digest))
				(void)fn(&sess, ctx);
		}
		free(msg);
		msg = NULL;
	}
	return rc;
}

void store_watch_close(struct store_watch *w)
{
	store_redis_watch_close(w);
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->be != NULL)
		st->be->ops->close(st->be);
	free(st);
}

/* ---- records ---------------------------------------------------------------------------- */

/* Idle past its limit at `now` (stored times are never negative: no overflow). */
static int session_idle(const struct store_session *sess, int64_t now)
{
	return sess->idle_timeout > 0 && now > sess->last_seen &&
	       now - sess->last_seen > sess->idle_timeout;
}

/* Get a record and parse it into out (cleared unless present): STORE_REC_PRESENT, _ABSENT,
 * _UNREADABLE. */
static int typed_load(const struct store *st, char kind, const char *digest,
		      int (*parse)(const char *, size_t, void *), void *out, size_t out_size)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, out_size);
	rc = st->be->ops->get(st->be, kind, digest, STORE_RECORD_MAX, &text, &len);
	if (rc == STORE_REC_PRESENT && parse(text, len, out) != 0)
		rc = STORE_REC_UNREADABLE;
	if (rc != STORE_REC_PRESENT)
		memset(out, 0, out_size);
	free(text);
	return rc;
}

static int parse_session(const char *text, size_t len, void *out)
{
	return store_session_parse(text, len, out);
}

static int parse_refresh(const char *text, size_t len, void *out)
{
	return store_refresh_parse(text, len, out);
}

/* Load a session into out (digest filled in): STORE_REC_PRESENT, _ABSENT, _UNREADABLE. */
static int session_load(const struct store *st, const char *digest, struct store_session *out)
{
	int rc = typed_load(st, STORE_KIND_SESSION, digest, parse_session, out, sizeof(*out));

	if (rc == STORE_REC_PRESENT)
		memcpy(out->digest, digest, STORE_DIGEST_HEX_LEN + 1);
	return rc;
}

static int session_write(const struct store *st, const struct store_session *sess)
{
	char *text = store_session_format(sess);
	int rc = -1;

	if (text == NULL)
		goto out;
	rc = st->be->ops->put(st->be, STORE_KIND_SESSION, sess->digest, text, strlen(text),
			      sess->expires, sess->owner);
out:
	free(text);
	return rc;
}

static int session_exists(const struct store *st, const char *digest)
{
	struct store_session sess;

	return session_load(st, digest, &sess) != STORE_REC_ABSENT;
}

/* Load a small record of the given schema. */
static int small_load(const struct store *st, char kind, const char *digest,
		      const struct rec_schema *schema, struct rec_vals *vals)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(vals, 0, sizeof(*vals));
	rc = st->be->ops->get(st->be, kind, digest, STORE_RECORD_MAX, &text, &len);
	if (rc == STORE_REC_PRESENT && record_parse(text, len, schema, vals) != 0)
		rc = STORE_REC_UNREADABLE;
	free(text);
	return rc;
}

/* Write a small record's text (NULL: formatting failed). */
static int small_put(const struct store *st, char kind, const char *digest, char *text,
		     int64_t expires)
{
	int rc = text != NULL ? st->be->ops->put(st->be, kind, digest, text, strlen(text),
						 expires, NULL) : -1;

	free(text);
	return rc;
}

static int refresh_load(const struct store *st, const char *digest, struct store_refresh *out)
{
	int rc = typed_load(st, STORE_KIND_REFRESH, digest, parse_refresh, out, sizeof(*out));

	if (rc == STORE_REC_PRESENT)
		memcpy(out->digest, digest, STORE_DIGEST_HEX_LEN + 1);
	return rc;
}

/* A session's family list is well formed: digests, then only empty entries. */
static bool families_ok(const struct store_session *sess)
{
	size_t i;
	bool end = false;

	for (i = 0; i < STORE_SESSION_FAMILIES; i++) {
		if (sess->family[i][0] == '\0')
			end = true;
		else if (end || !store_digest_looks_like(sess->family[i]))
			return false;
	}
	return true;
}

/* Delete the refresh families of a session that went (best effort: a family whose session
 * is gone refreshes nothing, and gc removes it). */
static void families_drop(const struct store *st, const struct store_session *sess)
{
	size_t i;

	for (i = 0; i < STORE_SESSION_FAMILIES && sess->family[i][0] != '\0'; i++)
		(void)st->be->ops->del(st->be, STORE_KIND_REFRESH, sess->family[i], NULL);
}

static int refresh_write(const struct store *st, const struct store_refresh *rec)
{
	return small_put(st, STORE_KIND_REFRESH, rec->digest, store_refresh_format(rec),
			 rec->expires);
}

/* Whether a revoked-jti record named by a jti digest is in force at `now`: 0 no, 1 yes,
 * -1 unreadable. */
static int jti_digest_revoked(const struct store *st, const char *jti_digest, int64_t now)
{
	struct rec_vals vals;
	int status = small_load(st, STORE_KIND_JTI, jti_digest, &schema_jti, &vals);

	if (status == STORE_REC_UNREADABLE)
		return -1;
	return status == STORE_REC_PRESENT && (int64_t)vals.num[0] >= now;
}

/* Run a transaction on the store's backend. */
static int store_txn(struct store *st, store_txn_fn fn, void *ctx, size_t size,
		     struct verdict *v)
{
	if (st->opts.mirror && !st->syncing) {
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "the session store is unreachable: only reads of the mirror");
		return -1;
	}
	return st->be->ops->txn(st->be, fn, ctx, size, v);
}

bool store_is_mirror(const struct store *st)
{
	return st != NULL && st->opts.mirror;
}

/* ---- lineage ---------------------------------------------------------------------------- */

/* A session stands only while what opened it stands: the JWT (origin_jti, inherited by
 * descendants) is not revoked and every ancestor session still exists. */
static int session_lineage_check(const struct store *st, const struct store_session *sess,
				 int64_t now, struct verdict *v)
{
	struct store_session cur;
	char parent[STORE_DIGEST_HEX_LEN + 1];
	int status, depth, revoked, rc = -1;

	revoked = sess->origin_jti[0] != '\0' ? jti_digest_revoked(st, sess->origin_jti, now) : 0;
	if (revoked != 0) {
		verdict_set(v, revoked > 0 ? VERDICT_REJECT : VERDICT_UNAVAILABLE,
			    revoked > 0 ? "the token that opened this session is revoked" :
					  "revocation record is unreadable");
		goto out;
	}
	cur = *sess;
	for (depth = 0; cur.parent[0] != '\0'; depth++) {
		if (depth >= STORE_LINEAGE_MAX) {
			verdict_set(v, VERDICT_REJECT, "session chain is too long");
			goto out;
		}
		memcpy(parent, cur.parent, sizeof(parent));
		status = session_load(st, parent, &cur);
		if (status != STORE_REC_PRESENT) {
			verdict_set(v, VERDICT_REJECT, "the session that opened this one has ended");
			goto out;
		}
		if (cur.origin_jti[0] != '\0' && jti_digest_revoked(st, cur.origin_jti, now) != 0) {
			verdict_set(v, VERDICT_REJECT, "the token that opened this session is revoked");
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

int store_session_check(struct store *st, const struct store_session *sess, const char *user,
			const char *service, bool bind_service, int64_t now, struct verdict *v)
{
	int rc = -1;

	if (st == NULL || sess == NULL || user == NULL || strcmp(sess->user, user) != 0) {
		verdict_set(v, VERDICT_REJECT, "session belongs to another user");
		goto out;
	}
	if (bind_service && service != NULL && strcmp(sess->service, service) != 0) {
		verdict_set(v, VERDICT_REJECT, "session is bound to another service");
		goto out;
	}
	if (st->opts.bind_host && !leader_host_is(sess->host)) {
		verdict_set(v, VERDICT_REJECT, "session is bound to another host");
		goto out;
	}
	if (sess->expires <= now) {
		verdict_setf_seconds(v, VERDICT_REJECT, "session expired", "%lld s ago",
				     (long long)(now - sess->expires));
		goto out;
	}
	if (session_idle(sess, now)) {
		verdict_setf_seconds(v, VERDICT_REJECT, "session is idle past its limit",
				     "idle %lld s", (long long)(now - sess->last_seen));
		goto out;
	}
	if (session_lineage_check(st, sess, now, v) != 0)
		goto out;
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

/* Whether the process that opened a session is known to be gone: its pid is free, or
 * another process (a different start time) has it. Unknown (pid or start 0) is not gone. */
static int session_leader_gone(const struct store *st, const struct store_session *sess)
{
	int64_t start = 0;

	/* another host's (or another boot's) process: not ours to judge */
	if (sess->leader_pid <= 0 || sess->leader_start <= 0 || !leader_is_here(sess->boot) ||
	    (sess->boot[0] == '\0' && st->be->ops->ended != NULL)) /* shared: "" is no host */
		return 0;
	if (leader_start_time(sess->leader_pid, &start) != 0)
		return errno == ESRCH || errno == ENOENT;
	return start != sess->leader_start;
}

/* ---- sessions: recording ------------------------------------------------------------------ */

/* Does a session still count against its owner's limit at `now`? */
static int session_counts(const struct store *st, const char *digest, int64_t now)
{
	struct store_session sess;
	struct verdict lineage;

	if (session_load(st, digest, &sess) != STORE_REC_PRESENT)
		return 0;
	return sess.expires > now && !session_idle(&sess, now) && !session_leader_gone(st, &sess) &&
	       session_lineage_check(st, &sess, now, &lineage) == 0;
}

/* At an owner's limit: drop the owner's sessions that no longer count, then reload the
 * index into dl. Inside a transaction. */
static int owner_drop_stale(const struct store *st, const char *owner, struct digest_list *dl,
			    int64_t now)
{
	struct digest_list stale = { 0 };
	struct store_session sess;
	size_t i;
	int rc = -1;

	for (i = 0; i < dl->n; i++) {
		if (!session_counts(st, dl->d[i], now) &&
		    dl_add(&stale, dl->d[i], STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	}
	for (i = 0; i < stale.n; i++) {
		if (session_load(st, stale.d[i], &sess) == STORE_REC_PRESENT &&
		    st->be->ops->del(st->be, STORE_KIND_SESSION, stale.d[i], owner) != 0)
			goto out;
		families_drop(st, &sess);
	}
	dl_free(dl);
	rc = st->be->ops->index(st->be, owner, dl);
out:
	dl_free(&stale);
	return rc;
}

struct put_ctx {
	struct store *st;
	const struct store_session *sess; /* digest and owner set */
};

static int put_txn(void *arg, struct verdict *v)
{
	struct put_ctx *c = arg;
	const struct store *st = c->st;
	const struct store_session *sess = c->sess;
	struct digest_list dl = { 0 };
	size_t per_user_max, total = 0;
	int rc = -1;

	if (session_exists(st, sess->digest)) {
		verdict_set(v, VERDICT_REJECT, "session already exists");
		goto out;
	}
	/* what opened it still stands, checked where no revocation can slip in between */
	if (session_lineage_check(st, sess, sess->created, v) != 0)
		goto out;
	if (st->be->ops->index(st->be, sess->owner, &dl) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	per_user_max = st->opts.max_sessions_per_user;
	if (per_user_max == 0 || per_user_max > STORE_INDEX_MAX_ENTRIES)
		per_user_max = STORE_INDEX_MAX_ENTRIES;
	if (dl.n >= per_user_max && owner_drop_stale(st, sess->owner, &dl, sess->created) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (dl.n >= per_user_max) {
		/* a sudo or su session is refused for its invoking user's count, not the
		 * target's: the log line names the target, so the reason must say whose */
		verdict_set(v, VERDICT_REJECT,
			    strcmp(sess->owner, sess->user) == 0 ?
				    "too many sessions for this user" :
				    "too many sessions for the invoking user");
		goto out;
	}
	if (st->be->ops->count(st->be, false, &total) != 0 ||
	    (st->opts.max_sessions_total != 0 && total >= st->opts.max_sessions_total &&
	     st->be->ops->count(st->be, true, &total) != 0)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	if (st->opts.max_sessions_total != 0 && total >= st->opts.max_sessions_total) {
		verdict_set(v, VERDICT_REJECT, "the session store is full");
		goto out;
	}
	if (session_write(st, sess) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	dl_free(&dl);
	return rc;
}

static int session_digest(const char *session_id, char digest[STORE_DIGEST_HEX_LEN + 1])
{
	digest[0] = '\0';
	if (session_id == NULL ||
	    !store_session_id_looks_like(session_id, strnlen(session_id, STORE_SESSION_ID_LEN + 1)))
		return -1;
	return store_digest(session_id, STORE_SESSION_ID_LEN, digest);
}

int store_session_put(struct store *st, const char *session_id,
		      const struct store_session *sess, struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session rec;
	struct put_ctx c;
	int rc = -1;

	if (st == NULL || sess == NULL || session_digest(session_id, digest) != 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session ID is malformed");
		goto out;
	}
	if (sess->user[0] == '\0' || sess->expires <= 0 || sess->created < 0 ||
	    sess->idle_timeout < 0 || sess->last_seen < 0 || sess->leader_pid < 0 ||
	    sess->uid == (uid_t)-1) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session fields are invalid");
		goto out;
	}
	/* refused, never altered: a record must parse back to what was asked for */
	if (!store_field_ok(sess->user, true) || !store_field_ok(sess->service, false) ||
	    !store_field_ok(sess->tty, false) || !store_field_ok(sess->rhost, false) ||
	    !store_field_ok(sess->owner, false) || !store_digest_or_empty(sess->parent) ||
	    !store_digest_or_empty(sess->origin_jti) || !families_ok(sess)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
		goto out;
	}
	rec = *sess;
	memcpy(rec.digest, digest, sizeof(digest));
	if (rec.owner[0] == '\0')
		memcpy(rec.owner, rec.user, sizeof(rec.owner));
	c.st = st;
	c.sess = &rec;
	rc = store_txn(st, put_txn, &c, sizeof(c), v);
out:
	return rc;
}

/* ---- sessions: lookups and use -------------------------------------------------------------- */

static int session_get_by_digest(struct store *st, const char *digest,
				 struct store_session *out, struct verdict *v)
{
	int status = session_load(st, digest, out), rc = -1;

	if (status == STORE_REC_ABSENT) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
	} else if (status == STORE_REC_UNREADABLE) {
		verdict_set(v, VERDICT_REJECT, "session record is unreadable");
	} else {
		verdict_ok(v);
		rc = 0;
	}
	return rc;
}

int store_session_get(struct store *st, const char *session_id, struct store_session *out,
		      struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || session_digest(session_id, digest) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
		goto out;
	}
	rc = session_get_by_digest(st, digest, out, v);
out:
	return rc;
}

int store_session_get_digest(struct store *st, const char *digest, struct store_session *out,
			     struct verdict *v)
{
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || !store_digest_looks_like(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	rc = session_get_by_digest(st, digest, out, v);
out:
	return rc;
}

struct use_ctx {
	struct store *st;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	const char *user;
	const char *service;
	bool bind_service;
	int64_t now;
	struct store_session sess; /* out */
};

static int use_txn(void *arg, struct verdict *v)
{
	struct use_ctx *c = arg;
	int rc = -1;

	if (session_get_by_digest(c->st, c->digest, &c->sess, v) != 0 ||
	    store_session_check(c->st, &c->sess, c->user, c->service, c->bind_service, c->now,
				v) != 0)
		goto out;
	c->sess.last_seen = c->now;
	if (session_write(c->st, &c->sess) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_session_use(struct store *st, const char *session_id, const char *user,
		      const char *service, bool bind_service, int64_t now,
		      struct store_session *out, struct verdict *v)
{
	struct use_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || user == NULL || session_digest(session_id, c.digest) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
		goto out;
	}
	/* an ID the store never issued, or someone else's, is refused without a transaction */
	if (session_get_by_digest(st, c.digest, &c.sess, v) != 0)
		goto out;
	if (strcmp(c.sess.user, user) != 0) {
		verdict_set(v, VERDICT_REJECT, "session belongs to another user");
		goto out;
	}
	c.st = st;
	c.user = user;
	c.service = service;
	c.bind_service = bind_service;
	c.now = now;
	rc = store_txn(st, use_txn, &c, sizeof(c), v);
	if (rc == 0 && out != NULL)
		*out = c.sess;
out:
	return rc;
}

/* ---- sessions: revocation ---------------------------------------------------------------- */

/* The digests of `root` and of every session of its owner's index that descends from it,
 * breadth first (so deeper sessions come later). */
static int session_tree(const struct store *st, const struct store_session *root,
			struct digest_list *tree)
{
	char (*parents)[STORE_DIGEST_HEX_LEN + 1] = NULL;
	struct digest_list idx = { 0 };
	struct store_session sess;
	unsigned char *taken = NULL;
	size_t i, j;
	int rc = -1;

	if (dl_add(tree, root->digest, STORE_DIGEST_HEX_LEN) != 0 ||
	    st->be->ops->index(st->be, root->owner, &idx) != 0)
		goto out;
	if (idx.n == 0) {
		rc = 0;
		goto out;
	}
	parents = calloc(idx.n, sizeof(*parents));
	taken = calloc(idx.n, 1);
	if (parents == NULL || taken == NULL)
		goto out;
	for (i = 0; i < idx.n; i++) {
		if (session_load(st, idx.d[i], &sess) == STORE_REC_PRESENT)
			memcpy(parents[i], sess.parent, sizeof(parents[i]));
	}
	for (i = 0; i < tree->n; i++) {
		for (j = 0; j < idx.n; j++) {
			if (!taken[j] && strcmp(parents[j], tree->d[i]) == 0) {
				taken[j] = 1;
				if (dl_add(tree, idx.d[j], STORE_DIGEST_HEX_LEN) != 0)
					goto out;
			}
		}
	}
	rc = 0;
out:
	free(parents);
	free(taken);
	dl_free(&idx);
	return rc;
}

/* Delete one session record (and its refresh family); *sess gets it as it was. 1 if a
 * readable record went, 0 if nothing readable was there, -1 on error. */
static int session_remove(const struct store *st, const char *digest, struct store_session *sess)
{
	int status = session_load(st, digest, sess), rc = -1;

	if (status == STORE_REC_ABSENT) {
		rc = 0;
		goto out;
	}
	if (st->be->ops->del(st->be, STORE_KIND_SESSION, digest,
			     status == STORE_REC_PRESENT ? sess->owner : NULL) != 0)
		goto out;
	if (status == STORE_REC_PRESENT)
		families_drop(st, sess);
	rc = status == STORE_REC_PRESENT;
out:
	return rc;
}

struct revoke_ctx {
	struct store *st;
	char root[STORE_DIGEST_HEX_LEN + 1];
	bool done;                                   /* out: the whole tree is gone */
	size_t n;                                    /* out */
	struct store_session gone[STORE_REVOKE_BATCH]; /* out */
};

/* Remove up to STORE_REVOKE_BATCH sessions of root's tree, deepest first, root last. */
static int revoke_txn(void *arg, struct verdict *v)
{
	struct revoke_ctx *c = arg;
	struct digest_list tree = { 0 };
	struct store_session root;
	size_t i, first;
	int status, removed, rc = -1;

	c->n = 0;
	c->done = false;
	status = session_load(c->st, c->root, &root);
	if (status == STORE_REC_PRESENT) {
		if (session_tree(c->st, &root, &tree) != 0)
			goto fail;
	} else if (dl_add(&tree, c->root, STORE_DIGEST_HEX_LEN) != 0) {
		goto fail;
	}
	first = tree.n > STORE_REVOKE_BATCH ? tree.n - STORE_REVOKE_BATCH : 0;
	for (i = tree.n; i > first; i--) {
		removed = session_remove(c->st, tree.d[i - 1], &c->gone[c->n]);
		if (removed < 0)
			goto fail;
		c->n += (size_t)removed;
	}
	c->done = first == 0;
	verdict_ok(v);
	rc = 0;
	goto out;
fail:
	verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
out:
	dl_free(&tree);
	return rc;
}

/* Tell fn about each removed session, outside the transaction, and a shared store's other
 * hosts too: the login of a revoked session ends where it runs. */
static void sessions_report(const struct store *st, const struct store_session *list, size_t n,
			    store_session_fn fn, void *ctx)
{
	char *text;
	size_t i;

	/* fn NULL: sessions that lose their records but not their logins (expired or idle
	 * ones that gc removes): nothing to tell */
	for (i = 0; fn != NULL && i < n; i++) {
		if (st->be->ops->ended != NULL && (text = store_session_format(&list[i])) != NULL) {
			st->be->ops->ended(st->be, list[i].digest, text);
			free(text);
		}
		(void)fn(&list[i], ctx);
	}
}

int store_session_revoke(struct store *st, const char *digest, store_session_fn fn,
			 void *ctx, size_t *count, struct verdict *v)
{
	struct revoke_ctx *c = NULL;
	size_t n = 0;
	int rc = -1;

	if (count != NULL)
		*count = 0;
	if (st == NULL || !store_digest_looks_like(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	c->st = st;
	memcpy(c->root, digest, sizeof(c->root));
	do {
		if (store_txn(st, revoke_txn, c, sizeof(*c), v) != 0)
			goto out;
		n += c->n;
		sessions_report(st, c->gone, c->n, fn, ctx);
	} while (!c->done);
	verdict_ok(v);
	rc = 0;
out:
	if (count != NULL)
		*count = n;
	free(c);
	return rc;
}

int store_session_delete(struct store *st, const char *digest, struct verdict *v)
{
	return store_session_revoke(st, digest, NULL, NULL, NULL, v);
}

/* Revoke each session of a list; *count adds up. */
static int revoke_list(struct store *st, const struct digest_list *dl, store_session_fn fn,
		       void *ctx, size_t *count, struct verdict *v)
{
	size_t i, one;
	int rc = 0;

	for (i = 0; rc == 0 && i < dl->n; i++) {
		rc = store_session_revoke(st, dl->d[i], fn, ctx, &one, v);
		*count += one;
	}
	return rc;
}

struct match {
	const char *user;                      /* sessions of this user, or */
	char digest[STORE_DIGEST_HEX_LEN + 1]; /* opened by this jti digest */
	struct digest_list found;
	int failed;
};

static int match_collect(const struct store_session *sess, void *ctx)
{
	struct match *m = ctx;

	/* a user's sessions: those of the user, and those the user opened as someone else
	 * with sudo or su (they count against the user: owner) */
	if ((m->user != NULL ? strcmp(sess->user, m->user) == 0 ||
				       strcmp(sess->owner, m->user) == 0 :
			       strcmp(sess->origin_jti, m->digest) == 0) &&
	    dl_add(&m->found, sess->digest, STORE_DIGEST_HEX_LEN) != 0)
		m->failed = 1;
	return m->failed;
}

/* Revoke every session a scan matches (each revocation its own transactions; logins go
 * on meanwhile). */
static int revoke_matching(struct store *st, struct match *m, store_session_fn fn, void *ctx,
			   size_t *count, struct verdict *v)
{
	size_t n = 0;
	int rc = -1;

	if (store_session_scan(st, NULL, match_collect, m, NULL, v) != 0)
		goto out;
	if (m->failed) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (revoke_list(st, &m->found, fn, ctx, &n, v) != 0)
		goto out;
	verdict_ok(v);
	rc = 0;
out:
	if (count != NULL)
		*count = n;
	dl_free(&m->found);
	return rc;
}

int store_revoke_jti_sessions(struct store *st, const char *jti, store_session_fn fn,
			      void *ctx, size_t *count, struct verdict *v)
{
	struct match m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (count != NULL)
		*count = 0;
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (store_digest(jti, strlen(jti), m.digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	rc = revoke_matching(st, &m, fn, ctx, count, v);
out:
	return rc;
}

int store_revoke_user(struct store *st, const char *user, store_session_fn fn, void *ctx,
		      size_t *count, struct verdict *v)
{
	struct match m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (count != NULL)
		*count = 0;
	if (st == NULL || user == NULL || user[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "user name is invalid");
		goto out;
	}
	m.user = user;
	rc = revoke_matching(st, &m, fn, ctx, count, v);
out:
	return rc;
}

struct tokens_ctx {
	struct store *st;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	bool tokens;
};

static int tokens_txn(void *arg, struct verdict *v)
{
	struct tokens_ctx *c = arg;
	struct store_session sess;
	int rc = -1;

	if (session_get_by_digest(c->st, c->digest, &sess, v) != 0)
		goto out;
	sess.tokens = c->tokens;
	if (session_write(c->st, &sess) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_session_set_tokens(struct store *st, const char *digest, bool tokens,
			     struct verdict *v)
{
	struct tokens_ctx c;
	int rc = -1;

	if (st == NULL || !store_digest_looks_like(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.st = st;
	memcpy(c.digest, digest, sizeof(c.digest));
	c.tokens = tokens;
	rc = store_txn(st, tokens_txn, &c, sizeof(c), v);
out:
	return rc;
}

int store_session_resolve_prefix(struct store *st, const char *prefix,
				 char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	char want[STORE_DIGEST_HEX_LEN + 1];
	struct digest_list names = { 0 };
	size_t len, i, matches = 0, hit = 0;
	int rc = -1;

	if (digest_out != NULL)
		digest_out[0] = '\0';
	if (st == NULL || prefix == NULL || digest_out == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix too short");
		goto out;
	}
	len = strnlen(prefix, STORE_DIGEST_HEX_LEN + 1);
	if (len < 8) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix too short");
		goto out;
	}
	for (i = 0; i < len && i < STORE_DIGEST_HEX_LEN; i++)
		want[i] = (prefix[i] >= 'A' && prefix[i] <= 'F') ? (char)(prefix[i] + 32) : prefix[i];
	if (len > STORE_DIGEST_HEX_LEN || !store_hex_lower(want, len)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix is not a digest prefix");
		goto out;
	}
	if (st->be->ops->scan(st->be, STORE_KIND_SESSION, &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		if (memcmp(names.d[i], want, len) == 0) {
			matches++;
			hit = i;
		}
	}
	if (matches == 0) {
		verdict_set(v, VERDICT_REJECT, "no session");
	} else if (matches > 1) {
		verdict_set(v, VERDICT_REJECT, "prefix is ambiguous");
	} else {
		memcpy(digest_out, names.d[hit], STORE_DIGEST_HEX_LEN + 1);
		verdict_ok(v);
		rc = 0;
	}
out:
	dl_free(&names);
	return rc;
}

/* fn returns 0 to go on, anything else to stop the scan early (not an error). */
int store_session_scan(struct store *st, const char *user, store_session_fn fn, void *ctx,
		       size_t *unreadable, struct verdict *v)
{
	struct digest_list names = { 0 };
	struct store_session sess;
	size_t i;
	int rc = -1, status;

	if (unreadable != NULL)
		*unreadable = 0;
	if (st == NULL || fn == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "nothing to scan with");
		goto out;
	}
	if (st->be->ops->scan(st->be, STORE_KIND_SESSION, &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		status = session_load(st, names.d[i], &sess);
		if (status == STORE_REC_UNREADABLE && unreadable != NULL)
			(*unreadable)++;
		if (status != STORE_REC_PRESENT || (user != NULL && strcmp(sess.user, user) != 0))
			continue;
		if (fn(&sess, ctx) != 0)
			break;
	}
	verdict_ok(v);
	rc = 0;
out:
	dl_free(&names);
	return rc;
}

/* ---- refresh token families ------------------------------------------------------------ */

int store_refresh_get(struct store *st, const char *token, struct store_refresh *out,
		      struct verdict *v)
{
	char family[STORE_DIGEST_HEX_LEN + 1];
	int status, rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || store_refresh_family_digest(token, family) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown refresh token");
		goto out;
	}
	status = refresh_load(st, family, out);
	if (status != STORE_REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, status == STORE_REC_ABSENT ? "unknown refresh token" :
					       "refresh token record is unreadable");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

struct refresh_put_ctx {
	struct store *st;
	int64_t now;
	struct store_refresh rec; /* in: digest, current, session, expires; out: filled in */
};

static int refresh_put_txn(void *arg, struct verdict *v)
{
	struct refresh_put_ctx *c = arg;
	struct store_refresh *rec = &c->rec, old;
	struct store_session sess;
	char dropped[STORE_DIGEST_HEX_LEN + 1];
	size_t n;
	int rc = -1;

	if (session_get_by_digest(c->st, rec->session, &sess, v) != 0 ||
	    store_session_check(c->st, &sess, sess.user, NULL, false, c->now, v) != 0)
		goto out;
	if (refresh_load(c->st, rec->digest, &old) != STORE_REC_ABSENT) {
		verdict_set(v, VERDICT_REJECT, "refresh token already exists");
		goto out;
	}
	memcpy(rec->user, sess.user, sizeof(rec->user));
	rec->uid = sess.uid;
	rec->created = c->now;
	if (rec->expires > sess.expires || rec->expires <= c->now)
		rec->expires = sess.expires;
	rec->rotations = 0;
	rec->window_start = c->now;
	rec->window_count = 0;
	/* a session keeps STORE_SESSION_FAMILIES at most: at that number, its oldest goes
	 * (that family's tokens become unknown) once the session names the new one */
	memcpy(dropped, sess.family[0], sizeof(dropped));
	for (n = 0; n < STORE_SESSION_FAMILIES && sess.family[n][0] != '\0'; n++)
		;
	if (n == STORE_SESSION_FAMILIES) {
		memmove(sess.family[0], sess.family[1],
			(STORE_SESSION_FAMILIES - 1) * sizeof(sess.family[0]));
		n--;
	} else {
		dropped[0] = '\0';
	}
	memcpy(sess.family[n], rec->digest, sizeof(sess.family[n]));
	if (refresh_write(c->st, rec) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (session_write(c->st, &sess) != 0) {
		(void)c->st->be->ops->del(c->st->be, STORE_KIND_REFRESH, rec->digest, NULL);
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (dropped[0] != '\0')
		(void)c->st->be->ops->del(c->st->be, STORE_KIND_REFRESH, dropped, NULL);
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_refresh_put(struct store *st, const char *token, struct store_refresh *rec,
		      int64_t now, struct verdict *v)
{
	struct refresh_put_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (st == NULL || rec == NULL || store_refresh_family_digest(token, c.rec.digest) != 0 ||
	    store_digest(token, STORE_SESSION_ID_LEN, c.rec.current) != 0 ||
	    !store_digest_looks_like(rec->session)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "refresh token is malformed");
		goto out;
	}
	c.st = st;
	c.now = now;
	memcpy(c.rec.session, rec->session, sizeof(c.rec.session));
	c.rec.expires = rec->expires;
	rc = store_txn(st, refresh_put_txn, &c, sizeof(c), v);
	if (rc == 0)
		*rec = c.rec;
out:
	return rc;
}

struct rotate_ctx {
	struct store *st;
	char family[STORE_DIGEST_HEX_LEN + 1];
	char presented[STORE_DIGEST_HEX_LEN + 1]; /* digest of the old token */
	char next[STORE_DIGEST_HEX_LEN + 1];      /* digest of the new token */
	int64_t new_expires;
	int64_t now;
	struct store_refresh rec;                 /* out */
	struct store_session sess;                /* out */
	bool reuse;                               /* out */
	struct revoke_ctx revoked;                /* out: what a reuse removed */
};

static int rotate_txn(void *arg, struct verdict *v)
{
	struct rotate_ctx *c = arg;
	struct store_refresh *rec = &c->rec;
	int status, rc = -1;
	int64_t limit = (int64_t)c->st->opts.max_refreshes_per_minute;

	status = refresh_load(c->st, c->family, rec);
	if (status != STORE_REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, status == STORE_REC_ABSENT ? "unknown refresh token" :
					       "refresh token record is unreadable");
		goto out;
	}
	status = session_load(c->st, rec->session, &c->sess);
	if (CRYPTO_memcmp(rec->current, c->presented, STORE_DIGEST_HEX_LEN) != 0) {
		/* reuse: a spent token of the family was stolen or replayed; the session and
		 * its descendants go (a tree larger than one batch is finished by the caller) */
		c->reuse = true;
		c->revoked.st = c->st;
		memcpy(c->revoked.root, rec->session, sizeof(c->revoked.root));
		if (revoke_txn(&c->revoked, v) != 0 ||
		    c->st->be->ops->del(c->st->be, STORE_KIND_REFRESH, c->family, NULL) != 0)
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		else
			verdict_set(v, VERDICT_REJECT, "refresh token reuse: session revoked");
		goto out;
	}
	if (rec->expires <= c->now) {
		verdict_set(v, VERDICT_REJECT, "refresh token expired");
		goto out;
	}
	if (status != STORE_REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, "the session of this refresh token has ended");
		goto out;
	}
	if (store_session_check(c->st, &c->sess, c->sess.user, NULL, false, c->now, v) != 0)
		goto out;
	if (c->now < rec->window_start || c->now - rec->window_start >= STORE_REFRESH_WINDOW) {
		rec->window_start = c->now;
		rec->window_count = 0;
	}
	if (limit > 0 && rec->window_count >= limit) {
		verdict_setf_seconds(v, VERDICT_REJECT, "too many refreshes for this session",
				     "retry in %lld s",
				     (long long)(rec->window_start + STORE_REFRESH_WINDOW - c->now));
		goto out;
	}
	memcpy(rec->current, c->next, sizeof(rec->current));
	rec->rotations++;
	rec->window_count++;
	rec->expires = c->new_expires > c->now && c->new_expires < c->sess.expires ?
			       c->new_expires : c->sess.expires;
	if (refresh_write(c->st, rec) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_refresh_rotate(struct store *st, const char *old_token,
			 char new_token_out[STORE_SESSION_ID_LEN + 1], int64_t new_expires,
			 int64_t now, struct store_refresh *rec_out, struct store_session *sess_out,
			 bool *reuse, store_session_fn fn, void *ctx, struct verdict *v)
{
	struct rotate_ctx *c = NULL;
	struct verdict rest;
	size_t more = 0;
	int rc = -1;

	if (rec_out != NULL)
		memset(rec_out, 0, sizeof(*rec_out));
	if (sess_out != NULL)
		memset(sess_out, 0, sizeof(*sess_out));
	if (reuse != NULL)
		*reuse = false;
	if (new_token_out != NULL)
		memset(new_token_out, 0, STORE_SESSION_ID_LEN + 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (st == NULL || new_token_out == NULL ||
	    store_refresh_family_digest(old_token, c->family) != 0 ||
	    store_digest(old_token, STORE_SESSION_ID_LEN, c->presented) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown refresh token");
		goto out;
	}
	if (store_refresh_id_next(old_token, new_token_out) != 0 ||
	    store_digest(new_token_out, STORE_SESSION_ID_LEN, c->next) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no randomness for a refresh token");
		goto out;
	}
	c->st = st;
	c->new_expires = new_expires;
	c->now = now;
	verdict_init(&rest);
	rc = store_txn(st, rotate_txn, c, sizeof(*c), v);
	if (c->sess.user[0] != '\0' && sess_out != NULL)
		*sess_out = c->sess;
	if (c->reuse) {
		if (reuse != NULL)
			*reuse = true;
		sessions_report(st, c->revoked.gone, c->revoked.n, fn, ctx);
		/* what one batch did not reach */
		if (!c->revoked.done && c->revoked.root[0] != '\0' &&
		    store_session_revoke(st, c->revoked.root, fn, ctx, &more, &rest) != 0)
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
	}
	if (rc == 0 && rec_out != NULL)
		*rec_out = c->rec;
out:
	if (rc != 0 && new_token_out != NULL)
		OPENSSL_cleanse(new_token_out, STORE_SESSION_ID_LEN + 1);
	free(c);
	return rc;
}

/* ---- JWT ids --------------------------------------------------------------------------- */

struct exp_ctx {
	struct store *st;
	char kind;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int64_t exp;
	int64_t now;
};

/* Revoking again never shortens an existing revocation. */
static int jti_revoke_txn(void *arg, struct verdict *v)
{
	struct exp_ctx *c = arg;
	struct rec_vals vals;
	int rc = -1;

	if (small_load(c->st, STORE_KIND_JTI, c->digest, &schema_jti, &vals) == STORE_REC_PRESENT &&
	    vals.num[0] > clamp_u(c->exp))
		c->exp = (int64_t)vals.num[0];
	if (small_put(c->st, STORE_KIND_JTI, c->digest, record_exp_format("revoked-jti", c->exp),
		      c->exp) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_jti_revoke(struct store *st, const char *jti, int64_t exp, struct verdict *v)
{
	struct exp_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (store_digest(jti, strlen(jti), c.digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	c.st = st;
	c.exp = exp;
	rc = store_txn(st, jti_revoke_txn, &c, sizeof(c), v);
out:
	return rc;
}

int store_jti_check(struct store *st, const char *jti, int64_t now, struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int revoked, rc = -1;

	if (st == NULL || jti == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (store_digest(jti, strlen(jti), digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	revoked = jti_digest_revoked(st, digest, now);
	if (revoked < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "revocation record is unreadable");
	} else if (revoked > 0) {
		verdict_set(v, VERDICT_REJECT, "token id is revoked");
	} else {
		verdict_ok(v);
		rc = 0;
	}
out:
	return rc;
}

static int use_once_txn(void *arg, struct verdict *v)
{
	struct exp_ctx *c = arg;
	struct rec_vals vals;
	int status, rc = -1;

	status = small_load(c->st, STORE_KIND_USED, c->digest, &schema_used, &vals);
	if (status == STORE_REC_UNREADABLE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "single-use record is unreadable");
		goto out;
	}
	if (status == STORE_REC_PRESENT && (int64_t)vals.num[0] >= c->now) {
		verdict_set(v, VERDICT_REJECT, "token was already used");
		goto out;
	}
	if (small_put(c->st, STORE_KIND_USED, c->digest, record_exp_format("used-jti", c->exp),
		      c->exp) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_jti_use_once(struct store *st, const char *service, const char *jti, int64_t exp,
		       int64_t now, struct verdict *v)
{
	struct exp_ctx c;
	char *key = NULL;
	size_t slen, jlen;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (service == NULL)
		service = "";
	slen = strlen(service);
	jlen = strlen(jti);
	key = malloc(slen + 1 + jlen);
	if (key == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	memcpy(key, service, slen);
	key[slen] = '\0';
	memcpy(key + slen + 1, jti, jlen);
	if (store_digest(key, slen + 1 + jlen, c.digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	c.st = st;
	c.exp = exp;
	c.now = now;
	rc = store_txn(st, use_once_txn, &c, sizeof(c), v);
out:
	free(key);
	return rc;
}

/* ---- user locks ------------------------------------------------------------------------ */

/* The lock record's digest for a user. Looking up (to_write false) takes any user name
 * without control bytes, as PAM may pass: one the format cannot hold has no lock, and a
 * record that does not parse is refused when read. A lock is written only for a name the
 * format holds. */
static int user_lock_digest(struct store *st, const char *user, bool to_write,
			    char digest[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	size_t n = user != NULL ? strnlen(user, STORE_FIELD_MAX) : 0, i;
	int ok = st != NULL && n > 0 && n < STORE_FIELD_MAX, rc = -1;

	for (i = 0; ok && i < n; i++)
		ok = (unsigned char)user[i] >= 0x20 && user[i] != 0x7f;
	if (!ok || (to_write && !store_field_ok(user, true))) {
		verdict_set(v, VERDICT_BAD_CONFIG, "user name is invalid");
		goto out;
	}
	if (store_digest(user, n, digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

struct lock_ctx {
	struct store *st;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	const char *user;
	int64_t until;
	bool unlock;
};

static int lock_txn(void *arg, struct verdict *v)
{
	struct lock_ctx *c = arg;
	int rc = -1;

	if ((c->unlock ? c->st->be->ops->del(c->st->be, STORE_KIND_LOCK, c->digest, NULL) :
			 small_put(c->st, STORE_KIND_LOCK, c->digest,
				   record_lock_format(c->user, c->until), c->until)) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

static int user_lock_change(struct store *st, const char *user, int64_t until, bool unlock,
			    struct verdict *v)
{
	struct lock_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (user_lock_digest(st, user, !unlock, c.digest, v) != 0)
		goto out;
	if (until < 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "lock time is invalid");
		goto out;
	}
	c.st = st;
	c.user = user;
	c.until = until;
	c.unlock = unlock;
	rc = store_txn(st, lock_txn, &c, sizeof(c), v);
out:
	return rc;
}

int store_user_lock(struct store *st, const char *user, int64_t until, struct verdict *v)
{
	return user_lock_change(st, user, until, false, v);
}

int store_user_unlock(struct store *st, const char *user, struct verdict *v)
{
	return user_lock_change(st, user, 0, true, v);
}

int store_user_check(struct store *st, const char *user, int64_t now, struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	struct rec_vals vals;
	int status, rc = -1;
	int64_t until;

	memset(&vals, 0, sizeof(vals));
	if (user_lock_digest(st, user, false, digest, v) != 0)
		goto out;
	status = small_load(st, STORE_KIND_LOCK, digest, &schema_lock, &vals);
	if (status == STORE_REC_PRESENT && strcmp(vals.str[0], user) != 0)
		status = STORE_REC_UNREADABLE;
	until = (int64_t)vals.num[1];
	if (status == STORE_REC_UNREADABLE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "lock record is unreadable");
	} else if (status == STORE_REC_PRESENT && until == 0) {
		verdict_set(v, VERDICT_REJECT, "user is locked");
	} else if (status == STORE_REC_PRESENT && now < until && now < 0) {
		verdict_set(v, VERDICT_REJECT, "user is locked");
	} else if (status == STORE_REC_PRESENT && now < until) {
		verdict_setf_seconds(v, VERDICT_REJECT, "user is locked", "for %lld s",
				     (long long)(until - now));
	} else {
		verdict_ok(v);
		rc = 0;
	}
out:
	return rc;
}

/* ---- listing revocations and locks ----------------------------------------------------- */

/* Every record of a small kind (STORE_KIND_LOCK or STORE_KIND_JTI) still in force at now,
 * handed to fn; an unreadable one is counted and skipped. */
static int small_scan(struct store *st, char kind, int64_t now, store_listed_fn fn, void *ctx,
		      size_t *unreadable, struct verdict *v)
{
	const struct rec_schema *schema = kind == STORE_KIND_JTI ? &schema_jti : &schema_lock;
	struct digest_list names = { 0 };
	struct store_listed rec;
	struct rec_vals vals;
	char want[STORE_DIGEST_HEX_LEN + 1];
	size_t i, bad = 0;
	int rc = -1, status;

	if (st == NULL || fn == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "nothing to scan with");
		goto out;
	}
	if (st->be->ops->scan(st->be, kind, &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		status = small_load(st, kind, names.d[i], schema, &vals);
		if (status == STORE_REC_ABSENT)
			continue; /* gone since the scan */
		if (status != STORE_REC_PRESENT) {
			bad++;
			continue;
		}
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.digest, sizeof(rec.digest), "%.*s", STORE_DIGEST_HEX_LEN, names.d[i]);
		if (kind == STORE_KIND_LOCK) {
			/* a lock is named by its user's digest: any other name is not a lock */
			if (store_digest(vals.str[0], strlen(vals.str[0]), want) != 0 ||
			    strcmp(want, rec.digest) != 0) {
				bad++;
				continue;
			}
			memcpy(rec.user, vals.str[0], sizeof(rec.user));
			rec.until = (int64_t)vals.num[1];
		} else {
			rec.until = (int64_t)vals.num[0];
		}
		if (rec.until != 0 && rec.until <= now)
			continue; /* had its time: gc removes it */
		if (fn(&rec, ctx) != 0)
			break;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (unreadable != NULL)
		*unreadable = bad;
	dl_free(&names);
	return rc;
}

int store_lock_scan(struct store *st, int64_t now, store_listed_fn fn, void *ctx,
		    size_t *unreadable, struct verdict *v)
{
	return small_scan(st, STORE_KIND_LOCK, now, fn, ctx, unreadable, v);
}

int store_jti_scan(struct store *st, int64_t now, store_listed_fn fn, void *ctx,
		   size_t *unreadable, struct verdict *v)
{
	return small_scan(st, STORE_KIND_JTI, now, fn, ctx, unreadable, v);
}

/* ---- garbage collection --------------------------------------------------------------- */

/* Whether a small record (revoked or used jti, lock) has had its time: 1 yes, 0 no (or
 * absent), -1 unreadable (kept). */
static int small_expired(const struct store *st, char kind, const char *digest, int64_t now)
{
	struct rec_vals vals;
	const struct rec_schema *schema = kind == STORE_KIND_JTI ? &schema_jti :
					  kind == STORE_KIND_USED ? &schema_used : &schema_lock;
	int status = small_load(st, kind, digest, schema, &vals);

	if (status == STORE_REC_ABSENT)
		return 0;
	if (status != STORE_REC_PRESENT)
		return -1;
	if (kind == STORE_KIND_LOCK)
		return vals.num[1] != 0 && (int64_t)vals.num[1] < now;
	return (int64_t)vals.num[0] < now;
}

/* Garbage collection of one batch of records of one kind, in one short transaction: a
 * store of any size is collected in many of them, none holding the store for long. */
#define STORE_GC_BATCH 64
struct gc_ctx {
	struct store *st;
	int64_t now;
	char kind;
	size_t n;
	char names[STORE_GC_BATCH][STORE_DIGEST_HEX_LEN + 1];
	size_t removed; /* out */
};

static int gc_tidy_txn(void *arg, struct verdict *v)
{
	struct gc_ctx *c = arg;

	(void)c->st->be->ops->tidy(c->st->be); /* best effort: it may need space */
	verdict_ok(v);
	return 0;
}

/* Only deletions: no space needed. */
static int gc_txn(void *arg, struct verdict *v)
{
	struct gc_ctx *c = arg;
	struct store_refresh rec;
	size_t i;
	int gone;

	c->removed = 0;
	for (i = 0; i < c->n; i++) {
		if (c->kind == STORE_KIND_REFRESH)
			gone = refresh_load(c->st, c->names[i], &rec) == STORE_REC_PRESENT &&
			       (rec.expires <= c->now || !session_exists(c->st, rec.session));
		else
			gone = small_expired(c->st, c->kind, c->names[i], c->now) > 0;
		if (!gone)
			continue;
		if (c->st->be->ops->del(c->st->be, c->kind, c->names[i], NULL) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
			return -1;
		}
		c->removed++;
	}
	verdict_ok(v);
	return 0;
}

/* Everything but sessions: each kind listed, then collected batch by batch. */
static int gc_small(struct store *st, int64_t now, size_t *removed, struct verdict *v)
{
	static const char kinds[] = { STORE_KIND_JTI, STORE_KIND_USED, STORE_KIND_LOCK,
				      STORE_KIND_REFRESH };
	struct digest_list names = { 0 };
	struct gc_ctx *c = calloc(1, sizeof(*c));
	size_t k, i, j;
	int rc = -1;

	if (c == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	c->st = st;
	c->now = now;
	if (store_txn(st, gc_tidy_txn, c, sizeof(*c), v) != 0)
		goto out;
	for (k = 0; k < sizeof(kinds); k++) {
		dl_free(&names);
		if (st->be->ops->scan(st->be, kinds[k], &names) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
			goto out;
		}
		c->kind = kinds[k];
		for (i = 0; i < names.n; i += c->n) {
			c->n = names.n - i < STORE_GC_BATCH ? names.n - i : STORE_GC_BATCH;
			for (j = 0; j < c->n; j++)
				snprintf(c->names[j], sizeof(c->names[j]), "%.*s",
					 STORE_DIGEST_HEX_LEN, names.d[i + j]);
			if (store_txn(st, gc_txn, c, sizeof(*c), v) != 0)
				goto out;
			*removed += c->removed;
		}
	}
	rc = 0;
out:
	dl_free(&names);
	free(c);
	return rc;
}

int store_gc(struct store *st, int64_t now, store_session_fn fn, void *ctx, size_t *removed,
	     struct verdict *v)
{
	struct digest_list names = { 0 }, ended = { 0 }, broken = { 0 }, *list;
	struct store_session sess;
	struct store_refresh rec;
	struct verdict lineage;
	size_t i, j, n = 0, families = 0;
	int rc = -1;

	if (removed != NULL)
		*removed = 0;
	if (st == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no store");
		goto out;
	}
	if (gc_small(st, now, &n, v) != 0)
		goto out;
	/* sessions: expired or idle ones go quietly; those whose lineage broke are told to
	 * fn, so that their logins end */
	if (st->be->ops->scan(st->be, STORE_KIND_SESSION, &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		if (session_load(st, names.d[i], &sess) != STORE_REC_PRESENT)
			continue;
		if (sess.expires <= now || session_idle(&sess, now))
			list = &ended;
		else if (session_lineage_check(st, &sess, now, &lineage) != 0)
			list = &broken;
		else
			continue;
		if (dl_add(list, names.d[i], STORE_DIGEST_HEX_LEN) != 0)
			goto oom;
		for (j = 0; j < STORE_SESSION_FAMILIES && sess.family[j][0] != '\0'; j++) {
			if (refresh_load(st, sess.family[j], &rec) == STORE_REC_PRESENT)
				families++; /* goes with its session */
		}
	}
	if (revoke_list(st, &ended, NULL, NULL, &n, v) != 0 ||
	    revoke_list(st, &broken, fn, ctx, &n, v) != 0)
		goto out;
	n += families;
	verdict_ok(v);
	rc = 0;
	goto out;
oom:
	verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
out:
	if (removed != NULL)
		*removed = n;
	dl_free(&names);
	dl_free(&ended);
	dl_free(&broken);
	return rc;
}

/* ---- persistent revocations -------------------------------------------------------------- */

/* Whether the store's record (a revoked jti or a lock) already lasts at least as long as
 * the imported one: then the import must not shorten it. */
static int import_keeps_longer(const struct store *to, const struct store *from, char kind,
			       const char *digest)
{
	const struct rec_schema *schema = kind == STORE_KIND_JTI ? &schema_jti : &schema_lock;
	struct rec_vals in_store, imported;
	size_t f = kind == STORE_KIND_JTI ? 0 : 1; /* exp, or until (0: for ever) */

	if (small_load(to, kind, digest, schema, &in_store) != STORE_REC_PRESENT ||
	    small_load(from, kind, digest, schema, &imported) != STORE_REC_PRESENT)
		return 0;
	if (kind == STORE_KIND_LOCK && in_store.num[f] == 0)
		return 1;
	if (kind == STORE_KIND_LOCK && imported.num[f] == 0)
		return 0;
	return in_store.num[f] >= imported.num[f];
}

struct import_ctx {
	struct store *to;
	struct store *from;
	int64_t now;
	size_t copied;     /* out */
	size_t unreadable; /* out */
};

static int import_txn(void *arg, struct verdict *v)
{
	static const char kinds[] = { STORE_KIND_JTI, STORE_KIND_LOCK };
	struct import_ctx *c = arg;
	struct digest_list names = { 0 };
	char *text = NULL;
	size_t k, i, len;
	int expired, rc = -1;

	for (k = 0; k < sizeof(kinds); k++) {
		dl_free(&names);
		if (c->from->be->ops->scan(c->from->be, kinds[k], &names) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the revocation directory");
			goto out;
		}
		for (i = 0; i < names.n; i++) {
			expired = small_expired(c->from, kinds[k], names.d[i], c->now);
			if (expired != 0) {
				c->unreadable += expired < 0;
				continue;
			}
			free(text);
			text = NULL;
			if (c->from->be->ops->get(c->from->be, kinds[k], names.d[i], STORE_RECORD_MAX,
						  &text, &len) != STORE_REC_PRESENT) {
				c->unreadable++;
				continue;
			}
			/* a revocation already in force in the store is never shortened */
			if (import_keeps_longer(c->to, c->from, kinds[k], names.d[i]))
				continue;
			if (c->to->be->ops->put(c->to->be, kinds[k], names.d[i], text, len, 0,
						NULL) != 0) {
				verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
				goto out;
			}
			c->copied++;
		}
	}
	verdict_ok(v);
	rc = 0;
out:
	free(text);
	dl_free(&names);
	return rc;
}

int store_import_revocations(struct store *to, struct store *from, int64_t now,
			     size_t *copied, size_t *unreadable, struct verdict *v)
{
	struct import_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (to == NULL || from == NULL || to == from) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no store");
		goto out;
	}
	c.to = to;
	c.from = from;
	c.now = now;
	rc = store_txn(to, import_txn, &c, sizeof(c), v);
out:
	if (copied != NULL)
		*copied = c.copied;
	if (unreadable != NULL)
		*unreadable = c.unreadable;
	return rc;
}

/* ---- the mirror of revocations and locks --------------------------------------------------- */

/* The stamp's name: the digest of a fixed word (there is one stamp per mirror). */
static void mirror_stamp_digest(char out[STORE_DIGEST_HEX_LEN + 1])
{
	store_digest_hex("mirror", strlen("mirror"), out);
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct mirror_ctx {
	struct store *to;
	struct store *from;
	int64_t now;
	char changes[STORE_CHANGES_MAX + 1];
	size_t written; /* out: records copied or dropped */
};

/* Make the mirror's records of one kind those of the store, byte for byte (expired and
 * unreadable ones too: the checks treat them as the store does). */
static int mirror_kind(struct mirror_ctx *c, char kind, struct verdict *v)
{
	struct digest_list have = { 0 }, want = { 0 };
	char *text = NULL, *mine = NULL;
	size_t i = 0, j = 0, len, mine_len;
	int cmp, status, rc = -1;

	if (c->from->be->ops->scan(c->from->be, kind, &want) != 0 ||
	    c->to->be->ops->scan(c->to->be, kind, &have) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot list the revocations and locks");
		goto out;
	}
	qsort(want.d, want.n, sizeof(*want.d), names_cmp);
	qsort(have.d, have.n, sizeof(*have.d), names_cmp);
	while (i < want.n || j < have.n) {
		cmp = i == want.n ? 1 : j == have.n ? -1 : strcmp(want.d[i], have.d[j]);
		if (cmp > 0) { /* only in the mirror: gone from the store */
			if (c->to->be->ops->del(c->to->be, kind, have.d[j], NULL) != 0)
				goto write_failed;
			c->written++;
			j++;
			continue;
		}
		free(text);
		free(mine);
		text = mine = NULL;
		status = c->from->be->ops->get(c->from->be, kind, want.d[i], STORE_RECORD_MAX,
					       &text, &len);
		if (status == STORE_REC_UNREADABLE) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot read a revocation or lock");
			goto out;
		}
		if (status == STORE_REC_PRESENT &&
		    (cmp < 0 || c->to->be->ops->get(c->to->be, kind, want.d[i], STORE_RECORD_MAX,
						    &mine, &mine_len) != STORE_REC_PRESENT ||
		     mine_len != len || memcmp(mine, text, len) != 0)) {
			if (c->to->be->ops->put(c->to->be, kind, want.d[i], text, len, 0, NULL) != 0)
				goto write_failed;
			c->written++;
		} else if (status == STORE_REC_ABSENT && cmp == 0) { /* went while we looked */
			if (c->to->be->ops->del(c->to->be, kind, want.d[i], NULL) != 0)
				goto write_failed;
			c->written++;
		}
		i++;
		j += cmp == 0;
	}
	rc = 0;
	goto out;
write_failed:
	verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the mirror");
out:
	free(text);
	free(mine);
	dl_free(&want);
	dl_free(&have);
	return rc;
}

static int mirror_txn(void *arg, struct verdict *v)
{
	static const char kinds[] = { STORE_KIND_JTI, STORE_KIND_LOCK };
	struct mirror_ctx *c = arg;
	struct rec_vals stamp;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int64_t copied = c->now;
	size_t k;
	int rc = -1;

	mirror_stamp_digest(digest);
	/* nothing changed since the last copy, which is recent: the stamp alone moves on */
	if (small_load(c->to, STORE_KIND_MIRROR, digest, &schema_mirror, &stamp) ==
		    STORE_REC_PRESENT &&
	    c->changes[0] != '\0' && strcmp(stamp.str[1], c->changes) == 0 &&
	    (int64_t)stamp.num[2] <= c->now &&
	    c->now - (int64_t)stamp.num[2] < STORE_MIRROR_FULL_COPY) {
		copied = (int64_t)stamp.num[2];
	} else {
		for (k = 0; k < sizeof(kinds); k++) {
			if (mirror_kind(c, kinds[k], v) != 0)
				goto out;
		}
	}
	if (small_put(c->to, STORE_KIND_MIRROR, digest,
		      record_mirror_format(c->now, c->changes, copied), 0) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the mirror");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_mirror_sync(struct store *mirror, struct store *from, int64_t now, size_t *written,
		      struct verdict *v)
{
	struct mirror_ctx c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (mirror == NULL || from == NULL || !mirror->opts.mirror ||
	    from->be->ops->changes == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no shared store to mirror");
		goto out;
	}
	/* read before the records: a change made after this sets another mark, so the next
	 * sync copies it even if this one missed it */
	if (from->be->ops->changes(from->be, c.changes) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot reach the session store");
		goto out;
	}
	c.to = mirror;
	c.from = from;
	c.now = now;
	mirror->syncing = true;
	rc = store_txn(mirror, mirror_txn, &c, sizeof(c), v);
	mirror->syncing = false;
out:
	if (written != NULL)
		*written = c.written;
	return rc;
}

int store_mirror_synced(struct store *mirror, int64_t *synced, struct verdict *v)
{
	struct rec_vals stamp;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int status;

	mirror_stamp_digest(digest);
	status = mirror == NULL ? STORE_REC_ABSENT :
		 small_load(mirror, STORE_KIND_MIRROR, digest, &schema_mirror, &stamp);
	if (status != STORE_REC_PRESENT) {
		verdict_set(v, VERDICT_UNAVAILABLE, status == STORE_REC_ABSENT ?
				"pam-jwtd has not mirrored the store yet" :
				"the mirror's stamp is unreadable");
		return -1;
	}
	*synced = (int64_t)stamp.num[0];
	verdict_ok(v);
	return 0;
}
