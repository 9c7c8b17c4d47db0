/*
 * The session store under concurrent writers: 8 processes (fork) each run 10,000 mixed
 * operations on one store (a private tmpfs when root, else a 0700 directory with
 * allow_non_tmpfs):
 *
 *   create (store_session_put) of their own sessions; use (store_session_use: lookup and
 *   last_seen update) and revoke (store_session_delete) of their own sessions and of a set
 *   of shared sessions that every process uses and deletes; store_jti_revoke and
 *   store_jti_check of their own and of shared JWT ids; store_jti_use_once on a shared set
 *   of (service, jti) pairs, each of which every process tries once.
 *
 * Each process checks what it alone decides (its own session is there with exactly the
 * last_seen it wrote, a jti it revoked is revoked, a jti nobody revoked is not, nothing is
 * ever "unavailable") and reports its counts, the shared sessions it deleted and the
 * single-use pairs it won through a pipe. The parent then checks that the numbers add up
 * exactly: one winner per (service, jti); sessions present (scan) = created - deleted, per
 * user and in total; no deleted shared session came back (a use racing a delete must not
 * resurrect it); no record is torn (scan unreadable == 0); and the capacity counters agree
 * with the scan (with max = present + 1 exactly one more put is accepted, per user and in
 * total). A second test races 8 processes against a per-user and a total limit.
 *
 * Environment: STORE_CONC_OPS (operations per process, default 10000), STORE_TEST_SEED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

#define NPROC 8
#define NSHARED 2000           /* shared sessions, users "shared-0" .. "shared-3" */
#define NSHARED_USERS 4
#define NPAIRS_JTI 500         /* single-use jtis; each with 2 services */
#define NSERVICES 2
#define NPAIRS (NPAIRS_JTI * NSERVICES)
#define NSHARED_REVOKE 200     /* shared revoked jtis */
#define MAX_OWN 4096           /* live own sessions per process (upper bound) */
#define NUSERS 4               /* own users per process: store.c caps a user at 1024
                                  sessions even when unlimited */
#define DEADLINE_S 600         /* a child taking longer than this is a deadlock */

static const char *const services[NSERVICES] = { "sshd", "sudo" };

enum op {
	OP_USE_ONCE, OP_PUT_OWN, OP_USE_OWN, OP_DEL_OWN, OP_USE_SHARED, OP_DEL_SHARED,
	OP_JTI_REVOKE, OP_JTI_CHECK, OP_COUNT
};

/* Per 10,000 operations (scaled for other counts; use_once is always every pair once). */
static const unsigned op_weight[OP_COUNT] = {
	[OP_USE_ONCE] = 1000, [OP_PUT_OWN] = 2600, [OP_USE_OWN] = 2400, [OP_DEL_OWN] = 1000,
	[OP_USE_SHARED] = 800, [OP_DEL_SHARED] = 200, [OP_JTI_REVOKE] = 800,
	[OP_JTI_CHECK] = 1200,
};

static const char *const op_name[OP_COUNT] = {
	"use_once", "put own", "use own", "delete own", "use shared", "delete shared",
	"jti revoke", "jti check",
};

struct result {
	int failed;                      /* 0, or the line of the first failed check */
	char what[192];                  /* what failed */
	unsigned long ops[OP_COUNT];     /* operations done per kind */
	unsigned long created, deleted;  /* own sessions */
	unsigned long created_u[NUSERS], deleted_u[NUSERS];
	unsigned long shared_use_ok, shared_use_gone, use_once_won, jti_checks;
	unsigned char shared_deleted[(NSHARED + 7) / 8];
	unsigned char won[(NPAIRS + 7) / 8];
	double seconds;
};

struct fixture {
	struct tu_store_dir dir;
	struct store_options opts;
	struct store *st;
	char shared_ids[NSHARED][STORE_SESSION_ID_LEN + 1];
	char shared_digests[NSHARED][STORE_DIGEST_HEX_LEN + 1];
	int64_t t0;
	uint64_t seed;
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static long env_long(const char *name, long def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? strtol(s, NULL, 0) : def;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill_session(struct store_session *s, const char *user, const char *service,
			 int64_t now)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->uid = 1000;
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->tty, sizeof(s->tty), "pts/1");
	snprintf(s->rhost, sizeof(s->rhost), "198.51.100.9");
	s->leader_pid = getpid();
	s->created = now;
	s->expires = now + 1000000000;
	s->last_seen = now;
}

static void bit_set(unsigned char *b, size_t i)
{
	b[i / 8] |= (unsigned char)(1u << (i % 8));
}

static bool bit_get(const unsigned char *b, size_t i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

/* ---- the worker ------------------------------------------------------------------- */

#define CHILD_CHECK(cond, ...)                                                            \
	do {                                                                              \
		if (!(cond) && !res->failed) {                                            \
			res->failed = __LINE__;                                           \
			snprintf(res->what, sizeof(res->what), __VA_ARGS__);              \
		}                                                                         \
		if (!(cond))                                                              \
			goto done;                                                        \
	} while (0)

struct own_session {
	char id[STORE_SESSION_ID_LEN + 1];
	int u;
	int64_t last_seen;
};

static void worker(const struct fixture *f, int k, long nops, struct result *res)
{
	struct store *st = NULL;
	struct store_session s, out;
	struct verdict v;
	struct own_session *own = calloc(MAX_OWN, sizeof(*own));
	enum op *plan = calloc((size_t)nops + NPAIRS, sizeof(*plan));
	unsigned *pairs = calloc(NPAIRS, sizeof(*pairs));
	size_t nown = 0, nplan = 0, npair = 0, i, j;
	uint64_t rng = f->seed ^ ((uint64_t)(k + 1) * 0x100000001b3ULL);
	int64_t now = f->t0 + 1;
	unsigned long own_revoked = 0, own_never = 0;
	char user[NUSERS][32], jti[64], digest[STORE_DIGEST_HEX_LEN + 1];
	double t0 = mono();
	int rc, u;

	memset(res, 0, sizeof(*res));
	for (u = 0; u < NUSERS; u++)
		snprintf(user[u], sizeof(user[u]), "user%d-%d", k, u);
	CHILD_CHECK(own != NULL && plan != NULL && pairs != NULL, "out of memory");
	verdict_init(&v);
	CHILD_CHECK(store_open(f->dir.path, &f->opts, &st, &v) == 0, "store_open: %s",
		    v.reason);

	/* The plan: every single-use pair once, the rest by weight; then shuffled. */
	for (i = 0; i < NPAIRS; i++) {
		pairs[i] = (unsigned)i;
		plan[nplan++] = OP_USE_ONCE;
	}
	for (i = 1; i < OP_COUNT; i++)
		for (j = 0; j < (size_t)((double)op_weight[i] * (double)nops / 10000.0); j++)
			plan[nplan++] = (enum op)i;
	while (nplan < (size_t)nops)
		plan[nplan++] = OP_PUT_OWN;
	for (i = nplan; i > 1; i--) {
		j = (size_t)(rng_next(&rng) % i);
		enum op t = plan[i - 1];
		plan[i - 1] = plan[j];
		plan[j] = t;
	}
	for (i = NPAIRS; i > 1; i--) {
		j = (size_t)(rng_next(&rng) % i);
		unsigned t = pairs[i - 1];
		pairs[i - 1] = pairs[j];
		pairs[j] = t;
	}

	for (i = 0; i < nplan; i++) {
		enum op op = plan[i];
		uint64_t x = rng_next(&rng);

		if ((op == OP_USE_OWN || op == OP_DEL_OWN) && nown == 0)
			op = OP_PUT_OWN;
		if (op == OP_PUT_OWN && nown == MAX_OWN)
			op = OP_DEL_OWN;
		now++;
		verdict_init(&v);
		switch (op) {
		case OP_USE_ONCE: {
			unsigned p = pairs[npair++];

			snprintf(jti, sizeof(jti), "once-%u", p / NSERVICES);
			rc = store_jti_use_once(st, services[p % NSERVICES], jti,
						f->t0 + 1000000, now, &v);
			CHILD_CHECK(rc == 0 || v.code == VERDICT_REJECT,
				    "use_once %s/%s: %s", services[p % NSERVICES], jti, v.reason);
			if (rc == 0) {
				bit_set(res->won, p);
				res->use_once_won++;
			}
			break;
		}
		case OP_PUT_OWN:
			CHILD_CHECK(store_session_id_new(own[nown].id) == 0, "session id");
			u = (int)((x >> 8) % NUSERS);
			fill_session(&s, user[u], services[x % NSERVICES], now);
			rc = store_session_put(st, own[nown].id, &s, &v);
			CHILD_CHECK(rc == 0, "put own: %s", v.reason);
			own[nown].last_seen = now;
			own[nown].u = u;
			nown++;
			res->created++;
			res->created_u[u]++;
			break;
		case OP_USE_OWN: {
			struct own_session *o = &own[x % nown];

			/* Service binding is checked too: our sessions are sshd or sudo. */
			rc = store_session_use(st, o->id, user[o->u], NULL, false, now, &out,
					       &v);
			CHILD_CHECK(rc == 0, "use own: %s", v.reason);
			CHILD_CHECK(out.last_seen == now, "use own: last_seen not updated");
			verdict_init(&v);
			rc = store_session_get(st, o->id, &s, &v);
			CHILD_CHECK(rc == 0, "get own after use: %s", v.reason);
			CHILD_CHECK(s.last_seen == now && strcmp(s.user, user[o->u]) == 0,
				    "own session: last_seen %" PRId64 " != %" PRId64
				    " (lost update)", s.last_seen, now);
			o->last_seen = now;
			break;
		}
		case OP_DEL_OWN: {
			size_t w = x % nown;

			store_digest_hex(own[w].id, strlen(own[w].id), digest);
			rc = store_session_delete(st, digest, &v);
			CHILD_CHECK(rc == 0, "delete own: %s", v.reason);
			verdict_init(&v);
			rc = store_session_get(st, own[w].id, &s, &v);
			CHILD_CHECK(rc != 0 && v.code == VERDICT_REJECT,
				    "own session still there after delete");
			res->deleted_u[own[w].u]++;
			own[w] = own[--nown];
			res->deleted++;
			break;
		}
		case OP_USE_SHARED: {
			size_t w = x % NSHARED;

			snprintf(jti, sizeof(jti), "shared-%d", (int)(w % NSHARED_USERS));
			rc = store_session_use(st, f->shared_ids[w], jti, "sshd", true, now,
					       &out, &v);
			CHILD_CHECK(rc == 0 || (v.code == VERDICT_REJECT &&
						strcmp(v.reason, "unknown session") == 0),
				    "use shared: %s", v.reason);
			CHILD_CHECK(rc != 0 || !bit_get(res->shared_deleted, w),
				    "shared session used after we deleted it");
			if (rc == 0)
				res->shared_use_ok++;
			else
				res->shared_use_gone++;
			break;
		}
		case OP_DEL_SHARED: {
			size_t w = x % NSHARED;

			rc = store_session_delete(st, f->shared_digests[w], &v);
			CHILD_CHECK(rc == 0, "delete shared: %s", v.reason);
			bit_set(res->shared_deleted, w);
			break;
		}
		case OP_JTI_REVOKE:
			if (x % 4 == 0)
				snprintf(jti, sizeof(jti), "shared-rev-%u",
					 (unsigned)((x >> 8) % NSHARED_REVOKE));
			else
				snprintf(jti, sizeof(jti), "p%d-rev-%lu", k, own_revoked++);
			rc = store_jti_revoke(st, jti, f->t0 + 1000000, &v);
			CHILD_CHECK(rc == 0, "jti revoke: %s", v.reason);
			verdict_init(&v);
			rc = store_jti_check(st, jti, now, &v);
			CHILD_CHECK(rc != 0 && v.code == VERDICT_REJECT,
				    "jti %s not revoked right after revoke", jti);
			break;
		case OP_JTI_CHECK:
			res->jti_checks++;
			if (x % 3 == 0 && own_revoked > 0) {
				snprintf(jti, sizeof(jti), "p%d-rev-%lu", k,
					 (unsigned long)((x >> 8) % own_revoked));
				rc = store_jti_check(st, jti, now, &v);
				CHILD_CHECK(rc != 0 && v.code == VERDICT_REJECT,
					    "revoked jti %s reads as not revoked", jti);
			} else if (x % 3 == 1) {
				snprintf(jti, sizeof(jti), "shared-rev-%u",
					 (unsigned)((x >> 8) % NSHARED_REVOKE));
				rc = store_jti_check(st, jti, now, &v);
				CHILD_CHECK(rc == 0 || v.code == VERDICT_REJECT,
					    "shared jti check: %s", v.reason);
			} else {
				snprintf(jti, sizeof(jti), "p%d-never-%lu", k, own_never++);
				rc = store_jti_check(st, jti, now, &v);
				CHILD_CHECK(rc == 0, "never-revoked jti: %s", v.reason);
			}
			break;
		default:
			break;
		}
		res->ops[op]++;
	}
	/* Our own sessions are all there, each with the last_seen we wrote last. */
	for (i = 0; i < nown; i++) {
		verdict_init(&v);
		CHILD_CHECK(store_session_get(st, own[i].id, &s, &v) == 0, "own session lost: %s",
			    v.reason);
		CHILD_CHECK(s.last_seen == own[i].last_seen, "own session: stale last_seen");
	}
done:
	res->seconds = mono() - t0;
	store_close(st);
	free(own);
	free(plan);
	free(pairs);
}

/* ---- parent ----------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_session s;
	struct verdict v;
	char name[32];
	int allow = 1, i;

	if (f == NULL)
		return -1;
	if (tu_store_dir_make(&f->dir, "conc", "1g", &allow) != 0) {
		free(f);
		return -1;
	}
	f->opts.allow_non_tmpfs = allow != 0;
	tu_store_dir_options(&f->dir, &f->opts);
	verdict_init(&v);
	if (store_open(f->dir.path, &f->opts, &f->st, &v) != 0) {
		fprintf(stderr, "# store_open(%s): %s\n", f->dir.path, v.reason);
		tu_store_dir_remove(&f->dir);
		free(f);
		return -1;
	}
	f->t0 = (int64_t)time(NULL);
	f->seed = (uint64_t)env_long("STORE_TEST_SEED", (long)f->t0 ^ (long)getpid());
	for (i = 0; i < NSHARED; i++) {
		if (store_session_id_new(f->shared_ids[i]) != 0)
			return -1;
		store_digest_hex(f->shared_ids[i], strlen(f->shared_ids[i]),
				 f->shared_digests[i]);
		snprintf(name, sizeof(name), "shared-%d", i % NSHARED_USERS);
		fill_session(&s, name, "sshd", f->t0);
		if (store_session_put(f->st, f->shared_ids[i], &s, &v) != 0) {
			fprintf(stderr, "# put shared: %s\n", v.reason);
			return -1;
		}
	}
	printf("# store %s (%s), seed %" PRIu64 "\n", f->dir.path,
	       f->dir.mounted ? "private tmpfs" : "allow_non_tmpfs", f->seed);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	store_close(f->st);
	tu_store_dir_remove(&f->dir);
	free(f);
	return 0;
}

/* Run fn(f, k, arg, &result) in NPROC children; collect the results. */
typedef void (*worker_fn)(const struct fixture *f, int k, long arg, struct result *res);

static void run_children(const struct fixture *f, worker_fn fn, long arg,
			 struct result res[NPROC])
{
	pid_t pids[NPROC];
	int fds[NPROC][2], k, status;
	double start = mono();

	for (k = 0; k < NPROC; k++) {
		assert_int_equal(pipe(fds[k]), 0);
		fflush(NULL);
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			struct result *r = calloc(1, sizeof(*r));
			ssize_t n;

			close(fds[k][0]);
			if (r == NULL)
				_exit(3);
			fn(f, k, arg, r);
			n = write(fds[k][1], r, sizeof(*r));
			_exit(n == (ssize_t)sizeof(*r) ? 0 : 4);
		}
		close(fds[k][1]);
	}
	/* Results are read once each child is done (a result is < 64 KiB: the pipe holds
	 * it). A child still running after the deadline is a deadlock. */
	for (k = 0; k < NPROC; k++) {
		pid_t w;
		ssize_t n;

		for (;;) {
			w = waitpid(pids[k], &status, WNOHANG);
			if (w == pids[k])
				break;
			assert_int_equal(w, 0);
			if (mono() - start > DEADLINE_S) {
				int j;

				for (j = 0; j < NPROC; j++)
					kill(pids[j], SIGKILL);
				print_error("worker %d still running after %d s: deadlock?\n", k,
					    DEADLINE_S);
				fail();
			}
			usleep(2000);
		}
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		memset(&res[k], 0, sizeof(res[k]));
		n = read(fds[k][0], &res[k], sizeof(res[k]));
		assert_int_equal(n, (ssize_t)sizeof(res[k]));
		close(fds[k][0]);
		if (res[k].failed)
			print_error("worker %d, line %d: %s\n", k, res[k].failed, res[k].what);
	}
	for (k = 0; k < NPROC; k++)
		assert_int_equal(res[k].failed, 0);
}

static void worker_mixed(const struct fixture *f, int k, long nops, struct result *res)
{
	worker(f, k, nops, res);
}

struct count_ctx {
	size_t total, per_user[NPROC][NUSERS], shared, shared_u[NSHARED_USERS], other;
	unsigned char shared_seen[(NSHARED + 7) / 8];
	const struct fixture *f;
};

static int count_cb(const struct store_session *s, void *p)
{
	struct count_ctx *c = p;
	int k, u;
	size_t i;

	c->total++;
	if (strncmp(s->user, "shared-", 7) == 0) {
		c->shared++;
		c->shared_u[s->user[7] - '0']++;
		for (i = 0; i < NSHARED; i++)
			if (strcmp(c->f->shared_digests[i], s->digest) == 0)
				bit_set(c->shared_seen, i);
		return 0;
	}
	if (sscanf(s->user, "user%d-%d", &k, &u) == 2 && k >= 0 && k < NPROC && u >= 0 &&
	    u < NUSERS)
		c->per_user[k][u]++;
	else
		c->other++;
	return 0;
}

/* Puts for `user` through a store with the given limits until refused (at most cap);
 * returns how many were accepted (deleted again afterwards). */
static size_t puts_until_refused(const struct fixture *f, size_t per_user, size_t total,
				 const char *user, size_t cap)
{
	struct store_options o = f->opts;
	struct store *st = NULL;
	struct store_session s;
	struct verdict v;
	char ids[64][STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	size_t ok = 0, i;

	assert_true(cap <= 64);
	o.max_sessions_per_user = per_user;
	o.max_sessions_total = total;
	verdict_init(&v);
	assert_int_equal(store_open(f->dir.path, &o, &st, &v), 0);
	for (i = 0; i < cap; i++) {
		fill_session(&s, user, "sshd", f->t0);
		assert_int_equal(store_session_id_new(ids[ok]), 0);
		verdict_init(&v);
		if (store_session_put(st, ids[ok], &s, &v) != 0) {
			assert_int_equal(v.code, VERDICT_REJECT);
			break;
		}
		ok++;
	}
	for (i = 0; i < ok; i++) {
		store_digest_hex(ids[i], strlen(ids[i]), digest);
		verdict_init(&v);
		assert_int_equal(store_session_delete(st, digest, &v), 0);
	}
	store_close(st);
	return ok;
}

static void test_mixed_operations(void **state)
{
	struct fixture *f = *state;
	long nops = env_long("STORE_CONC_OPS", 10000);
	struct result res[NPROC];
	struct count_ctx cc = { .f = f };
	unsigned char shared_deleted[(NSHARED + 7) / 8] = { 0 };
	unsigned long won = 0, created = 0, deleted = 0, ops_total = 0, opsum[OP_COUNT] = { 0 };
	unsigned long shared_use_ok = 0, shared_use_gone = 0;
	size_t unreadable = 99, shared_deleted_n = 0, i, winners, got;
	struct verdict v;
	double t0 = mono(), wall, slowest = 0;
	char jti[64];
	int k, u, bad = 0;

	run_children(f, worker_mixed, nops, res);
	wall = mono() - t0;

	/* Exactly one winner per (service, jti). */
	for (i = 0; i < NPAIRS; i++) {
		winners = 0;
		for (k = 0; k < NPROC; k++)
			winners += bit_get(res[k].won, i);
		if (winners != 1 && bad++ < 5)
			print_error("single-use pair %zu: %zu winners\n", i, winners);
	}
	for (k = 0; k < NPROC; k++) {
		won += res[k].use_once_won;
		created += res[k].created;
		deleted += res[k].deleted;
		shared_use_ok += res[k].shared_use_ok;
		shared_use_gone += res[k].shared_use_gone;
		for (i = 0; i < OP_COUNT; i++) {
			opsum[i] += res[k].ops[i];
			ops_total += res[k].ops[i];
		}
		for (i = 0; i < sizeof(shared_deleted); i++)
			shared_deleted[i] |= res[k].shared_deleted[i];
		if (res[k].seconds > slowest)
			slowest = res[k].seconds;
	}
	assert_int_equal(bad, 0);
	assert_int_equal(won, NPAIRS);
	for (i = 0; i < NSHARED; i++)
		shared_deleted_n += bit_get(shared_deleted, i);

	/* Every pair is used now, for everybody. */
	for (i = 0; i < NPAIRS; i++) {
		snprintf(jti, sizeof(jti), "once-%zu", i / NSERVICES);
		verdict_init(&v);
		assert_int_not_equal(store_jti_use_once(f->st, services[i % NSERVICES], jti,
							f->t0 + 1000000, f->t0 + 5, &v), 0);
		assert_int_equal(v.code, VERDICT_REJECT);
	}

	/* Counts add up: scan = created - deleted, per user and in total. */
	verdict_init(&v);
	assert_int_equal(store_session_scan(f->st, NULL, count_cb, &cc, &unreadable, &v), 0);
	printf("# %d processes x %ld ops: %lu ops in %.1f s wall (slowest worker %.1f s, "
	       "%.0f ops/s overall)\n", NPROC, nops, ops_total, wall, slowest,
	       (double)ops_total / wall);
	printf("#   per kind:");
	for (i = 0; i < OP_COUNT; i++)
		printf(" %s %lu%s", op_name[i], opsum[i], i + 1 < OP_COUNT ? "," : "\n");
	printf("#   single-use: %lu winners for %d pairs (%d attempts); own sessions: %lu "
	       "created, %lu deleted; shared: %d created, %zu deleted, uses %lu ok / %lu "
	       "gone; scan: %zu sessions (%zu shared), unreadable %zu\n", won, NPAIRS,
	       NPAIRS * NPROC, created, deleted, NSHARED, shared_deleted_n, shared_use_ok,
	       shared_use_gone, cc.total, cc.shared, unreadable);
	assert_int_equal(unreadable, 0);
	assert_int_equal(cc.other, 0);
	for (k = 0; k < NPROC; k++) {
		for (u = 0; u < NUSERS; u++) {
			unsigned long want = res[k].created_u[u] - res[k].deleted_u[u];

			if (cc.per_user[k][u] != want)
				print_error("user%d-%d: %zu sessions present, %lu created - %lu "
					    "deleted\n", k, u, cc.per_user[k][u],
					    res[k].created_u[u], res[k].deleted_u[u]);
			assert_int_equal(cc.per_user[k][u], want);
		}
	}
	for (i = 0; i < NSHARED; i++) {
		if (bit_get(shared_deleted, i) == bit_get(cc.shared_seen, i))
			print_error("shared session %zu: %s\n", i, bit_get(shared_deleted, i) ?
				    "deleted but present (resurrected)" : "never deleted but gone");
		assert_int_not_equal(bit_get(shared_deleted, i), bit_get(cc.shared_seen, i));
	}
	assert_int_equal(cc.shared, NSHARED - shared_deleted_n);
	assert_int_equal(cc.total, created - deleted + NSHARED - shared_deleted_n);

	/* The store's own counters agree with the scan: one more put and then refused. */
	for (k = 0; k < NPROC; k++) {
		for (u = 0; u < NUSERS; u++) {
			char user[32];

			snprintf(user, sizeof(user), "user%d-%d", k, u);
			got = puts_until_refused(f, cc.per_user[k][u] + 1, 0, user, 8);
			if (got != 1)
				print_error("%s: %zu puts accepted with max_sessions_per_user = "
					    "%zu (present + 1)\n", user, got,
					    cc.per_user[k][u] + 1);
			assert_int_equal(got, 1);
		}
	}
	for (u = 0; u < NSHARED_USERS; u++) {
		snprintf(jti, sizeof(jti), "shared-%d", u);
		got = puts_until_refused(f, cc.shared_u[u] + 1, 0, jti, 8);
		if (got != 1)
			print_error("%s: %zu puts accepted with max_sessions_per_user = %zu "
				    "(present + 1)\n", jti, got, cc.shared_u[u] + 1);
		assert_int_equal(got, 1);
	}
	got = puts_until_refused(f, 0, cc.total + 1, "newcomer", 8);
	if (got != 1)
		print_error("%zu puts accepted with max_sessions_total = %zu (present + 1)\n",
			    got, cc.total + 1);
	assert_int_equal(got, 1);
	printf("#   capacity counters agree with the scan (per user and total)\n");
}

/* ---- racing the capacity limits ---------------------------------------------------- */

#define CAP_PER_USER 50
#define CAP_TOTAL_EXTRA 100
#define CAP_TRIES 40

/* arg: 0 = everyone puts for "capped" (per-user limit), 1 = each its own new user (total
 * limit). Accepted puts are counted in created. */
static void worker_capacity(const struct fixture *f, int k, long arg, struct result *res)
{
	struct store_options o = f->opts;
	struct store *st = NULL;
	struct store_session s;
	struct verdict v;
	char id[STORE_SESSION_ID_LEN + 1], user[32];
	int i;

	memset(res, 0, sizeof(*res));
	if (arg == 0) {
		o.max_sessions_per_user = CAP_PER_USER;
		snprintf(user, sizeof(user), "capped");
	} else {
		o.max_sessions_total = (size_t)f->seed; /* set by the caller: present + extra */
		snprintf(user, sizeof(user), "cap-total-%d", k);
	}
	verdict_init(&v);
	CHILD_CHECK(store_open(f->dir.path, &o, &st, &v) == 0, "store_open: %s", v.reason);
	for (i = 0; i < CAP_TRIES; i++) {
		CHILD_CHECK(store_session_id_new(id) == 0, "id");
		fill_session(&s, user, "sshd", f->t0);
		verdict_init(&v);
		if (store_session_put(st, id, &s, &v) == 0) {
			res->created++;
		} else {
			CHILD_CHECK(v.code == VERDICT_REJECT, "put: %s", v.reason);
		}
	}
done:
	store_close(st);
}

static int count_all_cb(const struct store_session *s, void *p)
{
	(void)s;
	(*(size_t *)p)++;
	return 0;
}

static void test_capacity_race(void **state)
{
	struct fixture *f = *state;
	struct fixture g;
	struct result res[NPROC];
	struct verdict v;
	size_t present = 0, unreadable = 0;
	unsigned long accepted = 0;
	int k;

	/* Per-user limit: 8 x 40 tries for one user, limit 50. */
	run_children(f, worker_capacity, 0, res);
	for (k = 0; k < NPROC; k++)
		accepted += res[k].created;
	printf("# per-user limit %d, %d processes x %d puts: %lu accepted\n", CAP_PER_USER,
	       NPROC, CAP_TRIES, accepted);
	assert_int_equal(accepted, CAP_PER_USER);

	/* Total limit: present + 100, 8 x 40 tries for 8 new users. */
	verdict_init(&v);
	assert_int_equal(store_session_scan(f->st, NULL, count_all_cb, &present, &unreadable,
					    &v), 0);
	assert_int_equal(unreadable, 0);
	g = *f;
	g.seed = present + CAP_TOTAL_EXTRA;
	run_children(&g, worker_capacity, 1, res);
	accepted = 0;
	for (k = 0; k < NPROC; k++)
		accepted += res[k].created;
	printf("# total limit %zu (present %zu + %d), %d processes x %d puts: %lu accepted\n",
	       present + CAP_TOTAL_EXTRA, present, CAP_TOTAL_EXTRA, NPROC, CAP_TRIES, accepted);
	assert_int_equal(accepted, CAP_TOTAL_EXTRA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_operations),
		cmocka_unit_test(test_capacity_race),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
