/* A login's credentials in the user's persistent kernel keyring.
 *
 * Kernel rules this relies on (keyrings(7), keyctl(2), security/keys):
 * - A process "possesses" a key it can reach from its thread, process or session keyring
 *   through keyrings it may search. Possessor permissions are added to the owner, group
 *   or other permissions that apply to the caller; root gets no exemption from them.
 * - keyctl_get_persistent(uid) is allowed for the caller's real or effective uid, or with
 *   CAP_SETUID; it links the persistent keyring into the given keyring. That keyring is
 *   owned by uid and grants its possessor everything but setattr, so both root and the
 *   user can add keys to it and unlink keys from it once they possess it.
 * - add_key() updates a key of the same type and description already in the destination
 *   keyring (which needs write permission on that key) instead of adding a new one, while
 *   keyctl_link() of another key with that description displaces the old link
 *   atomically and needs no permission on the displaced key.
 * - keyctl_chown() needs setattr permission and CAP_SYS_ADMIN to give a key another uid;
 *   keyctl_setperm() needs setattr permission and ownership or CAP_SYS_ADMIN.
 * - keyctl_search() looks at the keys of a keyring before descending into the keyrings
 *   nested in it.
 *
 * So a key is built in a private keyring (owned by the caller, default permissions), given
 * to uid:gid, restricted to KR_PERM and then linked into the persistent keyring, where it
 * replaces its predecessor in one step. KR_PERM grants no write or setattr to anyone, so
 * the user cannot change the key even while possessing it; root never needs to, as it
 * never updates a key in place.
 */
#include "keyring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <keyutils.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "secmem.h"

/* The private keyring each call links into the calling thread's keyring. */
#define KR_ANCHOR "pam_jwt:anchor"
#define KR_PERM (KEY_POS_VIEW | KEY_POS_READ | KEY_POS_SEARCH | KEY_POS_LINK | \
		 KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH)
#define KR_DIGEST_HEX_LEN 64
/* How often a read is retried when the key grows between asking its size and reading. */
#define KR_READ_TRIES 3
/* kr_read: the key's content is not acceptable data */
#define KR_MALFORMED 2

struct kr {
	key_serial_t anchor;     /* fresh keyring linked into the thread keyring, or -1 */
	key_serial_t persistent; /* uid's persistent keyring, linked into anchor, or -1 */
};

static void set_reason(const char **reason, const char *why)
{
	if (reason != NULL)
		*reason = why;
}

/* The reason for a failed key operation: errno values with a meaning of their own, else
 * the operation's. */
static const char *errno_reason(int err, const char *fallback)
{
	const char *why = fallback;

	switch (err) {
	case EDQUOT:
		why = "the key quota of the user is exhausted";
		break;
	case ENOSYS:
		why = "the kernel has no keyrings";
		break;
	case ENOMEM:
		why = "out of memory for keys";
		break;
	default:
		break;
	}
	return why;
}

/* A key that is gone, revoked or expired reads as absent. */
static bool errno_absent(int err)
{
	return err == ENOKEY || err == EKEYREVOKED || err == EKEYEXPIRED;
}

static bool desc_ok(const char *desc)
{
	const size_t plen = sizeof(KEYRING_DESC_PREFIX) - 1;
	size_t n = desc != NULL ? strnlen(desc, KEYRING_DESC_MAX + 1) : 0, i;
	bool ok = n > plen && n <= KEYRING_DESC_MAX && memcmp(desc, KEYRING_DESC_PREFIX, plen) == 0;

	for (i = plen; ok && i < n; i++)
		ok = (desc[i] >= 'a' && desc[i] <= 'z') || (desc[i] >= '0' && desc[i] <= '9') ||
		     desc[i] == '_' || desc[i] == '.' || desc[i] == '-';
	return ok;
}

static bool digest_ok(const char *digest)
{
	size_t i;
	bool ok = digest != NULL && strnlen(digest, KR_DIGEST_HEX_LEN + 1) == KR_DIGEST_HEX_LEN;

	for (i = 0; ok && i < KR_DIGEST_HEX_LEN; i++)
		ok = (digest[i] >= '0' && digest[i] <= '9') || (digest[i] >= 'a' && digest[i] <= 'f');
	return ok;
}

static bool data_ok(const void *data, size_t len)
{
	return data != NULL && len > 0 && len <= KEYRING_DATA_MAX && memchr(data, 0, len) == NULL;
}

/* Link uid's persistent keyring into a fresh keyring of the calling thread, so that this
 * thread possesses it and the keys in it. Call kr_close afterwards, also on failure. */
static int kr_open(uid_t uid, struct kr *kr, const char **reason)
{
	long serial;
	int rc = -1;

	kr->anchor = -1;
	kr->persistent = -1;
	if (uid == (uid_t)-1) {
		errno = EINVAL;
		set_reason(reason, "invalid uid");
		goto out;
	}
	/* a keyring has no update operation: this always makes a new, empty keyring, and
	 * displaces one left behind in the thread keyring */
	kr->anchor = add_key("keyring", KR_ANCHOR, NULL, 0, KEY_SPEC_THREAD_KEYRING);
	if (kr->anchor < 0) {
		kr->anchor = -1;
		set_reason(reason, errno_reason(errno, "cannot create a keyring for the thread"));
		goto out;
	}
	serial = keyctl_get_persistent(uid, kr->anchor);
	if (serial < 0) {
		if (errno == EPERM)
			set_reason(reason, "not permitted to use that user's persistent keyring");
		else if (errno == EOPNOTSUPP)
			set_reason(reason, "the kernel has no persistent keyrings");
		else
			set_reason(reason, errno_reason(errno, "cannot get the persistent keyring"));
		goto out;
	}
	kr->persistent = (key_serial_t)serial;
	rc = 0;
out:
	return rc;
}

/* Drop the thread's link to the persistent keyring. Keeps errno. */
static void kr_close(struct kr *kr)
{
	int saved = errno;

	if (kr->anchor >= 0) {
		(void)keyctl_clear(kr->anchor);
		(void)keyctl_unlink(kr->anchor, KEY_SPEC_THREAD_KEYRING);
	}
	kr->anchor = -1;
	kr->persistent = -1;
	errno = saved;
}

/* The serial of desc in the persistent keyring: 0, 1 if absent, -1 on error. */
static int kr_find(const struct kr *kr, const char *desc, key_serial_t *serial,
		   const char **reason)
{
	long found = keyctl_search(kr->persistent, "user", desc, 0);
	int rc = 0;

	*serial = -1;
	if (found >= 0) {
		*serial = (key_serial_t)found;
	} else if (errno_absent(errno)) {
		rc = 1;
	} else {
		set_reason(reason, errno_reason(errno, "cannot search the persistent keyring"));
		rc = -1;
	}
	return rc;
}

/* Read a key: 0 with *data (malloc'd, NUL-terminated, wipe with secmem_free), 1 if the key
 * is gone, KR_MALFORMED with reason if it is empty, too large or holds a NUL, -1 on error. */
static int kr_read(key_serial_t serial, char **data, size_t *len, const char **reason)
{
	char *buf = NULL;
	long size, got = -1;
	int rc = -1, tries;

	*data = NULL;
	*len = 0;
	for (tries = 0; tries < KR_READ_TRIES; tries++) {
		size = keyctl_read(serial, NULL, 0);
		if (size < 0) {
			rc = errno_absent(errno) ? 1 : -1;
			if (rc < 0)
				set_reason(reason, errno == EACCES ? "not permitted to read the key"
						   : errno_reason(errno, "cannot read the key"));
			goto out;
		}
		if (size == 0 || size > KEYRING_DATA_MAX) {
			errno = EMSGSIZE;
			set_reason(reason, "the key's size is out of range");
			rc = KR_MALFORMED;
			goto out;
		}
		buf = malloc((size_t)size + 1);
		if (buf == NULL) {
			set_reason(reason, "out of memory");
			goto out;
		}
		got = keyctl_read(serial, buf, (size_t)size);
		if (got >= 0 && got <= size)
			break;
		secmem_free(buf, (size_t)size);
		buf = NULL;
		if (got < 0) {
			rc = errno_absent(errno) ? 1 : -1;
			if (rc < 0)
				set_reason(reason, errno_reason(errno, "cannot read the key"));
			goto out;
		}
	}
	if (buf == NULL) {
		errno = EAGAIN;
		set_reason(reason, "the key kept changing while being read");
		goto out;
	}
	if (got == 0 || memchr(buf, 0, (size_t)got) != NULL) {
		secmem_free(buf, (size_t)got);
		buf = NULL;
		errno = EINVAL;
		set_reason(reason, got == 0 ? "the key is empty" : "the key holds a NUL byte");
		rc = KR_MALFORMED;
		goto out;
	}
	buf[got] = '\0';
	*data = buf;
	*len = (size_t)got;
	rc = 0;
out:
	return rc;
}

/* Does the key `serial` hold the session whose hex SHA-256 is digest? 0 with *match (a
 * key that is no acceptable data matches nothing), 1 if the key is gone, -1 on error. */
static int kr_session_matches(key_serial_t serial, const char *digest, bool *match,
			      const char **reason)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	char mdhex[KR_DIGEST_HEX_LEN];
	unsigned int mdlen = 0, i;
	char *data = NULL;
	size_t len = 0;
	int rc;

	*match = false;
	rc = kr_read(serial, &data, &len, reason);
	if (rc == KR_MALFORMED)
		rc = 0;
	if (rc != 0 || data == NULL)
		goto out;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md)) {
		errno = EINVAL;
		set_reason(reason, "cannot hash the session ID");
		rc = -1;
		goto out;
	}
	for (i = 0; i < sizeof(md); i++) {
		mdhex[2 * i] = hex[md[i] >> 4];
		mdhex[2 * i + 1] = hex[md[i] & 0x0f];
	}
	*match = CRYPTO_memcmp(mdhex, digest, KR_DIGEST_HEX_LEN) == 0;
out:
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(mdhex, sizeof(mdhex));
	secmem_free(data, len);
	return rc;
}

/* Build a key for uid:gid in the anchor and link it into the persistent keyring, displacing
 * any key of that name; *serial is the new key. */
static int kr_install(const struct kr *kr, uid_t uid, gid_t gid, const char *desc,
		      const void *data, size_t len, key_serial_t *serial, const char **reason)
{
	key_serial_t key;
	int rc = -1;

	*serial = -1;
	/* the anchor is new and holds no "user" key: this adds, it cannot update */
	key = add_key("user", desc, data, len, kr->anchor);
	if (key < 0) {
		set_reason(reason, errno_reason(errno, "cannot add the key"));
		goto out;
	}
	if (keyctl_chown(key, uid, gid) != 0) {
		set_reason(reason, errno == EACCES ? "not permitted to give the key to the user"
				   : errno_reason(errno, "cannot give the key to the user"));
		goto out;
	}
	if (keyctl_setperm(key, KR_PERM) != 0) {
		set_reason(reason, errno_reason(errno, "cannot set the key's permissions"));
		goto out;
	}
	if (keyctl_link(key, kr->persistent) != 0) {
		set_reason(reason, errno_reason(errno, "cannot link the key into the keyring"));
		goto out;
	}
	*serial = key;
	rc = 0;
out:
	/* on failure the key goes with the anchor */
	return rc;
}

/* Unlink a key from the persistent keyring by serial: 0, 1 if it was no longer linked
 * there (displaced, removed or nested deeper), -1 on error. */
static int kr_unlink(const struct kr *kr, key_serial_t serial, const char **reason)
{
	int rc = 0;

	if (keyctl_unlink(serial, kr->persistent) != 0) {
		if (errno == ENOENT || errno_absent(errno)) {
			rc = 1;
		} else {
			set_reason(reason, errno_reason(errno, "cannot unlink the key"));
			rc = -1;
		}
	}
	return rc;
}

int keyring_put(uid_t uid, gid_t gid, const char *desc, const void *data, size_t len,
		const char **reason)
{
	struct kr kr = { -1, -1 };
	key_serial_t key;
	int rc = -1;

	if (!desc_ok(desc) || !data_ok(data, len) || gid == (gid_t)-1) {
		errno = EINVAL;
		set_reason(reason, !desc_ok(desc) ? "invalid key description"
				   : gid == (gid_t)-1 ? "invalid gid" : "invalid key data");
		goto out;
	}
	if (kr_open(uid, &kr, reason) != 0)
		goto out;
	rc = kr_install(&kr, uid, gid, desc, data, len, &key, reason);
out:
	kr_close(&kr);
	return rc;
}

/* Open uid's persistent keyring and look at its session key: *session, and whether it
 * holds the session whose hex SHA-256 is digest (*match). 0 if there is a session key, 1 if
 * there is none, -1 on error. */
static int kr_open_session(uid_t uid, const char *digest, struct kr *kr, key_serial_t *session,
			   bool *match, const char **reason)
{
	int found = -1;

	if (kr_open(uid, kr, reason) != 0)
		goto out;
	found = kr_find(kr, KEYRING_SESSION, session, reason);
	if (found == 0)
		found = kr_session_matches(*session, digest, match, reason);
out:
	return found;
}

int keyring_put_if_session(uid_t uid, gid_t gid, const char *session_digest, const char *desc,
			   const void *data, size_t len, bool *put, const char **reason)
{
	struct kr kr = { -1, -1 };
	key_serial_t session = -1, now = -1, key = -1;
	bool match = false;
	int rc = -1, found;

	if (put != NULL)
		*put = false;
	if (put == NULL || !digest_ok(session_digest) || !desc_ok(desc) || !data_ok(data, len) ||
	    gid == (gid_t)-1) {
		errno = EINVAL;
		set_reason(reason, put == NULL ? "missing argument"
				   : !digest_ok(session_digest) ? "invalid session digest"
				   : !desc_ok(desc) ? "invalid key description"
				   : gid == (gid_t)-1 ? "invalid gid" : "invalid key data");
		goto out;
	}
	found = kr_open_session(uid, session_digest, &kr, &session, &match, reason);
	if (found != 0 || !match) {
		rc = found < 0 ? -1 : 0;
		goto out;
	}
	if (kr_install(&kr, uid, gid, desc, data, len, &key, reason) != 0)
		goto out;
	/* a newer login may have replaced the session key meanwhile: then take ours back */
	found = kr_find(&kr, KEYRING_SESSION, &now, reason);
	if (found < 0) {
		(void)kr_unlink(&kr, key, NULL);
		goto out;
	}
	if (found == 1 || now != session) {
		if (kr_unlink(&kr, key, reason) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	*put = true;
	rc = 0;
out:
	kr_close(&kr);
	return rc;
}

int keyring_holds_session(uid_t uid, const char *session_digest, bool *held,
			  const char **reason)
{
	struct kr kr = { -1, -1 };
	key_serial_t session = -1;
	bool match = false;
	int rc = -1, found;

	if (held != NULL)
		*held = false;
	if (held == NULL || !digest_ok(session_digest)) {
		errno = EINVAL;
		set_reason(reason, held == NULL ? "missing argument" : "invalid session digest");
		goto out;
	}
	found = kr_open_session(uid, session_digest, &kr, &session, &match, reason);
	if (found < 0)
		goto out;
	*held = found == 0 && match;
	rc = 0;
out:
	kr_close(&kr);
	return rc;
}

int keyring_get(uid_t uid, const char *desc, char **data, size_t *len, const char **reason)
{
	struct kr kr = { -1, -1 };
	key_serial_t key = -1;
	int rc = -1;

	if (data != NULL)
		*data = NULL;
	if (len != NULL)
		*len = 0;
	if (data == NULL || len == NULL || !desc_ok(desc)) {
		errno = EINVAL;
		set_reason(reason, desc_ok(desc) ? "missing argument" : "invalid key description");
		goto out;
	}
	if (kr_open(uid, &kr, reason) != 0)
		goto out;
	rc = kr_find(&kr, desc, &key, reason);
	if (rc == 0)
		rc = kr_read(key, data, len, reason);
	if (rc == KR_MALFORMED)
		rc = -1;
out:
	kr_close(&kr);
	return rc;
}

void keyring_data_free(char *data, size_t len)
{
	secmem_free(data, len);
}

int keyring_remove(uid_t uid, const char *desc, const char **reason)
{
	struct kr kr = { -1, -1 };
	key_serial_t key = -1;
	int rc = -1, found;

	if (!desc_ok(desc)) {
		errno = EINVAL;
		set_reason(reason, "invalid key description");
		goto out;
	}
	if (kr_open(uid, &kr, reason) != 0)
		goto out;
	found = kr_find(&kr, desc, &key, reason);
	if (found == 0)
		found = kr_unlink(&kr, key, reason);
	rc = found < 0 ? -1 : 0;
out:
	kr_close(&kr);
	return rc;
}

int keyring_remove_session(uid_t uid, const char *session_digest, bool *removed,
			   const char **reason)
{
	static const char *const tokens[] = { KEYRING_ACCESS, KEYRING_REFRESH };
	struct kr kr = { -1, -1 };
	key_serial_t session = -1, token[2] = { -1, -1 };
	bool match = false;
	int rc = -1, found;
	size_t i;

	if (removed != NULL)
		*removed = false;
	if (removed == NULL || !digest_ok(session_digest)) {
		errno = EINVAL;
		set_reason(reason, removed == NULL ? "missing argument" : "invalid session digest");
		goto out;
	}
	found = kr_open_session(uid, session_digest, &kr, &session, &match, reason);
	if (found != 0 || !match) {
		rc = found < 0 ? -1 : 0;
		goto out;
	}
	/* Note the tokens before unlinking the session key: a newer login puts its session
	 * key first, so tokens seen now belong to this session or an older one, and if the
	 * session key has been displaced meanwhile, the unlink below says so. */
	for (i = 0; i < 2; i++) {
		found = kr_find(&kr, tokens[i], &token[i], reason);
		if (found < 0)
			goto out;
	}
	found = kr_unlink(&kr, session, reason);
	if (found != 0) {
		rc = found < 0 ? -1 : 0;
		goto out;
	}
	*removed = true;
	rc = 0;
	for (i = 0; i < 2; i++) {
		if (token[i] >= 0 && kr_unlink(&kr, token[i], reason) < 0)
			rc = -1;
	}
out:
	kr_close(&kr);
	return rc;
}
