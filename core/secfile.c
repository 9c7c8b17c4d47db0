#include "secfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secmem.h"

static int owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* A directory on the way to a file: owned by root (or us) and not writable by group or
 * others, except that an ancestor may be a root-owned sticky directory such as /tmp. */
static int secfile_dir_ok(int fd, int is_parent)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || !owner_ok(st.st_uid))
		return 0;
	if ((st.st_mode & 022) == 0)
		return 1;
	return !is_parent && st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0;
}

/* Open the directory holding `path`, walking its canonical path from "/" one component at
 * a time (O_NOFOLLOW) and checking each directory as OpenSSH does. Returns an fd, or -1
 * with v set; *base points into path. */
static int secfile_open_parent(const char *path, const char **base, struct verdict *v)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL, *real = NULL, *component, *save = NULL;
	int fd = -1, next;

	*base = NULL;
	if (path[0] != '/' || slash == NULL || slash[1] == '\0') {
		verdict_set(v, VERDICT_UNAVAILABLE, "file path is not absolute");
		goto out;
	}
	dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	real = dir != NULL ? realpath(dir, NULL) : NULL;
	if (real == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot open the file's directory");
		goto out;
	}
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (component = strtok_r(real, "/", &save); fd >= 0 && component != NULL;
	     component = strtok_r(NULL, "/", &save)) {
		if (!secfile_dir_ok(fd, 0)) {
			close(fd);
			fd = -1;
			break;
		}
		next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd < 0 || !secfile_dir_ok(fd, 1)) {
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "file's directory or one above it has unsafe owner or permissions");
		v->where.hint = "each directory above the file must be root's and not group- or "
				"world-writable";
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	*base = slash + 1;
out:
	free(dir);
	free(real);
	return fd;
}

static int secfile_open(const char *path, enum secfile_kind kind, struct stat *st,
			struct verdict *v)
{
	const char *base = NULL;
	int dirfd = secfile_open_parent(path, &base, v);
	int fd = -1;

	if (dirfd < 0)
		goto out;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, errno == ELOOP ? "file is a symbolic link" :
			    errno == ENOENT ? "file does not exist" : "cannot open file");
		if (errno == ENOENT)
			v->where.hint = "create the file or correct the path";
		goto out;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "not a regular file");
	} else if (!owner_ok(st->st_uid)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "file is not owned by root");
		v->where.hint = "chown root: the file";
	} else if ((st->st_mode & 022) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "file is group- or world-writable");
		v->where.hint = "chmod go-w the file";
	} else if (kind == SECFILE_SECRET && (st->st_mode & 077) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "secret file is group- or world-accessible");
		v->where.hint = "chmod 0600 the file";
	} else if (st->st_size > SECFILE_MAX_SIZE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "file is too large");
	} else {
		goto out;
	}
	close(fd);
	fd = -1;
out:
	if (dirfd >= 0)
		close(dirfd);
	if (fd < 0)
		verdict_where_fill(v, NULL, 0, NULL, path);
	return fd;
}

static int secfile_read_fd(const char *path, enum secfile_kind kind, unsigned char **out,
			   size_t *out_len, int *is_private, struct verdict *v)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0;
	int fd, rc = -1;

	*out = NULL;
	*out_len = 0;
	fd = secfile_open(path, kind, &st, v);
	if (fd < 0)
		goto out;
	if (is_private != NULL)
		*is_private = (st.st_mode & 077) == 0;
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot read file");
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) { /* the file grew while we read it */
			verdict_set(v, VERDICT_UNAVAILABLE, "file changed while being read");
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	secmem_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return rc;
}

int secfile_read(const char *path, enum secfile_kind kind, unsigned char **out,
		 size_t *out_len, struct verdict *v)
{
	return secfile_read_fd(path, kind, out, out_len, NULL, v);
}

int secfile_read_public(const char *path, unsigned char **out, size_t *out_len,
			int *is_private, struct verdict *v)
{
	return secfile_read_fd(path, SECFILE_PUBLIC, out, out_len, is_private, v);
}

int secfile_write_atomic(const char *path, const void *data, size_t len, unsigned int mode,
			 struct verdict *v)
{
	const char *base = NULL;
	char tmp[64];
	int dirfd = secfile_open_parent(path, &base, v);
	int fd = -1, rc = -1, tries;
	size_t done = 0;
	unsigned char rnd[6];

	if (dirfd < 0)
		goto out;
	for (tries = 0; tries < 16 && fd < 0; tries++) {
		if (getentropy(rnd, sizeof(rnd)) != 0)
			break;
		snprintf(tmp, sizeof(tmp), ".tmp.%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			 rnd[3], rnd[4], rnd[5]);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    (mode_t)mode);
	}
	if (fd < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot create a temporary file");
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, base) != 0)
		goto fail;
	fsync(dirfd);
	rc = 0;
	goto out;
fail:
	verdict_set(v, VERDICT_UNAVAILABLE, "cannot write file");
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
out:
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

int secfile_check(const char *path, enum secfile_kind kind, struct verdict *v)
{
	struct stat st;
	int fd = secfile_open(path, kind, &st, v);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
