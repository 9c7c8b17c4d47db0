/* JWT claim checks (RFC 7519 §4.1, RFC 8725 §3.8-3.11). */
#ifndef PAM_JWT_CLAIMS_H
#define PAM_JWT_CLAIMS_H

#include <jansson.h>
#include <stdint.h>
#include "config.h"
#include "verdict.h"

/* Check claims for `user` at time `now`; `header` is needed for the typ rule.
 * Fills v->jti when present. */
int claims_check(const struct config *cfg, const json_t *header, const json_t *claims,
		 const char *user, int64_t now, struct verdict *v);
/* Read a NumericDate (integer or finite real) into seconds, flooring reals. 0 on success. */
int claims_numeric_date(const json_t *value, int64_t *out);

#endif
