/* Shared helpers for the cmocka unit tests (tests/unit/test_*.c).
 *
 * Header-only: every helper is `static inline` so a test that uses only some of them
 * compiles warning-free. Include after <cmocka.h>'s prerequisites:
 *     #include <stdarg.h> <stddef.h> <stdint.h> <setjmp.h> <cmocka.h>
 *     #include "testutil.h"
 * Several engineers add to this file: keep each helper self-contained and prefixed.
 */
#ifndef PAM_JWT_TESTUTIL_H
#define PAM_JWT_TESTUTIL_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- test vectors (../shared/vectors beside the repository) ------------------------ */

static inline int tu_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of the shared JOSE/JWS test vectors, malloc'd, or NULL if not found.
 * $PAM_JWT_VECTORS wins; otherwise walk up from the current directory to the repository
 * top (the directory holding core/jws.h) and take ../shared/vectors from there. A test
 * must treat NULL as a failure, never as a reason to skip. */
static inline char *tu_vectors_dir(void)
{
	const char *env = getenv("PAM_JWT_VECTORS");
	char dir[PATH_MAX], probe[PATH_MAX + 64];
	char *slash;

	if (env != NULL && *env != '\0')
		return tu_is_dir(env) ? strdup(env) : NULL;
	if (getcwd(dir, sizeof(dir)) == NULL)
		return NULL;
	for (;;) {
		snprintf(probe, sizeof(probe), "%s/core/jws.h", dir);
		if (access(probe, F_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/../shared/vectors", dir);
			return tu_is_dir(probe) ? realpath(probe, NULL) : NULL;
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			return NULL;
		*slash = '\0';
	}
}

/* Read a whole file; returns a malloc'd, NUL-terminated buffer (length in *len if not
 * NULL), or NULL. */
static inline char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *grown;
	size_t used = 0, cap = 0, n;

	if (len != NULL)
		*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - used < 4096) {
			cap = cap ? cap * 2 : 65536;
			grown = realloc(buf, cap + 1);
			if (grown == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
		}
		n = fread(buf + used, 1, cap - used, f);
		used += n;
		if (n == 0) {
			if (ferror(f)) {
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	fclose(f);
	if (buf != NULL) {
		buf[used] = '\0';
		if (len != NULL)
			*len = used;
	}
	return buf;
}

/* Read dir/name (a file of the vector set). */
static inline char *tu_read_vector(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return NULL;
	return tu_read_file(path, len);
}

/* Strip trailing whitespace (newline at the end of a vector file) in place. */
static inline size_t tu_rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
			 s[n - 1] == '\t'))
		s[--n] = '\0';
	return n;
}

/* ---- hex ---------------------------------------------------------------------------- */

static inline int tu_hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a hex string into a malloc'd buffer (at least 1 byte allocated, so an empty
 * input still gives a usable pointer). 0 on success, -1 on bad input. */
static inline int tu_hex_decode(const char *hex, unsigned char **out, size_t *out_len)
{
	size_t n = strlen(hex), i;
	unsigned char *buf;
	int hi, lo;

	*out = NULL;
	*out_len = 0;
	if (n % 2 != 0)
		return -1;
	buf = malloc(n / 2 + 1);
	if (buf == NULL)
		return -1;
	for (i = 0; i < n / 2; i++) {
		hi = tu_hex_nibble(hex[2 * i]);
		lo = tu_hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(buf);
			return -1;
		}
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = buf;
	*out_len = n / 2;
	return 0;
}

/* ---- a private store directory (session store tests) ------------------------------- */

#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>

struct tu_store_dir {
	char path[128];  /* a directory, or the Redis URL of PJ_TEST_STORE_URL */
	int mounted;     /* 1: a private tmpfs is mounted on path */
	int redis;       /* the store is on the Redis server of PJ_TEST_STORE_URL */
	char prefix[48]; /* Redis: this store's key namespace */
};

static inline int tu_store_dir_rm_cb(const char *p, const struct stat *sb, int flag,
				     struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	if (ftw->level == 0)
		return 0;
	return remove(p);
}

/* A 0700 directory under /tmp. As root (and unless $PAM_JWT_TEST_NO_TMPFS is set) a
 * private tmpfs of `size` (e.g. "512m") is mounted on it, in a mount namespace of our own
 * when unshare(2) allows (so a crashed test leaves no mount behind); *allow_non_tmpfs
 * tells whether the store must be opened with allow_non_tmpfs. 0, or -1 with errno. */
static inline int tu_store_dir_make(struct tu_store_dir *d, const char *tag,
				    const char *size, int *allow_non_tmpfs)
{
	char opts[128];

	static unsigned serial;

	memset(d, 0, sizeof(*d));
	*allow_non_tmpfs = 1;
	/* tests/integration/test_store_redis.sh runs store suites against Redis */
	if (getenv("PJ_TEST_STORE_URL") != NULL) {
		snprintf(d->path, sizeof(d->path), "%s", getenv("PJ_TEST_STORE_URL"));
		snprintf(d->prefix, sizeof(d->prefix), "%s.%d.%u", tag, (int)getpid(), ++serial);
		d->redis = 1;
		return 0;
	}
	snprintf(d->path, sizeof(d->path), "/tmp/pamjwt-%s-XXXXXX", tag);
	if (mkdtemp(d->path) == NULL || chmod(d->path, 0700) != 0)
		return -1;
	if (geteuid() != 0 || getenv("PAM_JWT_TEST_NO_TMPFS") != NULL)
		return 0;
	if (unshare(CLONE_NEWNS) == 0)
		(void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	snprintf(opts, sizeof(opts), "size=%s,nr_inodes=0,mode=0700", size);
	if (mount("tmpfs", d->path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0) {
		d->mounted = 1;
		*allow_non_tmpfs = 0;
	} else {
		fprintf(stderr, "# cannot mount a tmpfs on %s (%s): using the directory as is\n",
			d->path, strerror(errno));
	}
	return 0;
}

/* Unmount (or empty) and remove the directory. Safe to call twice. */
static inline void tu_store_dir_remove(struct tu_store_dir *d)
{
	if (d->path[0] == '\0' || d->redis)
		return;
	if (d->mounted) {
		if (umount2(d->path, 0) != 0)
			(void)umount2(d->path, MNT_DETACH);
		d->mounted = 0;
	}
	(void)nftw(d->path, tu_store_dir_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	(void)rmdir(d->path);
	d->path[0] = '\0';
}

/* ---- an opened private store (include core/store.h before this file) --------------- */

#ifdef PAM_JWT_STORE_H
/* The verdict has exactly this code and reason (a fixed string from core). */
static inline void assert_verdict(const struct verdict *v, enum verdict_code code,
				  const char *reason)
{
	if (v->code != code || v->reason == NULL || strcmp(v->reason, reason) != 0)
		fail_msg("verdict %s \"%s\", expected %s \"%s\"", verdict_code_name(v->code),
			 v->reason != NULL ? v->reason : "(null)", verdict_code_name(code), reason);
}

struct tu_store {
	struct tu_store_dir dir;
	struct store_options opts;
	struct store *st;
};

/* A private store directory (see tu_store_dir_make) opened with these limits. Anything
 * left behind on failure is removed. 0, or -1. */
static inline const char *tu_env_or_null(const char *name)
{
	const char *s = getenv(name);

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The options that reach the Redis server of a tu_store_dir (nothing for a directory). */
static inline void tu_store_dir_options(const struct tu_store_dir *d, struct store_options *o)
{
	if (!d->redis)
		return;
	o->redis_prefix = d->prefix;
	o->redis_password_file = tu_env_or_null("PJ_TEST_STORE_PASSWORD_FILE");
	o->redis_ca_file = tu_env_or_null("PJ_TEST_STORE_CA_FILE");
	o->redis_cert_file = tu_env_or_null("PJ_TEST_STORE_CERT_FILE");
	o->redis_key_file = tu_env_or_null("PJ_TEST_STORE_KEY_FILE");
}

static inline int tu_store_open(struct tu_store *s, const char *tag, size_t per_user,
				size_t total)
{
	struct verdict v;
	int allow = 1;

	memset(s, 0, sizeof(*s));
	if (tu_store_dir_make(&s->dir, tag, "64m", &allow) != 0) {
		tu_store_dir_remove(&s->dir);
		return -1;
	}
	s->opts.allow_non_tmpfs = allow != 0;
	tu_store_dir_options(&s->dir, &s->opts);
	s->opts.max_sessions_per_user = per_user;
	s->opts.max_sessions_total = total;
	verdict_init(&v);
	if (store_open(s->dir.path, &s->opts, &s->st, &v) != 0) {
		fprintf(stderr, "# store_open(%s): %s\n", s->dir.path,
			v.reason != NULL ? v.reason : "?");
		tu_store_dir_remove(&s->dir);
		return -1;
	}
	return 0;
}

/* Reopen the same directory with other limits. 0, or -1. */
static inline int tu_store_reopen(struct tu_store *s, size_t per_user, size_t total)
{
	struct verdict v;

	store_close(s->st);
	s->st = NULL;
	s->opts.max_sessions_per_user = per_user;
	s->opts.max_sessions_total = total;
	verdict_init(&v);
	return store_open(s->dir.path, &s->opts, &s->st, &v);
}

/* Close the store and remove its directory. Safe to call twice. */
static inline void tu_store_close(struct tu_store *s)
{
	store_close(s->st);
	s->st = NULL;
	tu_store_dir_remove(&s->dir);
}

/* A session record created at `now`, expiring an hour later, no idle limit, no lineage. */
static inline void tu_session_fill(struct store_session *s, const char *user,
				   const char *service, int64_t now)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->tty, sizeof(s->tty), "pts/1");
	s->uid = 1000;
	s->leader_pid = 4242;
	s->created = now;
	s->last_seen = now;
	s->expires = now + 3600;
}

/* store_session_put of *s under a fresh session ID; id (may be NULL) gets the ID and
 * digest (may be NULL) its digest. Returns what store_session_put returned. */
static inline int tu_session_put(struct store *st, const struct store_session *s, char *id,
				 char *digest, struct verdict *v)
{
	char local[STORE_SESSION_ID_LEN + 1];
	int rc;

	if (store_session_id_new(local) != 0)
		return -1;
	verdict_init(v);
	rc = store_session_put(st, local, s, v);
	if (id != NULL)
		memcpy(id, local, sizeof(local));
	if (digest != NULL)
		store_digest_hex(local, strlen(local), digest);
	return rc;
}
#endif

#endif
