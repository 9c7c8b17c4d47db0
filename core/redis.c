/*
 * A connection to a Redis server: hiredis encodes the commands and decodes the replies;
 * the transport (a unix or TCP socket, every byte of I/O bounded by a deadline) is ours.
 */
#include "redis.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "secfile.h"
#include "secmem.h"

/* One reply may be at most this large (a scan of a large store is the largest). */
#define REDIS_REPLY_MAX (64u * 1024 * 1024)

struct redis_conn {
	int fd;
	int timeout_ms;
	bool broken;
	redisReader *reader;
	size_t fed; /* bytes fed to the reader for the reply being read */
};

/* ---- URLs ------------------------------------------------------------------------------- */

static int parse_uint(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_unix(const char *rest, struct redis_target *t, const char **reason)
{
	const char *q = strchr(rest, '?');
	size_t n = q != NULL ? (size_t)(q - rest) : strlen(rest);

	if (n == 0 || rest[0] != '/') {
		*reason = "redis+unix:// needs an absolute socket path";
		return -1;
	}
	if (n >= sizeof(t->path)) {
		*reason = "redis socket path too long";
		return -1;
	}
	memcpy(t->path, rest, n);
	t->path[n] = '\0';
	if (q != NULL &&
	    (strncmp(q, "?db=", 4) != 0 || parse_uint(q + 4, strlen(q + 4), 9999, &t->db) != 0)) {
		*reason = "redis+unix:// takes only ?db=N";
		return -1;
	}
	return 0;
}

static int parse_tcp(const char *rest, struct redis_target *t, const char **reason)
{
	const char *at, *slash, *host, *hend, *port = NULL;
	size_t n;

	slash = strchr(rest, '/');
	if (slash == NULL)
		slash = rest + strlen(rest);
	at = memchr(rest, '@', (size_t)(slash - rest));
	host = rest;
	if (at != NULL) {
		n = (size_t)(at - rest);
		if (memchr(rest, ':', n) != NULL) {
			*reason = "a password never goes in the store URL (use redis_password_file)";
			return -1;
		}
		if (n == 0 || n >= sizeof(t->user)) {
			*reason = "bad user name in the store URL";
			return -1;
		}
		memcpy(t->user, rest, n);
		t->user[n] = '\0';
		host = at + 1;
	}
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(slash - host));
		if (hend == NULL) {
			*reason = "bad host in the store URL";
			return -1;
		}
		n = (size_t)(hend - host - 1);
		host++;
		hend++;
		if (hend < slash) {
			if (*hend != ':') {
				*reason = "bad host in the store URL";
				return -1;
			}
			port = hend + 1;
		}
	} else {
		hend = memchr(host, ':', (size_t)(slash - host));
		if (hend != NULL)
			port = hend + 1;
		else
			hend = slash;
		n = (size_t)(hend - host);
	}
	if (n == 0 || n >= sizeof(t->host)) {
		*reason = "the store URL has no host";
		return -1;
	}
	memcpy(t->host, host, n);
	t->host[n] = '\0';
	if (strspn(t->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != n) {
		*reason = "bad host in the store URL";
		return -1;
	}
	if (port != NULL &&
	    (parse_uint(port, (size_t)(slash - port), 65535, &t->port) != 0 || t->port == 0)) {
		*reason = "bad port in the store URL";
		return -1;
	}
	if (*slash == '/' && (parse_uint(slash + 1, strlen(slash + 1), 9999, &t->db) != 0)) {
		*reason = "bad database number in the store URL";
		return -1;
	}
	return 0;
}

int redis_url_parse(const char *url, struct redis_target *t, const char **reason)
{
	memset(t, 0, sizeof(*t));
	t->port = 6379;
	if (url == NULL) {
		*reason = "no store URL";
		return -1;
	}
	if (strncmp(url, "redis+unix://", 13) == 0) {
		t->transport = REDIS_UNIX;
		return parse_unix(url + 13, t, reason);
	}
	if (strncmp(url, "rediss://", 9) == 0) {
		t->transport = REDIS_TLS;
		return parse_tcp(url + 9, t, reason);
	}
	if (strncmp(url, "redis://", 8) == 0) {
		t->transport = REDIS_TCP;
		return parse_tcp(url + 8, t, reason);
	}
	*reason = "the store URL is not redis://, rediss:// or redis+unix://";
	return -1;
}

/* ---- transport -------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for events before the deadline: 0, or -1 (timeout or error). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { fd, events, 0 };
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return -1;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
		return -1;
	return 0;
}

static int open_unix(const struct redis_target *t, int64_t deadline)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
	if (connect_fd(fd, (const struct sockaddr *)&sun, sizeof(sun), deadline) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_tcp(const struct redis_target *t, int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", t->port);
	if (getaddrinfo(t->host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect_fd(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(struct redis_conn *c, const char *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(c->fd, POLLOUT, deadline) == 0)
			continue;
		return -1;
	}
	return 0;
}

static int broken(struct redis_conn *c, struct verdict *v, const char *reason)
{
	c->broken = true;
	verdict_set(v, VERDICT_UNAVAILABLE, reason);
	return -1;
}

int redis_append(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		 struct verdict *v)
{
	char *cmd = NULL;
	int len, rc = -1;

	if (c->broken)
		return broken(c, v, "the connection to redis is broken");
	len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (len < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (send_all(c, cmd, (size_t)len, mono_ms() + c->timeout_ms) != 0) {
		broken(c, v, "cannot send to redis");
		goto out;
	}
	rc = 0;
out:
	redisFreeCommand(cmd);
	return rc;
}

/* Read one reply, waiting until deadline: 0 with *reply, 1 nothing before the deadline
 * (only when soft), -1 broken. */
static int read_reply(struct redis_conn *c, int64_t deadline, bool soft, redisReply **reply,
		      struct verdict *v)
{
	char buf[16384];
	void *r = NULL;
	ssize_t n;

	*reply = NULL;
	if (c->broken)
		return broken(c, v, "the connection to redis is broken");
	for (;;) {
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
			return broken(c, v, "redis sent a malformed reply");
		if (r != NULL) {
			c->fed = 0;
			*reply = r;
			return 0;
		}
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			c->fed += (size_t)n;
			if (c->fed > REDIS_REPLY_MAX)
				return broken(c, v, "redis reply too large");
			if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
				return broken(c, v, "redis sent a malformed reply");
			continue;
		}
		if (n == 0)
			return broken(c, v, "redis closed the connection");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return broken(c, v, "cannot read from redis");
		if (wait_fd(c->fd, POLLIN, deadline) != 0) {
			if (soft && c->fed == 0)
				return 1;
			return broken(c, v, "redis did not answer in time");
		}
	}
}

int redis_read(struct redis_conn *c, redisReply **reply, struct verdict *v)
{
	return read_reply(c, mono_ms() + c->timeout_ms, false, reply, v);
}

int redis_wait(struct redis_conn *c, int timeout_ms, redisReply **reply, struct verdict *v)
{
	return read_reply(c, mono_ms() + timeout_ms, true, reply, v);
}

int redis_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		  redisReply **reply, struct verdict *v)
{
	*reply = NULL;
	if (redis_append(c, argc, argv, lens, v) != 0)
		return -1;
	return redis_read(c, reply, v);
}

int redis_fd(const struct redis_conn *c)
{
	return c->fd;
}

/* A command whose reply must be +OK or +PONG-like status: 0, or -1 with v set. */
static int command_ok(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		      const char *refused, struct verdict *v)
{
	redisReply *r = NULL;
	int rc = -1;

	if (redis_command(c, argc, argv, lens, &r, v) != 0)
		goto out;
	if (r->type != REDIS_REPLY_STATUS) {
		verdict_set(v, VERDICT_UNAVAILABLE, refused);
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

/* AUTH with the password file's one line. */
static int authenticate(struct redis_conn *c, const struct redis_target *t, const char *path,
			struct verdict *v)
{
	unsigned char *pw = NULL;
	size_t size = 0, len;
	const char *argv[3];
	size_t lens[3];
	int argc = 0, rc = -1;

	if (secfile_read(path, SECFILE_SECRET, &pw, &size, v) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_password_file is unusable");
		goto out;
	}
	len = size;
	if (len > 0 && pw[len - 1] == '\n')
		len--;
	if (len > 0 && pw[len - 1] == '\r')
		len--;
	if (len == 0 || memchr(pw, '\n', len) != NULL || memchr(pw, '\0', len) != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_password_file is not one line");
		goto out;
	}
	argv[argc] = "AUTH";
	lens[argc++] = 4;
	if (t->user[0] != '\0') {
		argv[argc] = t->user;
		lens[argc++] = strlen(t->user);
	}
	argv[argc] = (const char *)pw;
	lens[argc++] = len;
	rc = command_ok(c, argc, argv, lens, "redis refused the password", v);
out:
	secmem_free(pw, size + 1); /* with its NUL */
	return rc;
}

int redis_connect(const struct redis_target *t, const struct redis_options *o,
		  struct redis_conn **out, struct verdict *v)
{
	struct redis_conn *c = NULL;
	char db[12];
	const char *argv[2];
	size_t lens[2];
	int64_t deadline;
	int rc = -1;

	*out = NULL;
	if (t->transport == REDIS_TLS) {
		verdict_set(v, VERDICT_BAD_CONFIG, "rediss:// (TLS) is not supported yet");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	c->fd = -1;
	c->reader = redisReaderCreate();
	if (c->reader == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 1000;
	deadline = mono_ms() + c->timeout_ms;
	c->fd = t->transport == REDIS_UNIX ? open_unix(t, deadline) : open_tcp(t, deadline);
	if (c->fd < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot connect to redis");
		goto out;
	}
	if (o->password_file != NULL && authenticate(c, t, o->password_file, v) != 0)
		goto out;
	if (t->db != 0) {
		snprintf(db, sizeof(db), "%u", t->db);
		argv[0] = "SELECT";
		argv[1] = db;
		lens[0] = 6;
		lens[1] = strlen(db);
		if (command_ok(c, 2, argv, lens, "redis refused the database number", v) != 0)
			goto out;
	}
	argv[0] = "PING";
	lens[0] = 4;
	if (command_ok(c, 1, argv, lens, "redis refused the connection", v) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	redis_close(c);
	return rc;
}

bool redis_is_broken(const struct redis_conn *c)
{
	return c->broken;
}

void redis_close(struct redis_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	free(c);
}
