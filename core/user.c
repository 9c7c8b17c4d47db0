#include "user.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

/* getpwnam_r's buffer: enough for any sane entry, grown on ERANGE up to this */
#define USER_PWBUF_FIRST 4096
#define USER_PWBUF_MAX (1024 * 1024)

/* Whether a getpwnam_r error code means "no such user": glibc returns 0, but some NSS
 * modules return one of these (getpwnam_r(3)). */
static int user_not_found(int err)
{
	return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

int user_canonical_name(const char *name, char *out, size_t size, struct verdict *v)
{
	struct passwd pw, *found = NULL;
	const char *result;
	char *buf = NULL, *grown;
	size_t buf_size = USER_PWBUF_FIRST;
	int err, rc = -1;

	if (out != NULL && size > 0)
		out[0] = '\0';
	if (name == NULL || name[0] == '\0' || out == NULL) {
		verdict_set(v, VERDICT_REJECT, "no user name");
		goto out;
	}
	for (;;) {
		grown = realloc(buf, buf_size);
		if (grown == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
			goto out;
		}
		buf = grown;
		err = getpwnam_r(name, &pw, buf, buf_size, &found);
		if (err != ERANGE || buf_size >= USER_PWBUF_MAX)
			break;
		buf_size *= 2;
	}
	if ((found == NULL && !user_not_found(err)) ||
	    (found != NULL && (found->pw_name == NULL || found->pw_name[0] == '\0'))) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot look up the user");
		goto out;
	}
	result = found != NULL ? found->pw_name : name;
	if (strlen(result) >= size) {
		verdict_set(v, found != NULL ? VERDICT_UNAVAILABLE : VERDICT_REJECT,
			    "user name is too long");
		goto out;
	}
	memcpy(out, result, strlen(result) + 1);
	rc = found != NULL ? 0 : 1;
out:
	free(buf);
	return rc;
}
