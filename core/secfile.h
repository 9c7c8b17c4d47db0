/* Reading configuration and key files the way OpenSSH does: no symlinks, a regular file,
 * owned by root (or the effective user), never group/world-writable; secret files also
 * never group/world-readable. */
#ifndef PAM_JWT_SECFILE_H
#define PAM_JWT_SECFILE_H

#include <stddef.h>
#include "verdict.h"

enum secfile_kind {
	SECFILE_PUBLIC = 0, /* may be world-readable */
	SECFILE_SECRET = 1, /* mode & 077 must be 0 */
};

#define SECFILE_MAX_SIZE (1024 * 1024)

/* Read a whole file into a NUL-terminated buffer (wipe with secmem_free). The path must be
 * absolute. On refusal returns -1 with v set (VERDICT_UNAVAILABLE). */
int secfile_read(const char *path, enum secfile_kind kind, unsigned char **out,
		 size_t *out_len, struct verdict *v);
/* Whether secfile_read would open the file (the same checks; nothing is read). 0, or -1
 * with v set, naming the path. */
int secfile_check(const char *path, enum secfile_kind kind, struct verdict *v);
/* As secfile_read with SECFILE_PUBLIC, also telling whether the file as opened was private
 * (mode & 077 == 0), for files whose secrecy depends on their content (a JWKS). */
int secfile_read_public(const char *path, unsigned char **out, size_t *out_len,
			int *is_private, struct verdict *v);

/* Write a file atomically: a temporary file in the same directory (O_EXCL|O_NOFOLLOW),
 * fsync, then rename over path. The directory must pass the same owner/mode checks. */
int secfile_write_atomic(const char *path, const void *data, size_t len, unsigned int mode,
			 struct verdict *v);

#endif
