/* A configuration checked before it goes live (pam-jwtctl check-config, pam-jwtd at start
 * and at reload): its consistency, and every file, directory and key it names, each
 * problem reported with where it is. */
#ifndef PAM_JWT_CFGCHECK_H
#define PAM_JWT_CFGCHECK_H

#include "config.h"
#include "keys.h"

/* pam-jwtd: signing_key must be set (else a missing one is only noted) */
#define CFGCHECK_DAEMON 0x1u
/* the file had bad lines: config_validate would only repeat what is missing because of them */
#define CFGCHECK_NO_VALIDATE 0x2u

/* Check a loaded configuration: config_validate, the verification keys (every file of
 * jwks and key, every key in them loaded), user_map, the store, persist_dir, signing_key
 * and the Redis files. Every problem goes into r; notes gets what loading the keys noted
 * (skipped keys). Returns 0 when r holds no error (warnings allowed), else -1. */
int config_check(const struct config *cfg, unsigned int flags, struct config_report *r,
		 struct keyset_notes *notes);

#endif
