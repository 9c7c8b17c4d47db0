/*
 * Session lineage: sessions opened with another session's ID (children, `parent`) and
 * sessions opened by a JWT (`origin_jti`). A child expires no later than its parent and
 * carries its origin; a session stands only while its origin JWT is not revoked and every
 * ancestor still exists (at most 8 hops); revoking a session takes its descendants along,
 * revoking a JWT's sessions takes theirs; gc drops what no longer stands; the per-user
 * limit forgets expired sessions but never evicts live ones.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"
#include "leader.h"
#include "session.h"
#include "store.h"
#include "verdict.h"
#include "testutil.h"

#define NOW 1700000000LL
#define MAX_SEEN 64

struct fx {
	struct tu_store s;
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
	fx->cfg.bind_service = false;
	if (tu_store_open(&fx->s, "lineage", 0, 0) != 0) {
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
	config_free(&fx->cfg);
	free(fx);
	return 0;
}

static void jti_hex(const char *jti, char out[STORE_DIGEST_HEX_LEN + 1])
{
	store_digest_hex(jti, strlen(jti), out);
}

/* A login through session_record_new: parent and origin may be NULL. */
static int login(struct fx *fx, const char *user, const char *parent, const char *origin,
		 int64_t now, char id[STORE_SESSION_ID_LEN + 1],
		 char digest[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	struct session_login l;
	char local_id[STORE_SESSION_ID_LEN + 1], local_digest[STORE_DIGEST_HEX_LEN + 1];

	memset(&l, 0, sizeof(l));
	l.user = user;
	l.uid = 1000;
	l.service = "sshd";
	l.tty = "pts/2";
	l.rhost = "192.0.2.9";
	l.leader_pid = 777;
	l.parent = parent;
	l.origin_jti = origin;
	verdict_init(v);
	return session_record_new(fx->s.st, &fx->cfg, &l, now, id != NULL ? id : local_id,
				  digest != NULL ? digest : local_digest, v);
}

static void login_ok(struct fx *fx, const char *user, const char *parent, const char *origin,
		     int64_t now, char id[STORE_SESSION_ID_LEN + 1],
		     char digest[STORE_DIGEST_HEX_LEN + 1])
{
	struct verdict v;

	if (login(fx, user, parent, origin, now, id, digest, &v) != 0)
		fail_msg("session_record_new: %s", v.reason);
	assert_int_equal(v.code, VERDICT_OK);
}

static void get_ok(struct fx *fx, const char *digest, struct store_session *out)
{
	struct verdict v;

	verdict_init(&v);
	if (store_session_get_digest(fx->s.st, digest, out, &v) != 0)
		fail_msg("session %.12s: %s", digest, v.reason);
}

static int exists(struct fx *fx, const char *digest)
{
	struct store_session s;
	struct verdict v;

	verdict_init(&v);
	return store_session_get_digest(fx->s.st, digest, &s, &v) == 0;
}

/* store_session_check of the record named by digest (which must exist). */
static int check(struct fx *fx, const char *digest, const char *user, int64_t now,
		 struct verdict *v)
{
	struct store_session s;

	get_ok(fx, digest, &s);
	verdict_init(v);
	return store_session_check(fx->s.st, &s, user, NULL, false, now, v);
}

static void check_ok(struct fx *fx, const char *digest, const char *user, int64_t now)
{
	struct verdict v;

	if (check(fx, digest, user, now, &v) != 0)
		fail_msg("session %.12s refused: %s", digest, v.reason);
}

/* Put a record as is (store_session_put) with the given lineage fields. */
static void put_raw(struct fx *fx, const char *user, const char *parent, const char *origin,
		    int64_t expires, char id[STORE_SESSION_ID_LEN + 1],
		    char digest[STORE_DIGEST_HEX_LEN + 1])
{
	struct store_session s;
	struct verdict v;

	char path[PATH_MAX], *text;
	FILE *f;

	/* store_session_put refuses a broken lineage: record the session plainly, then
	 * write the lineage fields into its record as a race or a crash could leave them */
	tu_session_fill(&s, user, "sshd", NOW);
	s.expires = expires;
	if (tu_session_put(fx->s.st, &s, id, digest, &v) != 0)
		fail_msg("store_session_put: %s", v.reason);
	if (parent == NULL && origin == NULL)
		return;
	if (parent != NULL)
		snprintf(s.parent, sizeof(s.parent), "%s", parent);
	if (origin != NULL)
		snprintf(s.origin_jti, sizeof(s.origin_jti), "%s", origin);
	text = store_session_format(&s);
	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/s-%s", fx->s.dir.path, digest);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(text);
}

/* Write a parent into a session's record file, past the store's checks. */
static void set_parent(struct fx *fx, const char *digest, const char *parent)
{
	char path[PATH_MAX], *text;
	struct store_session s;
	struct verdict v;
	FILE *f;

	assert_int_equal(store_session_get_digest(fx->s.st, digest, &s, &v), 0);
	snprintf(s.parent, sizeof(s.parent), "%s", parent);
	text = store_session_format(&s);
	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/s-%s", fx->s.dir.path, digest);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(text);
}

static int scan_count_cb(const struct store_session *s, void *ctx)
{
	(void)s;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t count_sessions(struct fx *fx, const char *user)
{
	struct verdict v;
	size_t n = 0;

	verdict_init(&v);
	assert_int_equal(store_session_scan(fx->s.st, user, scan_count_cb, &n, NULL, &v), 0);
	return n;
}

/* What a revocation's callback saw: each record, and whether the store's lock (the
 * documented ".lock" file) was free while it ran. */
struct seen {
	const char *dir;
	size_t n;
	char digest[MAX_SEEN][STORE_DIGEST_HEX_LEN + 1];
	char user[MAX_SEEN][STORE_FIELD_MAX];
	int lock_held;
};

static int seen_cb(const struct store_session *s, void *ctx)
{
	struct seen *seen = ctx;
	char path[128];
	int fd;

	if (seen->n < MAX_SEEN) {
		memcpy(seen->digest[seen->n], s->digest, sizeof(seen->digest[0]));
		memcpy(seen->user[seen->n], s->user, sizeof(seen->user[0]));
	}
	seen->n++;
	snprintf(path, sizeof(path), "%s/.lock", seen->dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
		seen->lock_held = 1;
	if (fd >= 0)
		close(fd);
	return 0;
}

static void seen_init(struct seen *seen, const struct fx *fx)
{
	memset(seen, 0, sizeof(*seen));
	seen->dir = fx->s.dir.path;
}

/* The callback saw exactly these digests, each once, and never under the lock. */
static void assert_seen_exactly(const struct seen *seen, const char *const *want, size_t n)
{
	size_t i, j, hits;

	assert_false(seen->lock_held);
	if (seen->n != n)
		fail_msg("callback called %zu times, expected %zu", seen->n, n);
	for (i = 0; i < n; i++) {
		hits = 0;
		for (j = 0; j < seen->n; j++)
			hits += strcmp(seen->digest[j], want[i]) == 0;
		if (hits != 1)
			fail_msg("callback saw session %.12s %zu times", want[i], hits);
	}
}

/* ---- children ------------------------------------------------------------------------ */

static void test_child_inherits_expiry_and_origin(void **state)
{
	struct fx *fx = *state;
	char origin[STORE_DIGEST_HEX_LEN + 1], other[STORE_DIGEST_HEX_LEN + 1];
	char pd[STORE_DIGEST_HEX_LEN + 1], cd[STORE_DIGEST_HEX_LEN + 1];
	char gd[STORE_DIGEST_HEX_LEN + 1], sd[STORE_DIGEST_HEX_LEN + 1];
	char cid[STORE_SESSION_ID_LEN + 1], got[STORE_DIGEST_HEX_LEN + 1];
	struct store_session p, c, g, s;
	struct verdict v;

	jti_hex("jwt-1", origin);
	jti_hex("jwt-2", other);
	login_ok(fx, "alice", NULL, origin, NOW, NULL, pd);
	get_ok(fx, pd, &p);
	assert_int_equal(p.expires, NOW + 3600);
	assert_string_equal(p.origin_jti, origin);
	assert_string_equal(p.parent, "");

	/* 1000 s later, a child: its own TTL would end after the parent's */
	login_ok(fx, "alice", pd, NULL, NOW + 1000, cid, cd);
	get_ok(fx, cd, &c);
	assert_string_equal(c.parent, pd);
	assert_string_equal(c.origin_jti, origin);
	assert_int_equal(c.expires, NOW + 3600);
	assert_int_equal(c.created, NOW + 1000);
	/* a grandchild opened by a token of its own keeps that token's jti; the family's
	 * is checked along the lineage all the same */
	login_ok(fx, "alice", cd, other, NOW + 2000, NULL, gd);
	get_ok(fx, gd, &g);
	assert_string_equal(g.parent, cd);
	assert_string_equal(g.origin_jti, other);
	assert_int_equal(g.expires, NOW + 3600);

	/* a shorter TTL: the child's own expiry wins */
	fx->cfg.session_ttl = 60;
	login_ok(fx, "alice", pd, NULL, NOW + 1000, NULL, sd);
	get_ok(fx, sd, &s);
	assert_int_equal(s.expires, NOW + 1060);
	assert_string_equal(s.origin_jti, origin);

	/* the child works as a credential, through both session.h entry points */
	verdict_init(&v);
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid, "alice", "sshd", NOW + 1500,
					  got, &v), 0);
	assert_string_equal(got, cd);
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, gd, "alice", "sshd", NOW + 3599,
					      &v), 0);
	/* and ends with its parent's expiry */
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid, "alice", "sshd", NOW + 3600,
					  got, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session expired");
	assert_string_equal(got, "");

	/* a child of a session with no origin has none */
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	login_ok(fx, "alice", pd, NULL, NOW, NULL, cd);
	get_ok(fx, cd, &c);
	assert_string_equal(c.origin_jti, "");
	assert_string_equal(c.parent, pd);
}

static void test_child_refused_without_parent(void **state)
{
	struct fx *fx = *state;
	char pd[STORE_DIGEST_HEX_LEN + 1], cd[STORE_DIGEST_HEX_LEN + 1];
	char od[STORE_DIGEST_HEX_LEN + 1], xd[STORE_DIGEST_HEX_LEN + 1];
	char bd[STORE_DIGEST_HEX_LEN + 1], ghost[STORE_DIGEST_HEX_LEN + 1];
	char cid[STORE_SESSION_ID_LEN + 1], oid[STORE_SESSION_ID_LEN + 1];
	char got[STORE_DIGEST_HEX_LEN + 1];
	struct verdict v;

	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	login_ok(fx, "alice", pd, NULL, NOW, cid, cd);
	verdict_init(&v);
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid, "alice", NULL, NOW, got, &v),
			 0);
	/* deleting the parent ends the child */
	assert_int_equal(store_session_delete(fx->s.st, pd, &v), 0);
	assert_false(exists(fx, pd));
	assert_false(exists(fx, cd));
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid, "alice", NULL, NOW, got, &v),
			 -1);
	assert_int_equal(v.code, VERDICT_REJECT);

	/* a record whose parent does not exist at all */
	assert_int_equal(store_session_id_new(oid), 0);
	store_digest_hex(oid, strlen(oid), ghost); /* never recorded */
	put_raw(fx, "alice", ghost, NULL, NOW + 3600, oid, od);
	assert_int_equal(check(fx, od, "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, oid, "alice", NULL, NOW, got, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, od, "alice", NULL, NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");

	/* a child record that outlives its parent's revocation (it is not in the parent's
	 * user's index, so the revocation does not find it): still refused */
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	put_raw(fx, "bob", pd, NULL, NOW + 3600, NULL, bd);
	check_ok(fx, bd, "bob", NOW);
	assert_int_equal(store_session_revoke(fx->s.st, pd, NULL, NULL, NULL, &v), 0);
	assert_true(exists(fx, bd));
	assert_int_equal(check(fx, bd, "bob", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");

	/* an ancestor further up gone: refused too */
	login_ok(fx, "carol", NULL, NULL, NOW, NULL, pd);
	put_raw(fx, "dave", pd, NULL, NOW + 3600, NULL, xd);
	put_raw(fx, "dave", xd, NULL, NOW + 3600, NULL, cd);
	check_ok(fx, cd, "dave", NOW);
	assert_int_equal(store_session_revoke(fx->s.st, pd, NULL, NULL, NULL, &v), 0);
	assert_int_equal(check(fx, cd, "dave", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session that opened this one has ended");
}

static void test_child_of_dead_parent_not_created(void **state)
{
	struct fx *fx = *state;
	char pd[STORE_DIGEST_HEX_LEN + 1], id[STORE_SESSION_ID_LEN + 1];
	char cd[STORE_DIGEST_HEX_LEN + 1], origin[STORE_DIGEST_HEX_LEN + 1];
	struct verdict v;
	size_t before;

	/* expired */
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	before = count_sessions(fx, NULL);
	assert_int_equal(login(fx, "alice", pd, NULL, NOW + 3600, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session expired");
	assert_string_equal(id, "");
	assert_string_equal(cd, "");
	/* deleted */
	assert_int_equal(store_session_delete(fx->s.st, pd, &v), 0);
	assert_int_equal(login(fx, "alice", pd, NULL, NOW, id, cd, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_string_equal(id, "");
	/* idle */
	fx->cfg.idle_timeout = 100;
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	fx->cfg.idle_timeout = 0;
	assert_int_equal(login(fx, "alice", pd, NULL, NOW + 101, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session is idle past its limit");
	/* opened by a JWT that is revoked since */
	jti_hex("jwt-r", origin);
	login_ok(fx, "alice", NULL, origin, NOW, NULL, pd);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-r", NOW + 600, &v), 0);
	assert_int_equal(login(fx, "alice", pd, NULL, NOW + 1, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	/* not a digest */
	assert_int_equal(login(fx, "alice", "PD", NULL, NOW, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "origin of the login is malformed");
	/* a malformed origin */
	assert_int_equal(login(fx, "alice", NULL, "abc", NOW, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "origin of the login is malformed");
	/* nothing was recorded by any of these */
	assert_int_equal(count_sessions(fx, NULL), before - 1 + 2);
}

static void test_child_of_other_users_session(void **state)
{
	struct fx *fx = *state;
	char pd[STORE_DIGEST_HEX_LEN + 1], id[STORE_SESSION_ID_LEN + 1];
	char cd[STORE_DIGEST_HEX_LEN + 1];
	struct verdict v;

	login_ok(fx, "alice", NULL, NULL, NOW, NULL, pd);
	assert_int_equal(login(fx, "bob", pd, NULL, NOW, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session belongs to another user");
	assert_string_equal(id, "");
	assert_int_equal(count_sessions(fx, "bob"), 0);
	assert_int_equal(count_sessions(fx, NULL), 1);
	/* alice's own child is fine */
	login_ok(fx, "alice", pd, NULL, NOW, NULL, cd);
}

/* ---- revocation ---------------------------------------------------------------------- */

static void test_revoke_takes_descendants_only(void **state)
{
	struct fx *fx = *state;
	char p[65], c1[65], c2[65], g1[65], gg1[65], u[65], s[65], s1[65], b[65], b1[65];
	char id[STORE_SESSION_ID_LEN + 1];
	struct store_session rec;
	struct seen seen;
	struct verdict v;
	size_t count = 99, i;
	const char *gone[] = { p, c1, c2, g1, gg1 };
	const char *kept[] = { u, s, s1 };

	login_ok(fx, "alice", NULL, NULL, NOW, NULL, p);
	login_ok(fx, "alice", p, NULL, NOW, NULL, c1);
	login_ok(fx, "alice", p, NULL, NOW, NULL, c2);
	login_ok(fx, "alice", c1, NULL, NOW, NULL, g1);
	login_ok(fx, "alice", g1, NULL, NOW, NULL, gg1);
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, u);
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, s);
	login_ok(fx, "alice", s, NULL, NOW, NULL, s1);
	login_ok(fx, "bob", NULL, NULL, NOW, id, b);
	login_ok(fx, "bob", b, NULL, NOW, NULL, b1);
	assert_int_equal(count_sessions(fx, NULL), 10);

	seen_init(&seen, fx);
	verdict_init(&v);
	assert_int_equal(store_session_revoke(fx->s.st, p, seen_cb, &seen, &count, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(count, 5);
	assert_seen_exactly(&seen, gone, 5);
	for (i = 0; i < seen.n; i++)
		assert_string_equal(seen.user[i], "alice");
	for (i = 0; i < 5; i++)
		assert_false(exists(fx, gone[i]));
	for (i = 0; i < 3; i++)
		check_ok(fx, kept[i], "alice", NOW + 1);
	check_ok(fx, b, "bob", NOW + 1);
	check_ok(fx, b1, "bob", NOW + 1);
	assert_int_equal(count_sessions(fx, NULL), 5);

	/* again: absent is success, nothing removed, no callback */
	seen_init(&seen, fx);
	assert_int_equal(store_session_revoke(fx->s.st, p, seen_cb, &seen, &count, &v), 0);
	assert_int_equal(count, 0);
	assert_int_equal(seen.n, 0);
	/* revoking a leaf takes only the leaf */
	seen_init(&seen, fx);
	assert_int_equal(store_session_revoke(fx->s.st, b1, seen_cb, &seen, &count, &v), 0);
	assert_int_equal(count, 1);
	{
		const char *want[] = { b1 };

		assert_seen_exactly(&seen, want, 1);
	}
	get_ok(fx, b, &rec);
	/* store_session_delete: the same removal, no callback */
	assert_int_equal(store_session_delete(fx->s.st, s, &v), 0);
	assert_false(exists(fx, s));
	assert_false(exists(fx, s1));
	check_ok(fx, u, "alice", NOW + 1);
	assert_int_equal(count_sessions(fx, NULL), 2);
	/* not a digest */
	assert_int_equal(store_session_revoke(fx->s.st, "abc", seen_cb, &seen, &count, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_int_equal(count, 0);
}

static void test_revoke_user_reports_each(void **state)
{
	struct fx *fx = *state;
	char a1[65], a2[65], a3[65], b1[65], b2[65];
	struct seen seen;
	struct verdict v;
	size_t count = 99;
	const char *gone[] = { a1, a2, a3 };

	login_ok(fx, "alice", NULL, NULL, NOW, NULL, a1);
	login_ok(fx, "alice", a1, NULL, NOW, NULL, a2);
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, a3);
	login_ok(fx, "bob", NULL, NULL, NOW, NULL, b1);
	login_ok(fx, "bob", b1, NULL, NOW, NULL, b2);
	seen_init(&seen, fx);
	verdict_init(&v);
	assert_int_equal(store_revoke_user(fx->s.st, "alice", seen_cb, &seen, &count, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(count, 3);
	assert_seen_exactly(&seen, gone, 3);
	assert_int_equal(count_sessions(fx, "alice"), 0);
	check_ok(fx, b1, "bob", NOW);
	check_ok(fx, b2, "bob", NOW);
	/* nobody left: success, nothing reported */
	seen_init(&seen, fx);
	assert_int_equal(store_revoke_user(fx->s.st, "alice", seen_cb, &seen, &count, &v), 0);
	assert_int_equal(count, 0);
	assert_int_equal(seen.n, 0);
}

static void test_revoke_cycle_terminates(void **state)
{
	struct fx *fx = *state;
	char ida[STORE_SESSION_ID_LEN + 1], idb[STORE_SESSION_ID_LEN + 1];
	char da[65], db[65];
	struct store_session s;
	struct seen seen;
	struct verdict v;
	size_t count = 0;
	const char *both[] = { da, db };

	/* two records naming each other as parent (only a forged store can hold this) */
	assert_int_equal(store_session_id_new(ida), 0);
	assert_int_equal(store_session_id_new(idb), 0);
	store_digest_hex(ida, strlen(ida), da);
	store_digest_hex(idb, strlen(idb), db);
	tu_session_fill(&s, "alice", "sshd", NOW);
	verdict_init(&v);
	assert_int_equal(store_session_put(fx->s.st, ida, &s, &v), 0);
	assert_int_equal(store_session_put(fx->s.st, idb, &s, &v), 0);
	set_parent(fx, da, db);
	set_parent(fx, db, da);
	assert_int_equal(check(fx, da, "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session chain is too long");

	seen_init(&seen, fx);
	assert_int_equal(store_session_revoke(fx->s.st, da, seen_cb, &seen, &count, &v), 0);
	assert_int_equal(count, 2);
	assert_seen_exactly(&seen, both, 2);
	assert_int_equal(count_sessions(fx, NULL), 0);
}

static void test_revoke_jti_sessions(void **state)
{
	struct fx *fx = *state;
	char x[65], y[65], s[65], s1[65], s2[65], s3[65], t[65], plain[65], bx[65], ts[65];
	char sid[STORE_SESSION_ID_LEN + 1], got[65];
	struct seen seen;
	struct verdict v;
	size_t count = 99;
	const char *gone[] = { s, s1, s2, s3, bx };

	jti_hex("jwt-X", x);
	jti_hex("jwt-Y", y);
	login_ok(fx, "alice", NULL, x, NOW, sid, s);
	login_ok(fx, "alice", s, NULL, NOW + 1, NULL, s1);
	login_ok(fx, "alice", s1, NULL, NOW + 2, NULL, s2);
	/* a descendant that does not carry the origin (forged): goes with its ancestor */
	put_raw(fx, "alice", s2, NULL, NOW + 3600, NULL, s3);
	login_ok(fx, "alice", NULL, y, NOW, NULL, t);
	login_ok(fx, "alice", t, NULL, NOW, NULL, ts);
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, plain);
	login_ok(fx, "bob", NULL, x, NOW, NULL, bx);

	verdict_init(&v);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-X", NOW + 600, &v), 0);
	seen_init(&seen, fx);
	assert_int_equal(store_revoke_jti_sessions(fx->s.st, "jwt-X", seen_cb, &seen, &count, &v),
			 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(count, 5);
	assert_seen_exactly(&seen, gone, 5);
	assert_false(exists(fx, s));
	assert_false(exists(fx, s1));
	assert_false(exists(fx, s2));
	assert_false(exists(fx, s3));
	assert_false(exists(fx, bx));
	check_ok(fx, t, "alice", NOW + 10);
	check_ok(fx, ts, "alice", NOW + 10);
	check_ok(fx, plain, "alice", NOW + 10);
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, sid, "alice", NULL, NOW + 10, got,
					  &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	/* a second time: nothing left */
	seen_init(&seen, fx);
	assert_int_equal(store_revoke_jti_sessions(fx->s.st, "jwt-X", seen_cb, &seen, &count, &v),
			 0);
	assert_int_equal(count, 0);
	assert_int_equal(seen.n, 0);
	/* a jti no session came from */
	assert_int_equal(store_revoke_jti_sessions(fx->s.st, "jwt-none", NULL, NULL, &count, &v),
			 0);
	assert_int_equal(count, 0);
	assert_int_equal(count_sessions(fx, NULL), 3);
	assert_int_equal(store_revoke_jti_sessions(fx->s.st, "", NULL, NULL, &count, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
}

static void test_revoked_jti_refuses_lineage(void **state)
{
	struct fx *fx = *state;
	char x[65], y[65], s[65], c[65], g[65], t[65];
	char sid[STORE_SESSION_ID_LEN + 1], cid[STORE_SESSION_ID_LEN + 1], got[65];
	struct verdict v;

	jti_hex("jwt-X", x);
	jti_hex("jwt-Y", y);
	login_ok(fx, "alice", NULL, x, NOW, sid, s);
	login_ok(fx, "alice", s, NULL, NOW, cid, c);
	login_ok(fx, "alice", c, NULL, NOW, NULL, g);
	login_ok(fx, "alice", NULL, y, NOW, NULL, t);
	check_ok(fx, g, "alice", NOW);

	/* revoked, without removing the sessions: they all stand no more */
	verdict_init(&v);
	assert_int_equal(store_jti_revoke(fx->s.st, "jwt-X", NOW + 600, &v), 0);
	assert_true(exists(fx, s));
	assert_true(exists(fx, g));
	assert_int_equal(check(fx, s, "alice", NOW + 1, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(check(fx, c, "alice", NOW + 1, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(check(fx, g, "alice", NOW + 600, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, sid, "alice", "sshd", NOW + 1, got,
					  &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid, "alice", "sshd", NOW + 1, got,
					  &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, g, "alice", "sshd", NOW + 1, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "the token that opened this session is revoked");
	/* another JWT's session is not affected */
	check_ok(fx, t, "alice", NOW + 1);
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, t, "alice", "sshd", NOW + 1, &v),
			 0);
}

static void test_chain_too_long(void **state)
{
	struct fx *fx = *state;
	char d[11][STORE_DIGEST_HEX_LEN + 1], id[STORE_SESSION_ID_LEN + 1];
	char cd[STORE_DIGEST_HEX_LEN + 1];
	struct verdict v;
	int i;

	/* d[0] the root; d[i] has i ancestors */
	login_ok(fx, "alice", NULL, NULL, NOW, NULL, d[0]);
	for (i = 1; i <= 8; i++)
		login_ok(fx, "alice", d[i - 1], NULL, NOW, i == 8 ? id : NULL, d[i]);
	check_ok(fx, d[8], "alice", NOW); /* 8 hops: the most there may be */
	verdict_init(&v);
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, d[8], "alice", NULL, NOW, &v),
			 0);
	/* a ninth hop is one too many: refused however it comes to exist */
	put_raw(fx, "alice", d[8], NULL, NOW + 3600, NULL, d[9]);
	assert_int_equal(check(fx, d[9], "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session chain is too long");
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, d[9], "alice", NULL, NOW, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "session chain is too long");
	/* and nothing can be opened from it */
	assert_int_equal(login(fx, "alice", d[9], NULL, NOW, id, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session chain is too long");
	/* the ones above it still stand */
	check_ok(fx, d[8], "alice", NOW);
	check_ok(fx, d[1], "alice", NOW);
	/* revoking the root takes the whole chain */
	{
		size_t count = 0;

		assert_int_equal(store_session_revoke(fx->s.st, d[0], NULL, NULL, &count, &v), 0);
		assert_int_equal(count, 10);
	}
	assert_int_equal(count_sessions(fx, NULL), 0);
}

/* ---- gc ---------------------------------------------------------------------------------- */

static int gc_standing_cb(const struct store_session *s, void *ctx)
{
	struct fx *fx = ((void **)ctx)[0];
	int64_t now = *(int64_t *)((void **)ctx)[1];
	size_t *bad = ((void **)ctx)[2];
	struct verdict v;

	verdict_init(&v);
	if (store_session_check(fx->s.st, s, s->user, NULL, false, now, &v) != 0) {
		fprintf(stderr, "# left by gc: %.12s (%s)\n", s->digest, v.reason);
		(*bad)++;
	}
	return 0;
}

/* After gc at `now`, every session left stands. */
static void assert_all_standing(struct fx *fx, int64_t now)
{
	size_t bad = 0;
	void *ctx[3] = { fx, &now, &bad };
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_session_scan(fx->s.st, NULL, gc_standing_cb, ctx, NULL, &v), 0);
	assert_int_equal(bad, 0);
}

static void test_gc_removes_orphans(void **state)
{
	struct fx *fx = *state;
	char p[65], live[65], livec[65], ghost[65], x[65];
	char o[4][65], oc[4][65], ocg[4][65], jx[4][65];
	char id[STORE_SESSION_ID_LEN + 1];
	struct verdict v;
	size_t removed = 0;
	int i;

	login_ok(fx, "alice", NULL, NULL, NOW, NULL, live);
	login_ok(fx, "alice", live, NULL, NOW, NULL, livec);
	/* orphans whose parent never existed, with children and grandchildren */
	for (i = 0; i < 4; i++) {
		assert_int_equal(store_session_id_new(id), 0);
		store_digest_hex(id, strlen(id), ghost);
		put_raw(fx, "alice", ghost, NULL, NOW + 3600, NULL, o[i]);
		put_raw(fx, "alice", o[i], NULL, NOW + 3600, NULL, oc[i]);
		put_raw(fx, "alice", oc[i], NULL, NOW + 3600, NULL, ocg[i]);
	}
	/* an orphan of another user's revoked session */
	login_ok(fx, "carol", NULL, NULL, NOW, NULL, p);
	put_raw(fx, "bob", p, NULL, NOW + 3600, NULL, x);
	assert_int_equal(store_session_revoke(fx->s.st, p, NULL, NULL, NULL, &v), 0);
	/* sessions of a revoked JWT, not removed eagerly */
	{
		char origin[65];

		jti_hex("jwt-gc", origin);
		login_ok(fx, "dave", NULL, origin, NOW, NULL, jx[0]);
		login_ok(fx, "dave", jx[0], NULL, NOW, NULL, jx[1]);
		assert_int_equal(store_jti_revoke(fx->s.st, "jwt-gc", NOW + 600, &v), 0);
	}

	verdict_init(&v);
	assert_int_equal(store_gc(fx->s.st, NOW + 1, NULL, NULL, &removed, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	for (i = 0; i < 4; i++) {
		assert_false(exists(fx, o[i]));
		assert_false(exists(fx, oc[i]));
		assert_false(exists(fx, ocg[i]));
	}
	assert_false(exists(fx, x));
	assert_false(exists(fx, jx[0]));
	assert_false(exists(fx, jx[1]));
	assert_int_equal(removed, 15);
	check_ok(fx, live, "alice", NOW + 1);
	check_ok(fx, livec, "alice", NOW + 1);
	assert_int_equal(count_sessions(fx, NULL), 2);
	assert_all_standing(fx, NOW + 1);
}

/* A parent that gc removes (idle) takes its children in the same run. */
static void test_gc_parent_and_children_same_run(void **state)
{
	struct fx *fx = *state;
	char p[8][65], c[8][65], g[8][65], cid[8][STORE_SESSION_ID_LEN + 1], got[65];
	struct verdict v;
	size_t removed = 0;
	int i;

	fx->cfg.idle_timeout = 100;
	for (i = 0; i < 8; i++) {
		login_ok(fx, "alice", NULL, NULL, NOW, NULL, p[i]);
		login_ok(fx, "alice", p[i], NULL, NOW + 50, cid[i], c[i]);
		login_ok(fx, "alice", c[i], NULL, NOW + 60, NULL, g[i]);
	}
	/* the children are used (not idle); the parents are not (idle at NOW + 101) */
	for (i = 0; i < 8; i++) {
		verdict_init(&v);
		assert_int_equal(session_check_id(fx->s.st, &fx->cfg, cid[i], "alice", NULL,
						  NOW + 140, got, &v), 0);
	}
	assert_int_equal(store_gc(fx->s.st, NOW + 150, NULL, NULL, &removed, &v), 0);
	for (i = 0; i < 8; i++)
		assert_false(exists(fx, p[i]));
	assert_all_standing(fx, NOW + 150);
	for (i = 0; i < 8; i++) {
		assert_false(exists(fx, c[i]));
		assert_false(exists(fx, g[i]));
	}
	assert_int_equal(removed, 24);
}

/* ---- the per-user limit ----------------------------------------------------------------- */

static void put_timed(struct fx *fx, const char *user, int64_t created, int64_t expires,
		      int64_t idle, char digest[STORE_DIGEST_HEX_LEN + 1], struct verdict *v,
		      int want_rc)
{
	struct store_session s;
	int rc;

	tu_session_fill(&s, user, "sshd", created);
	s.expires = expires;
	s.idle_timeout = idle;
	rc = tu_session_put(fx->s.st, &s, NULL, digest, v);
	if (rc != want_rc)
		fail_msg("store_session_put returned %d (%s), expected %d", rc, v->reason,
			 want_rc);
}

static void test_limit_forgets_expired(void **state)
{
	struct fx *fx = *state;
	char old[3][65], bob_old[65], fresh[65], idle[65], live[2][65];
	struct verdict v;
	int i;

	assert_int_equal(tu_store_reopen(&fx->s, 3, 0), 0);
	for (i = 0; i < 3; i++)
		put_timed(fx, "alice", NOW - 100, NOW - 10 + i, 0, old[i], &v, 0);
	put_timed(fx, "bob", NOW - 100, NOW - 10, 0, bob_old, &v, 0);
	/* a 4th: the expired ones no longer count, and they are gone */
	put_timed(fx, "alice", NOW, NOW + 3600, 0, fresh, &v, 0);
	assert_int_equal(v.code, VERDICT_OK);
	for (i = 0; i < 3; i++)
		assert_false(exists(fx, old[i]));
	check_ok(fx, fresh, "alice", NOW);
	assert_int_equal(count_sessions(fx, "alice"), 1);
	/* another user's expired session is not touched */
	assert_true(exists(fx, bob_old));

	/* an idle session is stale too; the live ones stay */
	put_timed(fx, "alice", NOW - 500, NOW + 3600, 60, idle, &v, 0);
	put_timed(fx, "alice", NOW, NOW + 3600, 0, live[0], &v, 0);
	assert_int_equal(count_sessions(fx, "alice"), 3);
	put_timed(fx, "alice", NOW, NOW + 3600, 0, live[1], &v, 0);
	assert_false(exists(fx, idle));
	check_ok(fx, fresh, "alice", NOW);
	check_ok(fx, live[0], "alice", NOW);
	check_ok(fx, live[1], "alice", NOW);
	assert_int_equal(count_sessions(fx, "alice"), 3);
}

/* put a session for `user` that counts against `owner` (NULL: the user), led by this
 * process: with its real start time (live) or another one (its leader is gone) */
static void put_led(struct fx *fx, const char *user, const char *owner, bool leader_live,
		    char digest[STORE_DIGEST_HEX_LEN + 1], struct verdict *v, int want_rc)
{
	struct store_session s;
	int64_t start = 0;
	int rc;

	assert_int_equal(leader_start_time(getpid(), &start), 0);
	tu_session_fill(&s, user, "sudo", NOW);
	if (owner != NULL)
		snprintf(s.owner, sizeof(s.owner), "%s", owner);
	s.leader_pid = getpid();
	s.leader_start = leader_live ? start : start + 1;
	rc = tu_session_put(fx->s.st, &s, NULL, digest, v);
	if (rc != want_rc)
		fail_msg("store_session_put returned %d (%s), expected %d", rc, v->reason,
			 want_rc);
}

/* sudo/su sessions count against the invoking user (the owner), not the target. At the
 * owner's limit, the sessions whose leader (pid + start time) is gone are dropped first;
 * live ones always count, none is evicted, and the refusal says whose limit it is. */
static void test_limit_owner_and_gone_leaders(void **state)
{
	struct fx *fx = *state;
	char live[3][65], gone[65], extra[65], root_own[2][65];
	struct verdict v;
	int i;

	assert_int_equal(tu_store_reopen(&fx->s, 3, 0), 0);
	/* alice's sudo sessions for root: two live, one whose leader is gone */
	put_led(fx, "root", "alice", true, live[0], &v, 0);
	put_led(fx, "root", "alice", true, live[1], &v, 0);
	put_led(fx, "root", "alice", false, gone, &v, 0);
	/* none counts against root */
	put_led(fx, "root", NULL, true, root_own[0], &v, 0);
	/* alice at her limit: the gone one is dropped, the live ones stay */
	put_led(fx, "root", "alice", true, live[2], &v, 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_false(exists(fx, gone));
	for (i = 0; i < 3; i++)
		assert_true(exists(fx, live[i]));
	/* three live: refused for the invoking user, nothing evicted */
	put_led(fx, "root", "alice", true, extra, &v, -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for the invoking user");
	assert_false(exists(fx, extra));
	for (i = 0; i < 3; i++)
		assert_true(exists(fx, live[i]));
	assert_true(exists(fx, root_own[0]));
	/* alice's own login at her limit is refused in the usual words */
	put_led(fx, "alice", NULL, true, extra, &v, -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	/* root's own logins go on */
	put_led(fx, "root", NULL, true, root_own[1], &v, 0);
	assert_true(exists(fx, root_own[1]));
}

static void test_limit_never_evicts_live(void **state)
{
	struct fx *fx = *state;
	char live[3][65], extra[65], pid[STORE_SESSION_ID_LEN + 1], cd[65];
	struct verdict v;
	int i;

	assert_int_equal(tu_store_reopen(&fx->s, 3, 0), 0);
	for (i = 0; i < 3; i++)
		put_timed(fx, "alice", NOW, NOW + 3600, 0, live[i], &v, 0);
	put_timed(fx, "alice", NOW + 10, NOW + 3600, 0, extra, &v, -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	assert_false(exists(fx, extra));
	for (i = 0; i < 3; i++)
		check_ok(fx, live[i], "alice", NOW + 10);
	assert_int_equal(count_sessions(fx, "alice"), 3);
	/* a child login is refused the same way */
	assert_int_equal(login(fx, "alice", live[0], NULL, NOW + 10, pid, cd, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	assert_int_equal(count_sessions(fx, "alice"), 3);
	/* other users are not affected */
	put_timed(fx, "bob", NOW, NOW + 3600, 0, extra, &v, 0);
}

/* ---- the codec --------------------------------------------------------------------------- */

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD                                                                               \
	"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=sshd\ntty=pts/3\nrhost=h\n" \
	"pid=1\ncreated=1\nexpires=2\nidle=0\nlast_seen=1\nleader_start=0\n"

static void test_parse_lineage_fields(void **state)
{
	static const char *const bad_values[] = {
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", /* upper */
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",  /* 63 */
		HEX64 "0",                                                          /* 65 */
		"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", /* not hex */
		"0123456789abcdef 123456789abcdef0123456789abcdef0123456789abcdef", /* space */
		" " HEX64,
		"pjs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",                  /* an ID */
	};
	char text[1024];
	struct store_session s;
	size_t i, n;
	int field;

	(void)state;
	/* the good ones */
	n = (size_t)snprintf(text, sizeof(text), HEAD "parent=" HEX64 "\norigin_jti=" HEX64
						     "\ntokens=1\nowner=alice\nfamily=\n");
	assert_int_equal(store_session_parse(text, n, &s), 0);
	assert_string_equal(s.parent, HEX64);
	assert_string_equal(s.origin_jti, HEX64);
	assert_true(s.tokens);
	n = (size_t)snprintf(text, sizeof(text), HEAD "parent=\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n");
	assert_int_equal(store_session_parse(text, n, &s), 0);
	assert_string_equal(s.parent, "");
	assert_string_equal(s.origin_jti, "");
	assert_false(s.tokens);
	/* each bad value, in each field */
	for (field = 0; field < 2; field++) {
		for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
			n = (size_t)snprintf(text, sizeof(text),
					     HEAD "parent=%s\norigin_jti=%s\ntokens=0\nowner=alice\nfamily=\n",
					     field == 0 ? bad_values[i] : HEX64,
					     field == 1 ? bad_values[i] : HEX64);
			memset(&s, 0x5a, sizeof(s));
			if (store_session_parse(text, n, &s) == 0)
				fail_msg("accepted %s=\"%s\"", field ? "origin_jti" : "parent",
					 bad_values[i]);
			assert_string_equal(s.user, "");
			assert_string_equal(s.parent, "");
		}
	}
	/* tokens is 0 or 1; the lineage keys are not optional and appear once */
	{
		static const char *const bad[] = {
			HEAD "parent=\norigin_jti=\ntokens=2\nowner=alice\nfamily=\n",
			HEAD "parent=\norigin_jti=\ntokens=\nowner=alice\nfamily=\n",
			HEAD "parent=\norigin_jti=\n",
			HEAD "origin_jti=\ntokens=0\nowner=alice\nfamily=\n",
			HEAD "parent=\ntokens=0\nowner=alice\nfamily=\n",
			HEAD "parent=\nparent=\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n",
			HEAD "parent=\norigin_jti=\norigin_jti=" HEX64 "\ntokens=0\nowner=alice\nfamily=\n",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (store_session_parse(bad[i], strlen(bad[i]), &s) == 0)
				fail_msg("accepted bad record %zu", i);
		}
	}
}

/* A record that does not parse, written in place of a session, never stands. */
static void test_forged_lineage_record_refused(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1], d[65], path[256], text[1024], got[65];
	struct verdict v;
	size_t n;
	FILE *f;

	put_raw(fx, "alice", NULL, NULL, NOW + 3600, id, d);
	n = (size_t)snprintf(text, sizeof(text),
			     "pam_jwt-store 1\nkind=session\nuser=alice\nuid=1000\nservice=sshd\n"
			     "tty=\nrhost=\npid=1\ncreated=%lld\nexpires=%lld\nidle=0\n"
			     "last_seen=%lld\nleader_start=0\nparent=%s\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n",
			     NOW, NOW + 3600, NOW,
			     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	snprintf(path, sizeof(path), "%s/s-%s", fx->s.dir.path, d);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	verdict_init(&v);
	assert_int_equal(session_check_id(fx->s.st, &fx->cfg, id, "alice", NULL, NOW, got, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_int_equal(session_check_digest(fx->s.st, &fx->cfg, d, "alice", NULL, NOW, &v), -1);
	assert_int_equal(v.code, VERDICT_REJECT);
}

static void test_format_round_trip_lineage(void **state)
{
	struct store_session s, back;
	char *text;

	(void)state;
	tu_session_fill(&s, "alice", "sshd", NOW);
	memcpy(s.parent, HEX64, sizeof(s.parent));
	store_digest_hex("jwt", 3, s.origin_jti);
	s.tokens = true;
	s.leader_start = 123456;
	text = store_session_format(&s);
	assert_non_null(text);
	assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
	assert_string_equal(back.parent, HEX64);
	assert_string_equal(back.origin_jti, s.origin_jti);
	assert_true(back.tokens);
	assert_int_equal(back.leader_start, 123456);
	free(text);
}

static void test_tokens_flag(void **state)
{
	struct fx *fx = *state;
	char origin[65], p[65], c[65];
	struct store_session before, after;
	struct verdict v;

	jti_hex("jwt-t", origin);
	login_ok(fx, "alice", NULL, origin, NOW, NULL, p);
	login_ok(fx, "alice", p, NULL, NOW + 5, NULL, c);
	get_ok(fx, c, &before);
	assert_false(before.tokens);
	verdict_init(&v);
	assert_int_equal(store_session_set_tokens(fx->s.st, c, true, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	get_ok(fx, c, &after);
	assert_true(after.tokens);
	/* nothing else changed */
	assert_string_equal(after.parent, before.parent);
	assert_string_equal(after.origin_jti, before.origin_jti);
	assert_int_equal(after.expires, before.expires);
	assert_int_equal(after.created, before.created);
	assert_int_equal(after.last_seen, before.last_seen);
	assert_string_equal(after.user, before.user);
	/* the parent is untouched */
	get_ok(fx, p, &after);
	assert_false(after.tokens);
	check_ok(fx, c, "alice", NOW + 5);
	assert_int_equal(store_session_set_tokens(fx->s.st, c, false, &v), 0);
	get_ok(fx, c, &after);
	assert_false(after.tokens);
	/* unknown and malformed */
	assert_int_equal(store_session_delete(fx->s.st, c, &v), 0);
	assert_int_equal(store_session_set_tokens(fx->s.st, c, true, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	assert_false(exists(fx, c));
	assert_int_equal(store_session_set_tokens(fx->s.st, "C0FFEE", true, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
}

/* Scan callback: copy the one session seen. */
static int scan_one(const struct store_session *sess, void *ctx)
{
	*(struct store_session *)ctx = *sess;
	return 0;
}

/* PAM_TTY and PAM_RHOST hold whatever the client set: session_record_new keeps printable
 * ASCII but space and turns every other byte into '?', so the record is written, and lists
 * (JSON too) without a control byte. The user and the service (bind_service compares it)
 * are kept exactly: one the store cannot hold is refused. */
static void test_login_fields_sanitised(void **state)
{
	struct fx *fx = *state;
	struct session_login l;
	struct store_session got;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	char long_tty[400];
	struct verdict v;
	size_t unreadable = 0;

	memset(&l, 0, sizeof(l));
	l.user = "alice";
	l.uid = 1000;
	l.service = "ss h d";
	l.tty = "\xff\x1b\n tty\xc3\xa9[31m";
	l.rhost = "host\r\t\x01\x9b.example";
	l.leader_pid = 777;
	verdict_init(&v);
	if (session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, digest, &v) != 0)
		fail_msg("session_record_new: %s", v.reason);
	get_ok(fx, digest, &got);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.service, "ss h d");
	assert_string_equal(got.tty, "????tty??[31m");
	assert_string_equal(got.rhost, "host????.example");
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_session_scan(fx->s.st, NULL, scan_one, &got, &unreadable, &v), 0);
	assert_int_equal(unreadable, 0);
	assert_string_equal(got.digest, digest);
	assert_string_equal(got.tty, "????tty??[31m");

	/* a long tty is cut to 255 bytes, after which it is still clean */
	memset(long_tty, '\xff', sizeof(long_tty) - 1);
	long_tty[sizeof(long_tty) - 1] = '\0';
	l.service = "sshd";
	l.tty = long_tty;
	l.rhost = NULL;
	l.user = "bob";
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, digest, &v), 0);
	get_ok(fx, digest, &got);
	assert_int_equal(strlen(got.tty), STORE_FIELD_MAX - 1);
	assert_int_equal(strspn(got.tty, "?"), STORE_FIELD_MAX - 1);
	assert_string_equal(got.rhost, "");

	/* the user is not altered: one the store cannot hold is refused, nothing written */
	l.user = "bo\xff";
	l.tty = "pts/1";
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, digest, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
	assert_string_equal(id, "");
	assert_string_equal(digest, "");
	l.user = "bob";
	l.service = "ss\x7fhd";
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, digest, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
	l.service = "sshd";
	l.user = "jos\xc3\xa9";
	assert_int_equal(session_record_new(fx->s.st, &fx->cfg, &l, NOW, id, digest, &v), 0);
	get_ok(fx, digest, &got);
	assert_string_equal(got.user, "jos\xc3\xa9");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_child_inherits_expiry_and_origin),
		T(test_child_refused_without_parent),
		T(test_child_of_dead_parent_not_created),
		T(test_child_of_other_users_session),
		T(test_revoke_takes_descendants_only),
		T(test_revoke_user_reports_each),
		T(test_revoke_cycle_terminates),
		T(test_revoke_jti_sessions),
		T(test_revoked_jti_refuses_lineage),
		T(test_chain_too_long),
		T(test_gc_removes_orphans),
		T(test_gc_parent_and_children_same_run),
		T(test_limit_forgets_expired),
		T(test_limit_never_evicts_live),
		T(test_limit_owner_and_gone_leaders),
		cmocka_unit_test(test_parse_lineage_fields),
		T(test_forged_lineage_record_refused),
		cmocka_unit_test(test_format_round_trip_lineage),
		T(test_tokens_flag),
		T(test_login_fields_sanitised),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
