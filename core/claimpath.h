/* Where a claim is: a plain member name of the claims object, or an RFC 6901 JSON Pointer
 * into nested objects. A spec that starts with '/' is a pointer; any other is a name. */
#ifndef PAM_JWT_CLAIMPATH_H
#define PAM_JWT_CLAIMPATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The longest pointer, in bytes, and the most member names it may hold. */
#define CLAIMPATH_MAX_LEN 1024
#define CLAIMPATH_MAX_DEPTH 16

/* Whether `spec` is usable: a non-empty name, or a pointer of at most CLAIMPATH_MAX_LEN
 * bytes and CLAIMPATH_MAX_DEPTH names, none empty, every '~' followed by '0' or '1'. */
bool claimpath_valid(const char *spec);
/* The value `spec` addresses in `claims`, or NULL. A pointer steps through objects only:
 * a step into anything else (an array too) finds nothing. */
const json_t *claimpath_get(const json_t *claims, const char *spec);
/* Put `value` (a reference is taken in every case) where `spec` addresses it, making the
 * objects on the way. -1 if spec is invalid or a step meets something not an object. */
int claimpath_set(json_t *claims, const char *spec, json_t *value);

#endif
