/* A login's credentials in the user's persistent kernel keyring (keyctl_get_persistent).
 *
 * Each credential is a "user" key linked directly into the persistent keyring of its uid,
 * under a fixed description. A key is owned by uid:gid; the possessor (a process that has
 * the persistent keyring linked into one of its keyrings, which the user and root can
 * always arrange) and the owner may view, read and search it; only the possessor may also
 * link it. Nobody may write it or change its attributes: a key is never updated in place,
 * a new key is linked over the old one, which replaces it atomically.
 *
 * The persistent keyring itself belongs to the user, and the kernel lets its possessor
 * add and unlink keys: a user can remove these keys or put keys of their own under the
 * same names. Callers must treat what they read as the user's input, never as proof.
 *
 * Keys count against the owner's key quota (kernel.keys.maxkeys/maxbytes, by default 200
 * keys and 20000 bytes per user); replacing a key needs room for both keys for a moment.
 *
 * Each call links the persistent keyring into a fresh keyring of the calling thread and
 * unlinks it before returning, so nothing stays linked in the caller's keyrings.
 * Functions return 0 on success, -1 with a fixed reason (errno kept from the failing
 * call); a `reason` argument may be NULL.
 */
#ifndef PAM_JWT_KEYRING_H
#define PAM_JWT_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KEYRING_SESSION "pam_jwt:session"   /* the session ID "pjs_..." */
#define KEYRING_ACCESS  "pam_jwt:access"    /* the current access token (a JWT) */
#define KEYRING_REFRESH "pam_jwt:refresh"   /* the current refresh token "pjr_..." */

/* A description is "pam_jwt:" followed by [a-z0-9_.-], at most KEYRING_DESC_MAX bytes. */
#define KEYRING_DESC_PREFIX "pam_jwt:"
#define KEYRING_DESC_MAX 64
/* A key's data is 1..KEYRING_DATA_MAX bytes, none of them NUL. */
#define KEYRING_DATA_MAX 16384

/* Put data under desc in uid's persistent keyring, replacing any key of that name. The key
 * is owned by uid:gid (neither may be -1). For root: giving a key to another uid needs
 * CAP_SYS_ADMIN.
 * A login puts KEYRING_SESSION first, then its tokens (see keyring_remove_session). */
int keyring_put(uid_t uid, gid_t gid, const char *desc, const void *data, size_t len,
		const char **reason);

/* As keyring_put, but only while KEYRING_SESSION holds the session whose hex SHA-256 is
 * session_digest (64 lowercase hex digits); *put tells whether it did. For renewing a
 * session's tokens without overwriting those of a newer login. If a newer login replaces
 * the session key while this runs, the key just put is unlinked again and *put is false;
 * should the newer login have linked its own key of that name in between, it lacks it
 * until that login's tokens are next renewed. */
int keyring_put_if_session(uid_t uid, gid_t gid, const char *session_digest, const char *desc,
			   const void *data, size_t len, bool *put, const char **reason);

/* Whether KEYRING_SESSION in uid's persistent keyring holds the session whose hex SHA-256
 * is session_digest (*held); a cheap test before minting what keyring_put_if_session
 * would only throw away. */
int keyring_holds_session(uid_t uid, const char *session_digest, bool *held,
			  const char **reason);

/* Read desc from uid's persistent keyring (a root process, or uid itself). 0 with *data
 * malloc'd and NUL-terminated, *len its length; 1 if there is no such key (*data NULL).
 * Free *data with keyring_data_free. */
int keyring_get(uid_t uid, const char *desc, char **data, size_t *len, const char **reason);

/* Wipe and free what keyring_get returned; NULL is fine. */
void keyring_data_free(char *data, size_t len);

/* Unlink desc from uid's persistent keyring; absent is success. */
int keyring_remove(uid_t uid, const char *desc, const char **reason);

/* Unlink the session key and both tokens, but only if KEYRING_SESSION holds the session
 * whose hex SHA-256 is session_digest (compared in constant time); *removed tells whether
 * it did. The keys are unlinked by the identity they had when the session key was read:
 * a newer login that puts its session key first and its tokens afterwards never loses
 * them, however the two interleave. */
int keyring_remove_session(uid_t uid, const char *session_digest, bool *removed,
			   const char **reason);

#endif
