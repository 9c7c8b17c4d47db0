/* redis_probe: drives core/redis.c against a server for tests/integration/test_redis_conn.sh.
 *
 *   redis_probe [-p PASSWORD_FILE] [-C CA] [-c CERT] [-k KEY] [-t TIMEOUT_MS]
 *               [-S SENTINELS -m MASTER] URL MODE ...
 *
 * MODE:
 *   cmd ARG...          one command; prints its reply
 *   cmd2 ARG...         the command twice (the second after a failed first shows that a
 *                       broken connection fails at once); prints each outcome
 *   setbig KEY BYTES    SET KEY to BYTES bytes of 'x'; prints the reply
 *   pipeline N          appends N SETs and N GETs, then reads the 2N replies in order
 *   subscribe CH MS...  SUBSCRIBE CH, prints "subscribed", then redis_wait(MS) for each MS,
 *                       printing the message or "timeout"
 *
 * A reply prints as one line: status S, string S, integer N, nil, error E, [a b ...].
 * A refusal prints "refused: REASON" (stdout) and "elapsed_ms=N" (stderr), exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_reply(const redisReply *r)
{
	size_t i;

	switch (r->type) {
	case REDIS_REPLY_STATUS:
		printf("status %s", r->str);
		break;
	case REDIS_REPLY_ERROR:
		printf("error %s", r->str);
		break;
	case REDIS_REPLY_INTEGER:
		printf("integer %lld", r->integer);
		break;
	case REDIS_REPLY_NIL:
		printf("nil");
		break;
	case REDIS_REPLY_STRING:
		if (r->len > 64)
			printf("string of %zu bytes", (size_t)r->len);
		else
			printf("string %.*s", (int)r->len, r->str);
		break;
	case REDIS_REPLY_ARRAY:
		printf("[");
		for (i = 0; i < r->elements; i++) {
			if (i > 0)
				printf(" ");
			print_reply(r->element[i]);
		}
		printf("]");
		break;
	default:
		printf("type %d", r->type);
	}
}

static int refused(const struct verdict *v, long long start)
{
	printf("refused: %s%s%s\n", v->reason != NULL ? v->reason : "(none)",
	       v->detail[0] != '\0' ? " " : "", v->detail);
	fprintf(stderr, "elapsed_ms=%lld\n", now_ms() - start);
	fflush(stdout);
	return 1;
}

static int run_cmd(struct redis_conn *c, int argc, char **argv)
{
	const char *args[64];
	size_t lens[64];
	redisReply *r = NULL;
	struct verdict v;
	long long start = now_ms();
	int i;

	if (argc < 1 || argc > 64)
		return 2;
	for (i = 0; i < argc; i++) {
		args[i] = argv[i];
		lens[i] = strlen(argv[i]);
	}
	verdict_init(&v);
	if (redis_command(c, argc, args, lens, &r, &v) != 0)
		return refused(&v, start);
	print_reply(r);
	printf("\n");
	freeReplyObject(r);
	return 0;
}

static int run_setbig(struct redis_conn *c, const char *key, size_t n)
{
	const char *argv[3] = { "SET", key, NULL };
	size_t lens[3] = { 3, strlen(key), n };
	char *val = malloc(n + 1);
	redisReply *r = NULL;
	struct verdict v;
	int rc;

	if (val == NULL)
		return 2;
	memset(val, 'x', n);
	argv[2] = val;
	verdict_init(&v);
	rc = redis_command(c, 3, argv, lens, &r, &v);
	free(val);
	if (rc != 0)
		return refused(&v, now_ms());
	print_reply(r);
	printf("\n");
	freeReplyObject(r);
	return 0;
}

/* N SETs then N GETs appended, then 2N replies read in order and checked. */
static int run_pipeline(struct redis_conn *c, int n)
{
	char key[32], val[32];
	const char *argv[3];
	size_t lens[3];
	redisReply *r = NULL;
	struct verdict v;
	int i, bad = 0;

	verdict_init(&v);
	for (i = 0; i < 2 * n; i++) {
		snprintf(key, sizeof(key), "pj:pipe:%d", i % n);
		snprintf(val, sizeof(val), "value-%d", i % n);
		argv[0] = i < n ? "SET" : "GET";
		argv[1] = key;
		argv[2] = val;
		lens[0] = 3;
		lens[1] = strlen(key);
		lens[2] = strlen(val);
		if (redis_append(c, i < n ? 3 : 2, argv, lens, &v) != 0)
			return refused(&v, now_ms());
	}
	for (i = 0; i < 2 * n; i++) {
		if (redis_read(c, &r, &v) != 0)
			return refused(&v, now_ms());
		snprintf(val, sizeof(val), "value-%d", i % n);
		if (i < n ? r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0 :
			    r->type != REDIS_REPLY_STRING || strcmp(r->str, val) != 0)
			bad++;
		freeReplyObject(r);
	}
	printf(bad == 0 ? "pipeline ok %d\n" : "pipeline wrong\n", 2 * n);
	return bad == 0 ? 0 : 1;
}

static int run_subscribe(struct redis_conn *c, const char *channel, int argc, char **argv)
{
	const char *cmd[2] = { "SUBSCRIBE", channel };
	size_t lens[2] = { 9, strlen(channel) };
	redisReply *r = NULL;
	struct verdict v;
	int i, got;

	verdict_init(&v);
	if (redis_command(c, 2, cmd, lens, &r, &v) != 0)
		return refused(&v, now_ms());
	freeReplyObject(r);
	printf("subscribed\n");
	fflush(stdout);
	for (i = 0; i < argc; i++) {
		long long start = now_ms();

		got = redis_wait(c, atoi(argv[i]), &r, &v);
		if (got < 0)
			return refused(&v, start);
		if (got == 1) {
			printf("timeout after %lld ms\n", now_ms() - start);
		} else {
			print_reply(r);
			printf("\n");
			freeReplyObject(r);
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct redis_options o = { .timeout_ms = 2000 };
	struct redis_target t;
	struct redis_conn *c = NULL;
	struct verdict v;
	const char *reason, *mode;
	long long start;
	int opt, rc = 2;

	while ((opt = getopt(argc, argv, "+p:C:c:k:t:S:m:")) != -1) {
		switch (opt) {
		case 'p': o.password_file = optarg; break;
		case 'C': o.ca_file = optarg; break;
		case 'c': o.cert_file = optarg; break;
		case 'k': o.key_file = optarg; break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'S': o.sentinels = optarg; break;
		case 'm': o.master = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind < 2)
		return 2;
	if (redis_url_parse(argv[optind], &t, &reason) != 0) {
		printf("refused: %s\n", reason);
		return 1;
	}
	mode = argv[optind + 1];
	argc -= optind + 2;
	argv += optind + 2;
	verdict_init(&v);
	start = now_ms();
	if (redis_connect(&t, &o, &c, &v) != 0)
		return refused(&v, start);
	if (strcmp(mode, "cmd") == 0) {
		rc = run_cmd(c, argc, argv);
	} else if (strcmp(mode, "cmd2") == 0) {
		rc = run_cmd(c, argc, argv);
		rc = run_cmd(c, argc, argv) || rc;
	} else if (strcmp(mode, "setbig") == 0 && argc == 2) {
		rc = run_setbig(c, argv[0], strtoul(argv[1], NULL, 10));
	} else if (strcmp(mode, "pipeline") == 0 && argc == 1) {
		rc = run_pipeline(c, atoi(argv[0]));
	} else if (strcmp(mode, "subscribe") == 0 && argc >= 1) {
		rc = run_subscribe(c, argv[0], argc - 1, argv + 1);
	}
	redis_close(c);
	return rc;
}
