/*
 * Refresh tokens: their shape, recording one for a live session, rotation (a used token
 * presented again revokes the session and its descendants), the record codec, concurrent
 * rotations of one token, gc, and importing revocations from a persistent directory.
 *
 * Each test gets a private store (testutil.h: a private tmpfs when root, else a 0700
 * directory opened with allow_non_tmpfs). Times are explicit (`now`): no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "config.h"
#include "session.h"
#include "store.h"
#include "verdict.h"
#include "testutil.h"

#define NOW 1700000000LL
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define RACE_ROUNDS 200
#define RACERS 2

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

static void new_token(char tok[STORE_SESSION_ID_LEN + 1])
{
	assert_int_equal(store_refresh_id_new(tok), 0);
}

static void token_digest(const char *tok, char out[STORE_DIGEST_HEX_LEN + 1])
{
	store_digest_hex(tok, strlen(tok), out);
}

/* A session of `user` created at NOW, expiring at `expires`, with an idle limit. */
static void session(struct fx *fx, const char *user, int64_t expires, int64_t idle,
		    char digest[STORE_DIGEST_HEX_LEN + 1])
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
		  char digest[STORE_DIGEST_HEX_LEN + 1])
{
	struct session_login l;
	char id[STORE_SESSION_ID_LEN + 1];
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

struct gone {
	size_t n;
	char digest[32][STORE_DIGEST_HEX_LEN + 1];
};

static int gone_cb(const struct store_session *s, void *ctx)
{
	struct gone *g = ctx;

	if (g->n < 32)
		memcpy(g->digest[g->n], s->digest, sizeof(g->digest[0]));
	g->n++;
	return 0;
}

static int gone_has(const struct gone *g, const char *digest)
{
	size_t i, hits = 0;

	for (i = 0; i < g->n && i < 32; i++)
		hits += strcmp(g->digest[i], digest) == 0;
	return (int)hits;
}

struct rot {
	int rc;
	bool reuse;
	struct store_refresh rec;
	struct store_session sess;
	struct gone gone;
	struct verdict v;
};

static int rotate(struct fx *fx, const char *old, const char *new_tok, int64_t new_expires,
		  int64_t now, struct rot *r)
{
	memset(r, 0, sizeof(*r));
	r->reuse = true; /* must be set to false by the call */
	verdict_init(&r->v);
	r->rc = store_refresh_rotate(fx->s.st, old, new_tok, new_expires, now, &r->rec, &r->sess,
				     &r->reuse, gone_cb, &r->gone, &r->v);
	return r->rc;
}

static void rotate_ok(struct fx *fx, const char *old, const char *new_tok, int64_t new_expires,
		      int64_t now, struct rot *r)
{
	if (rotate(fx, old, new_tok, new_expires, now, r) != 0)
		fail_msg("store_refresh_rotate: %s", r->v.reason);
	assert_int_equal(r->v.code, VERDICT_OK);
	assert_false(r->reuse);
	assert_int_equal(r->gone.n, 0);
}

/* A refused rotation that is not reuse and revokes nothing. */
static void rotate_refused(struct fx *fx, const char *old, const char *new_tok, int64_t now,
			   const char *reason)
{
	struct rot r;

	assert_int_equal(rotate(fx, old, new_tok, NOW + 7200, now, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, reason);
	assert_false(r.reuse);
	assert_int_equal(r.gone.n, 0);
	assert_string_equal(r.rec.digest, "");
}

static int session_exists(struct fx *fx, const char *digest)
{
	struct store_session s;
	struct verdict v;

	verdict_init(&v);
	return store_session_get_digest(fx->s.st, digest, &s, &v) == 0;
}

/* The record of a token, by its documented name "r-<hex sha256(token)>": 1 present and
 * parsed into *rec, 0 absent. */
static int refresh_record(struct fx *fx, const char *tok, struct store_refresh *rec)
{
	char path[256], digest[STORE_DIGEST_HEX_LEN + 1], *text;
	size_t len = 0;

	token_digest(tok, digest);
	snprintf(path, sizeof(path), "%s/r-%s", fx->s.dir.path, digest);
	text = tu_read_file(path, &len);
	if (text == NULL)
		return 0;
	if (store_refresh_parse(text, len, rec) != 0)
		fail_msg("refresh record %.12s does not parse", digest);
	free(text);
	return 1;
}

/* ---- token shape ----------------------------------------------------------------------- */

static void test_refresh_id_shape(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char valid_last[] = "AEIMQUYcgkosw048";
	char tok[STORE_SESSION_ID_LEN + 1], tok2[STORE_SESSION_ID_LEN + 1];
	char sid[STORE_SESSION_ID_LEN + 1], bad[64];
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
		new_token(tok);
		assert_true(store_refresh_id_looks_like(tok, strlen(tok)));
		assert_non_null(strchr(valid_last, tok[46]));
	}
}

/* ---- store_refresh_put ------------------------------------------------------------------- */

static void test_refresh_put(void **state)
{
	struct fx *fx = *state;
	char s[65], expired[65], tok[48], tok2[48], tok3[48], sid[48], d[65], ghost[65];
	struct store_refresh rec, back;
	struct verdict v;

	session(fx, "alice", NOW + 1000, 0, s);
	new_token(tok);
	assert_int_equal(put(fx, tok, s, NOW + 100, NOW, &rec, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	token_digest(tok, d);
	assert_string_equal(rec.digest, d);
	assert_string_equal(rec.session, s);
	assert_string_equal(rec.user, "alice");
	assert_int_equal(rec.uid, 1234);
	assert_int_equal(rec.created, NOW);
	assert_int_equal(rec.expires, NOW + 100);
	assert_false(rec.used);
	assert_string_equal(rec.next, "");
	assert_int_equal(refresh_record(fx, tok, &back), 1);
	assert_string_equal(back.session, s);
	assert_int_equal(back.expires, NOW + 100);
	assert_false(back.used);
	/* the same token twice */
	assert_int_equal(put(fx, tok, s, NOW + 100, NOW + 1, &rec, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "refresh token already exists");
	assert_int_equal(refresh_record(fx, tok, &back), 1);
	assert_int_equal(back.created, NOW);
	/* capped at the session's expiry */
	new_token(tok2);
	assert_int_equal(put(fx, tok2, s, NOW + 99999, NOW, &rec, &v), 0);
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
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(refresh_record(fx, tok3, &back), 0);
	/* malformed: a session ID as the token, a bad session digest */
	assert_int_equal(put(fx, sid, s, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(put(fx, tok3, "ABC", NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(put(fx, NULL, s, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(refresh_record(fx, tok3, &back), 0);
}

/* "The session must be live": not idle, not cut off from what opened it. */
static void test_refresh_put_needs_live_session(void **state)
{
	struct fx *fx = *state;
	char idle[65], p[65], c[65], j[65], tok[48];
	struct store_refresh rec, back;
	struct session_login l;
	char id[48];
	struct verdict v;

	session(fx, "alice", NOW + 3600, 60, idle);
	new_token(tok);
	assert_int_equal(put(fx, tok, idle, NOW + 100, NOW + 61, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(refresh_record(fx, tok, &back), 0);

	/* a session whose parent has gone (a child of another user's revoked session) */
	session(fx, "carol", NOW + 3600, 0, p);
	{
		struct store_session s;

		tu_session_fill(&s, "alice", "sshd", NOW);
		memcpy(s.parent, p, sizeof(s.parent));
		assert_int_equal(tu_session_put(fx->s.st, &s, NULL, c, &v), 0);
	}
	assert_int_equal(store_session_delete(fx->s.st, p, &v), 0);
	assert_int_equal(put(fx, tok, c, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(refresh_record(fx, tok, &back), 0);

	/* a session opened by a JWT that is revoked since */
	memset(&l, 0, sizeof(l));
	l.user = "alice";
	l.service = "sshd";
	store_digest_hex("jwt-r", 5, c);
	l.origin_jti = c;
	verdict_init(&v);
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, j, &v), 0);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-r", NOW + 600, &v), 0);
	assert_int_equal(put(fx, tok, j, NOW + 100, NOW, &rec, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(refresh_record(fx, tok, &back), 0);
}

/* ---- rotation ------------------------------------------------------------------------------ */

static void test_rotate(void **state)
{
	struct fx *fx = *state;
	char s[65], t1[48], t2[48], t3[48], d1[65], d2[65], d3[65];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	new_token(t1);
	new_token(t2);
	new_token(t3);
	token_digest(t1, d1);
	token_digest(t2, d2);
	token_digest(t3, d3);
	put_ok(fx, t1, s, NOW + 600, NOW);
	rotate_ok(fx, t1, t2, NOW + 900, NOW + 10, &r);
	assert_string_equal(r.rec.digest, d2);
	assert_string_equal(r.rec.session, s);
	assert_string_equal(r.rec.user, "alice");
	assert_int_equal(r.rec.uid, 1234);
	assert_int_equal(r.rec.created, NOW + 10);
	assert_int_equal(r.rec.expires, NOW + 900);
	assert_false(r.rec.used);
	assert_string_equal(r.sess.digest, s);
	assert_string_equal(r.sess.user, "alice");
	/* the old one is used and names its successor */
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_true(back.used);
	assert_string_equal(back.next, d2);
	assert_int_equal(refresh_record(fx, t2, &back), 1);
	assert_false(back.used);
	assert_int_equal(back.expires, NOW + 900);
	/* the new one works next time */
	rotate_ok(fx, t2, t3, NOW + 1200, NOW + 20, &r);
	assert_string_equal(r.rec.digest, d3);
	assert_true(session_exists(fx, s));
}

static void test_rotate_reuse_revokes_family(void **state)
{
	struct fx *fx = *state;
	char s[65], c[65], g[65], other[65], bob[65];
	char t1[48], t2[48], t3[48], t4[48], t5[48], o1[48], o2[48];
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	child(fx, "alice", s, NOW, c);
	child(fx, "alice", c, NOW, g);
	session(fx, "alice", NOW + 3600, 0, other);
	session(fx, "bob", NOW + 3600, 0, bob);
	new_token(t1);
	new_token(t2);
	new_token(t3);
	new_token(t4);
	new_token(t5);
	new_token(o1);
	new_token(o2);
	put_ok(fx, t1, s, NOW + 3000, NOW);
	put_ok(fx, o1, other, NOW + 3000, NOW);
	rotate_ok(fx, t1, t2, NOW + 3000, NOW + 1, &r);
	rotate_ok(fx, t2, t3, NOW + 3000, NOW + 2, &r);

	/* t1 again: reuse */
	assert_int_equal(rotate(fx, t1, t4, NOW + 3000, NOW + 3, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, "refresh token reuse: session revoked");
	assert_true(r.reuse);
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
	/* the reused rotation recorded nothing */
	rotate_refused(fx, t4, t5, NOW + 4, "unknown refresh token");
	/* the newest token of the family fails now: its session is gone */
	rotate_refused(fx, t3, t5, NOW + 4, "the session of this refresh token has ended");
	/* another used token of the family: reuse again, nothing left to revoke */
	assert_int_equal(rotate(fx, t2, t5, NOW + 3000, NOW + 5, &r), -1);
	assert_verdict(&r.v, VERDICT_REJECT, "refresh token reuse: session revoked");
	assert_true(r.reuse);
	assert_int_equal(r.gone.n, 0);
	/* another family is not affected */
	rotate_ok(fx, o1, o2, NOW + 3000, NOW + 6, &r);
}

static void test_rotate_refusals(void **state)
{
	struct fx *fx = *state;
	char s[65], s2[65], t1[48], t2[48], t3[48], sid[48];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	new_token(t1);
	new_token(t2);
	new_token(t3);
	put_ok(fx, t1, s, NOW + 100, NOW);
	/* unknown */
	rotate_refused(fx, t3, t2, NOW, "unknown refresh token");
	/* new == old, refused; and the old one is still good */
	assert_int_equal(rotate(fx, t1, t1, NOW + 100, NOW + 1, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_false(r.reuse);
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_false(back.used);
	/* malformed tokens */
	assert_int_equal(store_session_id_new(sid), 0);
	assert_int_equal(rotate(fx, sid, t2, NOW + 100, NOW, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_int_equal(rotate(fx, t1, sid, NOW + 100, NOW, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_int_equal(rotate(fx, t1, NULL, NOW + 100, NOW, &r), -1);
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	assert_false(back.used);
	/* expired (at its expiry exactly); not marked used, so not reuse after */
	rotate_refused(fx, t1, t2, NOW + 100, "refresh token expired");
	rotate_refused(fx, t1, t2, NOW + 101, "refresh token expired");
	assert_int_equal(refresh_record(fx, t2, &back), 0);
	/* one second before, it works */
	session(fx, "alice", NOW + 3600, 0, s2);
	new_token(t1);
	put_ok(fx, t1, s2, NOW + 100, NOW);
	rotate_ok(fx, t1, t2, NOW + 200, NOW + 99, &r);
}

static void test_rotate_session_gone_or_dead(void **state)
{
	struct fx *fx = *state;
	char s[65], e[65], i[65], p[65], c[65], j[65], t[6][48], n[48];
	struct session_login l;
	char id[48];
	struct verdict v;
	struct rot r;
	int k;

	for (k = 0; k < 6; k++)
		new_token(t[k]);
	new_token(n);
	/* deleted */
	session(fx, "alice", NOW + 3600, 0, s);
	put_ok(fx, t[0], s, NOW + 600, NOW);
	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->s.st, s, &v), 0);
	rotate_refused(fx, t[0], n, NOW + 1, "the session of this refresh token has ended");
	/* expired (the token outlives it only if recorded so: capped at put) */
	session(fx, "alice", NOW + 50, 0, e);
	put_ok(fx, t[1], e, NOW + 50, NOW);
	assert_int_equal(rotate(fx, t[1], n, NOW + 600, NOW + 50, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_false(r.reuse);
	/* idle */
	session(fx, "alice", NOW + 3600, 60, i);
	put_ok(fx, t[2], i, NOW + 600, NOW);
	assert_int_equal(rotate(fx, t[2], n, NOW + 600, NOW + 61, &r), -1);
	assert_int_equal(r.v.code, VERDICT_REJECT);
	assert_false(r.reuse);
	assert_non_null(r.v.reason);
	/* the reason names the session's state, not the caller's initial verdict */
	if (strcmp(r.v.reason, "session is idle past its limit") != 0 &&
	    strcmp(r.v.reason, "session expired") != 0)
		fail_msg("idle session refused with reason \"%s\"", r.v.reason);
	/* cut off from its parent */
	session(fx, "carol", NOW + 3600, 0, p);
	{
		struct store_session sr;

		tu_session_fill(&sr, "alice", "sshd", NOW);
		memcpy(sr.parent, p, sizeof(sr.parent));
		assert_int_equal(tu_session_put(fx->s.st, &sr, NULL, c, &v), 0);
	}
	put_ok(fx, t[3], c, NOW + 600, NOW);
	assert_int_equal(store_session_delete(fx->s.st, p, &v), 0);
	rotate_refused(fx, t[3], n, NOW + 1, "the session that opened this one has ended");
	/* opened by a JWT revoked since */
	memset(&l, 0, sizeof(l));
	l.user = "alice";
	l.service = "sshd";
	store_digest_hex("jwt-q", 5, c);
	l.origin_jti = c;
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, j, &v), 0);
	put_ok(fx, t[4], j, NOW + 600, NOW);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-q", NOW + 600, &v), 0);
	rotate_refused(fx, t[4], n, NOW + 1, "the token that opened this session is revoked");
	/* none of these recorded the new token */
	{
		struct store_refresh back;

		assert_int_equal(refresh_record(fx, n, &back), 0);
	}
}

static void test_rotate_caps_expiry(void **state)
{
	struct fx *fx = *state;
	char s[65], t1[48], t2[48], t3[48];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 1000, 0, s);
	new_token(t1);
	new_token(t2);
	new_token(t3);
	put_ok(fx, t1, s, NOW + 500, NOW);
	rotate_ok(fx, t1, t2, NOW + 5000, NOW + 1, &r);
	assert_int_equal(r.rec.expires, NOW + 1000);
	assert_int_equal(refresh_record(fx, t2, &back), 1);
	assert_int_equal(back.expires, NOW + 1000);
	/* under the cap it is taken as asked */
	rotate_ok(fx, t2, t3, NOW + 700, NOW + 2, &r);
	assert_int_equal(r.rec.expires, NOW + 700);
}

/* The successor must be a token never recorded: rotating onto a token the store already
 * holds must not rewrite it (that would clear a used token's mark, and with it the reuse
 * detection for whoever holds it). */
static void test_rotate_onto_known_token(void **state)
{
	struct fx *fx = *state;
	char s[65], t1[48], t2[48], t3[48], t4[48];
	struct store_refresh back;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	new_token(t1);
	new_token(t2);
	new_token(t3);
	new_token(t4);
	put_ok(fx, t1, s, NOW + 3000, NOW);
	rotate_ok(fx, t1, t2, NOW + 3000, NOW + 1, &r);
	rotate_ok(fx, t2, t3, NOW + 3000, NOW + 2, &r);
	/* t3 -> t1 (a used token of the family) */
	(void)rotate(fx, t3, t1, NOW + 3000, NOW + 3, &r);
	assert_int_equal(refresh_record(fx, t1, &back), 1);
	if (!back.used)
		fail_msg("rotating onto a used token cleared its used mark (rc %d, %s)", r.rc,
			 r.v.reason);
	/* whoever holds t1 is still caught */
	assert_int_equal(rotate(fx, t1, t4, NOW + 3000, NOW + 4, &r), -1);
	assert_true(r.reuse);
	assert_false(session_exists(fx, s));
}

/* ---- codec ----------------------------------------------------------------------------------- */

static void fill_rec(struct store_refresh *rec, bool used)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->session, HEX64, sizeof(rec->session));
	snprintf(rec->user, sizeof(rec->user), "alice");
	rec->uid = 1000;
	rec->created = NOW;
	rec->expires = NOW + 600;
	rec->used = used;
	if (used)
		store_digest_hex("next", 4, rec->next);
}

static void test_refresh_codec_round_trip(void **state)
{
	struct store_refresh rec, back;
	char *text, *again;
	char next[65];

	(void)state;
	fill_rec(&rec, false);
	snprintf(rec.digest, sizeof(rec.digest), "ignored");
	text = store_refresh_format(&rec);
	assert_non_null(text);
	assert_string_equal(text, "pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n"
				  "user=alice\nuid=1000\ncreated=1700000000\nexpires=1700000600\n"
				  "used=0\nnext=\n");
	assert_int_equal(store_refresh_parse(text, strlen(text), &back), 0);
	assert_string_equal(back.session, HEX64);
	assert_string_equal(back.user, "alice");
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.created, NOW);
	assert_int_equal(back.expires, NOW + 600);
	assert_false(back.used);
	assert_string_equal(back.next, "");
	assert_string_equal(back.digest, ""); /* the name, not the text, carries it */
	again = store_refresh_format(&back);
	assert_string_equal(again, text);
	free(again);
	free(text);

	fill_rec(&rec, true);
	store_digest_hex("next", 4, next);
	text = store_refresh_format(&rec);
	assert_non_null(text);
	assert_int_equal(store_refresh_parse(text, strlen(text), &back), 0);
	assert_true(back.used);
	assert_string_equal(back.next, next);
	again = store_refresh_format(&back);
	assert_string_equal(again, text);
	free(again);
	free(text);

	/* key order is free (one spelling out) */
	{
		static const char reordered[] = "pam_jwt-store 1\nkind=refresh\nnext=\nused=0\n"
						 "expires=5\ncreated=4\nuid=3\nuser=u\n"
						 "session=" HEX64 "\n";

		assert_int_equal(store_refresh_parse(reordered, strlen(reordered), &back), 0);
		assert_int_equal(back.uid, 3);
		assert_int_equal(back.expires, 5);
	}
}

#define RBODY "user=alice\nuid=1000\ncreated=1\nexpires=2\n"

static void test_refresh_codec_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"pam_jwt-store 1\n",
		"pam_jwt-store 1\nkind=refresh\n",
		"pam_jwt-store 1\nkind=session\nsession=" HEX64 "\n" RBODY "used=0\nnext=\n",
		/* used=1 needs next, used=0 needs it empty */
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=1\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=0\nnext=" HEX64
		"\n",
		/* used is 0 or 1 */
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=2\nnext=" HEX64
		"\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=9\nnext=" HEX64
		"\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=01\nnext=" HEX64
		"\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=\nnext=\n",
		/* session must be a digest */
		"pam_jwt-store 1\nkind=refresh\nsession=\n" RBODY "used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=abc\n" RBODY "used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=0123456789ABCDEF0123456789abcdef0123456789"
		"abcdef0123456789abcdef\n" RBODY "used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "0\n" RBODY "used=0\nnext=\n",
		/* next must be a digest */
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=1\nnext=xyz\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY
		"used=1\nnext=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n",
		/* unknown, duplicate and missing keys */
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=0\nnext=\nx=1\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=0\nnext=\nused=0\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\nsession=" HEX64 "\n" RBODY
		"used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=0\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\nuid=1000\ncreated=1\nexpires=2\n"
		"used=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nkind=refresh\nsession=" HEX64 "\n" RBODY
		"used=0\nnext=\n",
		/* user not empty; numbers strict; no final newline; CR */
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\nuser=\nuid=1\ncreated=1\n"
		"expires=2\nused=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\nuser=a\nuid=4294967295\n"
		"created=1\nexpires=2\nused=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\nuser=a\nuid=1\ncreated=-1\n"
		"expires=2\nused=0\nnext=\n",
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=0\nnext=",
		"pam_jwt-store 1\nkind=refresh\r\nsession=" HEX64 "\n" RBODY "used=0\nnext=\n",
	};
	static const char good[] =
		"pam_jwt-store 1\nkind=refresh\nsession=" HEX64 "\n" RBODY "used=1\nnext=" HEX64 "\n";
	struct store_refresh rec;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rec, 0x5a, sizeof(rec));
		if (store_refresh_parse(bad[i], strlen(bad[i]), &rec) == 0)
			fail_msg("accepted bad refresh record %zu", i);
	}
	assert_int_equal(store_refresh_parse(good, strlen(good), &rec), 0);
	assert_true(rec.used);
	assert_string_equal(rec.next, HEX64);
	/* an embedded NUL */
	{
		char text[sizeof(good)];

		memcpy(text, good, sizeof(good));
		text[40] = '\0';
		assert_int_equal(store_refresh_parse(text, sizeof(good) - 1, &rec), -1);
	}
	assert_int_equal(store_refresh_parse(NULL, 0, &rec), -1);
	assert_int_equal(store_refresh_parse(good, strlen(good), NULL), -1);
	assert_null(store_refresh_format(NULL));
}

/* ---- races ----------------------------------------------------------------------------------- */

struct race_report {
	int rc;
	int code;
	int reuse;
	int reason_reuse;  /* the reason is the reuse one */
	int gone_n;
	int gone_is_session;
	int exit_code;     /* 0, or where the child failed */
};

static void race_child(const char *dir, const struct store_options *opts, int go_fd,
		       int report_fd, const char *old_tok, const char *new_tok,
		       const char *session_digest)
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
		rep.rc = store_refresh_rotate(st, old_tok, new_tok, NOW + 600, NOW + 1, &rec,
					      &sess, &reuse, gone_cb, &gone, &v);
		rep.code = (int)v.code;
		rep.reuse = reuse;
		rep.reason_reuse = v.reason != NULL &&
				   strcmp(v.reason, "refresh token reuse: session revoked") == 0;
		rep.gone_n = (int)gone.n;
		rep.gone_is_session = gone.n == 1 && strcmp(gone.digest[0], session_digest) == 0;
	}
	store_close(st);
	if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(20);
	_exit(0);
}

static void test_rotate_race(void **state)
{
	struct fx *fx = *state;
	char s[65], old_tok[48], new_tok[RACERS][48];
	struct race_report rep[RACERS];
	pid_t pids[RACERS];
	int go[2], res[2], round, k, status, wins, reuses, forked, exited_ok;
	struct store_refresh back;
	struct rot r;

	for (round = 0; round < RACE_ROUNDS; round++) {
		session(fx, "alice", NOW + 3600, 0, s);
		new_token(old_tok);
		put_ok(fx, old_tok, s, NOW + 600, NOW);
		for (k = 0; k < RACERS; k++)
			new_token(new_tok[k]);
		assert_int_equal(pipe(go), 0);
		assert_int_equal(pipe(res), 0);
		for (forked = 0; forked < RACERS; forked++) {
			pids[forked] = fork();
			if (pids[forked] < 0)
				break;
			if (pids[forked] == 0) {
				close(go[1]);
				close(res[0]);
				race_child(fx->s.dir.path, &fx->s.opts, go[0], res[1], old_tok,
					   new_tok[forked], s);
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
		for (k = 0; k < RACERS; k++) {
			assert_int_equal(rep[k].exit_code, 0);
			if (rep[k].rc == 0) {
				assert_int_equal(rep[k].code, VERDICT_OK);
				assert_false(rep[k].reuse);
				assert_int_equal(rep[k].gone_n, 0);
				wins++;
				continue;
			}
			/* every loser came after the winner (the lock orders them): reuse */
			assert_int_equal(rep[k].rc, -1);
			assert_int_equal(rep[k].code, VERDICT_REJECT);
			assert_true(rep[k].reuse);
			assert_true(rep[k].reason_reuse);
			reuses += rep[k].gone_n;
			if (rep[k].gone_n == 1)
				assert_true(rep[k].gone_is_session);
		}
		if (wins != 1)
			fail_msg("round %d: %d rotations succeeded", round, wins);
		assert_int_equal(reuses, 1); /* the session went once, reported once */
		assert_false(session_exists(fx, s));
		/* the old token is used, naming exactly one successor, which no longer works */
		assert_int_equal(refresh_record(fx, old_tok, &back), 1);
		assert_true(back.used);
		for (k = 0; k < RACERS; k++) {
			char d[65];

			token_digest(new_tok[k], d);
			if (strcmp(back.next, d) == 0)
				break;
		}
		assert_true(k < RACERS);
		assert_int_equal(rotate(fx, new_tok[k], old_tok, NOW + 600, NOW + 2, &r), -1);
		assert_verdict(&r.v, VERDICT_REJECT, "the session of this refresh token has ended");
	}
}

/* ---- gc ------------------------------------------------------------------------------------------ */

static void test_gc_refresh(void **state)
{
	struct fx *fx = *state;
	char s[65], gone_s[65], live[48], expired[48], orphan[48], used[48], next[48], n[48];
	struct store_refresh back;
	struct verdict v;
	size_t removed = 0;
	struct rot r;

	session(fx, "alice", NOW + 3600, 0, s);
	session(fx, "alice", NOW + 3600, 0, gone_s);
	new_token(live);
	new_token(expired);
	new_token(orphan);
	new_token(used);
	new_token(next);
	new_token(n);
	put_ok(fx, live, s, NOW + 1000, NOW);
	put_ok(fx, expired, s, NOW + 100, NOW);
	put_ok(fx, orphan, gone_s, NOW + 1000, NOW);
	put_ok(fx, used, s, NOW + 1000, NOW);
	rotate_ok(fx, used, next, NOW + 1000, NOW + 1, &r);
	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->s.st, gone_s, &v), 0);

	assert_int_equal(store_gc(fx->s.st, NOW + 100, &removed, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(removed, 2);
	assert_int_equal(refresh_record(fx, expired, &back), 0);
	assert_int_equal(refresh_record(fx, orphan, &back), 0);
	assert_int_equal(refresh_record(fx, live, &back), 1);
	assert_int_equal(refresh_record(fx, next, &back), 1);
	assert_int_equal(refresh_record(fx, used, &back), 1); /* kept: it catches reuse */
	rotate_refused(fx, expired, n, NOW + 100, "unknown refresh token");
	/* a second gc finds nothing more */
	assert_int_equal(store_gc(fx->s.st, NOW + 100, &removed, &v), 0);
	assert_int_equal(removed, 0);
	/* the used token still catches reuse after gc */
	assert_int_equal(rotate(fx, used, n, NOW + 1000, NOW + 101, &r), -1);
	assert_true(r.reuse);
	assert_false(session_exists(fx, s));
	/* and with the session gone, gc takes the family's tokens */
	assert_int_equal(store_gc(fx->s.st, NOW + 102, &removed, &v), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(refresh_record(fx, live, &back), 0);
	assert_int_equal(refresh_record(fx, used, &back), 0);
	assert_int_equal(refresh_record(fx, next, &back), 0);
}

/* ---- import of revocations ------------------------------------------------------------------- */

static void write_named(const char *dir, char kind, const char *what, const char *text)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], path[256];
	FILE *f;

	store_digest_hex(what, strlen(what), digest);
	snprintf(path, sizeof(path), "%s/%c-%s", dir, kind, digest);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
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
		T(test_rotate),
		T(test_rotate_reuse_revokes_family),
		T(test_rotate_refusals),
		T(test_rotate_session_gone_or_dead),
		T(test_rotate_caps_expiry),
		T(test_rotate_onto_known_token),
		cmocka_unit_test(test_refresh_codec_round_trip),
		cmocka_unit_test(test_refresh_codec_strict),
		T(test_rotate_race),
		T(test_gc_refresh),
		T(test_import_revocations),
		T(test_import_keeps_longer_lock),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
