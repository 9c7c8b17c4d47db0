/*
 * bench_redis_ops — store operations per second through the core on a Redis store, for
 * bench/bench_redis.sh to put beside redis-benchmark on the same server.
 *
 *   bench_redis_ops [-e] [-c CLIENTS] [-t MS | -n COUNT] URL PASSWORD_FILE PREFIX OP
 *
 * OP is one operation of the login path, as pam_jwt.so makes it:
 *   use   store_session_use: a session-ID login (lookup, checks, last_seen rewritten
 *         under the lease)
 *   jti   store_jti_check of a token id that is not revoked (every JWT login)
 *   lock  store_user_check of a user who is not locked (every login)
 *   put   store_session_put of a new session (open_session), each of a user of its own
 * CLIENTS processes (default 1), each with its own store and so its own connection, run
 * OP back to back for MS milliseconds (default 1000) from a common start, or COUNT
 * times each (for counting round trips); pipelining is not something the store does. -e sends scripts by their text every time (EVAL), as
 * before EVALSHA. Runs as root: transactions run in place (privsep is for sudo and su).
 *
 * Prints one line: "OPS_PER_SEC COMMANDS_PER_OP", the commands the server ran per
 * operation (INFO stats, total_commands_processed, which counts those a script runs
 * too; bench_redis.sh counts round trips with MONITOR). Exit 0, or 2 on an error.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "store.h"
#include "verdict.h"

#define MAX_CLIENTS 64
#define USAGE "usage: bench_redis_ops [-e] [-c CLIENTS] [-t MS | -n COUNT] URL PWFILE PREFIX OP"
#define SERVICE "sshd"

static const char *url, *pwfile, *prefix, *op;
static bool eval_only;
static unsigned long count; /* -n: operations per client; 0: for -t MS */
static char session_id[STORE_SESSION_ID_LEN + 1];

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_redis_ops: %s%s%s\n", what, why != NULL ? ": " : "",
		why != NULL ? why : "");
	exit(2);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct store *open_store(void)
{
	struct store_options o = { 0 };
	struct store *st = NULL;
	struct verdict v;

	o.redis_prefix = prefix;
	o.redis_password_file = pwfile;
	o.redis_eval_only = eval_only;
	o.redis_timeout_ms = 5000;
	verdict_init(&v);
	if (store_open(url, &o, &st, &v) != 0)
		die("store_open", v.reason);
	return st;
}

/* The server's total_commands_processed. */
static long long server_commands(void)
{
	struct redis_options o = { .password_file = pwfile, .timeout_ms = 5000 };
	const char *argv[] = { "INFO", "stats" }, *reason, *p;
	size_t lens[] = { 4, 5 };
	struct redis_target t;
	struct redis_conn *c = NULL;
	redisReply *r = NULL;
	struct verdict v;
	long long n = -1;

	verdict_init(&v);
	if (redis_url_parse(url, &t, &reason) != 0)
		die("URL", reason);
	if (redis_connect(&t, &o, &c, &v) != 0 || redis_command(c, 2, argv, lens, &r, &v) != 0)
		die("INFO stats", v.reason);
	if (r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "total_commands_processed:")) != NULL)
		n = strtoll(p + strlen("total_commands_processed:"), NULL, 10);
	freeReplyObject(r);
	redis_close(c);
	if (n < 0)
		die("INFO stats has no total_commands_processed", NULL);
	return n;
}

static void fill(struct store_session *s, const char *user, int64_t now)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->service, sizeof(s->service), SERVICE);
	snprintf(s->tty, sizeof(s->tty), "pts/0");
	snprintf(s->rhost, sizeof(s->rhost), "203.0.113.5");
	s->uid = 1000;
	s->leader_pid = 4242;
	s->created = now;
	s->expires = now + 3600;
	s->last_seen = now;
}

/* One operation; 0 when it gave the answer a login expects. */
static int one_op(struct store *st, unsigned client, unsigned long i)
{
	int64_t now = (int64_t)time(NULL);
	char id[STORE_SESSION_ID_LEN + 1], user[64];
	struct store_session s;
	struct verdict v;

	verdict_init(&v);
	if (strcmp(op, "use") == 0)
		return store_session_use(st, session_id, "bench", SERVICE, false, now, &s, &v);
	if (strcmp(op, "jti") == 0)
		return store_jti_check(st, "bench-jti-not-revoked", now, &v);
	if (strcmp(op, "lock") == 0)
		return store_user_check(st, "bench", now, &v);
	snprintf(user, sizeof(user), "b%d-%u-%lu", (int)getpid(), client, i);
	fill(&s, user, now);
	if (store_session_id_new(id) != 0)
		return -1;
	return store_session_put(st, id, &s, &v);
}

/* A client: waits for the start, runs until the deadline, reports its count. */
static void client_main(unsigned client, int start_fd, int report_fd, double ms)
{
	struct store *st = open_store();
	unsigned long n = 0;
	double t0, end;
	char go;

	if (read(start_fd, &go, 1) != 1)
		_exit(2);
	t0 = now_sec();
	end = t0 + ms / 1000.0;
	while (count > 0 ? n < count : now_sec() < end) {
		if (one_op(st, client, n) != 0) {
			fprintf(stderr, "bench_redis_ops: %s failed\n", op);
			_exit(2);
		}
		n++;
	}
	if (write(report_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		_exit(2);
	store_close(st);
	_exit(0);
}

int main(int argc, char **argv)
{
	unsigned long total = 0, n;
	long clients = 1, ms = 1000;
	int start[2], report[2], opt, status, failed = 0;
	long long cmd0, cmd1;
	pid_t pids[MAX_CLIENTS];
	double t0, t1;
	struct store *st;
	struct store_session s;
	struct verdict v;
	long i;

	while ((opt = getopt(argc, argv, "ec:t:n:")) != -1) {
		if (opt == 'e')
			eval_only = true;
		else if (opt == 'c')
			clients = strtol(optarg, NULL, 10);
		else if (opt == 't')
			ms = strtol(optarg, NULL, 10);
		else if (opt == 'n')
			count = strtoul(optarg, NULL, 10);
		else
			die(USAGE, NULL);
	}
	if (argc - optind != 4 || clients < 1 || clients > MAX_CLIENTS || ms < 10 || ms > 600000)
		die(USAGE, NULL);
	url = argv[optind];
	pwfile = argv[optind + 1][0] != '\0' ? argv[optind + 1] : NULL;
	prefix = argv[optind + 2];
	op = argv[optind + 3];
	if (strcmp(op, "use") != 0 && strcmp(op, "jti") != 0 && strcmp(op, "lock") != 0 &&
	    strcmp(op, "put") != 0)
		die("OP is use, jti, lock or put", NULL);

	/* the session that "use" logs in with */
	st = open_store();
	fill(&s, "bench", (int64_t)time(NULL));
	s.expires += 86400;
	verdict_init(&v);
	if (store_session_id_new(session_id) != 0 || store_session_put(st, session_id, &s, &v) != 0)
		die("cannot put the benchmark's session", v.reason);
	store_close(st);

	if (pipe(start) != 0 || pipe(report) != 0)
		die("pipe", strerror(errno));
	for (i = 0; i < clients; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", strerror(errno));
		if (pids[i] == 0) {
			close(start[1]);
			close(report[0]);
			client_main((unsigned)i, start[0], report[1], (double)ms);
		}
	}
	close(start[0]);
	close(report[1]);
	usleep(200000); /* every client connected */
	cmd0 = server_commands();
	t0 = now_sec();
	for (i = 0; i < clients; i++)
		if (write(start[1], "g", 1) != 1)
			die("start", strerror(errno));
	for (i = 0; i < clients; i++) {
		if (read(report[0], &n, sizeof(n)) != (ssize_t)sizeof(n)) {
			failed = 1;
			break;
		}
		total += n;
	}
	t1 = now_sec();
	cmd1 = server_commands() - 1; /* less our first INFO */
	for (i = 0; i < clients; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed || total == 0)
		die("a client failed", NULL);
	printf("%.0f %.2f\n", (double)total / (t1 - t0), (double)(cmd1 - cmd0) / (double)total);
	return 0;
}
