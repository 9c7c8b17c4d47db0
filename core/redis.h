/* The connection to one Redis server for the Redis store backend: URL parsing, the
 * transport (TCP, TLS through OpenSSL, UNIX socket) and bounded command I/O.
 *
 * hiredis is used for the protocol only (encoding commands, decoding replies); the
 * transport is our own because Debian 12's hiredis 0.14 has no TLS. Every byte of I/O
 * is bounded by a deadline, nothing here logs, installs signal handlers or keeps global
 * state: it runs inside sshd, sudo and login. */
#ifndef PAM_JWT_REDIS_H
#define PAM_JWT_REDIS_H

#include <stddef.h>
#include <stdbool.h>

#include <hiredis/hiredis.h> /* redisReply, for the reply type only */
#include "verdict.h"

#define REDIS_URL_MAX 1024
#define REDIS_DEFAULT_PORT 6379
/* One reply may take at most this many bytes on the wire, and one array at most this
 * many elements; a bigger reply breaks the connection. */
#define REDIS_REPLY_MAX_BYTES (8 * 1024 * 1024)
#define REDIS_REPLY_MAX_ELEMENTS (1024 * 1024)
/* Commands appended and not yet sent may take at most this many bytes. */
#define REDIS_OUTPUT_MAX (8 * 1024 * 1024)

enum redis_transport { REDIS_TCP = 0, REDIS_TLS = 1, REDIS_UNIX = 2 };

struct redis_target {
	enum redis_transport transport;
	char host[256];      /* TCP/TLS: name or address literal ([v6] brackets stripped) */
	unsigned port;       /* default 6379 */
	char path[108];      /* UNIX: absolute socket path */
	char user[64];       /* ACL user from the URL ("" : none, i.e. "default") */
	unsigned db;         /* /DB, default 0 */
};

/* Parse a store URL: redis://[USER@]HOST[:PORT][/DB], rediss://... (TLS),
 * redis+unix://[USER@]/ABS/PATH[?db=N]. No password in the URL (a URL with "user:pass@" is
 * refused: the password comes only from redis_password_file). Strict: anything else
 * (query parameters other than db on unix, trailing junk, port 0 or > 65535, empty host,
 * relative path) is refused with a fixed reason string. 0, or -1 with *reason. */
int redis_url_parse(const char *url, struct redis_target *t, const char **reason);

struct redis_options {
	const char *password_file; /* NULL: no AUTH. Root-only file (secfile SECFILE_SECRET),
				    * one line, trailing newline stripped, wiped after use */
	const char *ca_file;       /* TLS: CA bundle; NULL: the system store */
	const char *cert_file;     /* TLS: optional client certificate ... */
	const char *key_file;      /* ... and its key (SECFILE_SECRET) */
	int timeout_ms;            /* connect and every command; > 0 */
	/* High availability: when sentinels is set, the primary is found through these
	 * Sentinels (redis_sentinel, parsed by redis_sentinels_parse) under the name master;
	 * the target then gives only the transport (TCP or TLS, to the Sentinels too), the
	 * ACL user and the DB, and its host and port are not contacted. */
	const char *sentinels;
	const char *master;
};

#define REDIS_SENTINEL_MAX 8
#define REDIS_MASTER_NAME_MAX 64

struct redis_sentinels {
	size_t n;
	struct redis_sentinel_addr {
		char host[256]; /* name or address literal ([v6] brackets stripped) */
		unsigned port;
	} at[REDIS_SENTINEL_MAX];
};

/* Parse a Sentinel list: HOST:PORT[,HOST:PORT...], at most REDIS_SENTINEL_MAX, IPv6 as
 * [ADDR]:PORT, the port required, nothing else (no spaces). 0, or -1 with *reason. */
int redis_sentinels_parse(const char *list, struct redis_sentinels *s, const char **reason);
/* A master name as Sentinel knows it: 1..REDIS_MASTER_NAME_MAX of [A-Za-z0-9._-]. */
bool redis_master_name_ok(const char *name);

struct redis_conn;

/* Connect (non-blocking connect + poll), for TLS do the handshake with OpenSSL (TLS 1.2+,
 * peer verified, host name or IP literal checked; SNI set for names), AUTH [user]
 * password when a password file is given, SELECT db when db != 0, and check with PING.
 * timeout_ms bounds all of it together (name resolution excepted: getaddrinfo uses the
 * resolver's own timeouts; give an address literal for a strict bound). 0 with *out, or
 * -1 with v set (VERDICT_UNAVAILABLE, or VERDICT_BAD_CONFIG for unusable options).
 *
 * With o->sentinels: ask each Sentinel in turn (SENTINEL get-master-addr-by-name, each
 * exchange within timeout_ms, without AUTH), connect as above to the address it names
 * and keep that connection only if ROLE says the node is a master; any failure moves on
 * to the next Sentinel. So it takes at most 2 x timeout_ms per Sentinel. None:
 * VERDICT_UNAVAILABLE, the detail naming the master. */
int redis_connect(const struct redis_target *t, const struct redis_options *o,
		  struct redis_conn **out, struct verdict *v);

/* Send one command given as argv/lens (binary-safe) and read its reply, all of it within
 * timeout_ms. 0 with *reply (free with freeReplyObject; a Redis error reply is still 0
 * with reply->type REDIS_REPLY_ERROR), or -1 with v set: then the connection is broken
 * and every later call fails at once. Replies of commands appended before must have been
 * read first. */
int redis_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		  redisReply **reply, struct verdict *v);

/* Pipelining: append commands (nothing is sent yet), then read their replies in order;
 * the first redis_read sends what was appended. Each redis_read is bounded by
 * timeout_ms. */
int redis_append(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		 struct verdict *v);
int redis_read(struct redis_conn *c, redisReply **reply, struct verdict *v);

/* Wait up to timeout_ms for a message pushed by the server (SUBSCRIBE replies): 0 with
 * *reply, 1 on timeout (the connection stays usable), -1 broken. A reply already
 * received is returned at once, so call this with 0 after poll() on redis_fd, and
 * also before polling: with TLS, data can be buffered where poll() does not see it. */
int redis_wait(struct redis_conn *c, int timeout_ms, redisReply **reply, struct verdict *v);
int redis_fd(const struct redis_conn *c);   /* for poll() in the daemon; -1 for NULL */

/* Is this error reply one of a node that is not (or not yet) a usable primary: READONLY
 * (a replica), LOADING, MASTERDOWN? Then the primary has moved: connect again. */
bool redis_error_is_failover(const redisReply *r);

/* Has an I/O error or a timeout made the connection unusable, or has the server closed
 * it since? (NULL: yes) Checked without waiting and without reading. */
bool redis_is_broken(const struct redis_conn *c);
void redis_close(struct redis_conn *c);  /* NULL is fine */

#endif
