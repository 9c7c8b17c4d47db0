/* Fetch the issuer's JWKS over HTTPS and write it to the jwks_cache file. Shared by
 * pam-jwtd (periodically) and pam-jwtctl jwks fetch (once). Never linked into the module. */
#ifndef PAM_JWT_JWKSFETCH_H
#define PAM_JWT_JWKSFETCH_H

#include <stdint.h>
#include "config.h"
#include "verdict.h"

#define JWKSFETCH_MAX_BODY (1024 * 1024)
#define JWKSFETCH_CONNECT_TIMEOUT 5L
#define JWKSFETCH_TOTAL_TIMEOUT 15L

/* Once per process, before any fetch (libcurl global state). */
int jwksfetch_global_init(void);
void jwksfetch_global_cleanup(void);

/* Discovery (unless jwks_url), fetch, check that the keys load (one usable key at least)
 * and replace cfg->jwks_cache atomically (0644). On any failure the cache file is left as
 * it was. *next_refresh gets the interval to wait (cfg->jwks_refresh, or the response's
 * Cache-Control max-age within bounds). Returns 0, or -1 with v set. */
int jwksfetch_run(const struct config *cfg, int64_t *next_refresh, struct verdict *v);

#endif
