/*
 * A login's tokens: asking pam-jwtd for them when a session opens, and keeping them (and
 * the session ID) in the user's persistent keyring, where sudo with token_source=keyring
 * finds them. Decides only; never logs, never sees a PAM handle.
 */
#ifndef PAM_JWT_TOKENS_H
#define PAM_JWT_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "verdict.h"

/* How long the module waits for pam-jwtd (milliseconds): a login never hangs on it. */
#define TOKENS_DAEMON_TIMEOUT_MS 3000

/* Ask pam-jwtd for an access token and a refresh token for the session with this digest
 * (the caller is root: the daemon checks that through SO_PEERCRED). On success *access and
 * *refresh are malloc'd; release them with tokens_free. */
int tokens_request(const struct config *cfg, const char *session_digest, char **access,
		   char **refresh, struct verdict *v);
/* Wipe and free a token; NULL ok. */
void tokens_free(char *token);

/* Put the session ID, and the tokens when not NULL, into uid's persistent keyring. */
int tokens_keyring_store(uid_t uid, gid_t gid, const char *session_id, const char *access,
			 const char *refresh, struct verdict *v);

/* The credential a login left in uid's keyring: the session ID (preferred: its revocation
 * is exact), else the access token; only the kinds asked for (session_id, access_token).
 * 0 with *credential malloc'd (tokens_free); 1 when the keyring holds none of them; -1 with
 * v set. */
int tokens_keyring_credential(uid_t uid, bool session_id, bool access_token,
			      char **credential, struct verdict *v);

#endif
