/*
 * bench_daemon — pam-jwtd under load, beside raw OpenSSL in the same run.
 *
 * 1. Refresh round trips per second over the daemon's socket with 1, 16 and 64 concurrent
 *    clients, once with an ES256 and once with an EdDSA signing key (pam-jwtctl keygen).
 *    Each client is one persistent SOCK_SEQPACKET connection carrying its own chain:
 *    refresh, take the returned refresh token, refresh with it, ... One session per
 *    client, put into the store through the core API (store_session_put) by this process;
 *    the first refresh token of each comes from the daemon's "open" op (asked as root, so
 *    the daemon also keeps the session "fresh": each refresh then looks into root's
 *    persistent keyring, finds no login there and leaves it alone). The clients are driven
 *    by one thread of this process (epoll, one request in flight per connection) pinned
 *    to one CPU; the daemon is pinned to another: two cores. Beside each rate: the raw
 *    EVP sign rate of the same key over the same signing input (fresh EVP_MD_CTX, one
 *    thread, on the daemon's CPU while the daemon is idle), and jwt_mint() for context.
 *    Runs alternate raw, 1, 16, 64 clients (order rotated every round); medians are
 *    reported. Between runs the refresh-family records ("r-" files) are counted: the store
 *    keeps one per chain however often it rotates (the family, not the spent tokens), and
 *    more than one per session stops the benchmark.
 *    Sanity, before timing: a refreshed access token verifies with jwt_verify() against
 *    the key's JWKS, and a replayed refresh token is refused and ends its session.
 *
 * 2. The daemon's VmRSS (/proc/PID/status) with 100,000 live sessions in its store: the
 *    sessions are put through store_session_put before the daemon starts (1,000 users of
 *    100 sessions: an index holds at most 1,024), then the daemon starts on that store
 *    (scan for sessions it keeps fresh, then the first sweep) and is asked "status"; VmRSS
 *    is read right after the answer and again after the first keyring tick (when every
 *    kept-fresh session has been looked at). Twice: with no session marked as having
 *    tokens, then with every session marked (store_session_set_tokens), so that the
 *    daemon tracks all 100,000.
 *
 * Every store is on a private tmpfs mounted in a mount namespace of our own (unmounted at
 * the end); without the permission to mount, a 0700 directory under /dev/shm (tmpfs too).
 * Needs root (the daemon refuses to run otherwise); exits 0 with a note when not root.
 *
 * Environment: BUILD (default build: where pam-jwtd and pam-jwtctl are), BENCH_ROUNDS
 * (default 7), BENCH_RUN_MS (length of one timed run, default 500), BENCH_SESSIONS
 * (sessions for the memory part, default 100000; 0 skips it), BENCH_ONLY ("refresh" or
 * "rss": one part only), BENCH_DAEMON_CPU / BENCH_CLIENT_CPU (default: the two highest
 * allowed CPUs), BENCH_KEEP_LOGS=1 (copy the daemon logs to a new /tmp/bench-daemon-logs-*).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "jwa.h"
#include "jwt.h"
#include "keys.h"
#include "proto.h"
#include "store.h"
#include "verdict.h"
#include "benchutil.h"

#define BENCH_USER "pjbench"
#define BENCH_UID 0 /* root: no user, keyring or NSS state of anyone else is touched */
#define ISSUER "https://idp.example.org"
#define AUDIENCE "bench.example.org"
#define MAX_CLIENTS 64
#define N_SESS (MAX_CLIENTS + 1) /* one per client, one for the sanity checks */
#define RSS_USERS 1000
#define RSS_TARGET_KIB (16 * 1024)
#define REFRESH_TARGET 10000.0
#define MAX_ROUNDS 64
#define TOKEN_LEN STORE_SESSION_ID_LEN

static const int levels[] = { 1, 16, 64 };
#define N_LEVELS (sizeof(levels) / sizeof(levels[0]))

struct alg_case {
	const char *name; /* as pam-jwtctl keygen --alg takes it */
	/* Results. */
	double raw[MAX_ROUNDS], mint[MAX_ROUNDS];
	double rate[N_LEVELS][MAX_ROUNDS], cpu_us[N_LEVELS][MAX_ROUNDS];
	double busy[N_LEVELS][MAX_ROUNDS], paired[N_LEVELS][MAX_ROUNDS];
	double cbusy[N_LEVELS][MAX_ROUNDS];
	double raw_med, mint_med, rate_med[N_LEVELS], cpu_us_med[N_LEVELS];
	double busy_med[N_LEVELS], paired_med[N_LEVELS], spread[N_LEVELS];
	double cbusy_med[N_LEVELS];
	unsigned long long refreshes, records_max;
	size_t token_len;
	char sanity[160];
	bool done;
};

static struct alg_case cases[] = { { .name = "ES256" }, { .name = "EdDSA" } };
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

struct rss_case {
	bool tracked;
	double fill_sec;       /* putting (or marking) the sessions */
	double ready_sec;      /* daemon start -> first "status" answer */
	double tick_sec;       /* first answer -> the first keyring tick is over */
	double longest_wait;   /* the longest a status call waited after the first */
	long kept_fresh_first; /* "kept_fresh" in the first answer */
	long rss_status_kib, rss_tick_kib, hwm_kib;
	bool done;
};

static char g_work[128];   /* the work directory (a private tmpfs when mounted) */
static bool g_mounted;
static const char *g_build;
static pid_t g_daemon = -1;
static int g_cpu_daemon = -1, g_cpu_client = -1;
static struct rss_case rss_cases[2] = { { .tracked = false }, { .tracked = true } };

/* ---- small helpers -------------------------------------------------------------------- */

static void cleanup(void);

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_daemon: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(2);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_sec(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (v is not changed); *spread gets (max - min) / median. */
static double median(const double *v, int n, double *spread)
{
	double s[MAX_ROUNDS], m;

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	if (spread != NULL)
		*spread = m > 0 ? (s[n - 1] - s[0]) / m : 0;
	return m;
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

/* The daemon's CPU and the clients' CPU: the two highest allowed ones unless told. */
static void choose_cpus(void)
{
	cpu_set_t set;
	int i, hi = -1, next = -1;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (CPU_ISSET(i, &set)) {
			next = hi;
			hi = i;
		}
	}
	g_cpu_daemon = (int)env_long("BENCH_DAEMON_CPU", hi, -1, CPU_SETSIZE - 1);
	g_cpu_client = (int)env_long("BENCH_CLIENT_CPU", next >= 0 ? next : hi, -1,
				     CPU_SETSIZE - 1);
}

static void cpu_model(char *out, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256], *p;

	snprintf(out, size, "unknown CPU");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 && (p = strchr(line, ':')) != NULL) {
			p += 1 + strspn(p + 1, " \t");
			p[strcspn(p, "\n")] = '\0';
			snprintf(out, size, "%s", p);
			break;
		}
	}
	fclose(f);
}

/* "VmRSS:" or "VmHWM:" of a process, in KiB; -1 if unknown. */
static long proc_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0) {
			kib = strtol(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/* CPU time the process has run, in seconds (schedstat: ns; else utime + stime). */
static double proc_cpu_sec(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ns, ut, st;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%llu", &ns) == 1) {
			fclose(f);
			return (double)ns / 1e9;
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
		die("cannot read %s", path);
	fclose(f);
	p = strrchr(buf, ')');
	for (i = 0; p != NULL && i < 12; i++) /* after ")": state is field 3, utime 14 */
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu %llu", &ut, &st) != 2)
		die("cannot parse %s", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
		die("cannot write %s", path);
}

/* ---- the work directory: a private tmpfs ------------------------------------------------- */

static void work_make(void)
{
	snprintf(g_work, sizeof(g_work), "/tmp/bench-daemon-XXXXXX");
	if (mkdtemp(g_work) == NULL || chmod(g_work, 0700) != 0)
		die("cannot make a temporary directory");
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", g_work, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=16g,nr_inodes=0,mode=0700") == 0) {
		g_mounted = true;
		return;
	}
	fprintf(stderr, "bench_daemon: cannot mount a private tmpfs (%s); using /dev/shm\n",
		strerror(errno));
	(void)rmdir(g_work);
	snprintf(g_work, sizeof(g_work), "/dev/shm/bench-daemon-XXXXXX");
	if (mkdtemp(g_work) == NULL || chmod(g_work, 0700) != 0)
		die("cannot make a temporary directory under /dev/shm");
}

static void subdir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", g_work, name);
	if (mkdir(out, 0700) != 0 && errno != EEXIST)
		die("cannot make %s: %s", out, strerror(errno));
}

/* Delete every file of a directory (not recursive: stores and key directories are flat). */
static void empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static unsigned long long tmpfs_used_kib(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) != 0)
		return 0;
	return (unsigned long long)(sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024;
}

static void daemon_stop(void);

static void cleanup(void)
{
	DIR *d;
	struct dirent *de;
	char path[512];

	daemon_stop();
	if (g_work[0] == '\0')
		return;
	if (getenv("BENCH_KEEP_LOGS") != NULL && strcmp(getenv("BENCH_KEEP_LOGS"), "1") == 0) {
		char logs[64], cmd[400];

		snprintf(logs, sizeof(logs), "/tmp/bench-daemon-logs-XXXXXX");
		if (mkdtemp(logs) != NULL) {
			snprintf(cmd, sizeof(cmd), "cp %s/*.log %s/ 2>/dev/null", g_work, logs);
			if (system(cmd) == 0)
				fprintf(stderr, "bench_daemon: the daemon logs are in %s\n", logs);
		}
	}
	if (g_mounted) {
		if (umount2(g_work, 0) != 0)
			(void)umount2(g_work, MNT_DETACH);
	} else if ((d = opendir(g_work)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", g_work, de->d_name);
			empty_dir(path);
			if (rmdir(path) != 0)
				(void)unlink(path);
		}
		closedir(d);
	}
	(void)rmdir(g_work);
	g_work[0] = '\0';
}

/* ---- processes: pam-jwtctl keygen, pam-jwtd ---------------------------------------------- */

static pid_t spawn(const char *const args[], const char *log_path, int cpu)
{
	char *argv[16];
	pid_t pid = fork();
	int fd, i;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		cpu_set_t set;

		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		CPU_ZERO(&set);
		if (cpu >= 0)
			CPU_SET(cpu, &set);
		else if (sched_getaffinity(1, sizeof(set), &set) != 0)
			CPU_SET(0, &set);
		(void)sched_setaffinity(0, sizeof(set), &set);
		if (log_path != NULL) {
			fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		for (i = 0; i < 15 && args[i] != NULL; i++)
			argv[i] = strdup(args[i]);
		argv[i] = NULL;
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void keygen(const char *alg, const char *dir)
{
	char ctl[256], kid[32];
	const char *argv[] = { ctl, "keygen", "--alg", alg, "--kid", kid, "--out", dir, NULL };
	int status;
	pid_t pid;

	snprintf(ctl, sizeof(ctl), "%s/pam-jwtctl", g_build);
	snprintf(kid, sizeof(kid), "bench-%s", alg);
	pid = spawn(argv, "/dev/null", -1);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s keygen --alg %s failed", ctl, alg);
}

static void daemon_start(const char *conf, const char *log_path)
{
	char d[256];
	const char *argv[] = { d, "-c", conf, "--stderr", NULL };

	snprintf(d, sizeof(d), "%s/pam-jwtd", g_build);
	if (access(d, X_OK) != 0)
		die("%s is not built (make)", d);
	g_daemon = spawn(argv, log_path, g_cpu_daemon);
}

static void daemon_stop(void)
{
	int status;

	if (g_daemon <= 0)
		return;
	(void)kill(g_daemon, SIGTERM);
	if (waitpid(g_daemon, &status, 0) != g_daemon)
		(void)kill(g_daemon, SIGKILL);
	g_daemon = -1;
}

/* One request, one answer (a fresh connection). On a connect failure while the daemon is
 * still starting (no socket yet), tries again until timeout_ms. Dies on anything else. */
static char *call(const char *sock, const char *request, int timeout_ms)
{
	double until = now_sec() + timeout_ms / 1000.0;
	const char *reason = NULL;
	char *answer = NULL;
	int status;

	for (;;) {
		if (proto_call(sock, request, strlen(request), timeout_ms, &answer, NULL,
			       &reason) == 0)
			return answer;
		if (strcmp(reason, "daemon is not running") != 0 || now_sec() > until)
			die("%s: %s", request, reason);
		if (g_daemon > 0 && waitpid(g_daemon, &status, WNOHANG) == g_daemon) {
			g_daemon = -1;
			die("pam-jwtd exited at start (see its log in %s)", g_work);
		}
		sleep_sec(0.002);
	}
}

/* The answer's JSON object; dies when it is not {"ok":true,...}. */
static json_t *call_ok(const char *sock, const char *request, int timeout_ms)
{
	struct proto_answer ans;
	const char *reason = NULL;
	char *msg = call(sock, request, timeout_ms);
	json_t *root;

	if (proto_answer_parse(msg, strlen(msg), &ans, &reason) != 0)
		die("%s: %s", request, reason);
	if (!ans.ok)
		die("%s: refused: %s", request, ans.error);
	root = json_incref(ans.root);
	proto_answer_clear(&ans);
	proto_message_free(msg);
	return root;
}

static void write_conf(const char *path, const char *keydir, const char *kid,
		       const char *store, const char *sock)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "issuer = %s\naudience = %s\njwks = %s/%s.jwks\nsigning_key = %s/%s.key\n"
		 "store_dir = %s\nsocket_path = %s\npersist_dir = none\nmax_refreshes_per_minute = 0\nissue_tokens = yes\n"
		 "keyring = yes\nmax_sessions_total = 0\nmax_sessions_per_user = 0\n",
		 ISSUER, AUDIENCE, keydir, kid, keydir, kid, store, sock);
	write_text(path, text);
}

/* ---- sessions through the core API -------------------------------------------------------- */

static struct store *store_at(const char *dir)
{
	struct store_options opts = { .allow_non_tmpfs = false };
	struct store *st = NULL;
	struct verdict v;

	verdict_init(&v);
	if (store_open(dir, &opts, &st, &v) != 0)
		die("store_open(%s): %s", dir, v.reason);
	return st;
}

static void session_put(struct store *st, const char *user, bool tokens, int64_t now,
			char digest[STORE_DIGEST_HEX_LEN + 1])
{
	struct store_session s;
	struct verdict v;
	char id[STORE_SESSION_ID_LEN + 1];

	memset(&s, 0, sizeof(s));
	snprintf(s.user, sizeof(s.user), "%s", user);
	s.uid = BENCH_UID;
	snprintf(s.service, sizeof(s.service), "sshd");
	snprintf(s.tty, sizeof(s.tty), "pts/0");
	snprintf(s.rhost, sizeof(s.rhost), "203.0.113.5");
	s.leader_pid = 0; /* no login process to end */
	s.created = now;
	s.last_seen = now;
	s.expires = now + 8 * 3600;
	s.idle_timeout = 3600;
	s.tokens = tokens;
	verdict_init(&v);
	if (store_session_id_new(id) != 0 || store_session_put(st, id, &s, &v) != 0)
		die("store_session_put: %s", v.reason != NULL ? v.reason : "no session ID");
	store_digest_hex(id, strlen(id), digest);
	OPENSSL_cleanse(id, sizeof(id));
}

/* ---- the raw side: EVP sign, and jwt_mint for context ------------------------------------- */

struct signer {
	struct jwa_key key;
	char *kid;
	const EVP_MD *md;
	const unsigned char *input;
	size_t input_len;
	json_t *claims;
};

static int raw_sign(const struct signer *s)
{
	unsigned char sig[256];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, s->md, NULL, s->key.pkey) == 1 &&
		 EVP_DigestSign(ctx, sig, &sig_len, s->input, s->input_len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

static int mint_once(const struct signer *s)
{
	char *t = jwt_mint(&s->key, s->kid, s->claims);
	int ok = t != NULL;

	free(t);
	return ok;
}

/* Operations per second of fn over about run_sec (after sizing the run). */
static double ops_rate(int (*fn)(const struct signer *), const struct signer *s,
		       double run_sec)
{
	long n = 16, i;
	double t0, t;

	for (;;) {
		t0 = now_sec();
		for (i = 0; i < n; i++)
			if (!fn(s))
				die("signing failed");
		t = now_sec() - t0;
		if (t >= run_sec / 4 || n > (1L << 26))
			break;
		n *= 4;
	}
	if (t < run_sec) {
		n = (long)((double)n * run_sec / (t > 0 ? t : 1e-9));
		t0 = now_sec();
		for (i = 0; i < n; i++)
			if (!fn(s))
				die("signing failed");
		t = now_sec() - t0;
	}
	return (double)n / t;
}

/* ---- the clients -------------------------------------------------------------------------- */

struct conn {
	int fd;
	char token[TOKEN_LEN + 1];
	char digest[STORE_DIGEST_HEX_LEN + 1]; /* the session */
};

static struct conn conns[N_SESS];

static int connect_to(const char *sock)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		die("connect %s: %s", sock, strerror(errno));
	return fd;
}

static void send_refresh(const struct conn *c)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "{\"op\":\"refresh\",\"refresh_token\":\"%s\"}",
			 c->token);

	if (send(c->fd, msg, (size_t)n, MSG_NOSIGNAL) != n)
		die("send: %s", strerror(errno));
}

/* Receive one answer; the new refresh token replaces the old one. *token_len (may be
 * NULL) gets the access token's length. */
static void take_answer(struct conn *c, size_t *token_len)
{
	static char buf[PROTO_ANSWER_MAX + 1];
	const char *key = "\"refresh_token\":\"", *p, *a;
	ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		die("recv: %s", n == 0 ? "the daemon closed the connection" : strerror(errno));
	buf[n] = '\0';
	p = strstr(buf, key);
	if (strstr(buf, "\"ok\":true") == NULL || p == NULL ||
	    !store_refresh_id_looks_like(p + strlen(key), TOKEN_LEN) ||
	    p[strlen(key) + TOKEN_LEN] != '"')
		die("refresh refused: %s", buf);
	memcpy(c->token, p + strlen(key), TOKEN_LEN);
	c->token[TOKEN_LEN] = '\0';
	if (token_len != NULL && (a = strstr(buf, "\"access_token\":\"")) != NULL)
		*token_len = strcspn(a + 16, "\"");
}

struct run_result {
	double rate, cpu_us, busy, client_busy;
	unsigned long long done;
};

/* nc clients, each one request in flight, for run_sec. */
static struct run_result run_clients(const char *sock, int nc, double run_sec)
{
	struct epoll_event ev, evs[MAX_CLIENTS];
	struct run_result r = { 0 };
	double t0, t1, deadline, c0, c1, m0, m1;
	int ep = epoll_create1(EPOLL_CLOEXEC), i, n, inflight;

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < nc; i++) {
		conns[i].fd = connect_to(sock);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	c0 = proc_cpu_sec(g_daemon);
	m0 = thread_cpu_sec();
	t0 = now_sec();
	deadline = t0 + run_sec;
	for (i = 0; i < nc; i++)
		send_refresh(&conns[i]);
	inflight = nc;
	while (inflight > 0) {
		n = epoll_wait(ep, evs, MAX_CLIENTS, 10000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("the daemon did not answer for 10 s");
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];

			take_answer(c, NULL);
			r.done++;
			if (now_sec() < deadline)
				send_refresh(c);
			else
				inflight--;
		}
	}
	t1 = now_sec();
	m1 = thread_cpu_sec();
	c1 = proc_cpu_sec(g_daemon);
	for (i = 0; i < nc; i++) {
		close(conns[i].fd);
		conns[i].fd = -1;
	}
	close(ep);
	r.rate = (double)r.done / (t1 - t0);
	r.cpu_us = (c1 - c0) / (double)r.done * 1e6;
	r.busy = (c1 - c0) / (t1 - t0);
	r.client_busy = (m1 - m0) / (t1 - t0);
	return r;
}

/* The refresh-family records in the store: at most one per session, however often the
 * chains rotated (dies otherwise). */
static unsigned long long refresh_records(const char *store_dir)
{
	unsigned long long n = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(store_dir);
	if (d == NULL)
		die("opendir %s: %s", store_dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "r-", 2) == 0)
			n++;
	}
	closedir(d);
	if (n > N_SESS)
		die("%llu refresh records for %d sessions: the store grows with rotations", n,
		    N_SESS);
	return n;
}

static void note_records(struct alg_case *ac, const char *store_dir)
{
	unsigned long long n = refresh_records(store_dir);

	if (n > ac->records_max)
		ac->records_max = n;
}

/* ---- part 1: refreshes ---------------------------------------------------------------------- */

static void sanity(struct alg_case *ac, const char *sock, const char *conf, struct conn *c,
		   struct signer *sg, char **access_out)
{
	static const char *key = "\"access_token\":\"";
	char req[160], old[TOKEN_LEN + 1], *msg, *p;
	struct config cfg;
	struct keyset *ks = NULL;
	struct verdict v;
	json_t *ans;

	/* one refresh on its own connection; its access token must verify */
	snprintf(req, sizeof(req), "{\"op\":\"refresh\",\"refresh_token\":\"%s\"}", c->token);
	msg = call(sock, req, 10000);
	p = strstr(msg, key);
	if (strstr(msg, "\"ok\":true") == NULL || p == NULL)
		die("sanity refresh refused: %s", msg);
	p += strlen(key);
	*access_out = strndup(p, strcspn(p, "\""));
	memcpy(old, c->token, sizeof(old));
	c->fd = -1;
	{
		/* reuse take_answer's parsing on the same text */
		const char *rk = "\"refresh_token\":\"", *q = strstr(msg, rk);

		if (q == NULL)
			die("sanity: no refresh_token in %s", msg);
		memcpy(c->token, q + strlen(rk), TOKEN_LEN);
		c->token[TOKEN_LEN] = '\0';
	}
	proto_message_free(msg);
	verdict_init(&v);
	if (config_init(&cfg) != 0 || config_load_file(&cfg, conf, &v) != 0 ||
	    jwt_keyset_load(&cfg, &ks, &v) != 0)
		die("sanity: cannot load %s: %s", conf, v.reason);
	verdict_init(&v);
	if (jwt_verify(&cfg, ks, *access_out, BENCH_USER, (int64_t)time(NULL), NULL, &v) != 0 ||
	    v.code != VERDICT_OK)
		die("sanity: the access token does not verify: %s", v.reason);
	keyset_free(ks);
	config_free(&cfg);
	/* the signing input of a real access token, for the raw side */
	p = strrchr(*access_out, '.');
	sg->input = (const unsigned char *)*access_out;
	sg->input_len = (size_t)(p - *access_out);
	ac->token_len = strlen(*access_out);
	/* replaying the used token must end the session, and with it the new token */
	snprintf(req, sizeof(req), "{\"op\":\"refresh\",\"refresh_token\":\"%s\"}", old);
	msg = call(sock, req, 10000);
	if (strstr(msg, "\"ok\":false") == NULL || strstr(msg, "reuse") == NULL)
		die("sanity: a replayed refresh token was not refused as reuse: %s", msg);
	proto_message_free(msg);
	snprintf(req, sizeof(req), "{\"op\":\"refresh\",\"refresh_token\":\"%s\"}", c->token);
	msg = call(sock, req, 10000);
	if (strstr(msg, "\"ok\":false") == NULL)
		die("sanity: the session survived the reuse of its token: %s", msg);
	proto_message_free(msg);
	c->token[0] = '\0';
	ans = call_ok(sock, "{\"op\":\"status\"}", 10000);
	if (json_integer_value(json_object_get(ans, "reuse_detected")) != 1)
		die("sanity: status does not count the reuse");
	json_decref(ans);
	snprintf(ac->sanity, sizeof(ac->sanity),
		 "access token (%zu bytes) verifies with jwt_verify; replayed refresh token "
		 "refused, session revoked", ac->token_len);
}

static void bench_refresh(struct alg_case *ac, int rounds, double run_sec)
{
	char keydir[256], store_dir[256], conf[300], sock[300], logp[300], kid[32], path[400];
	char *access = NULL;
	struct signer sg;
	struct store *st;
	struct verdict v;
	struct run_result rr;
	json_t *ans;
	int64_t now = (int64_t)time(NULL);
	int r, j, k, slot;
	unsigned long long done0;
	double t_warm;

	memset(&sg, 0, sizeof(sg));
	snprintf(kid, sizeof(kid), "bench-%s", ac->name);
	snprintf(path, sizeof(path), "keys-%s", ac->name);
	subdir(keydir, sizeof(keydir), path);
	snprintf(path, sizeof(path), "store-%s", ac->name);
	subdir(store_dir, sizeof(store_dir), path);
	snprintf(conf, sizeof(conf), "%s/%s.conf", g_work, ac->name);
	snprintf(sock, sizeof(sock), "%s/%s.sock", g_work, ac->name);
	snprintf(logp, sizeof(logp), "%s/pam-jwtd-%s.log", g_work, ac->name);
	keygen(ac->name, keydir);
	write_conf(conf, keydir, kid, store_dir, sock);

	/* sessions, then the daemon, then a first refresh token for each */
	st = store_at(store_dir);
	for (k = 0; k < N_SESS; k++)
		session_put(st, BENCH_USER, false, now, conns[k].digest);
	store_close(st);
	daemon_start(conf, logp);
	json_decref(call_ok(sock, "{\"op\":\"ping\"}", 30000));
	for (k = 0; k < N_SESS; k++) {
		char req[160];
		const char *tok;

		snprintf(req, sizeof(req), "{\"op\":\"open\",\"session\":\"%s\"}", conns[k].digest);
		ans = call_ok(sock, req, 10000);
		tok = json_string_value(json_object_get(ans, "refresh_token"));
		if (tok == NULL || strlen(tok) != TOKEN_LEN)
			die("open: no refresh token");
		memcpy(conns[k].token, tok, TOKEN_LEN + 1);
		json_decref(ans);
	}
	ans = call_ok(sock, "{\"op\":\"status\"}", 10000);
	if (json_integer_value(json_object_get(ans, "kept_fresh")) != N_SESS)
		die("the daemon does not keep the %d sessions fresh", N_SESS);
	json_decref(ans);

	/* the raw side: the daemon's key, a real access token's signing input */
	verdict_init(&v);
	snprintf(path, sizeof(path), "%s/%s.key", keydir, kid);
	if (key_load_private(path, JWA_INVALID, NULL, &sg.key, &sg.kid, &v) != 0)
		die("key_load_private: %s", v.reason);
	sg.md = jwa_alg_md(sg.key.alg);
	sanity(ac, sock, conf, &conns[MAX_CLIENTS], &sg, &access);
	sg.claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "sub", BENCH_USER,
			      "iss", ISSUER, "aud", AUDIENCE, "sid", conns[0].digest,
			      "jti", "Vg2y3W0aJmZ7tCq0n1rX6A", "iat", (json_int_t)now,
			      "exp", (json_int_t)(now + 900));
	if (sg.claims == NULL || !raw_sign(&sg) || !mint_once(&sg))
		die("cannot sign in-process");

	/* warm-up (untimed): every chain once, the daemon's caches and the allocator */
	t_warm = run_sec / 2;
	done0 = run_clients(sock, MAX_CLIENTS, t_warm).done;
	ac->refreshes += done0;
	note_records(ac, store_dir);
	for (r = 0; r < rounds; r++) {
		for (j = 0; j < (int)N_LEVELS + 1; j++) {
			slot = (j + r) % ((int)N_LEVELS + 1);
			if (slot == (int)N_LEVELS) {
				pin_self(g_cpu_daemon);
				ac->raw[r] = ops_rate(raw_sign, &sg, run_sec / 2);
				ac->mint[r] = ops_rate(mint_once, &sg, run_sec / 2);
				pin_self(g_cpu_client);
				continue;
			}
			rr = run_clients(sock, levels[slot], run_sec);
			ac->rate[slot][r] = rr.rate;
			ac->cpu_us[slot][r] = rr.cpu_us;
			ac->busy[slot][r] = rr.busy;
			ac->cbusy[slot][r] = rr.client_busy;
			ac->refreshes += rr.done;
			note_records(ac, store_dir);
		}
		for (j = 0; j < (int)N_LEVELS; j++)
			ac->paired[j][r] = ac->rate[j][r] / ac->raw[r];
	}
	ans = call_ok(sock, "{\"op\":\"status\"}", 10000);
	if ((unsigned long long)json_integer_value(json_object_get(ans, "refreshes")) !=
	    ac->refreshes + 1)
		die("the daemon counts %lld refreshes, the clients %llu",
		    (long long)json_integer_value(json_object_get(ans, "refreshes")),
		    ac->refreshes + 1);
	json_decref(ans);
	daemon_stop();
	ac->raw_med = median(ac->raw, rounds, NULL);
	ac->mint_med = median(ac->mint, rounds, NULL);
	for (j = 0; j < (int)N_LEVELS; j++) {
		ac->rate_med[j] = median(ac->rate[j], rounds, &ac->spread[j]);
		ac->cpu_us_med[j] = median(ac->cpu_us[j], rounds, NULL);
		ac->busy_med[j] = median(ac->busy[j], rounds, NULL);
		ac->cbusy_med[j] = median(ac->cbusy[j], rounds, NULL);
		ac->paired_med[j] = median(ac->paired[j], rounds, NULL);
	}
	ac->done = true;
	json_decref(sg.claims);
	jwa_key_clear(&sg.key);
	free(sg.kid);
	free(access);
	empty_dir(store_dir);
	(void)rmdir(store_dir);
	for (k = 0; k < N_SESS; k++)
		conns[k].token[0] = '\0';
}

/* ---- part 2: memory with many sessions -------------------------------------------------------- */

static long status_kept_fresh(const char *sock, int timeout_ms, double *waited)
{
	double t0 = now_sec();
	json_t *ans = call_ok(sock, "{\"op\":\"status\"}", timeout_ms);
	long n = (long)json_integer_value(json_object_get(ans, "kept_fresh"));

	if (waited != NULL)
		*waited = now_sec() - t0;
	json_decref(ans);
	return n;
}

static void rss_run(struct rss_case *rc, const char *conf, const char *sock, const char *logp)
{
	double t0, w, t_first;
	long kept;

	t0 = now_sec();
	daemon_start(conf, logp);
	/* answered once the scan and the first sweep are over */
	rc->kept_fresh_first = status_kept_fresh(sock, 900000, NULL);
	t_first = now_sec();
	rc->ready_sec = t_first - t0;
	rc->rss_status_kib = proc_kib(g_daemon, "VmRSS:");
	/* the first keyring tick is due 1 s after the loop started (at once if the start took
	 * longer): ask again until it is over (nothing left kept fresh, or a tick has passed) */
	rc->longest_wait = 0;
	for (;;) {
		sleep_sec(0.3);
		kept = status_kept_fresh(sock, 900000, &w);
		if (w > rc->longest_wait)
			rc->longest_wait = w;
		if ((kept == 0 || !rc->tracked) && now_sec() - t_first > 1.5)
			break;
		if (now_sec() - t_first > 900)
			die("the first keyring tick did not end in 900 s");
	}
	rc->tick_sec = now_sec() - t_first;
	rc->rss_tick_kib = proc_kib(g_daemon, "VmRSS:");
	rc->hwm_kib = proc_kib(g_daemon, "VmHWM:");
	daemon_stop();
	rc->done = true;
}

static unsigned long long g_rss_tmpfs_kib;
static double g_rss_fill_sec;

static void bench_rss(long n_sessions)
{
	char keydir[256], store_dir[256], conf[300], sock[300], logp[300], user[32];
	char (*digests)[STORE_DIGEST_HEX_LEN + 1];
	struct store *st;
	struct verdict v;
	int64_t now = (int64_t)time(NULL);
	double t0;
	long i;

	digests = calloc((size_t)n_sessions, sizeof(*digests));
	if (digests == NULL)
		die("out of memory");
	subdir(keydir, sizeof(keydir), "keys-rss");
	subdir(store_dir, sizeof(store_dir), "store-rss");
	snprintf(conf, sizeof(conf), "%s/rss.conf", g_work);
	snprintf(sock, sizeof(sock), "%s/rss.sock", g_work);
	snprintf(logp, sizeof(logp), "%s/pam-jwtd-rss.log", g_work);
	keygen("ES256", keydir);
	write_conf(conf, keydir, "bench-ES256", store_dir, sock);

	st = store_at(store_dir);
	t0 = now_sec();
	for (i = 0; i < n_sessions; i++) {
		snprintf(user, sizeof(user), "pjbench%04ld", i % RSS_USERS);
		session_put(st, user, false, now, digests[i]);
	}
	g_rss_fill_sec = now_sec() - t0;
	rss_cases[0].fill_sec = g_rss_fill_sec;
	g_rss_tmpfs_kib = tmpfs_used_kib(store_dir);
	rss_run(&rss_cases[0], conf, sock, logp);

	t0 = now_sec();
	for (i = 0; i < n_sessions; i++) {
		verdict_init(&v);
		if (store_session_set_tokens(st, digests[i], true, &v) != 0)
			die("store_session_set_tokens: %s", v.reason);
	}
	rss_cases[1].fill_sec = now_sec() - t0;
	rss_run(&rss_cases[1], conf, sock, logp);
	store_close(st);
	free(digests);
	empty_dir(store_dir);
	(void)rmdir(store_dir);
}

/* ---- output ----------------------------------------------------------------------------------- */

static void print_refresh(int rounds, double run_sec)
{
	char rate[32], raw[32], mint[32];
	size_t i, j;
	bool any = false, met_any = false;

	for (i = 0; i < N_CASES; i++)
		any |= cases[i].done;
	if (!any)
		return;
	printf("#### Refresh round trips over the socket (daemon on CPU %d, clients on CPU %d)\n\n",
	       g_cpu_daemon, g_cpu_client);
	printf("Each client: one persistent connection, its own chain (refresh -> new refresh "
	       "token -> refresh ...), one request in flight. Raw: EVP_DigestSignInit + "
	       "EVP_DigestSign with the daemon's key over a real access token's signing input, "
	       "one thread, on the daemon's CPU. %d interleaved rounds of ~%.0f ms per run; "
	       "median rates.\n\n", rounds, run_sec * 1000);
	printf("| alg | clients | refreshes/s | raw EVP sign/s | ratio refresh/sign | "
	       "daemon CPU µs/refresh | daemon CPU busy | target | met? |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---|---|\n");
	for (i = 0; i < N_CASES; i++) {
		const struct alg_case *c = &cases[i];

		if (!c->done)
			continue;
		fmt_count(raw, sizeof(raw), c->raw_med);
		for (j = 0; j < N_LEVELS; j++) {
			bool targeted = levels[j] >= 16;
			bool met = c->rate_med[j] >= REFRESH_TARGET;

			met_any |= targeted && met;
			fmt_count(rate, sizeof(rate), c->rate_med[j]);
			printf("| %s | %d | %s | %s | %.3f | %.1f | %.0f%% | %s | %s |\n", c->name,
			       levels[j], rate, raw, c->rate_med[j] / c->raw_med, c->cpu_us_med[j],
			       c->busy_med[j] * 100, targeted ? ">= 10,000/s" : "(latency)",
			       targeted ? (met ? "yes" : "**no**") : "n/a");
		}
	}
	printf("\nTarget (>= 10,000 refreshes/s on 2 cores with ES256 or EdDSA): %s.\n\n",
	       met_any ? "met" : "**not met**");
	printf("Details: µs per operation; paired ratio = median over rounds of refresh/sign of "
	       "the same round; jwt_mint = the whole in-process token build and signature "
	       "(claims -> JSON -> base64url -> sign), single thread.\n\n");
	printf("| alg | clients | µs/refresh (wall, 1/rate) | raw sign µs | jwt_mint µs "
	       "(jwt_mint/s) | paired ratio | client thread CPU busy | spread (max-min)/median |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
	for (i = 0; i < N_CASES; i++) {
		const struct alg_case *c = &cases[i];

		if (!c->done)
			continue;
		fmt_count(mint, sizeof(mint), c->mint_med);
		for (j = 0; j < N_LEVELS; j++)
			printf("| %s | %d | %.1f | %.1f | %.1f (%s) | %.3f | %.0f%% | %.0f%% |\n",
			       c->name, levels[j], 1e6 / c->rate_med[j], 1e6 / c->raw_med,
			       1e6 / c->mint_med, mint, c->paired_med[j], c->cbusy_med[j] * 100,
			       c->spread[j] * 100);
	}
	printf("\n");
	for (i = 0; i < N_CASES; i++)
		if (cases[i].done)
			printf("Sanity (%s): %s; %llu refreshes in all, the daemon's count agrees; "
			       "the store held %llu refresh-family records at most (one per "
			       "session, however often they rotated).\n",
			       cases[i].name, cases[i].sanity, cases[i].refreshes + 1,
			       cases[i].records_max);
	printf("\n");
}

static void print_rss(long n_sessions)
{
	char n[32];
	size_t i;

	if (!rss_cases[0].done)
		return;
	fmt_count(n, sizeof(n), (double)n_sessions);
	printf("#### pam-jwtd memory with %s live sessions in its store (ES256 key)\n\n", n);
	printf("VmRSS from /proc/PID/status: right after the first \"status\" answer (the "
	       "daemon answers once its start-up scan and first sweep are over), and once the "
	       "first keyring tick is over; VmHWM is the peak. Target: <= 16 MiB (both "
	       "readings).\n\n");
	printf("| sessions marked tokens=yes | kept fresh at start | start -> first answer | "
	       "VmRSS after status | first tick over after | VmRSS after first tick | "
	       "VmHWM | target | met? |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---|---|\n");
	for (i = 0; i < 2; i++) {
		const struct rss_case *r = &rss_cases[i];
		long worst = r->rss_status_kib > r->rss_tick_kib ? r->rss_status_kib :
								   r->rss_tick_kib;

		if (!r->done)
			continue;
		printf("| %s | %ld | %.2f s | %.1f MiB | %.2f s (status waited up to %.2f s) | "
		       "%.1f MiB | %.1f MiB | <= 16 MiB | %s |\n", r->tracked ? "all" : "none",
		       r->kept_fresh_first, r->ready_sec, r->rss_status_kib / 1024.0, r->tick_sec,
		       r->longest_wait, r->rss_tick_kib / 1024.0, r->hwm_kib / 1024.0,
		       worst <= RSS_TARGET_KIB ? "yes" : "**no**");
	}
	printf("\nFilling: %s sessions by store_session_put over %d users in %.1f s (%.0f/s), "
	       "%.0f MiB of tmpfs; marking them all by store_session_set_tokens: %.1f s.\n\n",
	       n, RSS_USERS, g_rss_fill_sec, (double)n_sessions / g_rss_fill_sec,
	       g_rss_tmpfs_kib / 1024.0, rss_cases[1].fill_sec);
}

int main(int argc, char **argv)
{
	const char *only = getenv("BENCH_ONLY");
	char cpu[128];
	struct utsname un;
	int rounds;
	double run_sec, t0 = now_sec();
	long n_sessions;
	size_t i;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bench_daemon (settings in the environment; see the "
				"source)\n");
		return 2;
	}
	if (geteuid() != 0) {
		printf("bench_daemon skipped: pam-jwtd runs only as root; run 'make bench' as root "
		       "for the daemon tables.\n");
		return 0;
	}
	g_build = getenv("BUILD") != NULL && getenv("BUILD")[0] != '\0' ? getenv("BUILD") :
									     "build";
	rounds = (int)env_long("BENCH_ROUNDS", 7, 1, MAX_ROUNDS);
	run_sec = (double)env_long("BENCH_RUN_MS", 500, 50, 60000) / 1000.0;
	n_sessions = env_long("BENCH_SESSIONS", 100000, 0, 10000000);
	if (only != NULL && *only != '\0' && strcmp(only, "refresh") != 0 &&
	    strcmp(only, "rss") != 0)
		die("BENCH_ONLY must be refresh or rss");
	signal(SIGPIPE, SIG_IGN);
	choose_cpus();
	pin_self(g_cpu_client);
	work_make();
	atexit(cleanup);

	if (only == NULL || *only == '\0' || strcmp(only, "refresh") == 0)
		for (i = 0; i < N_CASES; i++)
			bench_refresh(&cases[i], rounds, run_sec);
	if (n_sessions > 0 && (only == NULL || *only == '\0' || strcmp(only, "rss") == 0))
		bench_rss(n_sessions);

	cpu_model(cpu, sizeof(cpu));
	if (uname(&un) != 0)
		snprintf(un.release, sizeof(un.release), "?");
	printf("### pam-jwtd: refresh throughput and memory\n\n");
	printf("%s; %ld CPUs online; Linux %s; %s; jansson %s; stores on %s.\n\n", cpu,
	       sysconf(_SC_NPROCESSORS_ONLN), un.release, OpenSSL_version(OPENSSL_VERSION),
	       jansson_version_str(), g_mounted ? "a private tmpfs" : "/dev/shm (tmpfs)");
	print_refresh(rounds, run_sec);
	print_rss(n_sessions);
	printf("Wall time of this benchmark: %.1f s.\n", now_sec() - t0);
	cleanup();
	return 0;
}
