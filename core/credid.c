/* Credentials the host issues and the digests that name them (see credid.h). */
#include "credid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64url.h"

/* SHA-256, fetched from the default provider once per process rather than looked up again
 * at every digest (EVP_sha256 does that). The method stays cached by libcrypto anyway, so
 * the reference is not given back. */
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_fetched;

static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	if (!CRYPTO_THREAD_run_once(&sha256_once, sha256_fetch) || sha256_fetched == NULL)
		return EVP_sha256();
	return sha256_fetched;
}

int store_digest(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0, i;
	int rc = -1;

	out[0] = '\0';
	if (EVP_Digest(data, len, md, &md_len, sha256_md(), NULL) != 1 ||
	    md_len * 2 != STORE_DIGEST_HEX_LEN)
		goto out;
	for (i = 0; i < md_len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[STORE_DIGEST_HEX_LEN] = '\0';
	rc = 0;
out:
	return rc;
}

void store_digest_hex(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1])
{
	(void)store_digest(data, len, out);
}

bool store_digest_looks_like(const char *s)
{
	size_t i;
	bool ok = s != NULL && strnlen(s, STORE_DIGEST_HEX_LEN + 1) == STORE_DIGEST_HEX_LEN;

	for (i = 0; ok && i < STORE_DIGEST_HEX_LEN; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	return ok;
}

static int b64url_index(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static int random_bytes(unsigned char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int rc = -1;

	while (done < len) {
		n = getrandom(buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	rc = 0;
out:
	return rc;
}

/* prefix + base64url of raw (STORE_ID_RAW_BYTES). */
static void id_encode(const char *prefix, const unsigned char *raw,
		      char id_out[STORE_SESSION_ID_LEN + 1])
{
	memcpy(id_out, prefix, 4);
	b64url_encode(raw, STORE_ID_RAW_BYTES, id_out + 4);
}

/* A new random credential: prefix + base64url of 256 random bits. */
static int random_id_new(const char *prefix, char id_out[STORE_SESSION_ID_LEN + 1])
{
	unsigned char raw[STORE_ID_RAW_BYTES];
	int rc = -1;

	memset(id_out, 0, STORE_SESSION_ID_LEN + 1);
	if (random_bytes(raw, sizeof(raw)) != 0)
		goto out;
	id_encode(prefix, raw, id_out);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int store_session_id_new(char id_out[STORE_SESSION_ID_LEN + 1])
{
	return random_id_new(STORE_SESSION_PREFIX, id_out);
}

int store_refresh_id_new(char id_out[STORE_SESSION_ID_LEN + 1])
{
	return random_id_new(STORE_REFRESH_PREFIX, id_out);
}

/* The exact shape of a credential with this prefix (length, charset, spare bits). */
static bool random_id_looks_like(const char *prefix, const char *s, size_t len)
{
	size_t i;
	int idx = -1;

	if (s == NULL || len != STORE_SESSION_ID_LEN || memcmp(s, prefix, 4) != 0)
		return false;
	for (i = 4; i < len; i++) {
		idx = b64url_index(s[i]);
		if (idx < 0)
			return false;
	}
	/* 43 characters carry 258 bits: the last one's 2 spare bits must be zero. */
	return (idx & 3) == 0;
}

bool store_session_id_looks_like(const char *s, size_t len)
{
	return random_id_looks_like(STORE_SESSION_PREFIX, s, len);
}

bool store_refresh_id_looks_like(const char *s, size_t len)
{
	return random_id_looks_like(STORE_REFRESH_PREFIX, s, len);
}

/* The raw bytes of a refresh token. 0, or -1 if it is not one. */
static int refresh_raw(const char *token, unsigned char raw[STORE_ID_RAW_BYTES + 2])
{
	size_t n = 0;

	if (token == NULL ||
	    !store_refresh_id_looks_like(token, strnlen(token, STORE_SESSION_ID_LEN + 1)) ||
	    b64url_decode(token + 4, STORE_SESSION_ID_LEN - 4, raw, &n) != 0 ||
	    n != STORE_ID_RAW_BYTES)
		return -1;
	return 0;
}

int store_refresh_id_next(const char *old, char id_out[STORE_SESSION_ID_LEN + 1])
{
	unsigned char raw[STORE_ID_RAW_BYTES + 2];
	int rc = -1;

	memset(id_out, 0, STORE_SESSION_ID_LEN + 1);
	if (refresh_raw(old, raw) != 0 ||
	    random_bytes(raw + STORE_REFRESH_FAMILY_BYTES,
			 STORE_ID_RAW_BYTES - STORE_REFRESH_FAMILY_BYTES) != 0)
		goto out;
	id_encode(STORE_REFRESH_PREFIX, raw, id_out);
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int store_refresh_family_digest(const char *token, char out[STORE_DIGEST_HEX_LEN + 1])
{
	unsigned char raw[STORE_ID_RAW_BYTES + 2];
	int rc = -1;

	out[0] = '\0';
	if (refresh_raw(token, raw) != 0)
		goto out;
	rc = store_digest(raw, STORE_REFRESH_FAMILY_BYTES, out);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}
