/*
 * bench_store — the session store's login-path operations with a small and a huge store,
 * side by side in one run (DESIGN.md: "Lookups are O(1) in the number of records").
 *
 *   - session-ID authentication: store_session_use() on one known session (lookup, checks,
 *     last_seen rewritten under the lock) with 1,000 and with 1,000,000 sessions stored;
 *   - store_session_get() of the same session (read only; context);
 *   - revoked-jti check: store_jti_check() of a revoked id, and of an id that is not
 *     revoked (the common login case), with 1,000 and with 1,000,000 revoked ids.
 *
 * Each store lives on its own private tmpfs (root: mounted in a mount namespace of our
 * own, unmounted at the end; otherwise a 0700 directory under /tmp with allow_non_tmpfs).
 * Stores are filled through the API (store_session_put with no capacity limit, sessions
 * spread over users; store_jti_revoke), and the fill time is reported. Measurement as in
 * bench_verify: runs of N operations alternate small, large, small, large... for several
 * rounds, median rates; single-threaded, pinned to one CPU.
 *
 * Environment: BENCH_ROUNDS (default 15), BENCH_RUN_MS (default 60), BENCH_CPU,
 * BENCH_STORE_SMALL (default 1000), BENCH_STORE_LARGE (default 1000000),
 * BENCH_STORE_PER_USER (sessions per user while filling, default 10; the store caps a
 * user at 1024), BENCH_STORE_FILL ("api", default, or "direct": session record files
 * written with store_session_format and no index/counter, for a quicker fill).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include "store.h"
#include "verdict.h"
#include "benchutil.h"

#define USER "alice"
#define SERVICE "sshd"

struct bench_store {
	char path[64];
	bool mounted;
	bool on_tmpfs;         /* mounted at some point (stays set after unmounting) */
	struct store *st;
	size_t records;
	double fill_sec;
	const char *fill_how;
	unsigned long long used_kib;
};

struct result {
	const char *name;
	const char *target_text;
	double max_ratio;      /* time large / time small; 0: context only */
	double small_rate, large_rate, paired_ratio, spread_small, spread_large;
};

static char session_id[STORE_SESSION_ID_LEN + 1];
static int64_t t_now;
static int rounds;
static double run_sec;

static void die(const char *what)
{
	fprintf(stderr, "bench_store: %s\n", what);
	exit(2);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- stores on private tmpfs ------------------------------------------------------ */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	return ftw->level == 0 ? 0 : remove(p);
}

static void store_make(struct bench_store *b, const char *tag, size_t records)
{
	static bool ns_done;
	struct store_options opts = { 0 };
	struct verdict v;

	memset(b, 0, sizeof(*b));
	b->records = records;
	snprintf(b->path, sizeof(b->path), "/tmp/bench-store-%s-XXXXXX", tag);
	if (mkdtemp(b->path) == NULL || chmod(b->path, 0700) != 0)
		die("cannot make a temporary directory");
	if (geteuid() == 0) {
		if (!ns_done && unshare(CLONE_NEWNS) == 0)
			(void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		ns_done = true;
		/* size: pages are allocated as used; no inode limit. */
		if (mount("tmpfs", b->path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=16g,nr_inodes=0,mode=0700") == 0)
			b->mounted = b->on_tmpfs = true;
		else
			fprintf(stderr, "bench_store: cannot mount tmpfs on %s: %s\n", b->path,
				strerror(errno));
	}
	opts.allow_non_tmpfs = !b->mounted;
	verdict_init(&v);
	if (store_open(b->path, &opts, &b->st, &v) != 0) {
		fprintf(stderr, "bench_store: store_open(%s): %s\n", b->path, v.reason);
		exit(2);
	}
}

static void store_usage(struct bench_store *b)
{
	struct statvfs sv;

	if (statvfs(b->path, &sv) == 0)
		b->used_kib = (unsigned long long)(sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024;
}

static void store_remove(struct bench_store *b)
{
	store_close(b->st);
	b->st = NULL;
	if (b->mounted) {
		if (umount2(b->path, 0) != 0)
			(void)umount2(b->path, MNT_DETACH);
		b->mounted = false;
	} else {
		(void)nftw(b->path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	(void)rmdir(b->path);
}

static void fill_session(struct store_session *s, const char *user, int64_t now)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->uid = 1000;
	snprintf(s->service, sizeof(s->service), "%s", SERVICE);
	snprintf(s->tty, sizeof(s->tty), "pts/0");
	snprintf(s->rhost, sizeof(s->rhost), "203.0.113.5");
	s->leader_pid = 4242;
	s->created = now;
	s->expires = now + 8 * 3600;
	s->idle_timeout = 3600;
	s->last_seen = now;
}

/* A session record file as the store writes it, without index or counter. */
static void put_direct(struct bench_store *b, const char *id, const struct store_session *s)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], path[160];
	char *text = store_session_format(s);
	size_t len;
	int fd;

	if (text == NULL)
		die("store_session_format failed");
	store_digest_hex(id, strlen(id), digest);
	snprintf(path, sizeof(path), "%s/s-%s", b->path, digest);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
		die("cannot write a record file");
	free(text);
}

/* The known session first, then records - 1 others spread over users. */
static void fill_sessions(struct bench_store *b, size_t per_user, bool direct)
{
	struct store_session s;
	struct verdict v;
	char id[STORE_SESSION_ID_LEN + 1], user[32];
	size_t i;
	double t0 = now_sec();

	fill_session(&s, USER, t_now);
	verdict_init(&v);
	if (store_session_put(b->st, session_id, &s, &v) != 0)
		die("cannot put the known session");
	for (i = 1; i < b->records; i++) {
		snprintf(user, sizeof(user), "u%zu", i / per_user);
		fill_session(&s, user, t_now);
		if (store_session_id_new(id) != 0)
			die("store_session_id_new failed");
		if (direct) {
			put_direct(b, id, &s);
		} else if (store_session_put(b->st, id, &s, &v) != 0) {
			fprintf(stderr, "bench_store: put %zu: %s\n", i, v.reason);
			exit(2);
		}
	}
	b->fill_sec = now_sec() - t0;
	b->fill_how = direct ? "record files written directly (format only)" :
			       "store_session_put";
	store_usage(b);
}

static void fill_jtis(struct bench_store *b)
{
	struct verdict v;
	char jti[48];
	size_t i;
	double t0 = now_sec();

	for (i = 0; i < b->records; i++) {
		snprintf(jti, sizeof(jti), "revoked-%zu", i);
		verdict_init(&v);
		if (store_jti_revoke(b->st, jti, t_now + 86400, &v) != 0)
			die("store_jti_revoke failed");
	}
	b->fill_sec = now_sec() - t0;
	b->fill_how = "store_jti_revoke";
	store_usage(b);
}

/* ---- the operations --------------------------------------------------------------- */

typedef bool (*op_fn)(struct store *st);

static bool op_session_use(struct store *st)
{
	struct store_session out;
	struct verdict v;

	verdict_init(&v);
	return store_session_use(st, session_id, USER, SERVICE, true, t_now + 1, &out, &v) == 0;
}

static bool op_session_get(struct store *st)
{
	struct store_session out;
	struct verdict v;

	verdict_init(&v);
	return store_session_get(st, session_id, &out, &v) == 0;
}

static bool op_jti_revoked(struct store *st)
{
	struct verdict v;

	verdict_init(&v);
	/* "revoked-500": present in both stores. */
	return store_jti_check(st, "revoked-500", t_now, &v) != 0 && v.code == VERDICT_REJECT;
}

static bool op_jti_clean(struct store *st)
{
	struct verdict v;

	verdict_init(&v);
	return store_jti_check(st, "k3Jd8x-not-revoked", t_now, &v) == 0;
}

static double run(op_fn fn, struct store *st, long n)
{
	double t0 = now_sec();
	long i;

	for (i = 0; i < n; i++)
		if (!fn(st))
			die("a benchmarked operation failed");
	return now_sec() - t0;
}

static long calibrate(op_fn fn, struct store *st, double target)
{
	long n = 16;
	double t;

	for (;;) {
		t = run(fn, st, n);
		if (t >= 0.02 || n > (1L << 26))
			break;
		n *= 4;
	}
	n = (long)((double)n * target / (t > 0 ? t : 1e-9));
	return n < 16 ? 16 : n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct result *r, op_fn fn, struct store *small, struct store *large)
{
	double s[64], l[64], p[64];
	long n;
	int i;

	if (!fn(small) || !fn(large))
		die("the benchmarked operation fails");
	n = calibrate(fn, small, run_sec);
	(void)run(fn, large, n); /* warm-up */
	for (i = 0; i < rounds; i++) {
		s[i] = (double)n / run(fn, small, n);
		l[i] = (double)n / run(fn, large, n);
		p[i] = s[i] / l[i]; /* time large / time small */
	}
	r->paired_ratio = median(p, rounds);
	r->small_rate = median(s, rounds);
	r->large_rate = median(l, rounds);
	r->spread_small = (s[rounds - 1] - s[0]) / r->small_rate; /* sorted by median() */
	r->spread_large = (l[rounds - 1] - l[0]) / r->large_rate;
}

/* One store_session_use right after a writer died inside a put: the next locker finds
 * the store's "c-intent" record and recovers (reconciles the index, recounts). */
static double first_use_after_crash(struct bench_store *b)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], path[160];
	char text[256];
	double t0;
	int fd, len;

	store_digest_hex(session_id, strlen(session_id), digest);
	len = snprintf(text, sizeof(text), "pam_jwt-store 1\nkind=intent\nuser=%s\nsession=%s\n",
		       USER, digest);
	snprintf(path, sizeof(path), "%s/c-intent", b->path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len || close(fd) != 0)
		return -1;
	t0 = now_sec();
	if (!op_session_use(b->st))
		return -1;
	t0 = now_sec() - t0;
	/* Recovery removed the intent. */
	return access(path, F_OK) == 0 ? -1 : t0;
}

static void print_row(const struct result *r)
{
	char a[32], b[32];
	double ratio = r->small_rate / r->large_rate;
	const char *met = r->max_ratio <= 0 ? "n/a" : ratio <= r->max_ratio ? "yes" : "**no**";

	fmt_count(a, sizeof(a), r->small_rate);
	fmt_count(b, sizeof(b), r->large_rate);
	printf("| %s | %s | %s | %.2f | %.2f | %.3f | %s | %s |\n", r->name, a, b,
	       1e6 / r->small_rate, 1e6 / r->large_rate, ratio, r->target_text, met);
}

static void print_fill(const char *what, const struct bench_store *b)
{
	char n[32], rate[32];

	fmt_count(n, sizeof(n), (double)b->records);
	fmt_count(rate, sizeof(rate), (double)b->records / (b->fill_sec > 0 ? b->fill_sec : 1e-9));
	printf("| %s | %s | %s | %.1f s | %s/s | %.0f MiB |\n", what, n, b->fill_how,
	       b->fill_sec, rate, (double)b->used_kib / 1024);
}

int main(int argc, char **argv)
{
	size_t n_small, n_large, per_user;
	struct bench_store s_small, s_large, j_small, j_large;
	struct result res[4] = {
		{ .name = "session-ID auth: store_session_use", .target_text = "<= 1.2x",
		  .max_ratio = 1.2 },
		{ .name = "session lookup: store_session_get (read only)",
		  .target_text = "none (context)", .max_ratio = 0 },
		{ .name = "revoked-jti check: store_jti_check (revoked id)",
		  .target_text = "<= 1.2x", .max_ratio = 1.2 },
		{ .name = "jti check: store_jti_check (id not revoked)", .target_text = "<= 1.2x",
		  .max_ratio = 1.2 },
	};
	const char *fill = getenv("BENCH_STORE_FILL");
	bool direct = fill != NULL && strcmp(fill, "direct") == 0;
	double t0, crash_small, crash_large;
	char ns[32], nl[32];
	int cpu, i;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bench_store (see the environment variables in the source)\n");
		return 2;
	}
	if (fill != NULL && *fill != '\0' && !direct && strcmp(fill, "api") != 0)
		die("BENCH_STORE_FILL must be api or direct");
	rounds = (int)env_long("BENCH_ROUNDS", 15, 1, 64);
	run_sec = (double)env_long("BENCH_RUN_MS", 60, 5, 10000) / 1000.0;
	n_small = (size_t)env_long("BENCH_STORE_SMALL", 1000, 1000, 100000000);
	n_large = (size_t)env_long("BENCH_STORE_LARGE", 1000000, 1000, 100000000);
	per_user = (size_t)env_long("BENCH_STORE_PER_USER", 10, 1, 1024);
	cpu = pin_cpu();
	t0 = now_sec();
	t_now = (int64_t)time(NULL);
	if (store_session_id_new(session_id) != 0)
		die("store_session_id_new failed");

	/* Sessions: both stores at once, then unmounted (frees the memory). */
	store_make(&s_small, "s-small", n_small);
	store_make(&s_large, "s-large", n_large);
	fill_sessions(&s_small, per_user, direct);
	fill_sessions(&s_large, per_user, direct);
	measure(&res[0], op_session_use, s_small.st, s_large.st);
	measure(&res[1], op_session_get, s_small.st, s_large.st);
	crash_small = direct ? -1 : first_use_after_crash(&s_small);
	crash_large = direct ? -1 : first_use_after_crash(&s_large);
	store_remove(&s_small);
	store_remove(&s_large);

	/* Revoked JWT ids. */
	store_make(&j_small, "j-small", n_small);
	store_make(&j_large, "j-large", n_large);
	fill_jtis(&j_small);
	fill_jtis(&j_large);
	measure(&res[2], op_jti_revoked, j_small.st, j_large.st);
	measure(&res[3], op_jti_clean, j_small.st, j_large.st);
	store_remove(&j_small);
	store_remove(&j_large);

	fmt_count(ns, sizeof(ns), (double)n_small);
	fmt_count(nl, sizeof(nl), (double)n_large);
	printf("### Session store: login-path operations with %s vs %s records (one core)\n\n",
	       ns, nl);
	printf("%s; pinned to CPU %d; %d interleaved rounds of ~%.0f ms per side; median "
	       "rates. Ratio = time per op with %s records / with %s.\n\n",
	       s_large.on_tmpfs ? "private tmpfs per store" : "store directories NOT on tmpfs "
	       "(not root)", cpu, rounds, run_sec * 1000, nl, ns);
	printf("| operation | ops/s, %s records | ops/s, %s records | µs/op, %s | µs/op, %s | "
	       "ratio | target | met? |\n", ns, nl, ns, nl);
	printf("|---|---:|---:|---:|---:|---:|---|---|\n");
	for (i = 0; i < 4; i++)
		print_row(&res[i]);
	printf("\nDetails: paired ratio (median over rounds of adjacent runs) and spread "
	       "((max-min)/median of the rates).\n\n");
	printf("| operation | paired ratio | spread %s / %s |\n|---|---:|---|\n", ns, nl);
	for (i = 0; i < 4; i++)
		printf("| %s | %.3f | %.0f%% / %.0f%% |\n", res[i].name, res[i].paired_ratio,
		       res[i].spread_small * 100, res[i].spread_large * 100);
	printf("\nFilling the stores (memory: tmpfs blocks in use after the fill):\n\n");
	printf("| store | records | how | fill time | rate | tmpfs used |\n");
	printf("|---|---:|---|---:|---:|---:|\n");
	print_fill("sessions, small", &s_small);
	print_fill("sessions, large", &s_large);
	print_fill("revoked jtis, small", &j_small);
	print_fill("revoked jtis, large", &j_large);
	if (crash_small >= 0 && crash_large >= 0)
		printf("\nContext: the first store_session_use after a writer died inside a put "
		       "(the store recovers: index reconciled, sessions recounted by a directory "
		       "scan): %.2f ms with %s sessions, %.1f ms with %s.\n", crash_small * 1e3,
		       ns, crash_large * 1e3, nl);
	else if (!direct)
		printf("\nContext: recovery after a crashed writer could not be measured.\n");
	printf("Not measured here: a pamtester session-ID login against pam_permit.so (needs "
	       "the module's session-ID path; see bench_pam.sh).\n");
	printf("Wall time of this benchmark: %.1f s.\n", now_sec() - t0);
	return 0;
}
