/* Times as people read them: ISO 8601 in UTC, for pam-jwtctl's human output and pam-jwtd's
 * log (JSON keeps seconds since the epoch). */
#ifndef PAM_JWT_ISOTIME_H
#define PAM_JWT_ISOTIME_H

#include <stdint.h>

#define ISO_TIME_LEN 32

/* "2026-01-01T00:00:00Z"; "@SECONDS" for a time gmtime cannot give. */
void iso_time(int64_t t, char buf[ISO_TIME_LEN]);

#endif
