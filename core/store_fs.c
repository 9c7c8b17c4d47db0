/*
 * The tmpfs backend of the store (see store_backend.h): one small text file per record
 * in one root-owned 0700 directory, reached only through a directory fd with
 * openat(O_NOFOLLOW|O_CLOEXEC).
 *
 * Names: "<kind>-<64 hex>" for records, "i-<hex sha256(owner)>" for the per-user index
 * (one "s=<digest>" line per session), "c-total" for the session count and "c-intent"
 * for a session write in progress. Temporary files are ".tmp.<16 hex>"; ".lock" is the
 * flock(2) file that makes transactions exclusive.
 *
 * Writes go to a temporary file in the same directory, are fsync'd and renamed over the
 * record, so a reader sees the old record or the new one, never a torn one.
 *
 * Transactions: flock on ".lock", waited for at most STORE_LOCK_WAIT_MS. The lock file is
 * opened anew by each transaction, so the lock belongs to the process that runs it and to
 * no other. A process that an unprivileged user can signal (sudo and su run with the
 * user's real uid) never takes the lock itself: the transaction runs in a child that has
 * become fully root in a session of its own (privsep_run), which the user can neither
 * stop nor kill. So no user can freeze the store for the others.
 *
 * Adding a session touches three files (record, index, counter). Before the first write
 * the writer records its intent ("c-intent": the owner and the session digest) and
 * removes it after the last; whoever starts the next transaction and finds an intent left
 * behind by a killed writer reconciles the owner's index with whether the session record
 * exists and recounts the sessions. Deleting a session needs no intent and no free space:
 * the record is unlinked first; an index or counter that cannot be rewritten afterwards
 * (a full file system) is truncated instead, which makes it unreadable, and an unreadable
 * index or counter is rebuilt by a scan the next time it is needed.
 */
#include "store_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "privsep.h"

#define FS_COUNTER_NAME "c-total"
#define FS_INTENT_NAME "c-intent"
#define FS_LOCK_NAME ".lock"
#define FS_TMP_PREFIX ".tmp."
/* How long a transaction waits for the store's lock before refusing (milliseconds). */
#define STORE_LOCK_WAIT_MS 10000

struct store_fs {
	struct store_backend be; /* first: a store_backend * is a store_fs * */
	int dirfd;
};

static struct store_fs *fs_of(struct store_backend *be)
{
	return (struct store_fs *)be;
}

static int owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static void record_name(char name[STORE_NAME_SIZE], char kind, const char *digest)
{
	name[0] = kind;
	name[1] = '-';
	memcpy(name + 2, digest, STORE_DIGEST_HEX_LEN);
	name[STORE_NAME_LEN] = '\0';
}

/* The index's name for an owner; -1 if hashing failed. */
static int index_name(char name[STORE_NAME_SIZE], const char *owner)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];

	if (store_digest(owner, strlen(owner), digest) != 0)
		return -1;
	record_name(name, 'i', digest);
	return 0;
}

/* ---- files ------------------------------------------------------------------------- */

static int file_read(const struct store_fs *fs, const char *name, size_t max, char **out,
		     size_t *out_len)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = STORE_REC_UNREADABLE;

	*out = NULL;
	*out_len = 0;
	fd = openat(fs->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = STORE_REC_ABSENT;
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !owner_ok(sb.st_uid) ||
	    sb.st_size < 0 || (unsigned long long)sb.st_size > max)
		goto out;
	buf = malloc(max + 2);
	if (buf == NULL)
		goto out;
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) /* grew while we read it */
			goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = STORE_REC_PRESENT;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Read and parse a record of the backend's own (index, counter, intent). */
static int file_load(const struct store_fs *fs, const char *name,
		     const struct rec_schema *schema, struct rec_vals *vals)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read(fs, name, schema->index ? STORE_INDEX_MAX : STORE_RECORD_MAX, &text,
			   &len);

	if (rc == STORE_REC_PRESENT && record_parse(text, len, schema, vals) != 0)
		rc = STORE_REC_UNREADABLE;
	free(text);
	return rc;
}

static int file_write(const struct store_fs *fs, const char *name, const char *text, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[sizeof(FS_TMP_PREFIX) + 16];
	unsigned char rnd[8];
	size_t done = 0, i;
	ssize_t n;
	int fd = -1, rc = -1, tries;

	tmp[0] = '\0';
	for (tries = 0; tries < 16 && fd < 0; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			goto out;
		memcpy(tmp, FS_TMP_PREFIX, sizeof(FS_TMP_PREFIX) - 1);
		for (i = 0; i < sizeof(rnd); i++) {
			tmp[sizeof(FS_TMP_PREFIX) - 1 + 2 * i] = hex[rnd[i] >> 4];
			tmp[sizeof(FS_TMP_PREFIX) - 1 + 2 * i + 1] = hex[rnd[i] & 0xf];
		}
		tmp[sizeof(tmp) - 1] = '\0';
		fd = openat(fs->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, 0600) != 0)
		goto out;
	while (done < len) {
		n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	n = close(fd);
	fd = -1;
	if (n != 0 || renameat(fs->dirfd, tmp, fs->dirfd, name) != 0)
		goto out;
	tmp[0] = '\0';
	(void)fsync(fs->dirfd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlinkat(fs->dirfd, tmp, 0);
	return rc;
}

static int file_write_tb(const struct store_fs *fs, const char *name, struct textbuf *tb)
{
	char *text = tb_finish(tb);
	int rc = text != NULL ? file_write(fs, name, text, strlen(text)) : -1;

	free(text);
	return rc;
}

/* Remove a file; absent is fine. 0, or -1. */
static int file_unlink(const struct store_fs *fs, const char *name)
{
	return unlinkat(fs->dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
}

/* Make a derived file (index, counter) unreadable without needing space: truncate it, so
 * that it is rebuilt by a scan when next needed. */
static void file_spoil(const struct store_fs *fs, const char *name)
{
	int fd = openat(fs->dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		if (ftruncate(fd, 0) != 0)
			(void)unlinkat(fs->dirfd, name, 0);
		close(fd);
	}
}

static int file_exists(const struct store_fs *fs, const char *name)
{
	struct stat sb;

	return fstatat(fs->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Names "<kind>-<64 hex>" of one kind (the whole name), or temporary files (kind '.'). */
static int list_names(const struct store_fs *fs, char kind, struct digest_list *out)
{
	struct dirent *de;
	DIR *d = NULL;
	size_t len;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	fd = openat(fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		goto out;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if ((kind != '.' && len == STORE_NAME_LEN && de->d_name[0] == kind &&
		     de->d_name[1] == '-' && store_hex_lower(de->d_name + 2, STORE_DIGEST_HEX_LEN)) ||
		    (kind == '.' && len < STORE_NAME_SIZE &&
		     strncmp(de->d_name, FS_TMP_PREFIX, sizeof(FS_TMP_PREFIX) - 1) == 0)) {
			if (dl_add(out, de->d_name, len) != 0)
				goto out;
		}
		errno = 0;
	}
	if (errno != 0)
		goto out;
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	if (rc != 0)
		dl_free(out);
	return rc;
}

/* ---- index and counter ------------------------------------------------------------- */

/* Collect the digests of all sessions whose owner is `owner`, by scanning. */
static int sessions_of_owner_scan(const struct store_fs *fs, const char *owner,
				  struct digest_list *dl)
{
	struct digest_list names;
	struct store_session sess;
	char *text = NULL;
	size_t i, len;
	int rc = -1;

	if (list_names(fs, STORE_KIND_SESSION, &names) != 0)
		goto out;
	for (i = 0; i < names.n; i++) {
		free(text);
		text = NULL;
		if (file_read(fs, names.d[i], STORE_RECORD_MAX, &text, &len) == STORE_REC_PRESENT &&
		    store_session_parse(text, len, &sess) == 0 && strcmp(sess.owner, owner) == 0 &&
		    dl_add(dl, names.d[i] + 2, STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	}
	rc = 0;
out:
	free(text);
	dl_free(&names);
	return rc;
}

static int index_write(const struct store_fs *fs, const char *owner, const char *iname,
		       const struct digest_list *dl)
{
	struct textbuf tb = { 0 };
	size_t i;

	if (dl->n == 0)
		return file_unlink(fs, iname);
	tb_str(&tb, STORE_HEADER "kind=index\n");
	tb_field(&tb, "user", owner);
	for (i = 0; i < dl->n; i++) {
		tb_add(&tb, "s=", 2);
		tb_add(&tb, dl->d[i], STORE_DIGEST_HEX_LEN);
		tb_add(&tb, "\n", 1);
	}
	return file_write_tb(fs, iname, &tb);
}

/* The owner's index into dl (empty if absent; rebuilt by a scan if unreadable). */
static int index_load(const struct store_fs *fs, const char *owner, const char *iname,
		      struct digest_list *dl)
{
	struct rec_vals vals;
	int rc = -1, status;

	memset(dl, 0, sizeof(*dl));
	memset(&vals, 0, sizeof(vals));
	vals.digests = dl;
	status = file_load(fs, iname, &schema_index, &vals);
	if (status == STORE_REC_PRESENT && strcmp(vals.str[0], owner) == 0) {
		rc = 0;
		goto out;
	}
	dl_free(dl);
	if (status == STORE_REC_ABSENT) {
		rc = 0;
		goto out;
	}
	/* Unreadable (or another owner's): rebuild it from the session records. */
	rc = sessions_of_owner_scan(fs, owner, dl);
	if (rc == 0)
		(void)index_write(fs, owner, iname, dl);
out:
	if (rc != 0)
		dl_free(dl);
	return rc;
}

static int counter_write(const struct store_fs *fs, size_t n)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=counter\n");
	tb_num(&tb, "n", (unsigned long long)n);
	return file_write_tb(fs, FS_COUNTER_NAME, &tb);
}

/* Count the session records by scanning and rewrite the counter. */
static int counter_rebuild(const struct store_fs *fs, size_t *n)
{
	struct digest_list names;
	int rc = -1;

	*n = 0;
	if (list_names(fs, STORE_KIND_SESSION, &names) != 0)
		goto out;
	*n = names.n;
	rc = counter_write(fs, names.n);
out:
	dl_free(&names);
	return rc;
}

/* The session count: from the counter, or rebuilt when it is missing or unreadable. */
static int counter_get(const struct store_fs *fs, size_t *n, int *fresh)
{
	struct rec_vals vals;
	int rc = 0;

	memset(&vals, 0, sizeof(vals));
	*fresh = 0;
	*n = 0;
	if (file_load(fs, FS_COUNTER_NAME, &schema_counter, &vals) == STORE_REC_PRESENT &&
	    vals.num[0] <= SIZE_MAX) {
		*n = (size_t)vals.num[0];
	} else {
		*fresh = 1;
		rc = counter_rebuild(fs, n);
	}
	return rc;
}

static int intent_write(const struct store_fs *fs, const char *owner, const char *digest)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=intent\n");
	tb_field(&tb, "user", owner);
	tb_field(&tb, "session", digest);
	return file_write_tb(fs, FS_INTENT_NAME, &tb);
}

static int intent_clear(const struct store_fs *fs)
{
	int rc = file_unlink(fs, FS_INTENT_NAME);

	if (rc == 0)
		(void)fsync(fs->dirfd);
	return rc;
}

/* Make the owner's index agree with whether the session record exists. */
static int index_reconcile(const struct store_fs *fs, const char *owner, const char *digest)
{
	char name[STORE_NAME_SIZE], iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	int idx, present, rc = -1;

	if (index_name(iname, owner) != 0 || index_load(fs, owner, iname, &dl) != 0)
		goto out;
	record_name(name, STORE_KIND_SESSION, digest);
	present = file_exists(fs, name);
	idx = dl_find(&dl, digest);
	if (present && idx < 0) {
		if (dl_add(&dl, digest, STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	} else if (!present && idx >= 0) {
		dl_remove_at(&dl, (size_t)idx);
	} else {
		rc = 0;
		goto out;
	}
	rc = index_write(fs, owner, iname, &dl);
out:
	dl_free(&dl);
	return rc;
}

/* Finish what a writer killed in a transaction left half done. What cannot be rewritten
 * (a full file system) is spoiled, to be rebuilt later: recovery itself needs no space. */
static int fs_recover(const struct store_fs *fs)
{
	char iname[STORE_NAME_SIZE];
	struct rec_vals vals;
	size_t n = 0;
	int status, rc = 0;

	memset(&vals, 0, sizeof(vals));
	status = file_load(fs, FS_INTENT_NAME, &schema_intent, &vals);
	if (status == STORE_REC_ABSENT)
		goto out;
	if (status == STORE_REC_PRESENT && vals.str[0][0] != '\0' &&
	    store_digest_looks_like(vals.str[1]) &&
	    index_reconcile(fs, vals.str[0], vals.str[1]) != 0 &&
	    index_name(iname, vals.str[0]) == 0)
		file_spoil(fs, iname);
	if (counter_rebuild(fs, &n) != 0)
		file_spoil(fs, FS_COUNTER_NAME);
	rc = intent_clear(fs);
out:
	return rc;
}

/* ---- operations ---------------------------------------------------------------------- */

static int fs_get(struct store_backend *be, char kind, const char *digest, size_t max,
		  char **text, size_t *len)
{
	char name[STORE_NAME_SIZE];

	record_name(name, kind, digest);
	return file_read(fs_of(be), name, max, text, len);
}

/* A new session: intent, record, index, counter, then the intent goes. */
static int session_add(const struct store_fs *fs, const char *name, const char *digest,
		       const char *text, size_t len, const char *owner)
{
	char iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	size_t total = 0;
	int fresh = 0, rc = -1;

	if (owner == NULL || index_name(iname, owner) != 0 ||
	    index_load(fs, owner, iname, &dl) != 0 || counter_get(fs, &total, &fresh) != 0 ||
	    intent_write(fs, owner, digest) != 0)
		goto out;
	if (file_write(fs, name, text, len) != 0 ||
	    (dl_find(&dl, digest) < 0 && dl_add(&dl, digest, STORE_DIGEST_HEX_LEN) != 0) ||
	    index_write(fs, owner, iname, &dl) != 0 ||
	    counter_write(fs, fresh ? total : total + 1) != 0 || intent_clear(fs) != 0) {
		(void)file_unlink(fs, name);
		(void)fs_recover(fs);
		goto out;
	}
	rc = 0;
out:
	dl_free(&dl);
	return rc;
}

static int fs_put(struct store_backend *be, char kind, const char *digest, const char *text,
		  size_t len, int64_t expires, const char *owner)
{
	struct store_fs *fs = fs_of(be);
	char name[STORE_NAME_SIZE];

	(void)expires; /* garbage collection reads the expiry from the record */
	record_name(name, kind, digest);
	if (kind == STORE_KIND_SESSION && !file_exists(fs, name))
		return session_add(fs, name, digest, text, len, owner);
	return file_write(fs, name, text, len);
}

static int fs_del(struct store_backend *be, char kind, const char *digest, const char *owner)
{
	struct store_fs *fs = fs_of(be);
	char name[STORE_NAME_SIZE], iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	size_t n = 0;
	int fresh = 0, idx, rc = -1;

	record_name(name, kind, digest);
	if (unlinkat(fs->dirfd, name, 0) != 0) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	rc = 0;
	if (kind != STORE_KIND_SESSION)
		goto out;
	/* the record is gone; the index and counter follow, or are spoiled for a rebuild */
	if (owner != NULL && index_name(iname, owner) == 0) {
		if (index_load(fs, owner, iname, &dl) != 0) {
			file_spoil(fs, iname);
		} else if ((idx = dl_find(&dl, digest)) >= 0) {
			dl_remove_at(&dl, (size_t)idx);
			if (index_write(fs, owner, iname, &dl) != 0)
				file_spoil(fs, iname);
		}
	}
	if (counter_get(fs, &n, &fresh) != 0 ||
	    (!fresh && counter_write(fs, n > 0 ? n - 1 : 0) != 0))
		file_spoil(fs, FS_COUNTER_NAME);
out:
	dl_free(&dl);
	return rc;
}

static int fs_scan(struct store_backend *be, char kind, struct digest_list *out)
{
	struct digest_list names;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (list_names(fs_of(be), kind, &names) != 0)
		goto out;
	for (i = 0; i < names.n; i++) {
		if (dl_add(out, names.d[i] + 2, STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	}
	rc = 0;
out:
	dl_free(&names);
	if (rc != 0)
		dl_free(out);
	return rc;
}

/* The owner's index, without entries whose session record is gone. */
static int fs_index(struct store_backend *be, const char *owner, struct digest_list *out)
{
	struct store_fs *fs = fs_of(be);
	char iname[STORE_NAME_SIZE], name[STORE_NAME_SIZE];
	size_t i = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (owner == NULL || index_name(iname, owner) != 0 || index_load(fs, owner, iname, out) != 0)
		goto out;
	while (i < out->n) {
		record_name(name, STORE_KIND_SESSION, out->d[i]);
		if (file_exists(fs, name))
			i++;
		else
			dl_remove_at(out, i);
	}
	rc = 0;
out:
	return rc;
}

static int fs_count(struct store_backend *be, bool exact, size_t *n)
{
	int fresh = 0, rc = counter_get(fs_of(be), n, &fresh);

	/* the counter can only drift high (a writer killed between unlink and update) */
	if (rc == 0 && exact && !fresh)
		rc = counter_rebuild(fs_of(be), n);
	return rc;
}

/* Remove temporary files left by killed writers, and indexes that are empty or spoiled
 * (they are derived data, rebuilt when needed). Inside a transaction. */
static int fs_tidy(struct store_backend *be)
{
	struct store_fs *fs = fs_of(be);
	struct digest_list names = { 0 }, dl;
	struct rec_vals vals;
	size_t i, n = 0;
	int rc = -1;

	if (list_names(fs, '.', &names) != 0)
		goto out;
	for (i = 0; i < names.n; i++)
		(void)unlinkat(fs->dirfd, names.d[i], 0);
	dl_free(&names);
	if (list_names(fs, 'i', &names) != 0)
		goto out;
	for (i = 0; i < names.n; i++) {
		memset(&dl, 0, sizeof(dl));
		memset(&vals, 0, sizeof(vals));
		vals.digests = &dl;
		if (file_load(fs, names.d[i], &schema_index, &vals) == STORE_REC_UNREADABLE)
			(void)file_unlink(fs, names.d[i]);
		else if (dl.n > 0) {
			dl_free(&dl);
			if (fs_index(be, vals.str[0], &dl) == 0)
				(void)index_write(fs, vals.str[0], names.d[i], &dl);
		}
		dl_free(&dl);
	}
	rc = counter_rebuild(fs, &n);
out:
	dl_free(&names);
	return rc;
}

/* ---- transactions -------------------------------------------------------------------- */

/* Take the lock on a lock file opened by this process, then recover. The fd, or -1. */
static int fs_lock(const struct store_fs *fs, struct verdict *v)
{
	struct timespec pause_ts = { 0, 50000 }; /* 50 us, doubling up to 1.6 ms */
	struct stat sb;
	int64_t waited_ns = 0;
	int fd, rc = -1;

	fd = openat(fs->dirfd, FS_LOCK_NAME,
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !owner_ok(sb.st_uid)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "store lock file is unusable");
		goto out;
	}
	/* Bounded: whatever happens to a holder costs a refusal, not a hang. */
	for (;;) {
		rc = flock(fd, LOCK_EX | LOCK_NB);
		if (rc == 0 || (errno != EWOULDBLOCK && errno != EINTR) ||
		    waited_ns >= STORE_LOCK_WAIT_MS * 1000000LL)
			break;
		(void)nanosleep(&pause_ts, NULL);
		waited_ns += pause_ts.tv_nsec;
		if (pause_ts.tv_nsec < 1600000)
			pause_ts.tv_nsec *= 2;
	}
	if (rc != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, errno == EWOULDBLOCK ?
			    "the session store is busy" : "cannot lock the session store");
		goto out;
	}
	rc = fs_recover(fs);
	if (rc != 0)
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot repair the session store");
out:
	if (rc != 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* What crosses into the transaction's process: the backend, the body, then the body's
 * context bytes. */
struct fs_txn {
	struct store_fs *fs;
	store_txn_fn fn;
	size_t ctx_size;
	/* ctx bytes follow */
};

static int fs_txn_body(void *arg, struct verdict *v)
{
	struct fs_txn *t = arg;
	int fd, rc = -1;

	fd = fs_lock(t->fs, v);
	if (fd < 0)
		goto out;
	rc = t->fn((char *)arg + sizeof(*t), v);
	close(fd); /* releases the lock */
out:
	return rc;
}

static int fs_txn(struct store_backend *be, store_txn_fn fn, void *ctx, size_t ctx_size,
		  struct verdict *v)
{
	struct fs_txn *t = NULL;
	int rc = -1;

	t = malloc(sizeof(*t) + ctx_size);
	if (t == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	t->fs = fs_of(be);
	t->fn = fn;
	t->ctx_size = ctx_size;
	memcpy((char *)t + sizeof(*t), ctx, ctx_size);
	rc = privsep_run(fs_txn_body, t, sizeof(*t) + ctx_size, v);
	memcpy(ctx, (char *)t + sizeof(*t), ctx_size);
out:
	free(t);
	return rc;
}

static void fs_close(struct store_backend *be)
{
	struct store_fs *fs = fs_of(be);

	if (fs == NULL)
		return;
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs);
}

static const struct store_backend_ops fs_ops = {
	.get = fs_get,
	.put = fs_put,
	.del = fs_del,
	.scan = fs_scan,
	.index = fs_index,
	.count = fs_count,
	.txn = fs_txn,
	.tidy = fs_tidy,
	.close = fs_close,
};

/* ---- open ----------------------------------------------------------------------------- */

/* A directory above the store: owned by root (or us), not writable by group or others,
 * unless it is a root-owned sticky directory such as /tmp. */
static int ancestor_ok(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0 || !S_ISDIR(sb.st_mode) || !owner_ok(sb.st_uid))
		return 0;
	return (sb.st_mode & 022) == 0 || (sb.st_uid == 0 && (sb.st_mode & S_ISVTX) != 0);
}

static int open_parent(const char *parent, const char **reason)
{
	char *real = NULL, *component, *save = NULL;
	int fd = -1, next;

	*reason = "cannot open store directory";
	real = realpath(parent, NULL);
	if (real == NULL)
		goto out;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (component = strtok_r(real, "/", &save); fd >= 0 && component != NULL;
	     component = strtok_r(NULL, "/", &save)) {
		if (!ancestor_ok(fd)) {
			*reason = "a directory above the store is unsafe";
			close(fd);
			fd = -1;
			break;
		}
		next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd >= 0 && !ancestor_ok(fd)) {
		*reason = "a directory above the store is unsafe";
		close(fd);
		fd = -1;
	}
out:
	free(real);
	return fd;
}

int store_fs_open(const char *dir, const struct store_fs_options *opts,
		  struct store_backend **out, struct verdict *v)
{
	static const struct store_fs_options defaults = { 0 };
	const char *reason = "cannot open store directory", *base;
	char *copy = NULL, *parent = NULL, *slash;
	struct store_fs *fs = NULL;
	struct stat sb;
	struct statfs sfs;
	size_t len;
	int pfd = -1, dfd = -1, lfd = -1, rc = -1;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || dir == NULL || dir[0] != '/')
		goto out;
	if (opts == NULL)
		opts = &defaults;
	copy = strdup(dir);
	if (copy == NULL)
		goto out;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	base = slash + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		goto out;
	parent = slash == copy ? strdup("/") : strndup(copy, (size_t)(slash - copy));
	if (parent == NULL)
		goto out;
	pfd = open_parent(parent, &reason);
	if (pfd < 0)
		goto out;
	reason = "cannot open store directory";
	dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ELOOP || (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				       S_ISLNK(sb.st_mode)))
			reason = "store directory is a symbolic link";
		goto out;
	}
	if (fstat(dfd, &sb) != 0 || !S_ISDIR(sb.st_mode))
		goto out;
	if (!owner_ok(sb.st_uid)) {
		reason = "store directory is not owned by root";
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		reason = "store directory is accessible by group or others";
		goto out;
	}
	if (fstatfs(dfd, &sfs) != 0)
		goto out;
	if (!opts->allow_non_tmpfs && (unsigned long)sfs.f_type != (unsigned long)TMPFS_MAGIC) {
		reason = "store directory is not on tmpfs";
		goto out;
	}
	reason = "store lock file is unusable";
	lfd = openat(dfd, FS_LOCK_NAME,
		     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (lfd < 0 || fstat(lfd, &sb) != 0 || !S_ISREG(sb.st_mode) || !owner_ok(sb.st_uid))
		goto out;
	reason = "out of memory";
	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		goto out;
	fs->be.ops = &fs_ops;
	fs->dirfd = dfd;
	dfd = -1;
	*out = &fs->be;
	rc = 0;
	verdict_ok(v);
out:
	if (rc != 0)
		verdict_set(v, VERDICT_UNAVAILABLE, reason);
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0)
		close(dfd);
	if (pfd >= 0)
		close(pfd);
	free(copy);
	free(parent);
	return rc;
}

