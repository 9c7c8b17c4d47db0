/*
 * Refresh tokens and their families: the token shape (a family part and a secret),
 * recording a family for a live session (a few per session: a new one drops the oldest),
 * rotation (the store makes the successor; presenting any token of the family that is not
 * the current one, spent or forged, is reuse and revokes the session and its
 * descendants), the rate limit, a store that stays flat however often a family rotates,
 * the family record codec, concurrent rotations of one token, gc, and importing
 * revocations from a persistent directory.
 *
 * Each test gets a private store (testutil.h: a private tmpfs when root, else a 0700
 * directory opened with allow_non_tmpfs). Times are explicit (`now`): no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "b64url.h"
#include "config.h"
#include "session.h"
#include "store.h"
#include "verdict.h"
#include "testutil.h"

#define NOW 1700000000LL
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOKLEN (STORE_SESSION_ID_LEN + 1)
#define DIGLEN (STORE_DIGEST_HEX_LEN + 1)
#define RACE_ROUNDS 200
#define RACERS 2
#define MANY_ROTATIONS 10000
#define REUSE_MSG "refresh token reuse: session revoked"
#define RATE_MSG "too many refreshes for this session"

struct fx {
	struct tu_store s;
	struct tu_store from; /* a second store (import tests); removed by the teardown */
	struct config cfg;
};

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	if (config_init(&fx->cfg) != 0) {
		free(fx);
		return -1;
	}
	fx->cfg.session_ttl = 3600;
	fx->cfg.idle_timeout = 0;
	if (tu_store_open(&fx->s, "refresh", 0, 0) != 0) {
		config_free(&fx->cfg);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx == NULL)
		return 0;
	tu_store_close(&fx->s);
	tu_store_close(&fx->from);
	config_free(&fx->cfg);
	free(fx);
	return 0;
}

/* Reopen the store with a refresh rate limit (0: none). */
static void set_rate_limit(struct fx *fx, size_t per_minute)
{
	fx->s.opts.max_refreshes_per_minute = per_minute;
	assert_int_equal(tu_store_reopen(&fx->s, 0, 0), 0);
}

static void new_token(char tok[TOKLEN])
{
	assert_int_equal(store_refresh_id_new(tok), 0);
	assert_true(store_refresh_id_looks_like(tok, strlen(tok)));
}

/* What the family record keeps of a token. */
static void token_digest(const char *tok, char out[DIGLEN])
{
	store_digest_hex(tok, strlen(tok), out);
}

/* What names a token's family record. */
static void family_of(const char *tok, char out[DIGLEN])
{
	assert_int_equal(store_refresh_family_digest(tok, out), 0);
	assert_true(store_digest_looks_like(out));
}

/* The raw 32 bytes of a token. */
static void token_raw(const char *tok, unsigned char raw[STORE_ID_RAW_BYTES])
{
	unsigned char buf[64];
	size_t n = 0;

	assert_true(b64url_decoded_max(STORE_SESSION_ID_LEN - 4) <= sizeof(buf));
	assert_int_equal(b64url_decode(tok + 4, STORE_SESSION_ID_LEN - 4, buf, &n), 0);
	assert_int_equal(n, STORE_ID_RAW_BYTES);
	memcpy(raw, buf, STORE_ID_RAW_BYTES);
}

static void token_from_raw(const unsigned char raw[STORE_ID_RAW_BYTES], char tok[TOKLEN])
{
	assert_int_equal(b64url_encoded_len(STORE_ID_RAW_BYTES), STORE_SESSION_ID_LEN - 4);
	memcpy(tok, STORE_REFRESH_PREFIX, 4);
	b64url_encode(raw, STORE_ID_RAW_BYTES, tok + 4);
	assert_int_equal(strlen(tok), STORE_SESSION_ID_LEN);
	assert_true(store_refresh_id_looks_like(tok, strlen(tok)));
}

/* A token of tok's family with another secret: what only someone who held a token of the
 * family could make. xor (non-zero) is applied to every secret byte. */
static void forge_secret(const char *tok, unsigned char xor, char out[TOKLEN])
{
	unsigned char raw[STORE_ID_RAW_BYTES];
	size_t i;

	token_raw(tok, raw);
	for (i = STORE_REFRESH_FAMILY_BYTES; i < STORE_ID_RAW_BYTES; i++)
		raw[i] ^= xor;
	token_from_raw(raw, out);
}

/* A token with tok's secret but another family part. */
static void forge_family(const char *tok, char out[TOKLEN])
{
	unsigned char raw[STORE_ID_RAW_BYTES];

	token_raw(tok, raw);
	raw[0] ^= 0x01;
	token_from_raw(raw, out);
}

/* A session of `user` created at NOW, expiring at `expires`, with an idle limit. */
static void session(struct fx *fx, const char *user, int64_t expires, int64_t idle,
		    char digest[DIGLEN])
{
	struct store_session s;
	struct verdict v;

	tu_session_fill(&s, user, "sshd", NOW);
	s.expires = expires;
	s.idle_timeout = idle;
	s.uid = 1234;
	if (tu_session_put(fx->s.st, &s, NULL, digest, &v) != 0)
		fail_msg("store_session_put: %s", v.reason);
}

/* A child of `parent` through session_record_new. */
static void child(struct fx *fx, const char *user, const char *parent, int64_t now,
		  char digest[DIGLEN])
{
	struct session_login l;
	char id[TOKLEN];
	struct verdict v;

	memset(&l, 0, sizeof(l));
	l.user = user;
	l.uid = 1234;
	l.service = "sshd";
	l.parent = parent;
	verdict_init(&v);
	if (session_record_new(fx->s.st, &fx->cfg, &l, now, id, digest, &v) != 0)
		fail_msg("session_record_new: %s", v.reason);
}

static int put(struct fx *fx, const char *tok, const char *sess, int64_t expires, int64_t now,
	       struct store_refresh *rec, struct verdict *v)
{
	memset(rec, 0, sizeof(*rec));
	if (sess != NULL)
		snprintf(rec->session, sizeof(rec->session), "%s", sess);
	rec->expires = expires;
	verdict_init(v);
	return store_refresh_put(fx->s.st, tok, rec, now, v);
}

static void put_ok(struct fx *fx, const char *tok, const char *sess, int64_t expires,
		   int64_t now)
{
	struct store_refresh rec;
	struct verdict v;

	if (put(fx, tok, sess, expires, now, &rec, &v) != 0)
		fail_msg("store_refresh_put: %s", v.reason);
}

/* A new family for a session: its first token into tok. */
static void family_new(struct fx *fx, const char *sess, int64_t expires, char tok[TOKLEN])
{
	new_token(tok);
	put_ok(fx, tok, sess, expires, NOW);
}

#define GONE_MAX 64

struct gone {
	size_t n;
	char digest[GONE_MAX][DIGLEN];
};

static int gone_cb(const struct store_session *s, void *ctx)
{
	struct gone *g = ctx;

	if (g->n < GONE_MAX)
		memcpy(g->digest[g->n], s->digest, sizeof(g->digest[0]));
	g->n++;
	return 0;
}

static int gone_has(const struct gone *g, const char *digest)
{
	size_t i, hits = 0;

	for (i = 0; i < g->n && i < GONE_MAX; i++)
		hits += strcmp(g->digest[i], digest) == 0;
	return (int)hits;
}

struct rot {
	int rc;
	bool reuse;
	char next[TOKLEN]; /* the successor the store made */
	struct store_refresh rec;
	struct store_session sess;
	struct gone gone;
	struct verdict v;
};

static int rotate(struct fx *fx, const char *old, int64_t new_expires, int64_t now,
		  struct rot *r)
{
	memset(r, 0, sizeof(*r));
	memset(r->next, 'X', sizeof(r->next) - 1); /* must be replaced or cleared */
	r->reuse = true;                           /* must be set to false by the call */
	verdict_init(&r->v);
	r->rc = store_refresh_rotate(fx->s.st, old, r->next, new_expires, now, &r->rec,
				     &r->sess, &r->reuse, gone_cb, &r->gone, &r->v);
	return r->rc;
}

/* No usable token came out of a refused rotation. */
static void assert_no_successor(const struct rot *r)
{
	size_t n = strnlen(r->next, sizeof(r->next));

	assert_true(n < sizeof(r->next));
	assert_false(store_refresh_id_looks_like(r->next, n));
}

/* A successful rotation: the successor is a new token of old's family. */
static void rotate_ok(struct fx *fx, const char *old, int64_t new_expires, int64_t now,
		      struct rot *r)
{
	char fam_old[DIGLEN], fam_new[DIGLEN], cur[DIGLEN];

	if (rotate(fx, old, new_expires, now, r) != 0)
		fail_msg("store_refresh_rotate: %s", r->v.reason);
	assert_int_equal(r->v.code, VERDICT_OK);
	assert_false(r->reuse);
	assert_int_equal(r->gone.n, 0);
	assert_int_equal(strnlen(r->next, sizeof(r->next)), STORE_SESSION_ID_LEN);
	assert_true(store_refresh_id_looks_like(r->next, strlen(r->next)));
	assert_string_not_equal(r->next, old);
	family_of(old, fam_old);
	family_of(r->next, fam_new);
	assert_string_equal(fam_new, fam_old);
	assert_string_equal(r->rec.digest, fam_old);
	token_digest(r->next, cur);
	assert_string_equal(r->rec.current, cur);
}

/* Rotate old and hand its successor back in tok (a client's step). */
static void step(struct fx *fx, char tok[TOKLEN], int64_t new_expires, int64_t now)
{
	struct rot r;

	rotate_ok(fx, tok, new_expires, now, &r);
	memcpy(tok, r.next, TOKLEN);
}

/* A refused rotation that is not reuse and revokes nothing. */
static void rotate_refused(struct fx *fx, const char *old, int64_t now, const char *reason)
{
	struct rot r;

	assert_int_equal(rotate(fx, old, NOW + 7200, now, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, reason);
	assert_false(r.reuse);
	assert_int_equal(r.gone.n, 0);
	assert_string_equal(r.rec.digest, "");
	assert_no_successor(&r);
}

/* Reuse: the session (and what gone lists) went. */
static void rotate_reuse(struct fx *fx, const char *old, int64_t now, const char *sess,
			 size_t gone_n)
{
	struct rot r;

	assert_int_equal(rotate(fx, old, NOW + 7200, now, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, REUSE_MSG);
	assert_true(r.reuse);
	assert_int_equal(r.gone.n, gone_n);
	if (gone_n > 0)
		assert_int_equal(gone_has(&r.gone, sess), 1);
	assert_string_equal(r.rec.digest, "");
	assert_no_successor(&r);
}

static int session_exists(struct fx *fx, const char *digest)
{
	struct store_session s;
	struct verdict v;

	verdict_init(&v);
	return store_session_get_digest(fx->s.st, digest, &s, &v) == 0;
}

/* The session's newest family ("" if it has none); *count (may be NULL) gets how many. */
static void session_families(struct fx *fx, const char *digest, char out[DIGLEN],
			     size_t *count)
{
	struct store_session s;
	struct verdict v;
	size_t n = 0;

	verdict_init(&v);
	if (store_session_get_digest(fx->s.st, digest, &s, &v) != 0)
		fail_msg("session %.12s: %s", digest, v.reason);
	while (n < STORE_SESSION_FAMILIES && s.family[n][0] != '\0')
		n++;
	memcpy(out, n > 0 ? s.family[n - 1] : "", n > 0 ? DIGLEN : 1);
	if (count != NULL)
		*count = n;
}

static void session_family(struct fx *fx, const char *digest, char out[DIGLEN])
{
	session_families(fx, digest, out, NULL);
}

static void family_path(struct fx *fx, const char *tok, char path[256])
{
	char fam[DIGLEN];

	family_of(tok, fam);
	snprintf(path, 256, "%s/r-%s", fx->s.dir.path, fam);
}

/* The text of a token's family record, by its documented name
 * "r-<hex sha256(family part)>": malloc'd, or NULL when absent. */
static char *family_text(struct fx *fx, const char *tok)
{
	char path[256];

	family_path(fx, tok, path);
	return tu_read_file(path, NULL);
}

/* The family record of a token: 1 present and parsed into *rec, 0 absent. */
static int refresh_record(struct fx *fx, const char *tok, struct store_refresh *rec)
{
	char *text;

	memset(rec, 0, sizeof(*rec));
	text = family_text(fx, tok);
	if (text == NULL)
		return 0;
	if (store_refresh_parse(text, strlen(text), rec) != 0)
		fail_msg("refresh family record does not parse: %s", text);
	free(text);
	return 1;
}

/* The family record still holds exactly `before` (a refusal changed nothing). */
static void assert_family_text(struct fx *fx, const char *tok, const char *before)
{
	char *now = family_text(fx, tok);

	assert_non_null(before);
	if (now == NULL)
		fail_msg("the family record went");
	if (strcmp(now, before) != 0)
		fail_msg("the family record changed:\n%s---\n%s", before, now);
	free(now);
}

/* Entries of a directory but "." and "..". */
static size_t dir_entries(const char *path, char kind)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(path);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (kind == 0 || (de->d_name[0] == kind && de->d_name[1] == '-'))
			n++;
	}
	closedir(d);
	return n;
}

/* Remove a session's record file alone: what a writer killed between deleting a session
 * and deleting its family leaves behind. */
static void unlink_session_file(struct fx *fx, const char *digest)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/s-%s", fx->s.dir.path, digest);
	assert_int_equal(unlink(path), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

/* ---- token shape --------------------------------------------------------------------------- */

static void test_refresh_id_shape(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char valid_last[] = "AEIMQUYcgkosw048";
	char tok[TOKLEN], tok2[TOKLEN], next[TOKLEN], sid[TOKLEN], bad[64];
	char f1[DIGLEN], f2[DIGLEN], fn[DIGLEN], expect[DIGLEN];
	unsigned char raw[STORE_ID_RAW_BYTES], raw_next[STORE_ID_RAW_BYTES];
	int i;

	(void)state;
	new_token(tok);
	new_token(tok2);
	assert_int_equal(strlen(tok), 47);
	assert_memory_equal(tok, "pjr_", 4);
	assert_string_not_equal(tok, tok2);
	assert_true(store_refresh_id_looks_like(tok, strlen(tok)));
	assert_true(store_refresh_id_looks_like(tok2, strlen(tok2)));
	/* a refresh token is not a session ID and vice versa */
	assert_false(store_session_id_looks_like(tok, strlen(tok)));
	assert_int_equal(store_session_id_new(sid), 0);
	assert_false(store_refresh_id_looks_like(sid, strlen(sid)));
	memcpy(bad, sid, sizeof(sid));
	memcpy(bad, "pjr_", 4);
	assert_true(store_refresh_id_looks_like(bad, 47)); /* same body, refresh prefix */
	/* length, prefix, charset */
	assert_false(store_refresh_id_looks_like(tok, 46));
	assert_false(store_refresh_id_looks_like(NULL, 47));
	snprintf(bad, sizeof(bad), "%sA", tok);
	assert_false(store_refresh_id_looks_like(bad, strlen(bad)));
	memcpy(bad, tok, sizeof(tok));
	bad[3] = '-';
	assert_false(store_refresh_id_looks_like(bad, 47));
	memcpy(bad, tok, sizeof(tok));
	bad[0] = 'P';
	assert_false(store_refresh_id_looks_like(bad, 47));
	memcpy(bad, tok, sizeof(tok));
	bad[20] = '+';
	assert_false(store_refresh_id_looks_like(bad, 47));
	memcpy(bad, tok, sizeof(tok));
	bad[20] = '=';
	assert_false(store_refresh_id_looks_like(bad, 47));
	memcpy(bad, tok, sizeof(tok));
	bad[20] = '\0';
	assert_false(store_refresh_id_looks_like(bad, 47));
	/* the last character's 2 spare bits must be zero */
	memcpy(bad, tok, sizeof(tok));
	for (i = 0; i < 64; i++) {
		bad[46] = alphabet[i];
		assert_int_equal(store_refresh_id_looks_like(bad, 47),
				 strchr(valid_last, alphabet[i]) != NULL);
	}
	/* what store_refresh_id_new makes always has them zero */
	for (i = 0; i < 200; i++) {
		new_token(tok2);
		assert_non_null(strchr(valid_last, tok2[46]));
	}

	/* the family part: the first 16 of the 32 bytes, named by its SHA-256 */
	new_token(tok2);
	family_of(tok, f1);
	family_of(tok2, f2);
	assert_string_not_equal(f1, f2); /* a new token starts a new family */
	token_raw(tok, raw);
	store_digest_hex(raw, STORE_REFRESH_FAMILY_BYTES, expect);
	assert_string_equal(f1, expect);
	token_digest(tok, expect);
	assert_string_not_equal(f1, expect); /* the family is not the token */
	/* the next token of a family: same family part, a new secret */
	assert_int_equal(store_refresh_id_next(tok, next), 0);
	assert_true(store_refresh_id_looks_like(next, strlen(next)));
	assert_string_not_equal(next, tok);
	family_of(next, fn);
	assert_string_equal(fn, f1);
	token_raw(next, raw_next);
	assert_memory_equal(raw_next, raw, STORE_REFRESH_FAMILY_BYTES);
	assert_memory_not_equal(raw_next + STORE_REFRESH_FAMILY_BYTES,
				raw + STORE_REFRESH_FAMILY_BYTES,
				STORE_ID_RAW_BYTES - STORE_REFRESH_FAMILY_BYTES);
	/* 16 bytes are 21 whole base64url characters and 2 bits of the 22nd */
	assert_memory_equal(next, tok, 4 + 21);
	/* only refresh tokens have a family */
	assert_int_equal(store_refresh_id_next(sid, next), -1);
	assert_false(store_refresh_id_looks_like(next, strnlen(next, sizeof(next))));
	assert_int_equal(store_refresh_id_next(NULL, next), -1);
	assert_int_equal(store_refresh_family_digest(sid, f2), -1);
	assert_string_equal(f2, "");
	assert_int_equal(store_refresh_family_digest(NULL, f2), -1);
	memcpy(bad, tok, sizeof(tok));
	bad[46] = 'B'; /* spare bits set */
	assert_int_equal(store_refresh_family_digest(bad, f2), -1);
	assert_int_equal(store_refresh_id_next(bad, next), -1);
}

/* ---- store_refresh_put --------------------------------------------------------------------- */

static void test_refresh_put(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], s2[DIGLEN], expired[DIGLEN], ghost[DIGLEN], f[DIGLEN], d[DIGLEN];
	char tok[TOKLEN], tok2[TOKLEN], tok3[TOKLEN], sib[TOKLEN], sid[TOKLEN], *before;
	struct store_refresh rec, back;
	struct verdict v;

	session(fx, "alice", NOW + 1000, 0, s);
	session_family(fx, s, f);
	assert_string_equal(f, ""); /* none yet */
	new_token(tok);
	assert_int_equal(put(fx, tok, s, NOW + 100, NOW, &rec, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	family_of(tok, f);
	token_digest(tok, d);
	assert_string_equal(rec.digest, f);
	assert_string_equal(rec.current, d);
	assert_string_equal(rec.session, s);
	assert_string_equal(rec.user, "alice");
	assert_int_equal(rec.uid, 1234);
	assert_int_equal(rec.created, NOW);
	assert_int_equal(rec.expires, NOW + 100);
	assert_int_equal(rec.rotations, 0);
	assert_int_equal(rec.window_count, 0);
	assert_int_equal(refresh_record(fx, tok, &back), 1);
	assert_string_equal(back.session, s);
	assert_string_equal(back.current, d);
	assert_int_equal(back.expires, NOW + 100);
	assert_int_equal(back.rotations, 0);
	/* the session names its family */
	session_family(fx, s, d);
	assert_string_equal(d, f);
	/* read back through the store, by the token */
	verdict_init(&v);
	assert_int_equal(store_refresh_get(fx->s.st, tok, &back, &v), 0);
	assert_string_equal(back.digest, f);
	assert_string_equal(back.session, s);
	/* the same token twice, or another token of the same family: refused, unchanged */
	before = family_text(fx, tok);
	assert_int_equal(put(fx, tok, s, NOW + 100, NOW + 1, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "refresh token already exists");
	assert_int_equal(store_refresh_id_next(tok, sib), 0);
	assert_int_equal(put(fx, sib, s, NOW + 100, NOW + 1, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "refresh token already exists");
	/* nor may another session take the family over */
	session(fx, "alice", NOW + 1000, 0, s2);
	assert_int_equal(put(fx, sib, s2, NOW + 100, NOW + 1, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "refresh token already exists");
	assert_family_text(fx, tok, before);
	free(before);
	session_family(fx, s2, d);
	assert_string_equal(d, "");
	/* capped at the session's expiry */
	new_token(tok2);
	assert_int_equal(put(fx, tok2, s2, NOW + 99999, NOW, &rec, &v), 0);
	assert_int_equal(rec.expires, NOW + 1000);
	assert_int_equal(refresh_record(fx, tok2, &back), 1);
	assert_int_equal(back.expires, NOW + 1000);
	/* an unknown session */
	new_token(tok3);
	assert_int_equal(store_session_id_new(sid), 0);
	token_digest(sid, ghost);
	assert_int_equal(put(fx, tok3, ghost, NOW + 100, NOW, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	assert_int_equal(refresh_record(fx, tok3, &back), 0);
	/* an expired session */
	session(fx, "alice", NOW + 10, 0, expired);
	assert_int_equal(put(fx, tok3, expired, NOW + 100, NOW + 10, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session expired");
	assert_int_equal(refresh_record(fx, tok3, &back), 0);
	session_family(fx, expired, d);
	assert_string_equal(d, "");
	/* malformed: a session ID as the token, a bad session digest, no token */
	assert_int_equal(put(fx, sid, s, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(put(fx, tok3, "ABC", NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(put(fx, NULL, s, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(refresh_record(fx, tok3, &back), 0);
	/* none of the refusals touched s's family */
	session_family(fx, s, d);
	assert_string_equal(d, f);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 2);
}

/* "The session must be live": not idle, not cut off from what opened it. */
static void test_refresh_put_needs_live_session(void **state)
{
	struct fx *fx = *state;
	char idle[DIGLEN], p[DIGLEN], c[DIGLEN], j[DIGLEN], jh[DIGLEN], f[DIGLEN];
	char tok[TOKLEN], id[TOKLEN];
	struct store_refresh rec, back;
	struct session_login l;
	struct store_session sr;
	struct verdict v;

	session(fx, "alice", NOW + 3600, 60, idle);
	new_token(tok);
	assert_int_equal(put(fx, tok, idle, NOW + 100, NOW + 61, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session is idle past its limit");
	assert_int_equal(refresh_record(fx, tok, &back), 0);
	session_family(fx, idle, f);
	assert_string_equal(f, "");

	/* a session whose parent has gone (a child of another user's revoked session) */
	session(fx, "carol", NOW + 3600, 0, p);
	tu_session_fill(&sr, "alice", "sshd", NOW);
	memcpy(sr.parent, p, sizeof(sr.parent));
	assert_int_equal(tu_session_put(fx->s.st, &sr, NULL, c, &v), 0);
	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->s.st, p, &v), 0);
	assert_int_equal(put(fx, tok, c, NOW + 100, NOW, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");
	assert_int_equal(refresh_record(fx, tok, &back), 0);

	/* a session opened by a JWT that is revoked since */
	memset(&l, 0, sizeof(l));
	l.user = "alice";
	l.service = "sshd";
	store_digest_hex("jwt-r", 5, jh);
	l.origin_jti = jh;
	verdict_init(&v);
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, j, &v), 0);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-r", NOW + 600, &v), 0);
	assert_int_equal(put(fx, tok, j, NOW + 100, NOW, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(refresh_record(fx, tok, &back), 0);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
}

/* A session keeps STORE_SESSION_FAMILIES families (one per "open" for it, each rotating
 * on its own); the next put drops the oldest, whose tokens, current and spent, become
 * unknown and are not reuse: nothing is revoked. */
static void test_refresh_put_keeps_bounded_families(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], other[DIGLEN], f1[DIGLEN], fnew[DIGLEN], d[DIGLEN];
	char t[STORE_SESSION_FAMILIES][TOKLEN], first[TOKLEN], spent[TOKLEN], o1[TOKLEN];
	char tn[TOKLEN];
	struct store_refresh rec, back;
	struct verdict v;
	size_t i, n;

	session(fx, "alice", NOW + 3600, 0, s);
	session(fx, "alice", NOW + 3600, 0, other);
	family_new(fx, other, NOW + 3000, o1);
	for (i = 0; i < STORE_SESSION_FAMILIES; i++) {
		new_token(t[i]);
		assert_int_equal(put(fx, t[i], s, NOW + 3000, NOW, &rec, &v), 0);
		if (i == 0) {
			memcpy(f1, rec.digest, sizeof(f1));
			memcpy(first, t[0], sizeof(first));
			memcpy(spent, t[0], sizeof(spent));
			step(fx, t[0], NOW + 3000, NOW + 1); /* spent: first; current: t[0] */
		}
	}
	session_families(fx, s, d, &n);
	assert_int_equal(n, STORE_SESSION_FAMILIES);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), STORE_SESSION_FAMILIES + 1);
	/* every family rotates on its own */
	for (i = 0; i < STORE_SESSION_FAMILIES; i++)
		step(fx, t[i], NOW + 3000, NOW + 2);
	assert_true(session_exists(fx, s));

	/* one more: the oldest goes, the count stays */
	new_token(tn);
	assert_int_equal(put(fx, tn, s, NOW + 3000, NOW + 3, &rec, &v), 0);
	memcpy(fnew, rec.digest, sizeof(fnew));
	assert_string_not_equal(f1, fnew);
	assert_int_equal(rec.rotations, 0);
	assert_int_equal(rec.created, NOW + 3);
	session_families(fx, s, d, &n);
	assert_int_equal(n, STORE_SESSION_FAMILIES);
	assert_string_equal(d, fnew);
	assert_int_equal(refresh_record(fx, t[0], &back), 0); /* the first family went */
	assert_int_equal(refresh_record(fx, tn, &back), 1);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), STORE_SESSION_FAMILIES + 1);
	verdict_init(&v);
	assert_int_equal(store_refresh_get(fx->s.st, t[0], &back, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown refresh token");

	/* its current and its spent tokens are unknown now, and revoke nothing */
	rotate_refused(fx, t[0], NOW + 4, "unknown refresh token");
	rotate_refused(fx, spent, NOW + 4, "unknown refresh token");
	rotate_refused(fx, first, NOW + 4, "unknown refresh token");
	assert_true(session_exists(fx, s));
	/* the kept families and the new one work; the other session's is untouched */
	memcpy(spent, t[1], sizeof(spent));
	for (i = 1; i < STORE_SESSION_FAMILIES; i++)
		step(fx, t[i], NOW + 3000, NOW + 5);
	step(fx, tn, NOW + 3000, NOW + 5);
	step(fx, o1, NOW + 3000, NOW + 5);
	session_family(fx, other, d);
	family_of(o1, f1);
	assert_string_equal(d, f1);

	/* reuse in any family ends the session, and every family goes with it */
	rotate_reuse(fx, spent, NOW + 6, s, 1);
	assert_false(session_exists(fx, s));
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 1);
	rotate_refused(fx, tn, NOW + 7, "unknown refresh token");
	step(fx, o1, NOW + 3000, NOW + 7);
}

/* store_refresh_get finds the family by any token of it, and is read-only. */
static void test_refresh_get(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], t1[TOKLEN], spent[TOKLEN], forged[TOKLEN], sid[TOKLEN], *before;
	struct store_refresh back;
	struct verdict v;

	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 3000, t1);
	memcpy(spent, t1, sizeof(spent));
	step(fx, t1, NOW + 3000, NOW + 1);
	forge_secret(t1, 0xa5, forged);
	before = family_text(fx, t1);
	verdict_init(&v);
	assert_int_equal(store_refresh_get(fx->s.st, t1, &back, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_string_equal(back.session, s);
	assert_int_equal(back.rotations, 1);
	assert_int_equal(store_refresh_get(fx->s.st, spent, &back, &v), 0);
	assert_string_equal(back.session, s);
	assert_int_equal(store_refresh_get(fx->s.st, forged, &back, &v), 0);
	assert_string_equal(back.session, s);
	/* no reuse was flagged by looking */
	assert_family_text(fx, t1, before);
	free(before);
	assert_true(session_exists(fx, s));
	/* unknown and malformed */
	new_token(forged);
	assert_int_equal(store_refresh_get(fx->s.st, forged, &back, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown refresh token");
	assert_string_equal(back.session, "");
	assert_int_equal(store_session_id_new(sid), 0);
	assert_int_equal(store_refresh_get(fx->s.st, sid, &back, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown refresh token");
	assert_int_equal(store_refresh_get(fx->s.st, NULL, &back, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	step(fx, t1, NOW + 3000, NOW + 2);
}

/* ---- rotation ------------------------------------------------------------------------------ */

static void test_rotate(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], f[DIGLEN], d[DIGLEN], t1[TOKLEN], t2[TOKLEN];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 600, t1);
	family_of(t1, f);
	rotate_ok(fx, t1, NOW + 900, NOW + 10, &r);
	memcpy(t2, r.next, sizeof(t2));
	assert_string_equal(r.rec.digest, f);
	assert_string_equal(r.rec.session, s);
	assert_string_equal(r.rec.user, "alice");
	assert_int_equal(r.rec.uid, 1234);
	assert_int_equal(r.rec.created, NOW); /* the family's, not the token's */
	assert_int_equal(r.rec.expires, NOW + 900);
	assert_int_equal(r.rec.rotations, 1);
	assert_string_equal(r.sess.digest, s);
	assert_string_equal(r.sess.user, "alice");
	/* the family record was rewritten: it knows only the new token */
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	token_digest(t2, d);
	assert_string_equal(back.current, d);
	assert_int_equal(back.rotations, 1);
	assert_int_equal(back.expires, NOW + 900);
	assert_int_equal(back.created, NOW);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 1);
	/* the new one works next time */
	rotate_ok(fx, t2, NOW + 1200, NOW + 20, &r);
	assert_int_equal(r.rec.rotations, 2);
	assert_int_equal(r.rec.expires, NOW + 1200);
	assert_true(session_exists(fx, s));
	session_family(fx, s, d);
	assert_string_equal(d, f);
	/* rec_out, sess_out, reuse, fn may all be NULL */
	{
		char next[TOKLEN];
		struct verdict v;

		verdict_init(&v);
		assert_int_equal(store_refresh_rotate(fx->s.st, r.next, next, NOW + 1200, NOW + 30,
						      NULL, NULL, NULL, NULL, NULL, &v), 0);
		assert_int_equal(v.code, VERDICT_OK);
		assert_true(store_refresh_id_looks_like(next, strlen(next)));
		step(fx, next, NOW + 1200, NOW + 31);
	}
}

static void test_rotate_reuse_revokes_family(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], c[DIGLEN], g[DIGLEN], other[DIGLEN], bob[DIGLEN];
	char t1[TOKLEN], t2[TOKLEN], t3[TOKLEN], ct[TOKLEN], o1[TOKLEN], b1[TOKLEN];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	child(fx, "alice", s, NOW, c);
	child(fx, "alice", c, NOW, g);
	session(fx, "alice", NOW + 3600, 0, other);
	session(fx, "bob", NOW + 3600, 0, bob);
	family_new(fx, s, NOW + 3000, t1);
	family_new(fx, c, NOW + 3000, ct);
	family_new(fx, other, NOW + 3000, o1);
	family_new(fx, bob, NOW + 3000, b1);
	rotate_ok(fx, t1, NOW + 3000, NOW + 1, &r);
	memcpy(t2, r.next, sizeof(t2));
	rotate_ok(fx, t2, NOW + 3000, NOW + 2, &r);
	memcpy(t3, r.next, sizeof(t3));

	/* t1 again: reuse */
	assert_int_equal(rotate(fx, t1, NOW + 3000, NOW + 3, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, REUSE_MSG);
	assert_true(r.reuse);
	assert_no_successor(&r);
	assert_string_equal(r.sess.digest, s); /* as it was before it went */
	assert_string_equal(r.sess.user, "alice");
	assert_string_equal(r.rec.digest, "");
	assert_int_equal(r.gone.n, 3);
	assert_int_equal(gone_has(&r.gone, s), 1);
	assert_int_equal(gone_has(&r.gone, c), 1);
	assert_int_equal(gone_has(&r.gone, g), 1);
	assert_false(session_exists(fx, s));
	assert_false(session_exists(fx, c));
	assert_false(session_exists(fx, g));
	assert_true(session_exists(fx, other));
	assert_true(session_exists(fx, bob));
	/* the family went, and so did the descendant's */
	assert_int_equal(refresh_record(fx, t1, &back), 0);
	assert_int_equal(refresh_record(fx, ct, &back), 0);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 2);
	/* the token that was current is unknown now; so are the spent ones: nothing more
	 * to revoke, nothing reported */
	rotate_refused(fx, t3, NOW + 4, "unknown refresh token");
	rotate_refused(fx, t2, NOW + 5, "unknown refresh token");
	rotate_refused(fx, t1, NOW + 5, "unknown refresh token");
	rotate_refused(fx, ct, NOW + 5, "unknown refresh token");
	/* other families are not affected */
	step(fx, o1, NOW + 3000, NOW + 6);
	step(fx, b1, NOW + 3000, NOW + 6);
	assert_true(session_exists(fx, other));
	assert_true(session_exists(fx, bob));
}

struct isolated_rotate {
	int rc;
	int code;
	int reuse;
	int reason_reuse;
	char sess[DIGLEN];
	struct gone gone;
};

/* store_refresh_rotate of old in a child process with its own store handle, so that a
 * crash fails one test, not the whole run (a sanitizer aborts the process). 0 and *out
 * filled in, or -1 with the child's wait status in *status. */
static int rotate_isolated(struct fx *fx, const char *old, int64_t now,
			   struct isolated_rotate *out, int *status)
{
	int res[2];
	pid_t pid;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	*status = 0;
	assert_int_equal(pipe(res), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct isolated_rotate rep;
		struct store_session sess;
		struct store *st = NULL;
		struct verdict v;
		char next[TOKLEN];
		bool reuse = false;

		/* a crash ends this process: cmocka's handlers must not run the suite on */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		close(res[0]);
		memset(&rep, 0, sizeof(rep));
		verdict_init(&v);
		if (store_open(fx->s.dir.path, &fx->s.opts, &st, &v) != 0)
			_exit(10);
		rep.rc = store_refresh_rotate(st, old, next, NOW + 3000, now, NULL, &sess, &reuse,
					      gone_cb, &rep.gone, &v);
		rep.code = (int)v.code;
		rep.reuse = reuse;
		rep.reason_reuse = v.reason != NULL && strcmp(v.reason, REUSE_MSG) == 0;
		memcpy(rep.sess, sess.digest, sizeof(rep.sess));
		store_close(st);
		if (write(res[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(20);
		_exit(0);
	}
	close(res[1]);
	n = read(res[0], out, sizeof(*out));
	close(res[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	if (n != (ssize_t)sizeof(*out) || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
		return -1;
	return 0;
}

/* Reuse of s's family with `children` direct children: the whole tree goes. */
static void reuse_tree(struct fx *fx, int children)
{
	char s[DIGLEN], c[40][DIGLEN], t1[TOKLEN], spent[TOKLEN];
	struct isolated_rotate r;
	int k, status;

	assert_true(children <= 40);
	session(fx, "alice", NOW + 3600, 0, s);
	for (k = 0; k < children; k++)
		child(fx, "alice", s, NOW, c[k]);
	family_new(fx, s, NOW + 3000, t1);
	memcpy(spent, t1, sizeof(spent));
	step(fx, t1, NOW + 3000, NOW + 1);
	if (rotate_isolated(fx, spent, NOW + 2, &r, &status) != 0)
		fail_msg("store_refresh_rotate crashed on reuse of a family whose session has "
			 "%d descendants (%s %d); left behind: the session %s, %zu session(s)",
			 children, WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			 session_exists(fx, s) ? "live" : "gone", dir_entries(fx->s.dir.path, 's'));
	assert_int_equal(r.rc, -1);
	assert_int_equal(r.code, VERDICT_REJECT);
	assert_true(r.reason_reuse);
	assert_true(r.reuse);
	assert_int_equal(r.gone.n, (size_t)children + 1);
	assert_int_equal(gone_has(&r.gone, s), 1);
	assert_string_equal(r.sess, s);
	assert_false(session_exists(fx, s));
	for (k = 0; k < children; k++) {
		assert_int_equal(gone_has(&r.gone, c[k]), 1);
		assert_false(session_exists(fx, c[k]));
	}
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
	rotate_refused(fx, t1, NOW + 3, "unknown refresh token");
}

/* Reuse takes the whole tree, also when it is larger than one revocation transaction
 * takes (32 sessions): 32 sessions, then 33, then 41. */
static void test_rotate_reuse_large_tree(void **state)
{
	struct fx *fx = *state;

	reuse_tree(fx, 31);
	reuse_tree(fx, 32);
	reuse_tree(fx, 40);
}

/* Every spent token of a family, not only the one spent last, is reuse. */
static void test_rotate_every_spent_token_is_reuse(void **state)
{
	enum { SPENT = 6 };
	struct fx *fx = *state;
	char s[DIGLEN], c[DIGLEN], t[SPENT + 1][TOKLEN];
	int k, i;

	for (k = 0; k < SPENT; k++) {
		session(fx, "alice", NOW + 3600, 0, s);
		child(fx, "alice", s, NOW, c);
		family_new(fx, s, NOW + 3000, t[0]);
		for (i = 1; i <= SPENT; i++) {
			memcpy(t[i], t[i - 1], TOKLEN);
			step(fx, t[i], NOW + 3000, NOW + i);
		}
		/* t[SPENT] is current; t[k] was spent SPENT - k rotations ago */
		rotate_reuse(fx, t[k], NOW + 10, s, 2);
		assert_false(session_exists(fx, s));
		assert_false(session_exists(fx, c));
		assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
		rotate_refused(fx, t[SPENT], NOW + 11, "unknown refresh token");
	}
}

/* A token with the family part of a real one but another secret could only be made by
 * someone who held a token of the family: reuse. A token of a family the store does not
 * know is just unknown. */
static void test_rotate_forged_secret(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], s2[DIGLEN], s3[DIGLEN], fa[DIGLEN], fb[DIGLEN];
	char t1[TOKLEN], t2[TOKLEN], u1[TOKLEN], forged[TOKLEN], stranger[TOKLEN], *before;
	struct store_refresh back;
	struct rot r;

	/* forged from the current token, never rotated */
	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 3000, t1);
	forge_secret(t1, 0xff, forged);
	assert_string_not_equal(forged, t1);
	family_of(t1, fa);
	family_of(forged, fb);
	assert_string_equal(fa, fb);
	assert_int_equal(rotate(fx, forged, NOW + 3000, NOW + 1, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, REUSE_MSG);
	assert_true(r.reuse);
	assert_int_equal(r.gone.n, 1);
	assert_int_equal(gone_has(&r.gone, s), 1);
	assert_string_equal(r.sess.digest, s);
	assert_false(session_exists(fx, s));
	assert_int_equal(refresh_record(fx, t1, &back), 0);
	rotate_refused(fx, t1, NOW + 2, "unknown refresh token");

	/* one bit of the secret of a rotated family's current token */
	session(fx, "alice", NOW + 3600, 0, s2);
	family_new(fx, s2, NOW + 3000, t2);
	step(fx, t2, NOW + 3000, NOW + 1);
	step(fx, t2, NOW + 3000, NOW + 2);
	{
		unsigned char raw[STORE_ID_RAW_BYTES];

		token_raw(t2, raw);
		raw[STORE_ID_RAW_BYTES - 1] ^= 0x80;
		token_from_raw(raw, forged);
	}
	rotate_reuse(fx, forged, NOW + 3, s2, 1);
	assert_false(session_exists(fx, s2));
	rotate_refused(fx, t2, NOW + 4, "unknown refresh token");

	/* a token of an unknown family: unknown, nothing revoked, the family untouched */
	session(fx, "alice", NOW + 3600, 0, s3);
	family_new(fx, s3, NOW + 3000, u1);
	step(fx, u1, NOW + 3000, NOW + 1);
	before = family_text(fx, u1);
	new_token(stranger);
	rotate_refused(fx, stranger, NOW + 2, "unknown refresh token");
	/* u1's secret under another family part */
	forge_family(u1, stranger);
	family_of(stranger, fb);
	family_of(u1, fa);
	assert_string_not_equal(fa, fb);
	rotate_refused(fx, stranger, NOW + 2, "unknown refresh token");
	assert_family_text(fx, u1, before);
	free(before);
	assert_true(session_exists(fx, s3));
	step(fx, u1, NOW + 3000, NOW + 3);
}

static void test_rotate_refusals(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], s2[DIGLEN], s3[DIGLEN], path[256];
	char t1[TOKLEN], t2[TOKLEN], t3[TOKLEN], sid[TOKLEN], *before;
	struct store_refresh back;
	struct verdict v;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 100, t1);
	before = family_text(fx, t1);
	/* unknown */
	new_token(t3);
	rotate_refused(fx, t3, NOW, "unknown refresh token");
	/* malformed tokens */
	assert_int_equal(store_session_id_new(sid), 0);
	rotate_refused(fx, sid, NOW, "unknown refresh token");
	assert_int_equal(rotate(fx, NULL, NOW + 100, NOW, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_false(r.reuse);
	assert_no_successor(&r);
	/* nowhere to put the successor */
	verdict_init(&v);
	assert_int_equal(store_refresh_rotate(fx->s.st, t1, NULL, NOW + 100, NOW, NULL, NULL,
					      NULL, NULL, NULL, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_family_text(fx, t1, before);
	/* expired (at its expiry exactly): the family is left as it was, so the token is
	 * refused again the same way, never taken for reuse */
	rotate_refused(fx, t1, NOW + 100, "refresh token expired");
	rotate_refused(fx, t1, NOW + 101, "refresh token expired");
	assert_family_text(fx, t1, before);
	assert_true(session_exists(fx, s));
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_int_equal(back.rotations, 0);
	free(before);
	/* one second before, it works */
	session(fx, "alice", NOW + 3600, 0, s2);
	family_new(fx, s2, NOW + 100, t2);
	step(fx, t2, NOW + 200, NOW + 99);

	/* an unreadable family record refuses, and is not taken for reuse */
	session(fx, "alice", NOW + 3600, 0, s3);
	family_new(fx, s3, NOW + 1000, t3);
	family_path(fx, t3, path);
	write_file(path, "pam_jwt-store 1\nkind=refresh-family\ngarbage\n");
	rotate_refused(fx, t3, NOW + 1, "refresh token record is unreadable");
	forge_secret(t3, 0x11, t1);
	rotate_refused(fx, t1, NOW + 1, "refresh token record is unreadable");
	assert_true(session_exists(fx, s3));
	verdict_init(&v);
	assert_int_equal(store_refresh_get(fx->s.st, t3, &back, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "refresh token record is unreadable");
}

static void test_rotate_session_gone_or_dead(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], e[DIGLEN], i[DIGLEN], p[DIGLEN], c[DIGLEN], j[DIGLEN], jh[DIGLEN];
	char t[6][TOKLEN], id[TOKLEN], *before;
	struct store_refresh back;
	struct session_login l;
	struct store_session sr;
	struct verdict v;
	struct rot r;

	/* deleted: its family goes with it */
	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 600, t[0]);
	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->s.st, s, &v), 0);
	assert_int_equal(refresh_record(fx, t[0], &back), 0);
	rotate_refused(fx, t[0], NOW + 1, "unknown refresh token");

	/* its record gone but not its family (a writer killed in between) */
	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 600, t[5]);
	unlink_session_file(fx, s);
	before = family_text(fx, t[5]);
	rotate_refused(fx, t[5], NOW + 1, "the session of this refresh token has ended");
	assert_family_text(fx, t[5], before);
	free(before);

	/* expired (the token outlives it only if recorded so: capped at put) */
	session(fx, "alice", NOW + 50, 0, e);
	family_new(fx, e, NOW + 600, t[1]);
	assert_int_equal(refresh_record(fx, t[1], &back), 1);
	assert_int_equal(back.expires, NOW + 50);
	before = family_text(fx, t[1]);
	assert_int_equal(rotate(fx, t[1], NOW + 600, NOW + 50, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_false(r.reuse);
	assert_int_equal(r.gone.n, 0);
	assert_no_successor(&r);
	assert_family_text(fx, t[1], before);
	free(before);

	/* idle */
	session(fx, "alice", NOW + 3600, 60, i);
	family_new(fx, i, NOW + 600, t[2]);
	before = family_text(fx, t[2]);
	rotate_refused(fx, t[2], NOW + 61, "session is idle past its limit");
	assert_family_text(fx, t[2], before);
	free(before);
	assert_true(session_exists(fx, i));

	/* cut off from its parent */
	session(fx, "carol", NOW + 3600, 0, p);
	tu_session_fill(&sr, "alice", "sshd", NOW);
	memcpy(sr.parent, p, sizeof(sr.parent));
	assert_int_equal(tu_session_put(fx->s.st, &sr, NULL, c, &v), 0);
	family_new(fx, c, NOW + 600, t[3]);
	assert_int_equal(store_session_delete(fx->s.st, p, &v), 0);
	before = family_text(fx, t[3]);
	rotate_refused(fx, t[3], NOW + 1, "the session that opened this one has ended");
	assert_family_text(fx, t[3], before);
	free(before);

	/* opened by a JWT revoked since */
	memset(&l, 0, sizeof(l));
	l.user = "alice";
	l.service = "sshd";
	store_digest_hex("jwt-q", 5, jh);
	l.origin_jti = jh;
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, j, &v), 0);
	family_new(fx, j, NOW + 600, t[4]);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-q", NOW + 600, &v), 0);
	before = family_text(fx, t[4]);
	rotate_refused(fx, t[4], NOW + 1, "the token that opened this session is revoked");
	assert_family_text(fx, t[4], before);
	free(before);
}

static void test_rotate_caps_expiry(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], t1[TOKLEN];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 1000, 0, s);
	family_new(fx, s, NOW + 500, t1);
	rotate_ok(fx, t1, NOW + 5000, NOW + 1, &r);
	assert_int_equal(r.rec.expires, NOW + 1000);
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_int_equal(back.expires, NOW + 1000);
	/* under the cap it is taken as asked (also shorter than before) */
	memcpy(t1, r.next, sizeof(t1));
	rotate_ok(fx, t1, NOW + 700, NOW + 2, &r);
	assert_int_equal(r.rec.expires, NOW + 700);
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_int_equal(back.expires, NOW + 700);
	memcpy(t1, r.next, sizeof(t1));
	rotate_refused(fx, t1, NOW + 700, "refresh token expired");
}

/* The store holds one record per family however often it rotates: rotating does not add
 * files (the store-filling attack of a record per token). */
static void test_rotate_many_times_store_flat(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], f[DIGLEN], tok[TOKLEN], first[TOKLEN], mid[TOKLEN], path[256];
	struct store_refresh back;
	struct stat sb;
	size_t before, before_r;
	int64_t now = NOW;
	int i;

	session(fx, "alice", NOW + 10 * MANY_ROTATIONS, 0, s);
	family_new(fx, s, NOW + 600, tok);
	family_of(tok, f);
	memcpy(first, tok, sizeof(first));
	before = dir_entries(fx->s.dir.path, 0);
	before_r = dir_entries(fx->s.dir.path, 'r');
	assert_int_equal(before_r, 1);
	family_path(fx, tok, path);
	for (i = 1; i <= MANY_ROTATIONS; i++) {
		if (i % 2 == 0)
			now++; /* the clock moves, and also stands still */
		step(fx, tok, now + 600, now);
		if (i == MANY_ROTATIONS / 2)
			memcpy(mid, tok, sizeof(mid));
		if (i % 1000 == 0 && dir_entries(fx->s.dir.path, 0) != before)
			fail_msg("after %d rotations the store has %zu entries, not %zu", i,
				 dir_entries(fx->s.dir.path, 0), before);
	}
	assert_int_equal(dir_entries(fx->s.dir.path, 0), before);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 1);
	assert_int_equal(refresh_record(fx, tok, &back), 1);
	assert_int_equal(back.rotations, MANY_ROTATIONS);
	assert_int_equal(back.created, NOW);
	assert_string_equal(back.session, s);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < 512);
	/* spent 5,000 and 10,000 rotations ago: still caught */
	rotate_reuse(fx, mid, now + 1, s, 1);
	assert_false(session_exists(fx, s));
	rotate_refused(fx, first, now + 1, "unknown refresh token");
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
}

/* max_refreshes_per_minute: the 4th rotation within the minute is refused, which leaves
 * the presented token current (it rotates the next minute) and flags no reuse. */
static void test_rotate_rate_limit(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], other[DIGLEN], tok[TOKLEN], o1[TOKLEN], *before;
	struct store_refresh back;
	struct rot r;

	set_rate_limit(fx, 3);
	session(fx, "alice", NOW + 3600, 0, s);
	session(fx, "alice", NOW + 3600, 0, other);
	family_new(fx, s, NOW + 3000, tok);
	family_new(fx, other, NOW + 3000, o1);
	step(fx, tok, NOW + 3000, NOW + 10);
	step(fx, tok, NOW + 3000, NOW + 20);
	step(fx, tok, NOW + 3000, NOW + 30);
	before = family_text(fx, tok);
	assert_int_equal(rotate(fx, tok, NOW + 3000, NOW + 40, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, RATE_MSG);
	assert_string_equal(r.v.detail, "retry in 20 s");
	assert_false(r.reuse);
	assert_int_equal(r.gone.n, 0);
	assert_no_successor(&r);
	assert_family_text(fx, tok, before);
	/* refused again until the minute is over; still no reuse */
	rotate_refused(fx, tok, NOW + 41, RATE_MSG);
	rotate_refused(fx, tok, NOW + 59, RATE_MSG);
	assert_family_text(fx, tok, before);
	free(before);
	assert_true(session_exists(fx, s));
	/* per family: another session's is not limited by this one's */
	step(fx, o1, NOW + 3000, NOW + 41);
	/* the next minute, the very token presented rotates */
	rotate_ok(fx, tok, NOW + 3000, NOW + 60, &r);
	assert_int_equal(r.rec.rotations, 4);
	assert_int_equal(r.rec.window_count, 1);
	memcpy(tok, r.next, sizeof(tok));
	step(fx, tok, NOW + 3000, NOW + 61);
	step(fx, tok, NOW + 3000, NOW + 62);
	rotate_refused(fx, tok, NOW + 63, RATE_MSG);
	rotate_refused(fx, tok, NOW + 119, RATE_MSG);
	step(fx, tok, NOW + 3000, NOW + 120);
	assert_int_equal(refresh_record(fx, tok, &back), 1);
	assert_int_equal(back.rotations, 7);
	/* the limit does not hide reuse: a spent token is still reuse when limited */
	{
		char spent[TOKLEN];

		step(fx, tok, NOW + 3000, NOW + 121);
		memcpy(spent, tok, sizeof(spent));
		step(fx, tok, NOW + 3000, NOW + 122);
		rotate_refused(fx, tok, NOW + 123, RATE_MSG);
		rotate_reuse(fx, spent, NOW + 124, s, 1);
	}
	assert_false(session_exists(fx, s));
	assert_true(session_exists(fx, other));
}

/* Without a limit (0), rotations within a minute are not counted against anything. */
static void test_rotate_no_rate_limit(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], tok[TOKLEN];
	int i;

	set_rate_limit(fx, 0);
	session(fx, "alice", NOW + 3600, 0, s);
	family_new(fx, s, NOW + 3000, tok);
	for (i = 0; i < 100; i++)
		step(fx, tok, NOW + 3000, NOW + 1);
}

/* ---- codec --------------------------------------------------------------------------------- */

static void fill_rec(struct store_refresh *rec)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->session, HEX64, sizeof(rec->session));
	snprintf(rec->user, sizeof(rec->user), "alice");
	rec->uid = 1000;
	rec->created = NOW;
	rec->expires = NOW + 600;
	store_digest_hex("current", 7, rec->current);
	rec->rotations = 7;
	rec->window_start = NOW + 60;
	rec->window_count = 2;
}

static void assert_same_rec(const struct store_refresh *a, const struct store_refresh *b)
{
	assert_string_equal(a->session, b->session);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->expires, b->expires);
	assert_string_equal(a->current, b->current);
	assert_int_equal(a->rotations, b->rotations);
	assert_int_equal(a->window_start, b->window_start);
	assert_int_equal(a->window_count, b->window_count);
}

static void test_refresh_codec_round_trip(void **state)
{
	struct store_refresh rec, back;
	char *text, *again, cur[DIGLEN], expect[1024];

	(void)state;
	fill_rec(&rec);
	memcpy(cur, rec.current, sizeof(cur));
	snprintf(rec.digest, sizeof(rec.digest), "ignored");
	text = store_refresh_format(&rec);
	assert_non_null(text);
	snprintf(expect, sizeof(expect),
		 "pam_jwt-store 1\nkind=refresh-family\nsession=" HEX64 "\nuser=alice\n"
		 "uid=1000\ncreated=1700000000\nexpires=1700000600\ncurrent=%s\nrotations=7\n"
		 "window_start=1700000060\nwindow_count=2\n", cur);
	assert_string_equal(text, expect);
	assert_int_equal(store_refresh_parse(text, strlen(text), &back), 0);
	assert_same_rec(&rec, &back);
	assert_string_equal(back.digest, ""); /* the name, not the text, carries it */
	again = store_refresh_format(&back);
	assert_non_null(again);
	assert_string_equal(again, text);
	free(again);
	free(text);

	/* the extremes */
	fill_rec(&rec);
	rec.uid = 4294967294u;
	rec.created = 0;
	rec.expires = INT64_MAX;
	rec.rotations = INT64_MAX;
	rec.window_start = INT64_MAX;
	rec.window_count = 0;
	text = store_refresh_format(&rec);
	assert_non_null(text);
	assert_int_equal(store_refresh_parse(text, strlen(text), &back), 0);
	assert_same_rec(&rec, &back);
	free(text);

	/* the writer refuses what it cannot write back as it is */
	fill_rec(&rec);
	snprintf(rec.user, sizeof(rec.user), "al\nice");
	assert_null(store_refresh_format(&rec));

	/* key order is free (one spelling out) */
	{
		static const char reordered[] = "pam_jwt-store 1\nkind=refresh-family\n"
						 "window_count=9\nwindow_start=8\nrotations=6\n"
						 "current=" HEX64 "\nexpires=5\ncreated=4\nuid=3\n"
						 "user=u\nsession=" HEX64 "\n";

		assert_int_equal(store_refresh_parse(reordered, strlen(reordered), &back), 0);
		assert_int_equal(back.uid, 3);
		assert_int_equal(back.created, 4);
		assert_int_equal(back.expires, 5);
		assert_string_equal(back.current, HEX64);
		assert_int_equal(back.rotations, 6);
		assert_int_equal(back.window_start, 8);
		assert_int_equal(back.window_count, 9);
		text = store_refresh_format(&back);
		assert_non_null(text);
		assert_string_equal(text, "pam_jwt-store 1\nkind=refresh-family\nsession=" HEX64
					  "\nuser=u\nuid=3\ncreated=4\nexpires=5\ncurrent=" HEX64
					  "\nrotations=6\nwindow_start=8\nwindow_count=9\n");
		free(text);
	}
}

#define RHEAD "pam_jwt-store 1\nkind=refresh-family\n"
#define RSESS "session=" HEX64 "\n"
#define RBODY "user=alice\nuid=1000\ncreated=1\nexpires=2\n"
#define RCUR "current=" HEX64 "\n"
#define RTAIL "rotations=3\nwindow_start=4\nwindow_count=5\n"
#define HEX63 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"

static void test_refresh_codec_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"pam_jwt-store 1\n",
		RHEAD,
		"pam_jwt-store 2\nkind=refresh-family\n" RSESS RBODY RCUR RTAIL,
		"pam_jwt-store 1\nkind=session\n" RSESS RBODY RCUR RTAIL,
		/* the model before families: a record per token */
		"pam_jwt-store 1\nkind=refresh\n" RSESS RBODY "used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\n" RSESS RBODY "used=1\nnext=" HEX64 "\n",
		"pam_jwt-store 1\nkind=refresh\n" RSESS RBODY RCUR RTAIL,
		RHEAD RSESS RBODY "used=0\nnext=\n",
		RHEAD RSESS RBODY RCUR RTAIL "used=0\n",
		RHEAD RSESS RBODY RCUR RTAIL "next=\n",
		/* current must be a digest */
		RHEAD RSESS RBODY "current=\n" RTAIL,
		RHEAD RSESS RBODY "current=xyz\n" RTAIL,
		RHEAD RSESS RBODY "current=" HEX63 "\n" RTAIL,
		RHEAD RSESS RBODY "current=" HEX64 "0\n" RTAIL,
		RHEAD RSESS RBODY "current=0123456789ABCDEF0123456789abcdef0123456789abcdef"
		"0123456789abcdef\n" RTAIL,
		/* session must be a digest */
		RHEAD "session=\n" RBODY RCUR RTAIL,
		RHEAD "session=abc\n" RBODY RCUR RTAIL,
		RHEAD "session=" HEX63 "\n" RBODY RCUR RTAIL,
		RHEAD "session=" HEX64 "0\n" RBODY RCUR RTAIL,
		RHEAD "session=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n"
		RBODY RCUR RTAIL,
		/* unknown, duplicate and missing keys */
		RHEAD RSESS RBODY RCUR RTAIL "x=1\n",
		RHEAD RSESS RBODY RCUR RTAIL "rotations=3\n",
		RHEAD RSESS RBODY RCUR RCUR RTAIL,
		RHEAD RSESS RSESS RBODY RCUR RTAIL,
		"pam_jwt-store 1\nkind=refresh-family\nkind=refresh-family\n" RSESS RBODY RCUR RTAIL,
		RHEAD RBODY RCUR RTAIL,
		RHEAD RSESS RBODY RTAIL,
		RHEAD RSESS RBODY RCUR "window_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=3\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=3\nwindow_start=4\n",
		RHEAD RSESS "uid=1000\ncreated=1\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS "user=alice\ncreated=1\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS "user=alice\nuid=1000\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS "user=alice\nuid=1000\ncreated=1\n" RCUR RTAIL,
		/* user not empty; numbers strict */
		RHEAD RSESS "user=\nuid=1\ncreated=1\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS "user=a\nuid=4294967295\ncreated=1\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS "user=a\nuid=1\ncreated=-1\nexpires=2\n" RCUR RTAIL,
		RHEAD RSESS RBODY RCUR "rotations=-1\nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=03\nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=+3\nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=\nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=3 \nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=1e3\nwindow_start=4\nwindow_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=3\nwindow_start=9223372036854775808\n"
		"window_count=5\n",
		RHEAD RSESS RBODY RCUR "rotations=3\nwindow_start=4\n"
		"window_count=99999999999999999999\n",
		/* no final newline; CR */
		RHEAD RSESS RBODY RCUR "rotations=3\nwindow_start=4\nwindow_count=5",
		"pam_jwt-store 1\nkind=refresh-family\r\n" RSESS RBODY RCUR RTAIL,
		RHEAD RSESS RBODY RCUR "rotations=3\r\nwindow_start=4\nwindow_count=5\n",
	};
	static const char good[] = RHEAD RSESS RBODY RCUR RTAIL;
	struct store_refresh rec;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rec, 0x5a, sizeof(rec));
		if (store_refresh_parse(bad[i], strlen(bad[i]), &rec) == 0)
			fail_msg("accepted bad refresh record %zu:\n%s", i, bad[i]);
		/* a refusal leaves nothing half-filled */
		assert_string_equal(rec.session, "");
		assert_string_equal(rec.current, "");
	}
	assert_int_equal(store_refresh_parse(good, strlen(good), &rec), 0);
	assert_string_equal(rec.session, HEX64);
	assert_string_equal(rec.current, HEX64);
	assert_int_equal(rec.rotations, 3);
	assert_int_equal(rec.window_start, 4);
	assert_int_equal(rec.window_count, 5);
	/* the largest numbers */
	{
		static const char big[] = RHEAD RSESS RBODY RCUR "rotations=9223372036854775807\n"
					  "window_start=9223372036854775807\nwindow_count=0\n";

		assert_int_equal(store_refresh_parse(big, strlen(big), &rec), 0);
		assert_int_equal(rec.rotations, INT64_MAX);
		assert_int_equal(rec.window_start, INT64_MAX);
	}
	/* an embedded NUL */
	{
		char text[sizeof(good)];

		memcpy(text, good, sizeof(good));
		text[40] = '\0';
		assert_int_equal(store_refresh_parse(text, sizeof(good) - 1, &rec), -1);
	}
	/* the length counts, not the NUL */
	assert_int_equal(store_refresh_parse(good, strlen(good) - 1, &rec), -1);
	assert_int_equal(store_refresh_parse(NULL, 0, &rec), -1);
	assert_int_equal(store_refresh_parse(good, strlen(good), NULL), -1);
	assert_null(store_refresh_format(NULL));
}

/* ---- races --------------------------------------------------------------------------------- */

struct race_report {
	int rc;
	int code;
	int reuse;
	int reason_reuse;  /* the reason is the reuse one */
	int gone_n;
	int gone_is_session;
	int exit_code;     /* 0, or where the child failed */
	char next[TOKLEN]; /* the successor, if it won */
};

static void race_child(const char *dir, const struct store_options *opts, int go_fd,
		       int report_fd, const char *old_tok, const char *session_digest)
{
	struct race_report rep;
	struct store *st = NULL;
	struct store_refresh rec;
	struct store_session sess;
	struct gone gone;
	struct verdict v;
	bool reuse = false;
	char c;

	memset(&rep, 0, sizeof(rep));
	memset(&gone, 0, sizeof(gone));
	verdict_init(&v);
	/* own handle: the store's lock is per open file, and the parent's is shared */
	if (store_open(dir, opts, &st, &v) != 0)
		rep.exit_code = 10;
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	if (rep.exit_code == 0) {
		rep.rc = store_refresh_rotate(st, old_tok, rep.next, NOW + 600, NOW + 1, &rec,
					      &sess, &reuse, gone_cb, &gone, &v);
		rep.code = (int)v.code;
		rep.reuse = reuse;
		rep.reason_reuse = v.reason != NULL && strcmp(v.reason, REUSE_MSG) == 0;
		rep.gone_n = (int)gone.n;
		rep.gone_is_session = gone.n == 1 && strcmp(gone.digest[0], session_digest) == 0;
	}
	store_close(st);
	if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(20);
	_exit(0);
}

/* Two clients present the same current token at once: one gets the successor, the other
 * is reuse (the lock orders them), which revokes the session once. */
static void test_rotate_race(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], old_tok[TOKLEN], winner[TOKLEN];
	struct race_report rep[RACERS];
	pid_t pids[RACERS];
	int go[2], res[2], round, k, status, wins, reuses, forked, exited_ok;
	struct store_refresh back;

	for (round = 0; round < RACE_ROUNDS; round++) {
		session(fx, "alice", NOW + 3600, 0, s);
		family_new(fx, s, NOW + 600, old_tok);
		assert_int_equal(pipe(go), 0);
		assert_int_equal(pipe(res), 0);
		for (forked = 0; forked < RACERS; forked++) {
			pids[forked] = fork();
			if (pids[forked] < 0)
				break;
			if (pids[forked] == 0) {
				close(go[1]);
				close(res[0]);
				race_child(fx->s.dir.path, &fx->s.opts, go[0], res[1], old_tok, s);
			}
		}
		close(go[0]);
		close(res[1]);
		close(go[1]); /* everyone starts: end of file on the barrier */
		for (k = 0; k < RACERS; k++) {
			ssize_t n = k < forked ? read(res[0], &rep[k], sizeof(rep[k])) : 0;

			if (n != (ssize_t)sizeof(rep[k]))
				memset(&rep[k], 0xff, sizeof(rep[k]));
		}
		close(res[0]);
		exited_ok = 0;
		for (k = 0; k < forked; k++) {
			if (waitpid(pids[k], &status, 0) == pids[k] && WIFEXITED(status) &&
			    WEXITSTATUS(status) == 0)
				exited_ok++;
		}
		assert_int_equal(forked, RACERS);
		assert_int_equal(exited_ok, RACERS);
		wins = reuses = 0;
		winner[0] = '\0';
		for (k = 0; k < RACERS; k++) {
			assert_int_equal(rep[k].exit_code, 0);
			if (rep[k].rc == 0) {
				assert_int_equal(rep[k].code, VERDICT_OK);
				assert_false(rep[k].reuse);
				assert_int_equal(rep[k].gone_n, 0);
				assert_true(store_refresh_id_looks_like(
					rep[k].next, strnlen(rep[k].next, TOKLEN)));
				memcpy(winner, rep[k].next, sizeof(winner));
				wins++;
				continue;
			}
			/* every loser came after the winner (the lock orders them): reuse */
			assert_int_equal(rep[k].rc, -1);
			assert_int_equal(rep[k].code, VERDICT_REJECT);
			assert_true(rep[k].reuse);
			assert_true(rep[k].reason_reuse);
			assert_false(store_refresh_id_looks_like(
				rep[k].next, strnlen(rep[k].next, TOKLEN)));
			reuses += rep[k].gone_n;
			if (rep[k].gone_n == 1)
				assert_true(rep[k].gone_is_session);
		}
		if (wins != 1)
			fail_msg("round %d: %d rotations succeeded", round, wins);
		assert_int_equal(reuses, 1); /* the session went once, reported once */
		assert_false(session_exists(fx, s));
		/* the family went with it: the winner's successor is worth nothing */
		assert_int_equal(refresh_record(fx, old_tok, &back), 0);
		rotate_refused(fx, winner, NOW + 2, "unknown refresh token");
	}
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
}

/* ---- gc ------------------------------------------------------------------------------------ */

static void test_gc_refresh(void **state)
{
	struct fx *fx = *state;
	char s[DIGLEN], s2[DIGLEN], orphan_s[DIGLEN], ended[DIGLEN], p[DIGLEN], c[DIGLEN];
	char live[TOKLEN], spent[TOKLEN], expired[TOKLEN], orphan[TOKLEN], ended_t[TOKLEN];
	char broken_t[TOKLEN];
	struct store_refresh back;
	struct store_session sr;
	struct gone gone;
	struct verdict v;
	size_t removed = 0;

	session(fx, "alice", NOW + 3600, 0, s);
	session(fx, "alice", NOW + 3600, 0, s2);
	session(fx, "alice", NOW + 3600, 0, orphan_s);
	session(fx, "alice", NOW + 100, 0, ended);
	session(fx, "carol", NOW + 3600, 0, p);
	tu_session_fill(&sr, "alice", "sshd", NOW);
	memcpy(sr.parent, p, sizeof(sr.parent));
	assert_int_equal(tu_session_put(fx->s.st, &sr, NULL, c, &v), 0);
	family_new(fx, s, NOW + 1000, live);
	memcpy(spent, live, sizeof(spent));
	step(fx, live, NOW + 1000, NOW + 1);
	family_new(fx, s2, NOW + 100, expired);
	family_new(fx, orphan_s, NOW + 1000, orphan);
	family_new(fx, ended, NOW + 1000, ended_t); /* capped: NOW + 100 */
	family_new(fx, c, NOW + 1000, broken_t);
	unlink_session_file(fx, orphan_s); /* the family outlived its session */
	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->s.st, p, &v), 0); /* c's lineage broke */
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 5);

	memset(&gone, 0, sizeof(gone));
	assert_int_equal(store_gc(fx->s.st, NOW + 100, gone_cb, &gone, &removed, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	/* families: expired, orphan, ended's (expired with it); sessions: ended, c; and c's
	 * family went with c */
	assert_int_equal(refresh_record(fx, expired, &back), 0);
	assert_int_equal(refresh_record(fx, orphan, &back), 0);
	assert_int_equal(refresh_record(fx, ended_t, &back), 0);
	assert_int_equal(refresh_record(fx, broken_t, &back), 0);
	assert_false(session_exists(fx, ended));
	assert_false(session_exists(fx, c));
	/* 6 records went (4 families, 2 sessions); the count of a family that goes with
	 * its session is pinned by test_gc_counts_family_of_removed_session */
	assert_true(removed >= 5 && removed <= 6);
	/* only the session whose lineage broke is reported (its login must end) */
	assert_int_equal(gone.n, 1);
	assert_int_equal(gone_has(&gone, c), 1);
	/* kept: the live family and with it what catches reuse of its spent token */
	assert_int_equal(refresh_record(fx, live, &back), 1);
	assert_int_equal(back.rotations, 1);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 1);
	assert_true(session_exists(fx, s));
	assert_true(session_exists(fx, s2));
	rotate_refused(fx, expired, NOW + 100, "unknown refresh token");
	rotate_refused(fx, orphan, NOW + 100, "unknown refresh token");
	/* a second gc finds nothing more */
	memset(&gone, 0, sizeof(gone));
	assert_int_equal(store_gc(fx->s.st, NOW + 100, gone_cb, &gone, &removed, &v), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(gone.n, 0);
	/* the spent token still catches reuse after gc */
	rotate_reuse(fx, spent, NOW + 101, s, 1);
	assert_false(session_exists(fx, s));
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
	/* and at its expiry, gc takes a live family with its session */
	family_new(fx, s2, NOW + 99999, live); /* capped at s2's expiry: NOW + 3600 */
	assert_int_equal(store_gc(fx->s.st, NOW + 3599, NULL, NULL, &removed, &v), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(refresh_record(fx, live, &back), 1);
	assert_int_equal(store_gc(fx->s.st, NOW + 3600, NULL, NULL, &removed, &v), 0);
	assert_int_equal(refresh_record(fx, live, &back), 0);
	assert_false(session_exists(fx, s2));
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
}

/* store_gc: "*removed gets how many records went". A session that gc removes takes its
 * refresh family along: two records went. */
static void test_gc_counts_family_of_removed_session(void **state)
{
	struct fx *fx = *state;
	char idle[DIGLEN], tok[TOKLEN];
	struct store_refresh back;
	struct verdict v;
	size_t removed = 0;

	session(fx, "alice", NOW + 3600, 60, idle);
	family_new(fx, idle, NOW + 3000, tok);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 1);
	verdict_init(&v);
	assert_int_equal(store_gc(fx->s.st, NOW + 61, NULL, NULL, &removed, &v), 0);
	assert_false(session_exists(fx, idle));
	assert_int_equal(refresh_record(fx, tok, &back), 0);
	assert_int_equal(dir_entries(fx->s.dir.path, 'r'), 0);
	if (removed != 2)
		fail_msg("gc removed a session and its refresh family but reported %zu record(s)",
			 removed);
}

/* ---- import of revocations ----------------------------------------------------------------- */

static void write_named(const char *dir, char kind, const char *what, const char *text)
{
	char digest[DIGLEN], path[256];

	store_digest_hex(what, strlen(what), digest);
	snprintf(path, sizeof(path), "%s/%c-%s", dir, kind, digest);
	write_file(path, text);
}

static int open_from(struct tu_store *from)
{
	struct verdict v;
	int allow = 1;

	memset(from, 0, sizeof(*from));
	if (tu_store_dir_make(&from->dir, "persist", "16m", &allow) != 0)
		return -1;
	from->opts.allow_non_tmpfs = true; /* a persistent directory: any file system */
	verdict_init(&v);
	return store_open(from->dir.path, &from->opts, &from->st, &v);
}

static void test_import_revocations(void **state)
{
	struct fx *fx = *state;
	struct tu_store *from = &fx->from;
	struct verdict v;
	size_t copied = 99, unreadable = 99;

	if (open_from(from) != 0)
		fail_msg("cannot open the second store");
	verdict_init(&v);
	/* in from: in force, expired, longer and shorter than what `to` holds */
	assert_int_equal(store_jti_revoke(from->st, "live", NOW + 100, &v), 0);
	assert_int_equal(store_jti_revoke(from->st, "old", NOW - 1, &v), 0);
	assert_int_equal(store_jti_revoke(from->st, "longer-in-to", NOW + 100, &v), 0);
	assert_int_equal(store_jti_revoke(from->st, "shorter-in-to", NOW + 500, &v), 0);
	assert_int_equal(store_user_lock(from->st, "locked-for-a-while", NOW + 100, &v), 0);
	assert_int_equal(store_user_lock(from->st, "locked-for-good", 0, &v), 0);
	assert_int_equal(store_user_lock(from->st, "was-locked", NOW - 5, &v), 0);
	write_named(from->dir.path, 'j', "garbage-jti", "not a record\n");
	write_named(from->dir.path, 'l', "garbage-lock", "pam_jwt-store 1\nkind=lock\n");
	/* in to */
	assert_int_equal(store_jti_revoke(fx->s.st, "longer-in-to", NOW + 1000, &v), 0);
	assert_int_equal(store_jti_revoke(fx->s.st, "shorter-in-to", NOW + 50, &v), 0);

	assert_int_equal(store_import_revocations(fx->s.st, from->st, NOW, &copied, &unreadable,
						  &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(copied, 4); /* live, shorter-in-to, the two locks in force */
	assert_int_equal(unreadable, 2);

	assert_int_equal(store_jti_check(fx->s.st, "live", NOW + 100, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "token id is revoked");
	assert_int_equal(store_jti_check(fx->s.st, "live", NOW + 101, &v), 0);
	assert_int_equal(store_jti_check(fx->s.st, "old", NOW - 10, &v), 0); /* not copied */
	assert_int_equal(store_jti_check(fx->s.st, "longer-in-to", NOW + 1000, &v), -1);
	assert_int_equal(store_jti_check(fx->s.st, "shorter-in-to", NOW + 500, &v), -1);
	assert_int_equal(store_jti_check(fx->s.st, "shorter-in-to", NOW + 501, &v), 0);
	assert_int_equal(store_user_check(fx->s.st, "locked-for-a-while", NOW + 99, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(store_user_check(fx->s.st, "locked-for-a-while", NOW + 100, &v), 0);
	assert_int_equal(store_user_check(fx->s.st, "locked-for-good", NOW + 999999, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	assert_int_equal(store_user_check(fx->s.st, "was-locked", NOW - 10, &v), 0);
	assert_int_equal(store_user_check(fx->s.st, "garbage-lock", NOW, &v), 0);
	assert_int_equal(store_jti_check(fx->s.st, "garbage-jti", NOW, &v), 0);
	/* the source is left as it was */
	assert_int_equal(store_jti_check(from->st, "longer-in-to", NOW + 101, &v), 0);

	/* importing again changes nothing that is in force already */
	assert_int_equal(store_import_revocations(fx->s.st, from->st, NOW, &copied, &unreadable,
						  &v), 0);
	assert_int_equal(unreadable, 2);
	assert_int_equal(store_jti_check(fx->s.st, "longer-in-to", NOW + 1000, &v), -1);
	/* a store is not imported into itself */
	assert_int_equal(store_import_revocations(fx->s.st, fx->s.st, NOW, &copied, &unreadable,
						  &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
}

/* A lock in force in the store is not shortened by an import either. */
static void test_import_keeps_longer_lock(void **state)
{
	struct fx *fx = *state;
	struct tu_store *from = &fx->from;
	struct verdict v;
	size_t copied = 0, unreadable = 0;

	if (open_from(from) != 0)
		fail_msg("cannot open the second store");
	verdict_init(&v);
	assert_int_equal(store_user_lock(from->st, "mallory", NOW + 100, &v), 0);
	assert_int_equal(store_user_lock(from->st, "trudy", NOW + 100, &v), 0);
	assert_int_equal(store_user_lock(fx->s.st, "mallory", 0, &v), 0);           /* for good */
	assert_int_equal(store_user_lock(fx->s.st, "trudy", NOW + 5000, &v), 0);
	assert_int_equal(store_import_revocations(fx->s.st, from->st, NOW, &copied, &unreadable,
						  &v), 0);
	assert_int_equal(store_user_check(fx->s.st, "mallory", NOW + 101, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	assert_int_equal(store_user_check(fx->s.st, "trudy", NOW + 101, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refresh_id_shape),
		T(test_refresh_put),
		T(test_refresh_put_needs_live_session),
		T(test_refresh_put_keeps_bounded_families),
		T(test_refresh_get),
		T(test_rotate),
		T(test_rotate_reuse_revokes_family),
		T(test_rotate_reuse_large_tree),
		T(test_rotate_every_spent_token_is_reuse),
		T(test_rotate_forged_secret),
		T(test_rotate_refusals),
		T(test_rotate_session_gone_or_dead),
		T(test_rotate_caps_expiry),
		T(test_rotate_many_times_store_flat),
		T(test_rotate_rate_limit),
		T(test_rotate_no_rate_limit),
		cmocka_unit_test(test_refresh_codec_round_trip),
		cmocka_unit_test(test_refresh_codec_strict),
		T(test_rotate_race),
		T(test_gc_refresh),
		T(test_gc_counts_family_of_removed_session),
		T(test_import_revocations),
		T(test_import_keeps_longer_lock),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
