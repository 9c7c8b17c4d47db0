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
/* The login name the token's user claim stands for, malloc'd in *name; the one rule
 * wherever a token is matched to a user:
 * - the claim is the string at user_claim (a name, or a JSON Pointer), without NUL bytes;
 * - with user_map: the account the file maps that exact value to, and nothing else;
 * - otherwise, with user_domain or user_case=lower, the claim must be printable ASCII
 *   without spaces; with user_domain it must be NAME@DOMAIN (one '@', NAME non-empty,
 *   DOMAIN one of user_domain, ASCII case ignored) and stands for NAME; with
 *   user_case=lower that name is lowercased (ASCII);
 * - otherwise the claim itself, byte for byte.
 * REJECT when the token names no login, UNAVAILABLE when the map cannot be used,
 * BAD_CONFIG when user_map is set with user_domain or user_case=lower. */
int claims_user_name(const struct config *cfg, const json_t *claims, char **name,
		     struct verdict *v);
/* Put into `claims` (a token being minted) the user claim that claims_user_name reads back
 * as exactly `user`: at user_claim, as USER@DOMAIN with the first user_domain, or the first
 * user_map value (file order) that maps to user. */
int claims_set_user(const struct config *cfg, json_t *claims, const char *user,
		    struct verdict *v);
/* Read a NumericDate (integer or finite real) into seconds, flooring reals. 0 on success. */
int claims_numeric_date(const json_t *value, int64_t *out);

#endif
