/*
 * The Redis backend of the store (see store_backend.h), so that the hosts of a fleet share
 * sessions, revocations and locks.
 *
 * Keys, all under one hash tag so that every script touches a single slot (the layout
 * works on Redis Cluster, where the store lives on one shard):
 *   {PREFIX}:<kind>:<64 hex>   a record; its value is the record's text
 *   {PREFIX}:K:<kind>          the set of the digests of that kind (scan, count)
 *   {PREFIX}:i:<hex sha256(owner)>  the set of an owner's sessions (the per-user index)
 *   {PREFIX}:lease             who runs a transaction now
 *   {PREFIX}:g                 the random token of the transaction that last wrote a
 *                              revoked jti or a lock (pam-jwtd's mirror copies those only
 *                              when it differs: a token never comes back, as a count
 *                              could after a failover or a restore)
 * Nothing from a credential or a claim becomes a key: records are named by digests and
 * owners are hashed.
 *
 * Each write is one Lua script, so a record and the sets that list it change together.
 * Scripts are called by SHA-1 (EVALSHA) and sent by text only when the server does not
 * know them (run_script).
 * A set may still hold a digest whose record Redis expired (records carry a TTL a day past
 * their own expiry, as a backstop to garbage collection): reads of sets skip such entries
 * and prune them.
 *
 * Transactions: a lease, SET NX PX with a random token, waited for at most
 * REDIS_LEASE_WAIT_MS. Every write inside the transaction is fenced: its script first
 * checks that the lease still holds this token, and the lease is released by a script that
 * checks it too; a transaction that lost its lease fails. So a process that holds the
 * lease and is stopped (sudo runs with the user's real uid) delays the others at most
 * REDIS_LEASE_MS, after which its writes are refused: it can neither freeze the store nor
 * write over a transaction that ran after its lease ended. A transaction cut off half-way
 * leaves each record and its sets consistent; the records it did not reach stay as they
 * were, as after a crash on tmpfs.
 */
#include "store_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "clock.h"
#include "privsep.h"
#include "credid.h"
#include "redis.h"

/* How long a transaction may hold the store, and how long one waits for it (ms). */
#define REDIS_LEASE_MS 3000
#define REDIS_LEASE_WAIT_MS 5000
/* A record stays this long past its own expiry, for garbage collection to see it. */
#define REDIS_EXPIRY_GRACE 86400
/* ... and never more than ten years from now in all (Redis refuses larger expiries). */
#define REDIS_EXPIRY_MAX (10LL * 365 * 86400)
#define REDIS_PREFIX_MAX 64
#define REDIS_KEY_MAX (REDIS_PREFIX_MAX + 8 + STORE_DIGEST_HEX_LEN)
#define REDIS_TOKEN_LEN 32

/* The Lua scripts (below), by number. */
enum script { SCRIPT_PUT, SCRIPT_DEL, SCRIPT_MEMBERS, SCRIPT_RELEASE, SCRIPT_ENDED, SCRIPT_COUNT };

struct store_redis {
	struct store_backend be; /* first: the backend is the store_redis */
	struct redis_conn *conn;
	struct redis_target target;     /* to connect again after the connection broke */
	struct redis_options conn_opts; /* (its strings belong to the caller's config) */
	char prefix[REDIS_PREFIX_MAX + 3]; /* "{PREFIX}" */
	char token[REDIS_TOKEN_LEN + 1];   /* the lease's token inside a transaction, else "" */
	bool lost;                         /* a fenced write found the lease gone */
	int replicas;                      /* redis_replicas: acks each write waits for */
	bool short_acks;                   /* a write in this transaction got fewer ... */
	int acks;                          /* ... namely this many */
	bool noscript;                     /* the server did not know a script's SHA-1 */
	bool eval_only;                    /* send every script's text (EVAL) */
	char sha[SCRIPT_COUNT][41];        /* each script's SHA-1 in hex, "" if unknown */
};

static struct store_redis *rd_of(struct store_backend *be)
{
	return (struct store_redis *)be;
}

/* ---- keys ------------------------------------------------------------------------------ */

static void key_record(const struct store_redis *rd, char kind, const char *digest,
		       char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:%c:%.*s", rd->prefix, kind, STORE_DIGEST_HEX_LEN, digest);
}

static void key_kindset(const struct store_redis *rd, char kind, char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:K:%c", rd->prefix, kind);
}

static int key_index(const struct store_redis *rd, const char *owner, char key[REDIS_KEY_MAX])
{
	char digest[STORE_DIGEST_HEX_LEN + 1];

	if (owner == NULL || store_digest(owner, strlen(owner), digest) != 0)
		return -1;
	snprintf(key, REDIS_KEY_MAX, "%s:i:%s", rd->prefix, digest);
	return 0;
}

static void key_changes(const struct store_redis *rd, char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:g", rd->prefix);
}

/* Is a record of this kind one that pam-jwtd's mirror keeps? */
static bool kind_mirrored(char kind)
{
	return kind == STORE_KIND_JTI || kind == STORE_KIND_LOCK;
}

static void key_lease(const struct store_redis *rd, char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:lease", rd->prefix);
}

static bool is_digest(const char *s, size_t len)
{
	size_t i;

	if (len != STORE_DIGEST_HEX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* ---- commands -------------------------------------------------------------------------- */

/* Run a command given as NUL-terminated strings; *reply unless it failed or was an error
 * reply. 0, or -1. */
static int run(struct store_redis *rd, int argc, const char **argv, redisReply **reply)
{
	size_t lens[16];
	struct verdict v;
	redisReply *r = NULL;
	int i, tries = 0, rc = -1;

	*reply = NULL;
	if (argc > 16)
		goto out;
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	verdict_init(&v);
again:
	/* a long-lived store (pam-jwtd's) outlives a broken connection: the next command
	 * connects again (through the Sentinels, if any: the primary may have moved); the
	 * one that broke it has failed. Never inside a transaction. */
	if ((rd->conn == NULL || redis_is_broken(rd->conn)) && rd->token[0] == '\0') {
		redis_close(rd->conn);
		rd->conn = NULL;
		if (redis_connect(&rd->target, &rd->conn_opts, &rd->conn, &v) != 0)
			goto out;
	}
	if (rd->conn == NULL || redis_command(rd->conn, argc, argv, lens, &r, &v) != 0)
		goto out;
	if (redis_error_is_failover(r)) {
		/* the node is no longer (or not yet) the primary, and ran nothing: drop it and,
		 * outside a transaction, run the command once more on the primary found anew;
		 * a transaction has lost its store and fails */
		redis_close(rd->conn);
		rd->conn = NULL;
		freeReplyObject(r);
		r = NULL;
		if (rd->token[0] == '\0' && tries++ == 0)
			goto again;
		rd->lost = true;
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (strstr(r->str, "pam_jwt: lease lost") != NULL)
			rd->lost = true;
		if (strncmp(r->str, "NOSCRIPT", 8) == 0)
			rd->noscript = true;
		goto out;
	}
	*reply = r;
	r = NULL;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* After a write: with redis_replicas = N, wait until N replicas have it (WAIT, within
 * half the command timeout, so that its reply comes before our own deadline). Fewer:
 * the write may be lost in a failover, and it counts as failed (rd->short_acks). */
static int replicated(struct store_redis *rd)
{
	char want[16], ms[16];
	const char *argv[] = { "WAIT", want, ms };
	redisReply *r = NULL;
	int rc = -1;

	if (rd->replicas == 0)
		return 0;
	snprintf(want, sizeof(want), "%d", rd->replicas);
	snprintf(ms, sizeof(ms), "%d", rd->conn_opts.timeout_ms > 1 ?
					   rd->conn_opts.timeout_ms / 2 : 1);
	if (run(rd, 3, argv, &r) != 0 || r->type != REDIS_REPLY_INTEGER) {
		rd->acks = 0;
		goto out;
	}
	if (r->integer < rd->replicas) {
		rd->acks = r->integer > 0 ? (int)r->integer : 0;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		rd->short_acks = true;
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* Digests from an array reply into out (entries that are not digests are skipped). */
static int digests_of(const redisReply *r, struct digest_list *out)
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type == REDIS_REPLY_STRING && is_digest(e->str, e->len) &&
		    dl_add(out, e->str, STORE_DIGEST_HEX_LEN) != 0)
			return -1;
	}
	return 0;
}

/* ---- scripts --------------------------------------------------------------------------- */

/* Every write: KEYS[1] the lease, ARGV[1] the token that must hold it. */
#define FENCE                                                                 \
	"if redis.call('GET', KEYS[1]) ~= ARGV[1] then "                      \
	"return redis.error_reply('pam_jwt: lease lost') end "

/* KEYS: lease, record, kind set, index (or the kind set again), the change mark;
 * ARGV: token, text, ttl (0: none), digest, with index ("1"/"0"), counts as a change of
 * revocations and locks ("1"/"0": the token becomes the mark). */
static const char script_put[] =
	FENCE
	"redis.call('SADD', KEYS[3], ARGV[4]) "
	"if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[4]) end "
	"if ARGV[3] ~= '0' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) "
	"else redis.call('SET', KEYS[2], ARGV[2]) end "
	"if ARGV[6] == '1' then redis.call('SET', KEYS[5], ARGV[1]) end "
	"return 1";

/* KEYS: as for script_put; ARGV: token, digest, with index, counts as a change. */
static const char script_del[] =
	FENCE
	"redis.call('DEL', KEYS[2]) "
	"redis.call('SREM', KEYS[3], ARGV[2]) "
	"if ARGV[3] == '1' then redis.call('SREM', KEYS[4], ARGV[2]) end "
	"if ARGV[4] == '1' then redis.call('SET', KEYS[5], ARGV[1]) end "
	"return 1";

/* One page of a set (KEYS[1]) from cursor ARGV[2]: the next cursor, then the members
 * whose record (ARGV[1] .. member) exists; the others are pruned. Pruning is right at any
 * time: a set entry is written before its record and removed after it. A page is a few
 * hundred members, so no script holds the server for long, whatever the set's size. */
static const char script_members[] =
	"local page = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', 500) "
	"local out = { page[1] } "
	"for _, d in ipairs(page[2]) do "
	"  if redis.call('EXISTS', ARGV[1] .. d) == 1 then out[#out + 1] = d "
	"  else redis.call('SREM', KEYS[1], d) end "
	"end "
	"return out";

/* The lease's release: only by the token that holds it. 1 released, 0 it was lost. */
static const char script_release[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end "
	"return 0";

/* KEYS: the tombstone; ARGV: the channel, the message, the tombstone's lifetime. The
 * tombstone says the session was revoked, for a pam-jwtd that missed the message. */
static const char script_ended[] =
	"redis.call('SET', KEYS[1], '1', 'EX', ARGV[3]) "
	"return redis.call('PUBLISH', ARGV[1], ARGV[2])";

static const char *const script_text[SCRIPT_COUNT] = {
	[SCRIPT_PUT] = script_put,
	[SCRIPT_DEL] = script_del,
	[SCRIPT_MEMBERS] = script_members,
	[SCRIPT_RELEASE] = script_release,
	[SCRIPT_ENDED] = script_ended,
};

/* Each script's SHA-1, the name EVALSHA calls it by; one left "" goes by its text. */
static void scripts_hash(struct store_redis *rd)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;
	int s;

	for (s = 0; s < SCRIPT_COUNT; s++) {
		rd->sha[s][0] = '\0';
		if (EVP_Digest(script_text[s], strlen(script_text[s]), md, &n, EVP_sha1(), NULL) != 1 ||
		    n != 20)
			continue;
		for (i = 0; i < n; i++)
			snprintf(rd->sha[s] + 2 * i, 3, "%02x", md[i]);
	}
}

/* Run script s with argv[2..argc-1] (its key count, keys and arguments); argv[0] and
 * argv[1] are filled here. By SHA-1 first, which sends a few dozen bytes instead of the
 * script; the server answers NOSCRIPT, having run nothing, when it does not know the
 * script (never sent to it, SCRIPT FLUSH, a restart, a failover to a replica that never
 * saw it), and then the text goes, which the server also keeps for the next call. As
 * run(). */
static int run_script(struct store_redis *rd, enum script s, int argc, const char **argv,
		      redisReply **reply)
{
	int rc;

	rd->noscript = false;
	if (!rd->eval_only && rd->sha[s][0] != '\0') {
		argv[0] = "EVALSHA";
		argv[1] = rd->sha[s];
		rc = run(rd, argc, argv, reply);
		if (rc == 0 || !rd->noscript)
			return rc;
	}
	argv[0] = "EVAL";
	argv[1] = script_text[s];
	return run(rd, argc, argv, reply);
}

/* ---- operations ------------------------------------------------------------------------ */

static int rd_get(struct store_backend *be, char kind, const char *digest, size_t max,
		  char **text, size_t *len)
{
	struct store_redis *rd = rd_of(be);
	char key[REDIS_KEY_MAX];
	const char *argv[] = { "GET", key };
	redisReply *r = NULL;
	int rc = STORE_REC_UNREADABLE;

	*text = NULL;
	*len = 0;
	key_record(rd, kind, digest, key);
	if (run(rd, 2, argv, &r) != 0)
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		rc = STORE_REC_ABSENT;
		goto out;
	}
	if (r->type != REDIS_REPLY_STRING || r->len > max || memchr(r->str, '\0', r->len) != NULL)
		goto out;
	*text = malloc(r->len + 1);
	if (*text == NULL)
		goto out;
	memcpy(*text, r->str, r->len);
	(*text)[r->len] = '\0';
	*len = r->len;
	rc = STORE_REC_PRESENT;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

static int txn_run(struct store_backend *be, store_txn_fn fn, void *ctx, size_t ctx_size,
		   struct verdict *v);

/* A write outside a transaction runs in one of its own. */
struct write_ctx {
	struct store_backend *be;
	bool del;
	char kind;
	const char *digest, *text, *owner;
	size_t len;
	int64_t expires;
};

/* The Redis expiry (seconds from now) of a record forgettable after `expires`:
 * REDIS_EXPIRY_GRACE past it, at most REDIS_EXPIRY_MAX in all. An expiry in the past,
 * negative or not, still gets one: only 0 means a key without expiry. A token's exp can
 * be any int64, so the difference is taken in unsigned arithmetic, which cannot
 * overflow once expires > now. */
static int64_t ttl_of(int64_t expires, int64_t now)
{
	uint64_t left;

	if (expires <= now)
		return REDIS_EXPIRY_GRACE;
	left = (uint64_t)expires - (uint64_t)now;
	if (left > (uint64_t)(REDIS_EXPIRY_MAX - REDIS_EXPIRY_GRACE))
		left = (uint64_t)(REDIS_EXPIRY_MAX - REDIS_EXPIRY_GRACE);
	return (int64_t)left + REDIS_EXPIRY_GRACE;
}

static int write_fenced(struct store_redis *rd, const struct write_ctx *w)
{
	char lease[REDIS_KEY_MAX], rec[REDIS_KEY_MAX], set[REDIS_KEY_MAX], idx[REDIS_KEY_MAX];
	char changes[REDIS_KEY_MAX], ttl[24];
	const char *argv[14];
	bool with_index = false;
	int64_t t = 0;
	redisReply *r = NULL;
	int n = 0, rc = -1;

	key_lease(rd, lease);
	key_changes(rd, changes);
	key_record(rd, w->kind, w->digest, rec);
	key_kindset(rd, w->kind, set);
	if (w->kind == STORE_KIND_SESSION && w->owner != NULL) {
		if (key_index(rd, w->owner, idx) != 0)
			goto out;
		with_index = true;
	} else {
		memcpy(idx, set, sizeof(idx));
	}
	n = 2; /* EVALSHA SHA1, filled by run_script */
	argv[n++] = "5";
	argv[n++] = lease;
	argv[n++] = rec;
	argv[n++] = set;
	argv[n++] = idx;
	argv[n++] = changes;
	argv[n++] = rd->token;
	if (!w->del) {
		char *text = strndup(w->text, w->len);

		if (text == NULL)
			goto out;
		if (w->expires != 0)
			t = ttl_of(w->expires, clock_now());
		snprintf(ttl, sizeof(ttl), "%lld", (long long)t);
		argv[n++] = text;
		argv[n++] = ttl;
		argv[n++] = w->digest;
		argv[n++] = with_index ? "1" : "0";
		argv[n++] = kind_mirrored(w->kind) ? "1" : "0";
		rc = run_script(rd, SCRIPT_PUT, n, argv, &r);
		free(text);
	} else {
		argv[n++] = w->digest;
		argv[n++] = with_index ? "1" : "0";
		argv[n++] = kind_mirrored(w->kind) ? "1" : "0";
		rc = run_script(rd, SCRIPT_DEL, n, argv, &r);
	}
	if (rc == 0)
		rc = replicated(rd);
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

static int write_txn(void *arg, struct verdict *v)
{
	struct write_ctx *w = arg;

	if (write_fenced(rd_of(w->be), w) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		return -1;
	}
	return 0;
}

static int write_any(struct store_redis *rd, struct write_ctx *w)
{
	struct verdict v;

	if (memchr(w->digest, '\0', STORE_DIGEST_HEX_LEN) != NULL ||
	    !is_digest(w->digest, STORE_DIGEST_HEX_LEN) ||
	    (w->text != NULL && memchr(w->text, '\0', w->len) != NULL))
		return -1;
	if (rd->token[0] != '\0')
		return write_fenced(rd, w);
	verdict_init(&v);
	return txn_run(&rd->be, write_txn, w, sizeof(*w), &v);
}

static int rd_put(struct store_backend *be, char kind, const char *digest, const char *text,
		  size_t len, int64_t expires, const char *owner)
{
	struct write_ctx w = { be, false, kind, digest, text, owner, len, expires };

	if (len > STORE_INDEX_MAX)
		return -1;
	return write_any(rd_of(be), &w);
}

static int rd_del(struct store_backend *be, char kind, const char *digest, const char *owner)
{
	struct write_ctx w = { be, true, kind, digest, NULL, owner, 0, 0 };

	return write_any(rd_of(be), &w);
}

static int digest_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The live members of a set, page by page; SSCAN may return a member twice, so the list
 * is sorted and made unique. */
static int set_members(struct store_redis *rd, const char *set, char kind,
		       struct digest_list *out)
{
	char prefix[REDIS_KEY_MAX], cursor[24] = "0";
	const char *argv[] = { NULL, NULL, "1", set, prefix, cursor };
	redisReply *r = NULL;
	size_t i, kept;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(prefix, sizeof(prefix), "%s:%c:", rd->prefix, kind);
	do {
		if (run_script(rd, SCRIPT_MEMBERS, 6, argv, &r) != 0 || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) || digests_of(r, out) != 0)
			goto out;
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		freeReplyObject(r);
		r = NULL;
	} while (strcmp(cursor, "0") != 0);
	if (out->n > 1) {
		qsort(out->d, out->n, sizeof(*out->d), digest_cmp);
		for (i = 1, kept = 1; i < out->n; i++) {
			if (strcmp(out->d[i], out->d[kept - 1]) != 0)
				memmove(out->d[kept++], out->d[i], sizeof(*out->d));
		}
		out->n = kept;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (rc != 0)
		dl_free(out);
	return rc;
}

static int rd_scan(struct store_backend *be, char kind, struct digest_list *out)
{
	struct store_redis *rd = rd_of(be);
	char set[REDIS_KEY_MAX];

	key_kindset(rd, kind, set);
	return set_members(rd, set, kind, out);
}

static int rd_index(struct store_backend *be, const char *owner, struct digest_list *out)
{
	struct store_redis *rd = rd_of(be);
	char idx[REDIS_KEY_MAX];

	memset(out, 0, sizeof(*out));
	if (key_index(rd, owner, idx) != 0)
		return -1;
	return set_members(rd, idx, STORE_KIND_SESSION, out);
}

static int rd_count(struct store_backend *be, bool exact, size_t *n)
{
	struct store_redis *rd = rd_of(be);
	char set[REDIS_KEY_MAX];
	const char *argv[] = { "SCARD", set };
	struct digest_list dl = { 0 };
	redisReply *r = NULL;
	int rc = -1;

	key_kindset(rd, STORE_KIND_SESSION, set);
	if (exact) {
		/* counted from the records: sessions Redis expired drop out */
		rc = set_members(rd, set, STORE_KIND_SESSION, &dl);
		*n = dl.n;
		dl_free(&dl);
		goto out;
	}
	if (run(rd, 2, argv, &r) != 0 || r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		goto out;
	*n = (size_t)r->integer;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* The channel on which revoked sessions are announced. */
static void key_channel(const struct store_redis *rd, char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:ended", rd->prefix);
}

static void key_tombstone(const struct store_redis *rd, const char *digest,
			  char key[REDIS_KEY_MAX])
{
	snprintf(key, REDIS_KEY_MAX, "%s:e:%.*s", rd->prefix, STORE_DIGEST_HEX_LEN, digest);
}

static void rd_ended(struct store_backend *be, const char *digest, const char *text)
{
	struct store_redis *rd = rd_of(be);
	char channel[REDIS_KEY_MAX], tomb[REDIS_KEY_MAX], life[16], *msg = NULL;
	const char *argv[] = { NULL, NULL, "1", tomb, channel, NULL, life };
	redisReply *r = NULL;

	if (!is_digest(digest, strnlen(digest, STORE_DIGEST_HEX_LEN + 1)))
		return;
	key_channel(rd, channel);
	key_tombstone(rd, digest, tomb);
	snprintf(life, sizeof(life), "%d", REDIS_EXPIRY_GRACE);
	if (asprintf(&msg, "%.*s\n%s", STORE_DIGEST_HEX_LEN, digest, text) < 0)
		return;
	argv[5] = msg;
	if (run_script(rd, SCRIPT_ENDED, 7, argv, &r) == 0)
		freeReplyObject(r);
	free(msg);
}

static int rd_was_ended(struct store_backend *be, const char *digest)
{
	struct store_redis *rd = rd_of(be);
	char tomb[REDIS_KEY_MAX];
	const char *argv[] = { "EXISTS", tomb };
	redisReply *r = NULL;
	int rc = -1;

	if (!is_digest(digest, strnlen(digest, STORE_DIGEST_HEX_LEN + 1)))
		return -1;
	key_tombstone(rd, digest, tomb);
	if (run(rd, 2, argv, &r) == 0 && r->type == REDIS_REPLY_INTEGER)
		rc = r->integer > 0;
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

static int rd_changes(struct store_backend *be, char out[STORE_CHANGES_MAX + 1])
{
	struct store_redis *rd = rd_of(be);
	char key[REDIS_KEY_MAX];
	const char *argv[] = { "GET", key };
	redisReply *r = NULL;
	int rc = -1;

	out[0] = '\0';
	key_changes(rd, key);
	if (run(rd, 2, argv, &r) != 0)
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		rc = 0;
		goto out;
	}
	/* a lease token: REDIS_TOKEN_LEN hex digits */
	if (r->type != REDIS_REPLY_STRING || r->len != REDIS_TOKEN_LEN ||
	    strspn(r->str, "0123456789abcdef") < REDIS_TOKEN_LEN)
		goto out;
	memcpy(out, r->str, r->len);
	out[r->len] = '\0';
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* Nothing is left behind by an interrupted writer: each write is one script. */
static int rd_tidy(struct store_backend *be)
{
	(void)be;
	return 0;
}

/* ---- transactions ---------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int lease_take(struct store_redis *rd, struct verdict *v)
{
	struct timespec pause_ts = { 0, 1000000 }; /* 1 ms, doubling up to 64 ms */
	unsigned char raw[REDIS_TOKEN_LEN / 2];
	char lease[REDIS_KEY_MAX], ms[16], token[REDIS_TOKEN_LEN + 1];
	const char *argv[] = { "SET", lease, token, "NX", "PX", ms };
	int64_t deadline = mono_ms() + REDIS_LEASE_WAIT_MS;
	redisReply *r = NULL;
	size_t i;
	int rc = -1;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no randomness for the store lease");
		goto out;
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	key_lease(rd, lease);
	snprintf(ms, sizeof(ms), "%d", REDIS_LEASE_MS);
	for (;;) {
		if (run(rd, 6, argv, &r) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot reach the session store");
			goto out;
		}
		if (r->type == REDIS_REPLY_STATUS) {
			memcpy(rd->token, token, sizeof(token));
			rd->lost = false;
			rd->short_acks = false;
			rc = 0;
			goto out;
		}
		freeReplyObject(r);
		r = NULL;
		/* bounded: a stopped holder's lease runs out before this does */
		if (mono_ms() >= deadline) {
			verdict_set(v, VERDICT_UNAVAILABLE, "the session store is busy");
			goto out;
		}
		(void)nanosleep(&pause_ts, NULL);
		if (pause_ts.tv_nsec < 64000000)
			pause_ts.tv_nsec *= 2;
	}
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* 0 released, -1 the lease had run out (or the release failed). */
static int lease_give(struct store_redis *rd)
{
	char lease[REDIS_KEY_MAX];
	const char *argv[] = { NULL, NULL, "1", lease, rd->token };
	redisReply *r = NULL;
	int rc = -1;

	key_lease(rd, lease);
	if (run_script(rd, SCRIPT_RELEASE, 5, argv, &r) == 0 && r->type == REDIS_REPLY_INTEGER &&
	    r->integer == 1)
		rc = 0;
	if (r != NULL)
		freeReplyObject(r);
	rd->token[0] = '\0';
	return rc;
}

/* What crosses into the transaction's process (see privsep.h): the backend, the body,
 * the pid that called, then the body's context bytes. */
struct rd_txn {
	struct store_redis *rd;
	store_txn_fn fn;
	pid_t caller;
	/* ctx bytes follow */
};

static int txn_body(void *arg, struct verdict *v)
{
	struct rd_txn *t = arg;
	struct store_redis *rd = t->rd;
	int rc = -1;

	/* In the root child that privsep_run made, the caller's connection stays the
	 * caller's (its TLS state must not move on behind it): this process connects anew,
	 * and its connection goes when it exits. */
	if (getpid() != t->caller) {
		rd->conn = NULL;
		if (redis_connect(&rd->target, &rd->conn_opts, &rd->conn, v) != 0)
			goto out;
	}
	if (lease_take(rd, v) != 0)
		goto out;
	rc = t->fn((char *)arg + sizeof(*t), v);
	if (lease_give(rd) != 0 || rd->lost) {
		/* it ran past its lease (or the primary went away under it): what it decided
		 * may rest on what changed since */
		verdict_set(v, VERDICT_UNAVAILABLE, "the session store transaction ran out of time");
		rc = -1;
	} else if (rd->short_acks) {
		/* written on the primary only: a failover now would forget it */
		verdict_set(v, VERDICT_UNAVAILABLE, "write reached only");
		snprintf(v->detail, sizeof(v->detail), "%d of %d replicas", rd->acks, rd->replicas);
		rc = -1;
	}
out:
	return rc;
}

/* A process the invoking user can stop (sudo, su) never holds the lease itself: as on
 * tmpfs, the transaction runs in a child no unprivileged user can signal (privsep_run);
 * elsewhere it runs here. */
static int txn_run(struct store_backend *be, store_txn_fn fn, void *ctx, size_t ctx_size,
		   struct verdict *v)
{
	struct store_redis *rd = rd_of(be);
	struct rd_txn *t = NULL;
	int rc = -1;

	if (rd->token[0] != '\0') {
		verdict_set(v, VERDICT_UNAVAILABLE, "nested store transaction");
		goto out;
	}
	t = malloc(sizeof(*t) + ctx_size);
	if (t == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	t->rd = rd;
	t->fn = fn;
	t->caller = getpid();
	memcpy((char *)t + sizeof(*t), ctx, ctx_size);
	rc = privsep_run(txn_body, t, sizeof(*t) + ctx_size, v);
	memcpy(ctx, (char *)t + sizeof(*t), ctx_size);
out:
	free(t);
	return rc;
}

static void rd_close(struct store_backend *be)
{
	struct store_redis *rd = rd_of(be);

	if (rd == NULL)
		return;
	redis_close(rd->conn);
	free(rd);
}

static const struct store_backend_ops redis_ops = {
	.get = rd_get,
	.put = rd_put,
	.del = rd_del,
	.scan = rd_scan,
	.index = rd_index,
	.count = rd_count,
	.txn = txn_run,
	.tidy = rd_tidy,
	.ended = rd_ended,
	.was_ended = rd_was_ended,
	.changes = rd_changes,
	.close = rd_close,
};

static bool prefix_ok(const char *p)
{
	size_t i, n = strlen(p);

	if (n == 0 || n > REDIS_PREFIX_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int store_redis_open(const struct store_redis_options *opts, struct store_backend **out,
		     struct verdict *v)
{
	struct store_redis *rd = NULL;
	struct redis_target target;
	const char *reason = NULL;
	const char *prefix = opts->prefix != NULL ? opts->prefix : STORE_REDIS_DEFAULT_PREFIX;
	int rc = -1;

	*out = NULL;
	if (!prefix_ok(prefix)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "redis_prefix is not a plain name");
		goto out;
	}
	if (redis_url_parse(opts->url, &target, &reason) != 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, reason);
		goto out;
	}
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	rd->be.ops = &redis_ops;
	rd->target = target;
	rd->conn_opts = opts->conn;
	rd->replicas = opts->replicas;
	rd->eval_only = opts->eval_only;
	scripts_hash(rd);
	snprintf(rd->prefix, sizeof(rd->prefix), "{%s}", prefix);
	if (redis_connect(&target, &opts->conn, &rd->conn, v) != 0)
		goto out;
	*out = &rd->be;
	rd = NULL;
	rc = 0;
out:
	rd_close(rd != NULL ? &rd->be : NULL);
	return rc;
}

bool store_location_is_redis(const char *location)
{
	return location != NULL && (strncmp(location, "redis://", 8) == 0 ||
				    strncmp(location, "rediss://", 9) == 0 ||
				    strncmp(location, "redis+unix://", 13) == 0);
}

/* ---- watching --------------------------------------------------------------------------- */

struct store_watch {
	struct redis_conn *conn;
};

int store_redis_watch_open(const struct store_redis_options *opts, struct store_watch **out,
			   struct verdict *v)
{
	struct store_backend *be = NULL;
	struct store_watch *w = NULL;
	char channel[REDIS_KEY_MAX];
	const char *argv[] = { "SUBSCRIBE", channel };
	size_t lens[2];
	redisReply *r = NULL;
	int rc = -1;

	*out = NULL;
	if (store_redis_open(opts, &be, v) != 0)
		goto out;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	key_channel(rd_of(be), channel);
	lens[0] = strlen(argv[0]);
	lens[1] = strlen(channel);
	if (redis_command(rd_of(be)->conn, 2, argv, lens, &r, v) != 0)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis refused the subscription");
		goto out;
	}
	/* the connection moves to the watch */
	w->conn = rd_of(be)->conn;
	rd_of(be)->conn = NULL;
	*out = w;
	w = NULL;
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (be != NULL)
		rd_close(be);
	free(w);
	return rc;
}

int store_redis_watch_fd(const struct store_watch *w)
{
	return redis_fd(w->conn);
}

/* 1 with *msg (malloc'd) for a message, 2 for any other reply (skipped), 0 nothing within
 * timeout_ms, -1 broken. */
int store_redis_watch_read(struct store_watch *w, int timeout_ms, char **msg, struct verdict *v)
{
	redisReply *r = NULL;
	int rc;

	*msg = NULL;
	rc = redis_wait(w->conn, timeout_ms, &r, v);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	rc = 2;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
	    r->element[2]->type == REDIS_REPLY_STRING &&
	    memchr(r->element[2]->str, '\0', r->element[2]->len) == NULL) {
		*msg = strndup(r->element[2]->str, r->element[2]->len);
		rc = *msg != NULL ? 1 : 2;
	}
	freeReplyObject(r);
	return rc;
}

void store_redis_watch_close(struct store_watch *w)
{
	if (w == NULL)
		return;
	redis_close(w->conn);
	free(w);
}
