/*
 * The session store survives a writer killed at any instant (DESIGN.md, "The store":
 * "A crash at any instant leaves either the old or the new record, never a torn one").
 *
 * A child process writes in a loop: new sessions (store_session_put), updates of known
 * ones (store_session_use, which rewrites last_seen) and, less often, deletes of sessions
 * it created itself. After each put or update has returned it reports it to the parent
 * through a pipe (one write of a fixed-size report, atomic under PIPE_BUF), and only then
 * goes on; a delete is announced before it starts. The parent SIGKILLs it at a random point
 * (a random delay in microseconds, or right after a random number of reports) and checks:
 *
 *   - the store's lock is free again (flock is released with the process) and a fresh
 *     writer process gets through put + delete within a deadline;
 *   - store_session_scan reads every session record (unreadable == 0), each record file
 *     ("s-" + 64 hex) parses with store_session_parse, and scan reports exactly the set
 *     of record files: no temporary file left by the killed writer counts as a record;
 *   - every session the child reported as committed is found by store_session_get and
 *     store_session_get_digest, with last_seen at least the last reported update.
 *
 * Correctness never depends on timing: the delays only spread the kill points.
 * Environment: STORE_CRASH_KILLS (default 1200), STORE_TEST_SEED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

#define USER "alice"
#define SERVICE "sshd"
#define KEEP_SESSIONS 48      /* committed sessions kept across pruning (for updates) */
#define PRUNE_ABOVE 256       /* prune the store when it holds more sessions than this */
#define MAX_TRACKED 4096
#define MAX_SCAN 65536
#define WRITER_DEADLINE_MS 10000

/* REPORT_DEL is sent before the delete: from then on the session may be gone. */
enum report_kind { REPORT_PUT = 1, REPORT_USE = 2, REPORT_DEL = 3 };

struct report {
	int kind;
	int64_t now;                          /* REPORT_USE: the last_seen written */
	char id[STORE_SESSION_ID_LEN + 1];
};

struct tracked {
	char id[STORE_SESSION_ID_LEN + 1];
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int64_t min_last_seen;
};

struct fixture {
	struct tu_store_dir dir;
	struct store_options opts;
	struct store *st;
	struct tracked *known;   /* sessions reported committed and not deleted since */
	size_t nknown;
	int64_t t0;
	uint64_t rng;
	/* statistics */
	unsigned long kills, puts_reported, uses_reported, dels_reported, checks, residue_max;
	unsigned long pruned;
	unsigned long child_ops_max;
};

/* ---- small helpers ---------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool is_record_name(const char *name)
{
	size_t i;

	if (strncmp(name, "s-", 2) != 0 || strlen(name) != 2 + STORE_DIGEST_HEX_LEN)
		return false;
	for (i = 2; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

static long env_long(const char *name, long def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? strtol(s, NULL, 0) : def;
}

static void fill_session(struct store_session *s, int64_t now, pid_t leader)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", USER);
	s->uid = 1000;
	snprintf(s->service, sizeof(s->service), "%s", SERVICE);
	snprintf(s->tty, sizeof(s->tty), "pts/%d", (int)(leader % 64));
	snprintf(s->rhost, sizeof(s->rhost), "192.0.2.%d", (int)(leader % 250) + 1);
	s->leader_pid = leader;
	s->created = now;
	s->expires = now + 1000000000;
	s->idle_timeout = 0;
	s->last_seen = now;
}

/* ---- the writer that gets killed -------------------------------------------------- */

static void write_report(int fd, const struct report *r)
{
	ssize_t n = write(fd, r, sizeof(*r));

	if (n != (ssize_t)sizeof(*r))
		_exit(20);
}

/* Never returns. Exit codes: 10 store_open, 11 put, 12 use, 13 id, 14 delete, 20 pipe. */
static void writer_main(const struct fixture *f, int wfd, uint64_t seed, int64_t now)
{
	struct store *st = NULL;
	struct store_session sess, out;
	struct verdict v;
	struct report r;
	char own[64][STORE_SESSION_ID_LEN + 1];
	size_t nown = 0;
	const char *id;

	verdict_init(&v);
	if (store_open(f->dir.path, &f->opts, &st, &v) != 0)
		_exit(10);
	for (;;) {
		uint64_t x = rng_next(&seed);

		memset(&r, 0, sizeof(r));
		if (x % 7 == 1 && nown > 0) {
			/* A delete of one of ours: announced first, then done. */
			size_t k = (size_t)((x >> 8) % nown);
			char digest[STORE_DIGEST_HEX_LEN + 1];

			r.kind = REPORT_DEL;
			memcpy(r.id, own[k], sizeof(r.id));
			write_report(wfd, &r);
			store_digest_hex(own[k], strlen(own[k]), digest);
			memcpy(own[k], own[--nown], sizeof(own[k]));
			verdict_init(&v);
			if (store_session_delete(st, digest, &v) != 0)
				_exit(14);
			continue;
		}
		if (x % 3 == 0 && (f->nknown > 0 || nown > 0)) {
			/* An update: last_seen of a committed session (parent's or our own). */
			size_t k = (size_t)((x >> 8) % (f->nknown + nown));

			id = k < f->nknown ? f->known[k].id : own[k - f->nknown];
			now++;
			verdict_init(&v);
			if (store_session_use(st, id, USER, SERVICE, true, now, &out, &v) != 0)
				_exit(12);
			r.kind = REPORT_USE;
			r.now = now;
			snprintf(r.id, sizeof(r.id), "%s", id);
		} else {
			if (store_session_id_new(r.id) != 0)
				_exit(13);
			fill_session(&sess, now, getpid());
			verdict_init(&v);
			if (store_session_put(st, r.id, &sess, &v) != 0)
				_exit(11);
			r.kind = REPORT_PUT;
			if (nown < 64)
				memcpy(own[nown++], r.id, sizeof(r.id));
		}
		write_report(wfd, &r);
	}
}

/* ---- parent side ------------------------------------------------------------------ */

static struct tracked *find_known(struct fixture *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->nknown; i++)
		if (strcmp(f->known[i].id, id) == 0)
			return &f->known[i];
	return NULL;
}

static void apply_report(struct fixture *f, const struct report *r)
{
	struct tracked *t;

	assert_true(r->kind == REPORT_PUT || r->kind == REPORT_USE || r->kind == REPORT_DEL);
	assert_true(store_session_id_looks_like(r->id, strlen(r->id)));
	if (r->kind == REPORT_PUT) {
		assert_null(find_known(f, r->id));
		assert_true(f->nknown < MAX_TRACKED);
		t = &f->known[f->nknown++];
		memcpy(t->id, r->id, sizeof(t->id));
		store_digest_hex(r->id, strlen(r->id), t->digest);
		t->min_last_seen = 0;
		f->puts_reported++;
	} else if (r->kind == REPORT_DEL) {
		/* Ours from this run: reported put before (or the put was not reported). */
		t = find_known(f, r->id);
		if (t != NULL)
			*t = f->known[--f->nknown];
		f->dels_reported++;
	} else {
		t = find_known(f, r->id);
		assert_non_null(t);
		if (r->now > t->min_last_seen)
			t->min_last_seen = r->now;
		f->uses_reported++;
	}
}

/* Read one report, waiting at most timeout_ms (-1: forever). 1: got one, 0: EOF or
 * timeout. */
static int read_report(int rfd, struct report *r, int timeout_ms)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	ssize_t n;

	if (timeout_ms >= 0 && poll(&p, 1, timeout_ms) <= 0)
		return 0;
	do
		n = read(rfd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	assert_int_equal(n, (ssize_t)sizeof(*r)); /* writes of < PIPE_BUF are atomic */
	return 1;
}

static void busy_wait_us(long us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

/* The lock file (if the store made one) can be taken at once: nobody holds it. */
static void check_lock_free(const struct fixture *f)
{
	char path[sizeof(f->dir.path) + 8];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", f->dir.path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		assert_int_equal(errno, ENOENT);
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		print_error("store lock still held after the writer died: %s\n", strerror(errno));
		close(fd);
		fail();
	}
	flock(fd, LOCK_UN);
	close(fd);
}

/* A fresh process puts and deletes a session; it must finish within the deadline. */
static void check_next_writer(const struct fixture *f, int64_t now)
{
	pid_t pid = fork();
	int status = 0, waited_ms = 0;
	pid_t w;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st = NULL;
		struct store_session s;
		struct verdict v;
		char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];

		verdict_init(&v);
		if (store_open(f->dir.path, &f->opts, &st, &v) != 0)
			_exit(10);
		fill_session(&s, now, getpid());
		if (store_session_id_new(id) != 0 || store_session_put(st, id, &s, &v) != 0)
			_exit(11);
		store_digest_hex(id, strlen(id), digest);
		if (store_session_delete(st, digest, &v) != 0)
			_exit(14);
		store_close(st);
		_exit(0);
	}
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		assert_int_equal(w, 0);
		if (waited_ms >= WRITER_DEADLINE_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			print_error("the next writer did not finish within %d ms (deadlock on "
				    "the store lock?)\n", WRITER_DEADLINE_MS);
			fail();
		}
		usleep(1000);
		waited_ms++;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		print_error("next writer: status 0x%x\n", status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

struct scan_ctx {
	char (*digests)[STORE_DIGEST_HEX_LEN + 1];
	size_t n;
	bool bad;
};

static int scan_cb(const struct store_session *s, void *p)
{
	struct scan_ctx *c = p;
	char name[2 + STORE_DIGEST_HEX_LEN + 1];

	snprintf(name, sizeof(name), "s-%s", s->digest);
	if (!is_record_name(name) || c->n >= MAX_SCAN) {
		c->bad = true;
		return 0;
	}
	memcpy(c->digests[c->n++], s->digest, STORE_DIGEST_HEX_LEN + 1);
	return 0;
}

static int cmp_digest(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Check the whole store; fills the scan's digests (sorted) into *sc. */
static void verify_store(struct fixture *f, struct scan_ctx *sc)
{
	struct verdict v;
	struct store_session s;
	size_t unreadable = 99, nrec = 0, residue = 0, i;
	DIR *d;
	struct dirent *e;
	char path[PATH_MAX];
	char *text;
	size_t len;

	/* 1. Scan: every record readable. */
	sc->n = 0;
	sc->bad = false;
	verdict_init(&v);
	assert_int_equal(store_session_scan(f->st, NULL, scan_cb, sc, &unreadable, &v), 0);
	if (unreadable != 0)
		print_error("scan: %zu unreadable session records after kill %lu\n", unreadable,
			    f->kills);
	assert_int_equal(unreadable, 0);
	assert_false(sc->bad);
	qsort(sc->digests, sc->n, sizeof(sc->digests[0]), cmp_digest);

	/* 2. Every record file parses and is one scan reported; anything else is residue.
	 * (On Redis, step 1 read every record the sets list.) */
	if (f->dir.redis)
		goto committed;
	d = opendir(f->dir.path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (!is_record_name(e->d_name)) {
			/* Index, counter, lock files; ".tmp.*": a killed writer's leftover. */
			if (strncmp(e->d_name, ".tmp.", 5) == 0)
				residue++;
			continue;
		}
		nrec++;
		snprintf(path, sizeof(path), "%s/%s", f->dir.path, e->d_name);
		text = tu_read_file(path, &len);
		if (text == NULL && errno == ENOENT)
			continue; /* cannot happen: nobody writes now */
		assert_non_null(text);
		if (store_session_parse(text, len, &s) != 0) {
			print_error("record %s does not parse (%zu bytes) after kill %lu:\n%s\n",
				    e->d_name, len, f->kills, text);
			free(text);
			fail();
		}
		free(text);
		if (bsearch(e->d_name + 2, sc->digests, sc->n, sizeof(sc->digests[0]),
			    cmp_digest) == NULL) {
			print_error("record file %s was not reported by scan\n", e->d_name);
			fail();
		}
	}
	closedir(d);
	if (nrec != sc->n)
		print_error("scan reported %zu sessions, %zu record files exist\n", sc->n, nrec);
	assert_int_equal(nrec, sc->n);
	if (residue > f->residue_max)
		f->residue_max = residue;

committed:
	/* 3. Every committed session is there, with its latest committed update. */
	for (i = 0; i < f->nknown; i++) {
		const struct tracked *t = &f->known[i];

		verdict_init(&v);
		if (store_session_get_digest(f->st, t->digest, &s, &v) != 0) {
			print_error("committed session %.12s… lost after kill %lu: %s\n",
				    t->digest, f->kills, v.reason ? v.reason : "?");
			fail();
		}
		assert_string_equal(s.user, USER);
		assert_string_equal(s.service, SERVICE);
		if (s.last_seen < t->min_last_seen) {
			print_error("session %.12s…: last_seen %" PRId64 " < committed update %"
				    PRId64 " (lost update)\n", t->digest, s.last_seen,
				    t->min_last_seen);
			fail();
		}
		verdict_init(&v);
		assert_int_equal(store_session_get(f->st, t->id, &s, &v), 0);
		assert_string_equal(s.user, USER);
		assert_true(bsearch(t->digest, sc->digests, sc->n, sizeof(sc->digests[0]),
				    cmp_digest) != NULL);
		f->checks++;
	}
}

/* Keep the store small: delete every session but the first KEEP_SESSIONS known ones
 * (this includes sessions the writer put but was killed before reporting). */
static void prune(struct fixture *f, const struct scan_ctx *sc)
{
	struct verdict v;
	size_t i, j;
	bool keep;

	for (i = 0; i < sc->n; i++) {
		keep = false;
		for (j = 0; j < KEEP_SESSIONS && j < f->nknown; j++)
			if (strcmp(f->known[j].digest, sc->digests[i]) == 0)
				keep = true;
		if (keep)
			continue;
		verdict_init(&v);
		assert_int_equal(store_session_delete(f->st, sc->digests[i], &v), 0);
		f->pruned++;
	}
	if (f->nknown > KEEP_SESSIONS)
		f->nknown = KEEP_SESSIONS;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct verdict v;
	int allow = 1;

	if (f == NULL)
		return -1;
	if (tu_store_dir_make(&f->dir, "crash", "256m", &allow) != 0) {
		free(f);
		return -1;
	}
	f->opts.allow_non_tmpfs = allow != 0;
	tu_store_dir_options(&f->dir, &f->opts);
	f->known = calloc(MAX_TRACKED, sizeof(*f->known));
	verdict_init(&v);
	if (f->known == NULL || store_open(f->dir.path, &f->opts, &f->st, &v) != 0) {
		fprintf(stderr, "# store_open(%s): %s\n", f->dir.path,
			v.reason ? v.reason : "out of memory");
		tu_store_dir_remove(&f->dir);
		free(f->known);
		free(f);
		return -1;
	}
	f->t0 = (int64_t)time(NULL);
	f->rng = (uint64_t)env_long("STORE_TEST_SEED", (long)f->t0 ^ (long)getpid());
	printf("# store %s (%s), seed %" PRIu64 "\n", f->dir.path,
	       f->dir.mounted ? "private tmpfs" : "allow_non_tmpfs", f->rng);
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
	free(f->known);
	free(f);
	return 0;
}

static void test_kill_writer_anywhere(void **state)
{
	struct fixture *f = *state;
	long kills = env_long("STORE_CRASH_KILLS", 1200), it;
	struct scan_ctx sc = { .digests = calloc(MAX_SCAN, sizeof(*sc.digests)) };
	struct timespec a, b;
	unsigned long killed_mid_run = 0, exited = 0;

	assert_non_null(sc.digests);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (it = 0; it < kills; it++) {
		int fds[2], status = 0;
		uint64_t x = rng_next(&f->rng), seed = rng_next(&f->rng);
		int64_t now = f->t0 + (it + 1) * 100000;
		struct report r;
		unsigned long got = 0;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			writer_main(f, fds[1], seed, now);
		}
		close(fds[1]);
		if (x % 4 == 0) {
			/* Kill right after a random number (0..15) of committed operations. */
			unsigned long want = (x >> 8) % 16;

			while (got < want && read_report(fds[0], &r, -1) == 1) {
				apply_report(f, &r);
				got++;
			}
		} else if (x % 4 == 1) {
			/* Kill after a random delay of 0..2999 µs from fork (busy: finer than a
			 * sleep); this also hits the writer's start (store_open). */
			busy_wait_us((long)((x >> 8) % 3000));
		} else {
			/* The same from the first committed operation, so that slow stores (not
			 * tmpfs: real fsync) are killed mid-run too. */
			if (read_report(fds[0], &r, 10000) == 1) {
				apply_report(f, &r);
				got++;
			}
			busy_wait_us((long)((x >> 8) % 3000));
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status)) {
			print_error("writer exited %d (10 open, 11 put, 12 use, 13 id, 14 delete, "
				    "20 pipe)\n",
				    WEXITSTATUS(status));
			exited++;
			fail();
		}
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		f->kills++;
		/* Reports written before the kill are all in the pipe now. */
		while (read_report(fds[0], &r, -1) == 1) {
			apply_report(f, &r);
			got++;
		}
		close(fds[0]);
		if (got > 0)
			killed_mid_run++;
		if (got > f->child_ops_max)
			f->child_ops_max = got;

		check_lock_free(f);
		verify_store(f, &sc);
		check_next_writer(f, now + 99999);
		if (sc.n > PRUNE_ABOVE)
			prune(f, &sc);
	}
	/* A last full check after everything, then garbage collection of the remains. */
	verify_store(f, &sc);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# %lu kills (%lu after >= 1 committed op), %lu puts and %lu updates "
	       "reported committed, %lu deletes started, %lu committed-session checks, %lu "
	       "pruned, max %lu reports per writer, max %lu temporary files (.tmp.*) left at "
	       "once; %.1f s\n", f->kills, killed_mid_run, f->puts_reported, f->uses_reported,
	       f->dels_reported, f->checks, f->pruned, f->child_ops_max, f->residue_max,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	assert_true(f->kills >= (unsigned long)kills);
	assert_int_equal(exited, 0);
	free(sc.digests);
}

struct count_ctx {
	size_t n;
};

static int count_cb(const struct store_session *s, void *p)
{
	(void)s;
	((struct count_ctx *)p)->n++;
	return 0;
}

/* Put fresh sessions for `user` through a store opened with the given limits until one
 * is refused (at most `cap` tries); returns how many were accepted. The accepted ones are
 * deleted again. */
static size_t puts_until_refused(struct fixture *f, size_t per_user, size_t total,
				 const char *user, size_t cap, const char **reason)
{
	struct store_options o = f->opts;
	struct store *st = NULL;
	struct store_session s;
	struct verdict v;
	char (*ids)[STORE_SESSION_ID_LEN + 1] = calloc(cap, sizeof(*ids));
	char digest[STORE_DIGEST_HEX_LEN + 1];
	size_t ok = 0, i;

	assert_non_null(ids);
	o.max_sessions_per_user = per_user;
	o.max_sessions_total = total;
	verdict_init(&v);
	assert_int_equal(store_open(f->dir.path, &o, &st, &v), 0);
	*reason = NULL;
	for (i = 0; i < cap; i++) {
		fill_session(&s, f->t0, 1);
		snprintf(s.user, sizeof(s.user), "%s", user);
		assert_int_equal(store_session_id_new(ids[ok]), 0);
		verdict_init(&v);
		if (store_session_put(st, ids[ok], &s, &v) != 0) {
			*reason = v.reason;
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
	free(ids);
	return ok;
}

/* After writers were killed at random points, the capacity limits still hold exactly:
 * with max_sessions_per_user = (sessions of the user) + 1 one more put of that user
 * succeeds and the next is refused; likewise max_sessions_total. A session record
 * written without its index entry or counter increment (a writer killed between the
 * two writes) would let more through. */
static void test_limits_exact_after_kills(void **state)
{
	struct fixture *f = *state;
	long kills = env_long("STORE_CRASH_LIMIT_KILLS", 300), it;
	struct count_ctx cc = { 0 }, all = { 0 };
	struct verdict v;
	size_t unreadable = 0, got, got_total;
	const char *reason = NULL;

	for (it = 0; it < kills; it++) {
		int status = 0;
		uint64_t x = rng_next(&f->rng), seed = rng_next(&f->rng);
		struct report r;
		int fds[2];
		pid_t pid;

		/* Writers whose reports nobody reads: only the store's state matters here. */
		assert_int_equal(pipe(fds), 0);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			f->nknown = 0;
			writer_main(f, fds[1], seed, f->t0 + (it + 1) * 100000);
		}
		close(fds[1]);
		/* From the writer's first report on (whatever the filesystem's speed). */
		(void)read_report(fds[0], &r, 10000);
		busy_wait_us((long)(x % 2000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		close(fds[0]);
	}
	verdict_init(&v);
	assert_int_equal(store_session_scan(f->st, USER, count_cb, &cc, &unreadable, &v), 0);
	assert_int_equal(unreadable, 0);
	printf("# %ld more kills; %zu sessions of %s in the store\n", kills, cc.n, USER);
	assert_true(cc.n + 1 <= 1024); /* the store's hard per-user ceiling */

	got = puts_until_refused(f, cc.n + 1, 0, USER, 64, &reason);
	printf("# max_sessions_per_user = %zu (present + 1): %zu more puts accepted, then "
	       "\"%s\"\n", cc.n + 1, got, reason ? reason : "-");
	if (got != 1)
		print_error("per-user limit not exact after crashes: %zu puts accepted with "
			    "max_sessions_per_user = present + 1 (expected 1)\n", got);
	all.n = 0;
	verdict_init(&v);
	assert_int_equal(store_session_scan(f->st, NULL, count_cb, &all, &unreadable, &v), 0);
	got_total = puts_until_refused(f, 0, all.n + 1, "bob", 64, &reason);
	printf("# max_sessions_total = %zu (present + 1): %zu more puts accepted, then "
	       "\"%s\"\n", all.n + 1, got_total, reason ? reason : "-");
	if (got_total != 1)
		print_error("total limit not exact after crashes: %zu puts accepted with "
			    "max_sessions_total = present + 1 (expected 1)\n", got_total);
	assert_int_equal(got, 1);
	assert_int_equal(got_total, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_writer_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_exact_after_kills, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
