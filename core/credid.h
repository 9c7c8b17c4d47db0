/*
 * Credentials the host issues, and the digests that name them.
 *
 * A session ID is "pjs_" + base64url of 256 random bits; a refresh token is "pjr_" +
 * base64url of 256 random bits, the first 128 of which name its family (the chain of
 * tokens one session's client rotates through) and the last 128 are its secret. Nothing
 * keeps a credential: stores keep the hex SHA-256 of it (or of its family part), and
 * that digest names the record.
 */
#ifndef PAM_JWT_CREDID_H
#define PAM_JWT_CREDID_H

#include <stdbool.h>
#include <stddef.h>

#define STORE_SESSION_PREFIX "pjs_"
#define STORE_REFRESH_PREFIX "pjr_"
#define STORE_ID_RAW_BYTES 32
/* the part of a refresh token's random bytes that names its family */
#define STORE_REFRESH_FAMILY_BYTES 16
/* "pjs_" + 43 base64url characters */
#define STORE_SESSION_ID_LEN (4 + 43)
#define STORE_DIGEST_HEX_LEN 64

/* A new random session ID into id_out. 0, or -1 (no randomness). */
int store_session_id_new(char id_out[STORE_SESSION_ID_LEN + 1]);
/* True if the string has the exact shape of a session ID (prefix, length, charset). */
bool store_session_id_looks_like(const char *s, size_t len);

/* A new refresh token, the first of a new family. 0, or -1. */
int store_refresh_id_new(char id_out[STORE_SESSION_ID_LEN + 1]);
/* The next token of old's family: the same family part, a new secret. 0, or -1 (old is
 * not a refresh token, or no randomness). */
int store_refresh_id_next(const char *old, char id_out[STORE_SESSION_ID_LEN + 1]);
bool store_refresh_id_looks_like(const char *s, size_t len);
/* The hex SHA-256 of a refresh token's family part (what names the family). 0, or -1. */
int store_refresh_family_digest(const char *token, char out[STORE_DIGEST_HEX_LEN + 1]);

/* Hex SHA-256 of arbitrary bytes (what names a record). 0, or -1 (out is ""). */
int store_digest(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1]);
/* The same, for callers that cannot act on a failure (out is "" then, which names
 * nothing). */
void store_digest_hex(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1]);
/* True if s is exactly 64 lowercase hex digits. */
bool store_digest_looks_like(const char *s);

#endif
