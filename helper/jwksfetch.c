/* The one implementation of the JWKS fetch: libcurl with the system CA store, TLS 1.2 or
 * later, verified certificate and host name, https only (http only to loopback, for
 * tests), no redirects, a size cap and time caps. */
#include "jwksfetch.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwksurl.h"
#include "keys.h"
#include "secfile.h"

struct body {
	char *data;
	size_t len;
	bool too_big;
};

struct headers {
	char cache_control[256];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	char *grown;

	if (n > JWKSFETCH_MAX_BODY - b->len) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	grown = realloc(b->data, b->len + n + 1);
	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct headers *h = userdata;
	size_t n = size * nmemb, len;
	static const char name[] = "cache-control:";

	if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		len = n - (sizeof(name) - 1);
		if (len >= sizeof(h->cache_control))
			len = sizeof(h->cache_control) - 1;
		memcpy(h->cache_control, ptr + sizeof(name) - 1, len);
		h->cache_control[len] = '\0';
		h->cache_control[strcspn(h->cache_control, "\r\n")] = '\0';
	}
	return n;
}

int jwksfetch_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void jwksfetch_global_cleanup(void)
{
	curl_global_cleanup();
}

/* GET url into b (and its Cache-Control into h). Only a 200 answer counts. */
static int http_get(const char *url, struct body *b, struct headers *h, struct verdict *v)
{
	CURL *c;
	CURLcode cc;
	long status = 0;
	int rc = -1;

	if (jwksurl_check(url, v) != 0)
		return -1;
	c = curl_easy_init();
	if (c == NULL)
		return verdict_set(v, VERDICT_UNAVAILABLE, "cannot start an HTTP client");
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, JWKSFETCH_CONNECT_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, JWKSFETCH_TOTAL_TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)JWKSFETCH_MAX_BODY) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, h) != CURLE_OK) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot set up the HTTP client");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWKS fetch: response larger than 1 MiB");
		goto out;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	    cc == CURLE_SSL_CONNECT_ERROR) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWKS fetch: TLS certificate or handshake refused");
		goto out;
	}
	if (cc != CURLE_OK) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWKS fetch: transfer failed");
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
		verdict_setf_seconds(v, VERDICT_UNAVAILABLE, "JWKS fetch: HTTP status not 200",
				     "HTTP %lld", (long long)status);
		goto out;
	}
	if (b->data == NULL || b->len == 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWKS fetch: empty response");
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(c);
	return rc;
}

int jwksfetch_run(const struct config *cfg, int64_t *next_refresh, struct verdict *v)
{
	char url[JWKSURL_MAX];
	struct body doc = { 0 }, jwks = { 0 };
	struct headers dh = { { 0 } }, jh = { { 0 } };
	struct keyset *ks = NULL;
	int rc = -1;

	*next_refresh = cfg->jwks_refresh;
	if (cfg->jwks_cache == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "jwks_cache is not set");
		goto out;
	}
	if (cfg->jwks_url != NULL) {
		if (strlen(cfg->jwks_url) >= sizeof(url)) {
			verdict_set(v, VERDICT_BAD_CONFIG, "jwks_url too long");
			goto out;
		}
		memcpy(url, cfg->jwks_url, strlen(cfg->jwks_url) + 1);
	} else {
		char disc[JWKSURL_MAX];

		if (jwksurl_discovery(cfg->issuer, disc, sizeof(disc), v) != 0 ||
		    http_get(disc, &doc, &dh, v) != 0 ||
		    jwksurl_parse_discovery(doc.data, doc.len, cfg->issuer, url, sizeof(url), v) != 0)
			goto out;
	}
	if (http_get(url, &jwks, &jh, v) != 0)
		goto out;
	/* The cache is world-readable: only public keys are accepted (secret_ok false). */
	ks = keyset_new();
	if (ks == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (keyset_add_jwks_json(ks, jwks.data, jwks.len, false, v) != 0)
		goto out;
	if (ks->count == 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "JWKS fetch: no usable key");
		goto out;
	}
	if (secfile_write_atomic(cfg->jwks_cache, jwks.data, jwks.len, 0644, v) != 0)
		goto out;
	if (jh.cache_control[0] != '\0')
		*next_refresh = jwksurl_refresh_from_cache_control(jh.cache_control,
								   cfg->jwks_refresh);
	rc = 0;
out:
	keyset_free(ks);
	free(doc.data);
	free(jwks.data);
	return rc;
}
