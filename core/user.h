/* User names as the system knows them.
 *
 * NSS may give one account for several spellings of its name: sssd and winbind with
 * case-insensitive names answer getpwnam("Alice") with the account "alice". Everything keyed
 * by a user name (locks, sessions, revocations by user) is keyed by the account's own name,
 * pw_name, so a name a person typed must be turned into that name before it is used as a key.
 */
#ifndef PAM_JWT_USER_H
#define PAM_JWT_USER_H

#include <stddef.h>

#include "verdict.h"

/* The account name (pw_name) NSS gives for `name`, copied to out (size bytes).
 * 0: NSS knows the user; out holds its pw_name, which may differ from name.
 * 1: NSS knows no such user; out holds name unchanged.
 * -1: the lookup failed (an NSS source did not answer), or a name does not fit out, or
 *     name is NULL or empty; out is empty and v says why (VERDICT_UNAVAILABLE, or
 *     VERDICT_REJECT for a name that is empty or too long). */
int user_canonical_name(const char *name, char *out, size_t size, struct verdict *v);

#endif
