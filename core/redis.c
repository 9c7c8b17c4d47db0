/*
 * The connection to a Redis server (see redis.h).
 *
 * hiredis encodes commands (redisFormatCommandArgv) and decodes replies (its reader);
 * everything else is here. All socket I/O is non-blocking, driven by poll() against a
 * deadline taken from CLOCK_MONOTONIC, and goes through sock_send_all / sock_recv.
 *
 * TLS runs over two memory BIOs: OpenSSL turns plaintext into records in wbio and takes
 * records from rbio, and we move the bytes between them and the socket. So one poll loop
 * with one deadline serves plain and TLS connections, and every write is a send() with
 * MSG_NOSIGNAL: a server that went away is an error, never a SIGPIPE that kills the sshd,
 * sudo or login process we run in (a socket BIO would write(2), and blocking the signal
 * around each write would still leave a pending SIGPIPE to consume).
 *
 * Replies are capped: REDIS_REPLY_MAX_BYTES on the wire for one reply (counted as bytes
 * received since the previous reply was complete) and REDIS_REPLY_MAX_ELEMENTS for one
 * array (hiredis' createArray wrapped, so a huge count never reaches calloc).
 */
#include "redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "secfile.h"
#include "secmem.h"

#define REDIS_IO_CHUNK 16384
#define REDIS_DB_MAX INT_MAX

struct redis_conn {
	int fd;
	int timeout_ms;
	int broken;                /* an I/O error or timeout: every later call fails */
	int too_large;             /* set by create_array_capped, read after a reader error */
	SSL_CTX *ctx;
	SSL *ssl;                  /* TLS only; owns rbio and wbio */
	BIO *rbio;                 /* records received, for OpenSSL to read */
	BIO *wbio;                 /* records OpenSSL wrote, for us to send */
	redisReader *reader;
	redisReplyObjectFunctions fn; /* hiredis' defaults, createArray capped */
	void *(*create_array)(const redisReadTask *, int);
	size_t pending;            /* bytes received towards the reply being read */
	char *obuf;                /* appended commands not yet sent */
	size_t olen;
	size_t ocap;
};

/* ---- URL ------------------------------------------------------------------------------ */

/* Decimal digits only, no sign, at most max: 0 with *out. */
static int parse_uint(const char *s, size_t n, unsigned long max, unsigned *out)
{
	unsigned long val = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		val = val * 10 + (unsigned long)(s[i] - '0');
		if (val > max)
			return -1;
	}
	*out = (unsigned)val;
	return 0;
}

static int is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A host name: dot-separated labels of letters, digits and inner hyphens. */
static int host_name_ok(const char *s, size_t n)
{
	size_t i, label = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0 && s[n - 1] != '-';
}

/* An ACL user name as we take it from a URL: no escapes, nothing that needs them. */
static int user_name_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && strchr("._-", s[i]) == NULL)
			return 0;
	return n > 0;
}

enum hp_result { HP_OK, HP_BAD_HOST, HP_BAD_PORT };

/* HOST[:PORT] from p to end into host (256 bytes) and *port: a host name, an IPv4 literal
 * or an [IPv6] literal (stored without brackets); a missing port leaves *port as it was,
 * unless port_required. Port 1..65535. */
static enum hp_result hostport_parse(const char *p, const char *end, char *host,
				     unsigned *port, bool port_required)
{
	const char *after, *colon;
	unsigned val;

	memset(host, 0, 256);
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		struct in6_addr a6;
		size_t n = close != NULL ? (size_t)(close - p - 1) : 0;

		if (close == NULL || n == 0 || n >= INET6_ADDRSTRLEN)
			return HP_BAD_HOST;
		memcpy(host, p + 1, n);
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return HP_BAD_HOST;
		after = close + 1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		after = colon != NULL ? colon : end;
		if ((size_t)(after - p) >= 256 || !host_name_ok(p, (size_t)(after - p)))
			return HP_BAD_HOST;
		memcpy(host, p, (size_t)(after - p));
	}
	if (after == end)
		return port_required ? HP_BAD_PORT : HP_OK;
	if (*after != ':')
		return HP_BAD_HOST;
	if (parse_uint(after + 1, (size_t)(end - after - 1), 65535, &val) != 0 || val == 0)
		return HP_BAD_PORT;
	*port = val;
	return HP_OK;
}

/* The USER of USER@ (n bytes at s): an ACL user name, never a password. */
static int url_user(const char *s, size_t n, struct redis_target *t, const char **reason)
{
	if (memchr(s, ':', n) != NULL) {
		*reason = "redis URL holds a password (use redis_password_file)";
		return -1;
	}
	if (!user_name_ok(s, n) || n >= sizeof(t->user)) {
		*reason = "redis URL: bad user name";
		return -1;
	}
	memcpy(t->user, s, n);
	return 0;
}

/* [USER@]/PATH[?db=N], what follows redis+unix:// */
static int url_parse_unix(const char *p, struct redis_target *t, const char **reason)
{
	const char *at = memrchr(p, '@', strcspn(p, "/"));
	const char *q;
	size_t n;

	t->transport = REDIS_UNIX;
	if (at != NULL) {
		if (url_user(p, (size_t)(at - p), t, reason) != 0)
			return -1;
		p = at + 1;
	}
	q = strchr(p, '?');
	n = q != NULL ? (size_t)(q - p) : strlen(p);
	if (n == 0 || p[0] != '/') {
		*reason = "redis URL: the socket path must be absolute (redis+unix:///PATH)";
		return -1;
	}
	if (n >= sizeof(t->path)) {
		*reason = "redis URL: the socket path is too long";
		return -1;
	}
	if (p[n - 1] == '/' || memchr(p, '#', n) != NULL || memchr(p, '%', n) != NULL) {
		*reason = "redis URL: bad socket path";
		return -1;
	}
	memcpy(t->path, p, n);
	t->path[n] = '\0';
	if (q == NULL)
		return 0;
	if (strncmp(q, "?db=", 4) != 0) {
		*reason = "redis URL: the only query parameter is db";
		return -1;
	}
	if (parse_uint(q + 4, strlen(q + 4), REDIS_DB_MAX, &t->db) != 0) {
		*reason = "redis URL: bad database number";
		return -1;
	}
	return 0;
}

static int url_parse(const char *url, struct redis_target *t, const char **reason)
{
	const char *p, *end, *at, *host;
	size_t len, i;

	*reason = NULL;
	memset(t, 0, sizeof(*t));
	len = url != NULL ? strlen(url) : 0;
	if (len == 0 || len >= REDIS_URL_MAX) {
		*reason = "redis URL missing or too long";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
			*reason = "redis URL has a space or control character";
			return -1;
		}
	}
	if (strncmp(url, "redis+unix://", 13) == 0)
		return url_parse_unix(url + 13, t, reason);
	if (strncmp(url, "rediss://", 9) == 0) {
		t->transport = REDIS_TLS;
		p = url + 9;
	} else if (strncmp(url, "redis://", 8) == 0) {
		t->transport = REDIS_TCP;
		p = url + 8;
	} else {
		*reason = "redis URL scheme is not redis://, rediss:// or redis+unix://";
		return -1;
	}
	t->port = REDIS_DEFAULT_PORT;
	if (strpbrk(p, "?#") != NULL) {
		*reason = "redis URL: a query or fragment is only for redis+unix (?db=N)";
		return -1;
	}
	end = p + strcspn(p, "/");
	at = memchr(p, '@', (size_t)(end - p));
	host = p;
	if (at != NULL) {
		if (url_user(p, (size_t)(at - p), t, reason) != 0)
			return -1;
		host = at + 1;
	}
	if (host == end || *host == ':') {
		*reason = "redis URL has no host";
		return -1;
	}
	switch (hostport_parse(host, end, t->host, &t->port, false)) {
	case HP_OK:
		break;
	case HP_BAD_PORT:
		*reason = "redis URL: bad port";
		return -1;
	default:
		*reason = "redis URL: bad host";
		return -1;
	}
	if (*end == '/' && parse_uint(end + 1, strlen(end + 1), REDIS_DB_MAX, &t->db) != 0) {
		*reason = "redis URL: bad database number";
		return -1;
	}
	return 0;
}

int redis_url_parse(const char *url, struct redis_target *t, const char **reason)
{
	int rc = url_parse(url, t, reason);

	if (rc != 0)
		memset(t, 0, sizeof(*t)); /* nothing half-parsed for a caller to use */
	return rc;
}

/* ---- deadlines and sockets ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct verdict *v, const char *reason)
{
	verdict_set(v, VERDICT_UNAVAILABLE, reason);
	return -1;
}

/* Wait until fd is ready for events or the deadline has passed: 1 ready (or in error,
 * which the next send/recv reports), 0 timed out, -1 poll failed. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Send all of buf before the deadline: 0, or -1 with v set. */
static int sock_send_all(struct redis_conn *c, const char *buf, size_t len, int64_t deadline,
			 struct verdict *v)
{
	ssize_t n;
	int ready;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return fail(v, "redis connection lost");
		ready = wait_fd(c->fd, POLLOUT, deadline);
		if (ready <= 0)
			return fail(v, ready == 0 ? "redis timed out" : "redis connection lost");
	}
	return 0;
}

/* Receive up to size bytes: > 0 bytes read, 0 the deadline passed with nothing read,
 * -1 with v set. */
static ssize_t sock_recv(struct redis_conn *c, char *buf, size_t size, int64_t deadline,
			 struct verdict *v)
{
	ssize_t n;
	int ready;

	for (;;) {
		n = recv(c->fd, buf, size, 0);
		if (n > 0)
			return n;
		if (n == 0)
			return fail(v, "redis closed the connection");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return fail(v, "redis connection lost");
		ready = wait_fd(c->fd, POLLIN, deadline);
		if (ready == 0)
			return 0;
		if (ready < 0)
			return fail(v, "redis connection lost");
	}
}

/* Connect one address: 0 with c->fd set, or -1 with v set. */
static int connect_one(struct redis_conn *c, const struct sockaddr *sa, socklen_t salen,
		       int64_t deadline, struct verdict *v)
{
	int fd, err = 0, one = 1, ready, rc = -1;
	socklen_t errlen = sizeof(err);

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fail(v, "cannot connect to redis");
		goto out;
	}
	if (connect(fd, sa, salen) != 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			fail(v, "cannot connect to redis");
			goto out;
		}
		ready = wait_fd(fd, POLLOUT, deadline);
		if (ready == 0) {
			fail(v, "redis connection timed out");
			goto out;
		}
		if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 ||
		    err != 0) {
			fail(v, "cannot connect to redis");
			goto out;
		}
	}
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int sock_connect(struct redis_conn *c, const struct redis_target *t, int64_t deadline,
			struct verdict *v)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	char port[8];
	int rc = -1;

	if (t->transport == REDIS_UNIX) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (t->path[0] != '/' || strlen(t->path) >= sizeof(sun.sun_path)) {
			verdict_set(v, VERDICT_BAD_CONFIG, "redis socket path is not usable");
			goto out;
		}
		memcpy(sun.sun_path, t->path, strlen(t->path));
		rc = connect_one(c, (const struct sockaddr *)&sun, sizeof(sun), deadline, v);
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", t->port);
	if (t->host[0] == '\0' || getaddrinfo(t->host, port, &hints, &res) != 0) {
		fail(v, "cannot resolve the redis host");
		goto out;
	}
	/* each address in turn, all within the one deadline */
	for (ai = res; ai != NULL && rc != 0; ai = ai->ai_next)
		rc = connect_one(c, ai->ai_addr, ai->ai_addrlen, deadline, v);
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

/* ---- TLS ------------------------------------------------------------------------------- */

enum tls_op { TLS_HANDSHAKE, TLS_READ, TLS_WRITE };

/* Send the records OpenSSL has written: 0, or -1 with v set. */
static int tls_flush(struct redis_conn *c, int64_t deadline, struct verdict *v)
{
	char buf[REDIS_IO_CHUNK];
	int n, rc = 0;

	while (rc == 0 && (n = BIO_read(c->wbio, buf, sizeof(buf))) > 0)
		rc = sock_send_all(c, buf, (size_t)n, deadline, v);
	return rc;
}

/* Run one TLS operation until it completes, moving records between the memory BIOs and
 * the socket: > 0 done (bytes for read and write), 0 the deadline passed (for
 * TLS_READ with the state kept, so a later call goes on), -1 with v set. */
static int tls_run(struct redis_conn *c, enum tls_op op, void *buf, int len, int64_t deadline,
		   struct verdict *v)
{
	char in[REDIS_IO_CHUNK];
	ssize_t got;
	int n, err, flushed;

	for (;;) {
		ERR_clear_error();
		if (op == TLS_HANDSHAKE)
			n = SSL_connect(c->ssl);
		else if (op == TLS_READ)
			n = SSL_read(c->ssl, buf, len);
		else
			n = SSL_write(c->ssl, buf, len);
		err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
		/* an alert we owe the server goes out before we report the failure */
		flushed = tls_flush(c, deadline, v);
		if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			if (op != TLS_HANDSHAKE)
				return fail(v, err == SSL_ERROR_SSL ? "redis TLS error (an alert or a bad record)" :
					    "redis connection lost");
			if (SSL_get_verify_result(c->ssl) != X509_V_OK)
				return fail(v, "redis server certificate refused");
			return fail(v, "redis TLS handshake failed");
		}
		if (flushed != 0)
			return -1;
		if (err == SSL_ERROR_NONE)
			return n;
		got = sock_recv(c, in, sizeof(in), deadline, v);
		if (got <= 0)
			return (int)got;
		if (BIO_write(c->rbio, in, (int)got) != (int)got)
			return fail(v, "out of memory");
	}
}

/* Read PEM certificates from a public file: the first and the rest. */
static int tls_read_certs(const char *path, X509 **first, STACK_OF(X509) **rest,
			  struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x;
	int rc = -1;

	*first = NULL;
	*rest = sk_X509_new_null();
	if (*rest == NULL || secfile_read(path, SECFILE_PUBLIC, &text, &len, v) != 0 ||
	    len > INT_MAX || (bio = BIO_new_mem_buf(text, (int)len)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (*first == NULL) {
			*first = x;
		} else if (sk_X509_push(*rest, x) == 0) {
			X509_free(x);
			goto out;
		}
	}
	rc = *first != NULL ? 0 : -1;
out:
	ERR_clear_error();
	BIO_free(bio);
	secmem_free(text, len);
	if (rc != 0) {
		X509_free(*first);
		*first = NULL;
		sk_X509_pop_free(*rest, X509_free);
		*rest = NULL;
	}
	return rc;
}

static int tls_load_ca(SSL_CTX *ctx, const char *path, struct verdict *v)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509) *rest = NULL;
	X509 *first = NULL;
	int i, rc = -1;

	if (tls_read_certs(path, &first, &rest, v) != 0 || X509_STORE_add_cert(store, first) != 1)
		goto out;
	for (i = 0; i < sk_X509_num(rest); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(rest, i)) != 1)
			goto out;
	rc = 0;
out:
	ERR_clear_error();
	X509_free(first);
	sk_X509_pop_free(rest, X509_free);
	if (rc != 0)
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_ca_file is unusable");
	return rc;
}

/* The client certificate (with its chain) and its key, which must match. */
static int tls_load_client(SSL_CTX *ctx, const char *cert_path, const char *key_path,
			   struct verdict *v)
{
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	unsigned char *text = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (tls_read_certs(cert_path, &cert, &chain, v) != 0 ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_set1_chain(ctx, chain) != 1) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_cert_file is unusable");
		goto out;
	}
	if (secfile_read(key_path, SECFILE_SECRET, &text, &len, v) != 0 || len > INT_MAX ||
	    (bio = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_key_file is unusable");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(bio);
	secmem_free(text, len);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* The context and the connection object: TLS 1.2 or later, the server's certificate
 * verified against ca_file (or the system store) and checked for the host, by name (with
 * SNI) or by address. */
static int tls_setup(struct redis_conn *c, const struct redis_target *t,
		     const struct redis_options *o, struct verdict *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	int is_ip, rc = -1;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
		fail(v, "redis TLS setup failed");
		goto out;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca_file != NULL) {
		if (tls_load_ca(c->ctx, o->ca_file, v) != 0)
			goto out;
	} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		fail(v, "redis TLS setup failed");
		goto out;
	}
	if ((o->cert_file == NULL) != (o->key_file == NULL)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "redis_cert_file and redis_key_file go together");
		goto out;
	}
	if (o->cert_file != NULL && tls_load_client(c->ctx, o->cert_file, o->key_file, v) != 0)
		goto out;
	c->ssl = SSL_new(c->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		fail(v, "redis TLS setup failed");
		goto out;
	}
	BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait for more", not EOF */
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	is_ip = inet_pton(AF_INET, t->host, addr) == 1 || inet_pton(AF_INET6, t->host, addr) == 1;
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host) != 1) {
			fail(v, "redis TLS setup failed");
			goto out;
		}
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(c->ssl, t->host) != 1 ||
		    SSL_set_tlsext_host_name(c->ssl, t->host) != 1) {
			fail(v, "redis TLS setup failed");
			goto out;
		}
	}
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

/* ---- commands and replies -------------------------------------------------------------- */

/* hiredis' createArray, refusing a count no reply within the caps can have. */
static void *create_array_capped(const redisReadTask *task, int elements)
{
	struct redis_conn *c = task->privdata;

	if (elements < 0 || elements > REDIS_REPLY_MAX_ELEMENTS) {
		c->too_large = 1;
		return NULL;
	}
	return c->create_array(task, elements);
}

static int conn_send(struct redis_conn *c, const char *buf, size_t len, int64_t deadline,
		     struct verdict *v)
{
	int n;

	if (c->ssl == NULL)
		return sock_send_all(c, buf, len, deadline, v);
	/* len <= REDIS_OUTPUT_MAX; SSL_write writes all of it (no partial writes) */
	n = tls_run(c, TLS_WRITE, (void *)(uintptr_t)buf, (int)len, deadline, v);
	if (n == 0)
		return fail(v, "redis timed out");
	return n > 0 ? 0 : -1;
}

/* > 0 bytes read, 0 the deadline passed, -1 with v set. */
static ssize_t conn_recv(struct redis_conn *c, char *buf, size_t size, int64_t deadline,
			 struct verdict *v)
{
	if (c->ssl == NULL)
		return sock_recv(c, buf, size, deadline, v);
	return tls_run(c, TLS_READ, buf, (int)size, deadline, v);
}

/* Send what was appended; the buffer is wiped, as it may have held AUTH's password. */
static int flush_output(struct redis_conn *c, int64_t deadline, struct verdict *v)
{
	int rc = 0;

	if (c->olen > 0) {
		rc = conn_send(c, c->obuf, c->olen, deadline, v);
		OPENSSL_cleanse(c->obuf, c->olen);
		c->olen = 0;
	}
	return rc;
}

/* The next reply: one already decoded, else read until one is complete. 0 with *reply,
 * 1 the deadline passed, -1 with v set. */
static int read_reply(struct redis_conn *c, int64_t deadline, redisReply **reply,
		      struct verdict *v)
{
	char buf[REDIS_IO_CHUNK];
	void *r = NULL;
	size_t rest, size;
	ssize_t n;

	for (;;) {
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
			return fail(v, c->too_large ? "redis reply too large" : "redis protocol error");
		if (r != NULL) {
			/* what is left in the reader belongs to the next reply */
			rest = c->reader->len - c->reader->pos;
			size = c->pending - rest;
			c->pending = rest;
			if (size > REDIS_REPLY_MAX_BYTES) {
				freeReplyObject(r);
				return fail(v, "redis reply too large");
			}
			*reply = r;
			return 0;
		}
		if (c->pending > REDIS_REPLY_MAX_BYTES)
			return fail(v, "redis reply too large");
		n = conn_recv(c, buf, sizeof(buf), deadline, v);
		if (n == 0)
			return 1;
		if (n < 0)
			return -1;
		if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK)
			return fail(v, "out of memory");
		c->pending += (size_t)n;
	}
}

static int usable(const struct redis_conn *c, struct verdict *v)
{
	if (c == NULL || c->broken)
		return fail(v, "redis connection is broken");
	return 0;
}

static int append_command(struct redis_conn *c, int argc, const char **argv,
			  const size_t *lens, struct verdict *v)
{
	char *cmd = NULL, *grown;
	int len, rc = -1;
	size_t cap;

	len = argc > 0 ? redisFormatCommandArgv(&cmd, argc, argv, lens) : -1;
	if (len <= 0 || cmd == NULL) {
		fail(v, "redis command cannot be encoded");
		goto out;
	}
	if ((size_t)len > REDIS_OUTPUT_MAX - c->olen) {
		fail(v, "redis command too large");
		goto out;
	}
	if (c->olen + (size_t)len > c->ocap) {
		/* grow by copying, so no stale copy of a password is left behind by realloc */
		cap = c->ocap > 0 ? c->ocap : 1024;
		while (cap < c->olen + (size_t)len)
			cap *= 2;
		grown = malloc(cap);
		if (grown == NULL) {
			fail(v, "out of memory");
			goto out;
		}
		if (c->olen > 0)
			memcpy(grown, c->obuf, c->olen);
		secmem_free(c->obuf, c->ocap);
		c->obuf = grown;
		c->ocap = cap;
	}
	memcpy(c->obuf + c->olen, cmd, (size_t)len);
	c->olen += (size_t)len;
	rc = 0;
out:
	if (cmd != NULL) {
		OPENSSL_cleanse(cmd, (size_t)len);
		redisFreeCommand(cmd);
	}
	return rc;
}

/* Append, send and read the reply, all before the deadline. Any failure breaks c. */
static int command_until(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
			 int64_t deadline, redisReply **reply, struct verdict *v)
{
	int rc = -1, got;

	*reply = NULL;
	if (usable(c, v) != 0)
		return -1;
	if (append_command(c, argc, argv, lens, v) != 0 || flush_output(c, deadline, v) != 0)
		goto out;
	got = read_reply(c, deadline, reply, v);
	if (got == 1)
		fail(v, "redis timed out");
	rc = got == 0 ? 0 : -1;
out:
	if (rc != 0)
		c->broken = 1;
	return rc;
}

/* ---- connecting ------------------------------------------------------------------------ */

/* The password: one line, without its newline, no NUL; wipe with secmem_free_string. */
static int password_read(const char *path, char **out, size_t *out_len, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0, size = 0;
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	if (secfile_read(path, SECFILE_SECRET, &text, &size, v) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_password_file is unusable");
		goto out;
	}
	len = size;
	if (len > 0 && text[len - 1] == '\n') {
		len--;
		if (len > 0 && text[len - 1] == '\r')
			len--;
	}
	if (len == 0 || memchr(text, '\n', len) != NULL || memchr(text, '\r', len) != NULL ||
	    memchr(text, '\0', len) != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "redis_password_file is not one line");
		goto out;
	}
	text[len] = '\0';
	*out = (char *)text;
	*out_len = len;
	text = NULL;
	rc = 0;
out:
	secmem_free(text, size);
	return rc;
}

/* Expect a status reply equal to want: 0, or -1 with v set to why (or to the server's
 * wish for a password). */
static int expect_status(redisReply *r, const char *want, const char *why, struct verdict *v)
{
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0)
		return fail(v, "redis needs a password");
	if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, want) != 0)
		return fail(v, why);
	return 0;
}

/* AUTH, SELECT and PING on a fresh connection. */
static int session_setup(struct redis_conn *c, const struct redis_target *t, const char *pw,
			 size_t pw_len, int64_t deadline, struct verdict *v)
{
	const char *argv[3];
	size_t lens[3];
	char db[16];
	redisReply *r = NULL;
	int argc, rc = -1;

	if (pw != NULL) {
		argc = 0;
		argv[argc] = "AUTH";
		lens[argc++] = 4;
		if (t->user[0] != '\0') {
			argv[argc] = t->user;
			lens[argc++] = strlen(t->user);
		}
		argv[argc] = pw;
		lens[argc++] = pw_len;
		if (command_until(c, argc, argv, lens, deadline, &r, v) != 0 ||
		    expect_status(r, "OK", "redis refused the password", v) != 0)
			goto out;
		freeReplyObject(r);
		r = NULL;
	}
	if (t->db != 0) {
		argv[0] = "SELECT";
		lens[0] = 6;
		lens[1] = (size_t)snprintf(db, sizeof(db), "%u", t->db);
		argv[1] = db;
		if (command_until(c, 2, argv, lens, deadline, &r, v) != 0 ||
		    expect_status(r, "OK", "redis refused to select the database", v) != 0)
			goto out;
		freeReplyObject(r);
		r = NULL;
	}
	argv[0] = "PING";
	lens[0] = 4;
	if (command_until(c, 1, argv, lens, deadline, &r, v) != 0 ||
	    expect_status(r, "PONG", "redis did not answer PING", v) != 0)
		goto out;
	rc = 0;
out:
	freeReplyObject(r);
	return rc;
}

/* One server, at t's address. */
static int connect_direct(const struct redis_target *t, const struct redis_options *o,
			  struct redis_conn **out, struct verdict *v)
{
	struct redis_conn *c = NULL;
	char *pw = NULL;
	size_t pw_len = 0;
	int64_t deadline;
	int rc = -1;

	*out = NULL;
	if (t == NULL || o == NULL || o->timeout_ms <= 0 || t->transport > REDIS_UNIX) {
		verdict_set(v, VERDICT_BAD_CONFIG, "redis target or options are invalid");
		goto out;
	}
	if (o->password_file == NULL && t->user[0] != '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "redis URL names a user but no redis_password_file is set");
		goto out;
	}
	deadline = now_ms() + o->timeout_ms;
	if (o->password_file != NULL && password_read(o->password_file, &pw, &pw_len, v) != 0)
		goto out;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fail(v, "out of memory");
		goto out;
	}
	c->fd = -1;
	c->timeout_ms = o->timeout_ms;
	c->reader = redisReaderCreate();
	if (c->reader == NULL) {
		fail(v, "out of memory");
		goto out;
	}
	c->fn = *c->reader->fn;
	c->create_array = c->fn.createArray;
	c->fn.createArray = create_array_capped;
	c->reader->fn = &c->fn;
	c->reader->privdata = c;
	/* reader->maxbuf stays hiredis' default: it only bounds the idle buffer kept between
	 * replies; the caps above bound what a reply may take */
	if (t->transport == REDIS_TLS && tls_setup(c, t, o, v) != 0)
		goto out;
	if (sock_connect(c, t, deadline, v) != 0)
		goto out;
	if (c->ssl != NULL) {
		int done = tls_run(c, TLS_HANDSHAKE, NULL, 0, deadline, v);

		if (done == 0)
			fail(v, "redis connection timed out");
		if (done <= 0)
			goto out;
	}
	if (session_setup(c, t, pw, pw_len, deadline, v) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	secmem_free_string(pw);
	redis_close(c);
	return rc;
}

/* ---- Sentinel ------------------------------------------------------------------------- */

int redis_sentinels_parse(const char *list, struct redis_sentinels *s, const char **reason)
{
	const char *p = list, *end;
	int rc = -1;

	*reason = NULL;
	memset(s, 0, sizeof(*s));
	if (list == NULL || list[0] == '\0' || strlen(list) >= REDIS_URL_MAX) {
		*reason = "redis_sentinel: missing or too long";
		goto out;
	}
	for (;;) {
		end = p + strcspn(p, ",");
		if (s->n == REDIS_SENTINEL_MAX) {
			*reason = "redis_sentinel: more than 8 Sentinels";
			goto out;
		}
		switch (hostport_parse(p, end, s->at[s->n].host, &s->at[s->n].port, true)) {
		case HP_OK:
			break;
		case HP_BAD_PORT:
			*reason = "redis_sentinel: each Sentinel needs a port (HOST:PORT)";
			goto out;
		default:
			*reason = "redis_sentinel: bad host (HOST:PORT or [IPv6]:PORT)";
			goto out;
		}
		s->n++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	rc = 0;
out:
	if (rc != 0)
		memset(s, 0, sizeof(*s));
	return rc;
}

bool redis_master_name_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	return n > 0 && n <= REDIS_MASTER_NAME_MAX && user_name_ok(name, n);
}

bool redis_error_is_failover(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	       (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "LOADING", 7) == 0 ||
		strncmp(r->str, "MASTERDOWN", 10) == 0);
}

/* One command on a connection made for it; 0 with *reply, or -1 with v set. */
static int ask(struct redis_conn *c, int argc, const char **argv, redisReply **reply,
	       struct verdict *v)
{
	size_t lens[4];
	int i;

	for (i = 0; i < argc && i < 4; i++)
		lens[i] = strlen(argv[i]);
	return redis_command(c, argc, argv, lens, reply, v);
}

/* The address in a reply to SENTINEL get-master-addr-by-name, checked strictly: an IP
 * literal or a host name, and a port 1..65535. 0 with m->host and m->port set. */
static int sentinel_address(const redisReply *r, struct redis_target *m)
{
	const redisReply *host, *port;
	unsigned char addr[sizeof(struct in6_addr)];

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	host = r->element[0];
	port = r->element[1];
	if (host->len == 0 || host->len >= sizeof(m->host) ||
	    memchr(host->str, '\0', host->len) != NULL)
		return -1;
	memset(m->host, 0, sizeof(m->host));
	memcpy(m->host, host->str, host->len);
	if (inet_pton(AF_INET6, m->host, addr) != 1 && !host_name_ok(m->host, host->len))
		return -1;
	return parse_uint(port->str, port->len, 65535, &m->port) == 0 && m->port != 0 ? 0 : -1;
}

/* Where one Sentinel says the primary is: into m (a copy of t with host and port set). */
static int sentinel_ask(const struct redis_target *t, const struct redis_sentinel_addr *at,
			const struct redis_options *o, struct redis_target *m, struct verdict *v)
{
	const char *argv[] = { "SENTINEL", "get-master-addr-by-name", o->master };
	struct redis_target st;
	struct redis_options so = *o;
	struct redis_conn *c = NULL;
	redisReply *r = NULL;
	int rc = -1;

	/* the Sentinel itself: the store's transport, no user, no password, no DB */
	memset(&st, 0, sizeof(st));
	st.transport = t->transport;
	memcpy(st.host, at->host, sizeof(st.host));
	st.port = at->port;
	so.password_file = NULL;
	so.sentinels = NULL;
	if (connect_direct(&st, &so, &c, v) != 0 || ask(c, 3, argv, &r, v) != 0)
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		fail(v, "the Sentinel does not know the master name");
		goto out;
	}
	*m = *t;
	if (sentinel_address(r, m) != 0) {
		fail(v, "the Sentinel's answer is not an address");
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	redis_close(c);
	return rc;
}

/* Does the node say it is a master? A Sentinel that has not seen a failover yet names the
 * old primary, which may be a replica by now. */
static int role_is_master(struct redis_conn *c, struct verdict *v)
{
	const char *argv[] = { "ROLE" };
	redisReply *r = NULL;
	int rc = -1;

	if (ask(c, 1, argv, &r, v) != 0)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "master") != 0) {
		fail(v, "the node the Sentinel names is not a master");
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

static int connect_sentinel(const struct redis_target *t, const struct redis_options *o,
			    struct redis_conn **out, struct verdict *v)
{
	struct redis_sentinels s;
	struct redis_target m;
	struct redis_options mo = *o;
	struct redis_conn *c = NULL;
	struct verdict why;
	const char *reason = NULL;
	size_t i;
	int rc = -1;

	if (t->transport == REDIS_UNIX || !redis_master_name_ok(o->master) ||
	    redis_sentinels_parse(o->sentinels, &s, &reason) != 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, reason != NULL ? reason :
				"redis_sentinel needs redis_master and a redis:// or rediss:// store");
		goto out;
	}
	mo.sentinels = NULL;
	for (i = 0; i < s.n && c == NULL; i++) {
		verdict_init(&why);
		if (sentinel_ask(t, &s.at[i], o, &m, &why) != 0)
			continue;
		if (connect_direct(&m, &mo, &c, &why) == 0 && role_is_master(c, &why) != 0) {
			redis_close(c);
			c = NULL;
		}
		if (why.code == VERDICT_BAD_CONFIG) {
			/* the store's own options are unusable: no Sentinel changes that */
			*v = why;
			goto out;
		}
	}
	if (c == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no Sentinel names a usable primary");
		snprintf(v->detail, sizeof(v->detail), "for master %s", o->master);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	redis_close(c);
	return rc;
}

/* ---- the public calls ------------------------------------------------------------------ */

int redis_connect(const struct redis_target *t, const struct redis_options *o,
		  struct redis_conn **out, struct verdict *v)
{
	*out = NULL;
	if (t != NULL && o != NULL && (o->sentinels != NULL || o->master != NULL))
		return connect_sentinel(t, o, out, v);
	return connect_direct(t, o, out, v);
}

int redis_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		  redisReply **reply, struct verdict *v)
{
	*reply = NULL;
	if (usable(c, v) != 0)
		return -1;
	return command_until(c, argc, argv, lens, now_ms() + c->timeout_ms, reply, v);
}

int redis_append(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		 struct verdict *v)
{
	if (usable(c, v) != 0)
		return -1;
	if (append_command(c, argc, argv, lens, v) != 0) {
		c->broken = 1;
		return -1;
	}
	return 0;
}

/* Send what is pending, then the next reply within timeout_ms: as read_reply. A failure
 * to send breaks c; a timeout breaks it only when broken_on_timeout. */
static int next_reply(struct redis_conn *c, int timeout_ms, int broken_on_timeout,
		      redisReply **reply, struct verdict *v)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int got;

	*reply = NULL;
	if (usable(c, v) != 0)
		return -1;
	if (flush_output(c, deadline, v) != 0) {
		c->broken = 1;
		return -1;
	}
	got = read_reply(c, deadline, reply, v);
	if (got == 1 && broken_on_timeout)
		got = fail(v, "redis timed out");
	if (got < 0)
		c->broken = 1;
	return got;
}

int redis_read(struct redis_conn *c, redisReply **reply, struct verdict *v)
{
	return next_reply(c, c != NULL ? c->timeout_ms : 0, 1, reply, v);
}

int redis_wait(struct redis_conn *c, int timeout_ms, redisReply **reply, struct verdict *v)
{
	return next_reply(c, timeout_ms, 0, reply, v);
}

int redis_fd(const struct redis_conn *c)
{
	return c != NULL ? c->fd : -1;
}

bool redis_is_broken(const struct redis_conn *c)
{
	struct pollfd p;

	if (c == NULL || c->broken)
		return true;
	/* the server closed or reset the connection while it was idle (it was killed, or
	 * Sentinel dropped the clients of a demoted primary): seen without reading */
	p.fd = c->fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void redis_close(struct redis_conn *c)
{
	if (c == NULL)
		return;
	/* no close_notify: it would need I/O with a deadline, and Redis does not ask for it */
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	secmem_free(c->obuf, c->ocap);
	free(c);
}
