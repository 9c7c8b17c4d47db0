/* The pure rules for fetching an issuer's keys: which URLs may be fetched, the discovery
 * document and its issuer check, and the refresh interval taken from Cache-Control.
 * No network access here; pam-jwtd and pam-jwtctl do the fetching. */
#ifndef PAM_JWT_JWKSURL_H
#define PAM_JWT_JWKSURL_H

#include <stddef.h>
#include <stdint.h>
#include "verdict.h"

#define JWKSURL_MAX 2048
#define JWKS_REFRESH_MIN 300     /* Cache-Control max-age bounds, seconds */
#define JWKS_REFRESH_MAX 86400

/* 0 when url may be fetched: https://host..., or http:// only to a loopback address
 * (127.0.0.0/8 or [::1]). No user info, no control characters or spaces. */
int jwksurl_check(const char *url, struct verdict *v);

/* ISSUER/.well-known/openid-configuration (one slash between them) into out. */
int jwksurl_discovery(const char *issuer, char *out, size_t out_size, struct verdict *v);

/* Parse a discovery document: its "issuer" must equal issuer exactly and its "jwks_uri"
 * must pass jwksurl_check. The URI is copied into out. */
int jwksurl_parse_discovery(const char *text, size_t len, const char *issuer, char *out,
			    size_t out_size, struct verdict *v);

/* The refresh interval for a response: max-age from a Cache-Control header value clamped
 * to [floor, JWKS_REFRESH_MAX], where floor is JWKS_REFRESH_MIN or fallback (the admin's
 * jwks_refresh) when that is shorter; no-store/no-cache/max-age=0 give the floor; no
 * usable directive (or header NULL) gives fallback unchanged. */
int64_t jwksurl_refresh_from_cache_control(const char *header, int64_t fallback);

#endif
