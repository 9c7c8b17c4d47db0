/* URL policy, discovery document and Cache-Control for the JWKS fetcher. */
#include "jwksurl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DISCOVERY_SUFFIX "/.well-known/openid-configuration"

static bool host_is_loopback(const char *host, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;
	struct in6_addr a6;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	/* inet_pton takes only dotted quads, so "127.1" or names are not loopback here. */
	return inet_pton(AF_INET, buf, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

int jwksurl_check(const char *url, struct verdict *v)
{
	const char *host, *end, *p;
	size_t hostlen;
	bool https;

	if (url == NULL || strlen(url) >= JWKSURL_MAX)
		return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL missing or too long");
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL has a space or control character");
	if (strncmp(url, "https://", 8) == 0) {
		https = true;
		host = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		https = false;
		host = url + 7;
	} else {
		return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL scheme is not https");
	}
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL has user info");
	/* Drop a port: after the last ':' unless it is inside an IPv6 literal. */
	hostlen = (size_t)(end - host);
	for (p = end; p > host; p--) {
		if (p[-1] == ']')
			break;
		if (p[-1] == ':') {
			hostlen = (size_t)(p - 1 - host);
			break;
		}
	}
	if (hostlen == 0)
		return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL has no host");
	if (!https && !host_is_loopback(host, hostlen))
		return verdict_set(v, VERDICT_BAD_CONFIG, "JWKS URL: http only to a loopback address");
	return 0;
}

int jwksurl_discovery(const char *issuer, char *out, size_t out_size, struct verdict *v)
{
	size_t len = issuer != NULL ? strlen(issuer) : 0;
	int n;

	while (len > 0 && issuer[len - 1] == '/')
		len--;
	if (len == 0 || len > (size_t)JWKSURL_MAX)
		return verdict_set(v, VERDICT_BAD_CONFIG, "issuer missing or too long");
	n = snprintf(out, out_size, "%.*s%s", (int)len, issuer, DISCOVERY_SUFFIX);
	if (n < 0 || (size_t)n >= out_size)
		return verdict_set(v, VERDICT_BAD_CONFIG, "discovery URL too long");
	return jwksurl_check(out, v);
}

int jwksurl_parse_discovery(const char *text, size_t len, const char *issuer, char *out,
			    size_t out_size, struct verdict *v)
{
	json_t *doc;
	const char *iss, *uri;
	int rc = -1;

	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL || !json_is_object(doc)) {
		verdict_set(v, VERDICT_UNAVAILABLE, "discovery document is not a JSON object");
		goto out;
	}
	iss = json_string_value(json_object_get(doc, "issuer"));
	if (iss == NULL || issuer == NULL || strcmp(iss, issuer) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "discovery document names another issuer");
		goto out;
	}
	uri = json_string_value(json_object_get(doc, "jwks_uri"));
	if (uri == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "discovery document has no jwks_uri");
		goto out;
	}
	if (jwksurl_check(uri, v) != 0)
		goto out;
	if (strlen(uri) >= out_size) {
		verdict_set(v, VERDICT_UNAVAILABLE, "jwks_uri too long");
		goto out;
	}
	memcpy(out, uri, strlen(uri) + 1);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static int64_t clamp_refresh(int64_t s, int64_t floor)
{
	if (s < floor)
		return floor;
	if (s > JWKS_REFRESH_MAX)
		return JWKS_REFRESH_MAX;
	return s;
}

int64_t jwksurl_refresh_from_cache_control(const char *header, int64_t fallback)
{
	const char *p = header;
	int64_t result = fallback;
	/* an admin who asks for more frequent fetches than the floor gets them */
	int64_t floor = fallback > 0 && fallback < JWKS_REFRESH_MIN ? fallback : JWKS_REFRESH_MIN;
	bool seen = false;

	while (p != NULL && *p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ",");
		if ((n == 8 && strncasecmp(p, "no-store", 8) == 0) ||
		    (n == 8 && strncasecmp(p, "no-cache", 8) == 0))
			return floor;
		if (!seen && n > 8 && strncasecmp(p, "max-age=", 8) == 0) {
			int64_t val = 0;
			size_t i;
			bool ok = true;

			for (i = 8; i < n && p[i] != ' ' && p[i] != '\t'; i++) {
				if (!isdigit((unsigned char)p[i])) {
					ok = false;
					break;
				}
				if (val <= JWKS_REFRESH_MAX)
					val = val * 10 + (p[i] - '0');
			}
			if (ok && i > 8) {
				result = clamp_refresh(val, floor);
				seen = true;
			}
		}
		p += n;
	}
	return result;
}
