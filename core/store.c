/*
 * The session store (see store.h): one small text record per session, revoked JWT id,
 * used single-use JWT id, user lock and per-user index, plus a session counter, all in
 * one root-owned 0700 directory on tmpfs, reached only through a directory fd.
 *
 * Record names: "s-", "j-", "u-", "l-", "i-" + 64 lowercase hex (see store.h), and
 * "c-total" (the number of "s-" records, kept under the lock). Temporary files are
 * ".tmp.<16 hex>"; ".lock" is the flock(2) file.
 *
 * Record format (record_parse is strict; anything else does not parse):
 *
 *     pam_jwt-store 1
 *     kind=<session|revoked-jti|used-jti|lock|index|counter>
 *     key=value
 *     ...
 *
 * "kind" is the first key; every other key of the kind appears exactly once (index
 * records: "user" once, then any number of "s=<digest>" lines, no digest twice); no
 * unknown key; numbers are unsigned decimal without leading zeros; values are UTF-8
 * without control characters (text_ok; the writer refuses anything else rather than alter
 * it); lines are at most STORE_LINE_MAX bytes; the text ends with a newline.
 *
 * Callers pass `exp` values that already include their verifier's leeway: a revoked or
 * used JWT id is forgotten once `exp` is in the past.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "secmem.h"

#define STORE_HEADER "pam_jwt-store 1\n"
#define STORE_HEADER_LEN (sizeof(STORE_HEADER) - 1)
#define STORE_LINE_MAX 512
#define STORE_RECORD_MAX 4096
/* An index holds one "s=<digest>" line per session of its user; it may grow past
 * STORE_RECORD_MAX, up to a hard per-user ceiling that applies even without a limit. */
#define STORE_INDEX_MAX_ENTRIES 1024
#define STORE_INDEX_MAX (STORE_RECORD_MAX + STORE_INDEX_MAX_ENTRIES * (2 + 64 + 1))
#define STORE_NAME_LEN (2 + STORE_DIGEST_HEX_LEN)
#define STORE_NAME_SIZE (STORE_NAME_LEN + 1)
#define STORE_COUNTER_NAME "c-total"
#define STORE_INTENT_NAME "c-intent"
#define STORE_LOCK_NAME ".lock"
#define STORE_TMP_PREFIX ".tmp."
/* How long a writer waits for the store's lock before refusing (milliseconds). */
#define STORE_LOCK_WAIT_MS 10000
/* How many ancestors a session may have (sessions opened with a session ID). */
#define STORE_LINEAGE_MAX 8

struct store {
	int dirfd;
	int lockfd;
	struct store_options opts;
};

enum record_status {
	REC_UNREADABLE = -1, /* not a regular file, too large, I/O error, does not parse */
	REC_PRESENT = 0,
	REC_ABSENT = 1,
};

/* ---- small helpers ------------------------------------------------------------------ */

static int owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static int is_hex_lower(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int is_digest(const char *s)
{
	return s != NULL && strnlen(s, STORE_DIGEST_HEX_LEN + 1) == STORE_DIGEST_HEX_LEN &&
	       is_hex_lower(s, STORE_DIGEST_HEX_LEN);
}

static int digest_or_empty(const char *s)
{
	return s[0] == '\0' || is_digest(s);
}

/* Text a record may hold: UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without
 * control characters (C0, DEL, C1). So every value is a valid JSON string (jansson refuses
 * anything else) and safe to show on a terminal or in a log. */
static int text_ok(const char *s, size_t n)
{
	size_t i = 0, k, len = 1;
	unsigned long cp;
	unsigned char c;
	int ok = 1;

	while (ok && i < n) {
		c = (unsigned char)s[i];
		cp = c;
		len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
		      c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		if (len > 1)
			cp = c & (0x7f >> len);
		ok = len != 0 && len <= n - i;
		for (k = 1; ok && k < len; k++) {
			c = (unsigned char)s[i + k];
			ok = (c & 0xc0) == 0x80;
			cp = (cp << 6) | (c & 0x3f);
		}
		/* C0, DEL, C1 (U+0080..U+009F), overlong forms, surrogates, past U+10FFFF */
		ok = ok && cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f) &&
		     !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
		     !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
		i += len;
	}
	return ok;
}

/* A text field of a record: NUL-terminated within STORE_FIELD_MAX, text_ok. */
static int field_ok(const char *s, int nonempty)
{
	size_t n = strnlen(s, STORE_FIELD_MAX);

	return n < STORE_FIELD_MAX && !(nonempty && n == 0) && text_ok(s, n);
}

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

static int digest_hex(const void *data, size_t len, char out[STORE_DIGEST_HEX_LEN + 1])
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
	(void)digest_hex(data, len, out);
}

static void record_name(char name[STORE_NAME_SIZE], char kind, const char *digest)
{
	name[0] = kind;
	name[1] = '-';
	memcpy(name + 2, digest, STORE_DIGEST_HEX_LEN);
	name[STORE_NAME_LEN] = '\0';
}

/* The record name for a kind and the digest of a string; -1 if hashing failed. */
static int record_name_for(char name[STORE_NAME_SIZE], char kind, const char *what)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int rc = -1;

	name[0] = '\0';
	if (digest_hex(what, strlen(what), digest) != 0)
		goto out;
	record_name(name, kind, digest);
	rc = 0;
out:
	return rc;
}

/* ---- growable text buffer ------------------------------------------------------------ */

struct textbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static void tb_add(struct textbuf *tb, const char *s, size_t n)
{
	char *grown;
	size_t cap;

	if (tb->failed)
		return;
	if (tb->cap - tb->len <= n) {
		cap = tb->cap ? tb->cap : 512;
		while (cap - tb->len <= n)
			cap *= 2;
		grown = realloc(tb->p, cap);
		if (grown == NULL) {
			tb->failed = 1;
			return;
		}
		tb->p = grown;
		tb->cap = cap;
	}
	memcpy(tb->p + tb->len, s, n);
	tb->len += n;
	tb->p[tb->len] = '\0';
}

static void tb_str(struct textbuf *tb, const char *s)
{
	tb_add(tb, s, strlen(s));
}

/* key=value\n. A value the format cannot hold (too long, not field_ok) fails the whole
 * text: the writer refuses rather than alters it. */
static void tb_field(struct textbuf *tb, const char *key, const char *value)
{
	if (!field_ok(value, 0)) {
		tb->failed = 1;
		return;
	}
	tb_str(tb, key);
	tb_add(tb, "=", 1);
	tb_str(tb, value);
	tb_add(tb, "\n", 1);
}

static void tb_num(struct textbuf *tb, const char *key, unsigned long long value)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s=%llu\n", key, value);

	if (n > 0 && (size_t)n < sizeof(line))
		tb_add(tb, line, (size_t)n);
	else
		tb->failed = 1;
}

static unsigned long long clamp_u(int64_t value)
{
	return value < 0 ? 0 : (unsigned long long)value;
}

static char *tb_finish(struct textbuf *tb)
{
	char *p = NULL;

	if (!tb->failed && tb->p != NULL) {
		p = tb->p;
		tb->p = NULL;
	}
	free(tb->p);
	tb->p = NULL;
	return p;
}

/* ---- lists of digests (index records, scans) --------------------------------------- */

struct digest_list {
	char (*d)[STORE_NAME_SIZE]; /* digests, or record names in scans */
	size_t n, cap;
};

static void dl_free(struct digest_list *dl)
{
	if (dl == NULL)
		return;
	free(dl->d);
	dl->d = NULL;
	dl->n = dl->cap = 0;
}

static int dl_add(struct digest_list *dl, const char *s, size_t len)
{
	char (*grown)[STORE_NAME_SIZE];
	size_t cap;
	int rc = -1;

	if (len >= STORE_NAME_SIZE)
		goto out;
	if (dl->n == dl->cap) {
		cap = dl->cap ? dl->cap * 2 : 16;
		grown = realloc(dl->d, cap * sizeof(*dl->d));
		if (grown == NULL)
			goto out;
		dl->d = grown;
		dl->cap = cap;
	}
	memcpy(dl->d[dl->n], s, len);
	dl->d[dl->n][len] = '\0';
	dl->n++;
	rc = 0;
out:
	return rc;
}

static int dl_find(const struct digest_list *dl, const char *s)
{
	size_t i;

	for (i = 0; i < dl->n; i++) {
		if (strcmp(dl->d[i], s) == 0)
			return (int)i;
	}
	return -1;
}

static void dl_remove_at(struct digest_list *dl, size_t i)
{
	if (i + 1 < dl->n)
		memmove(dl->d[i], dl->d[i + 1], (dl->n - i - 1) * sizeof(*dl->d));
	dl->n--;
}

/* ---- the record parser --------------------------------------------------------------- */

enum field_type { FT_STR, FT_NUM };

struct field_def {
	const char *key;
	enum field_type type;
	unsigned long long max; /* FT_NUM */
	int nonempty;           /* FT_STR */
};

#define REC_MAX_FIELDS 16

struct rec_schema {
	const char *kind;
	const struct field_def *fields;
	size_t n;
	int index; /* "s=<digest>" lines allowed */
};

struct rec_vals {
	char str[REC_MAX_FIELDS][STORE_FIELD_MAX];
	unsigned long long num[REC_MAX_FIELDS];
	struct digest_list *digests; /* index records */
};

#define NUM_MAX ((unsigned long long)INT64_MAX)

static const struct field_def session_fields[] = {
	{ "user", FT_STR, 0, 1 },
	{ "uid", FT_NUM, (unsigned long long)UINT32_MAX - 1, 0 },
	{ "service", FT_STR, 0, 0 },
	{ "tty", FT_STR, 0, 0 },
	{ "rhost", FT_STR, 0, 0 },
	{ "pid", FT_NUM, (unsigned long long)INT32_MAX, 0 },
	{ "created", FT_NUM, NUM_MAX, 0 },
	{ "expires", FT_NUM, NUM_MAX, 0 },
	{ "idle", FT_NUM, NUM_MAX, 0 },
	{ "last_seen", FT_NUM, NUM_MAX, 0 },
	{ "leader_start", FT_NUM, NUM_MAX, 0 },
	{ "parent", FT_STR, 0, 0 },
	{ "origin_jti", FT_STR, 0, 0 },
	{ "tokens", FT_NUM, 1, 0 },
};
enum { SF_USER, SF_UID, SF_SERVICE, SF_TTY, SF_RHOST, SF_PID, SF_CREATED, SF_EXPIRES,
       SF_IDLE, SF_LAST_SEEN, SF_LEADER_START, SF_PARENT, SF_ORIGIN_JTI, SF_TOKENS };
static const struct field_def refresh_fields[] = {
	{ "session", FT_STR, 0, 1 },
	{ "user", FT_STR, 0, 1 },
	{ "uid", FT_NUM, (unsigned long long)UINT32_MAX - 1, 0 },
	{ "created", FT_NUM, NUM_MAX, 0 },
	{ "expires", FT_NUM, NUM_MAX, 0 },
	{ "used", FT_NUM, 1, 0 },
	{ "next", FT_STR, 0, 0 },
};
enum { RF_SESSION, RF_USER, RF_UID, RF_CREATED, RF_EXPIRES, RF_USED, RF_NEXT };
static const struct field_def exp_fields[] = { { "exp", FT_NUM, NUM_MAX, 0 } };
static const struct field_def lock_fields[] = { { "user", FT_STR, 0, 1 },
						{ "until", FT_NUM, NUM_MAX, 0 } };
static const struct field_def index_fields[] = { { "user", FT_STR, 0, 1 } };
static const struct field_def counter_fields[] = { { "n", FT_NUM, NUM_MAX, 0 } };
static const struct field_def intent_fields[] = { { "user", FT_STR, 0, 0 },
						  { "session", FT_STR, 0, 1 } };

#define SCHEMA(kind, f, idx) { kind, f, sizeof(f) / sizeof((f)[0]), idx }
static const struct rec_schema schema_session = SCHEMA("session", session_fields, 0);
static const struct rec_schema schema_refresh = SCHEMA("refresh", refresh_fields, 0);
static const struct rec_schema schema_jti = SCHEMA("revoked-jti", exp_fields, 0);
static const struct rec_schema schema_used = SCHEMA("used-jti", exp_fields, 0);
static const struct rec_schema schema_lock = SCHEMA("lock", lock_fields, 0);
static const struct rec_schema schema_index = SCHEMA("index", index_fields, 1);
static const struct rec_schema schema_counter = SCHEMA("counter", counter_fields, 0);
static const struct rec_schema schema_intent = SCHEMA("intent", intent_fields, 0);

static int parse_num(const char *s, size_t n, unsigned long long max, unsigned long long *out)
{
	unsigned long long value = 0;
	size_t i;
	int rc = -1;

	*out = 0;
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		goto out;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto out;
		if ((unsigned long long)(s[i] - '0') > max ||
		    value > (max - (unsigned long long)(s[i] - '0')) / 10)
			goto out;
		value = value * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = value;
	rc = 0;
out:
	return rc;
}

static int parse_value(const struct field_def *f, const char *val, size_t vlen,
		       char str[STORE_FIELD_MAX], unsigned long long *num)
{
	int rc = -1;

	if (f->type == FT_NUM) {
		rc = parse_num(val, vlen, f->max, num);
		goto out;
	}
	if (vlen >= STORE_FIELD_MAX || (f->nonempty && vlen == 0))
		goto out;
	memcpy(str, val, vlen);
	str[vlen] = '\0';
	rc = 0;
out:
	return rc;
}

/* One "key=value" line (no newline); its text was checked already (text_ok). */
static int parse_line(const struct rec_schema *schema, struct rec_vals *vals,
		      unsigned int *seen, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);
	const char *val;
	size_t klen, vlen, i;
	int rc = -1;

	if (eq == NULL)
		goto out;
	klen = (size_t)(eq - line);
	val = eq + 1;
	vlen = len - klen - 1;
	if (schema->index && klen == 1 && line[0] == 's') {
		if (vlen != STORE_DIGEST_HEX_LEN || !is_hex_lower(val, vlen) ||
		    vals->digests->n >= STORE_INDEX_MAX_ENTRIES)
			goto out;
		for (i = 0; i < vals->digests->n; i++) {
			if (memcmp(vals->digests->d[i], val, vlen) == 0)
				goto out;
		}
		rc = dl_add(vals->digests, val, vlen);
		goto out;
	}
	for (i = 0; i < schema->n; i++) {
		if (strlen(schema->fields[i].key) == klen &&
		    memcmp(schema->fields[i].key, line, klen) == 0)
			break;
	}
	if (i == schema->n || (*seen & (1u << i)) != 0)
		goto out;
	*seen |= 1u << i;
	rc = parse_value(&schema->fields[i], val, vlen, vals->str[i], &vals->num[i]);
out:
	return rc;
}

static int record_parse(const char *text, size_t len, const struct rec_schema *schema,
			struct rec_vals *vals)
{
	const char *p, *end = text + len, *nl;
	unsigned int seen = 0;
	size_t kind_len = strlen(schema->kind);
	int rc = -1, first = 1;

	if (len < STORE_HEADER_LEN || memcmp(text, STORE_HEADER, STORE_HEADER_LEN) != 0 ||
	    text[len - 1] != '\n')
		goto out;
	for (p = text + STORE_HEADER_LEN; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || (size_t)(nl - p) > STORE_LINE_MAX)
			goto out;
		if (!text_ok(p, (size_t)(nl - p)))
			goto out;
		if (first) {
			if ((size_t)(nl - p) != 5 + kind_len || memcmp(p, "kind=", 5) != 0 ||
			    memcmp(p + 5, schema->kind, kind_len) != 0)
				goto out;
			first = 0;
			continue;
		}
		if (parse_line(schema, vals, &seen, p, (size_t)(nl - p)) != 0)
			goto out;
	}
	if (first || seen != (1u << schema->n) - 1)
		goto out;
	rc = 0;
out:
	return rc;
}

/* ---- session codec ------------------------------------------------------------------- */

int store_session_parse(const char *text, size_t len, struct store_session *out)
{
	struct rec_vals vals;
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (text == NULL || out == NULL)
		goto out;
	memset(&vals, 0, sizeof(vals));
	if (record_parse(text, len, &schema_session, &vals) != 0)
		goto out;
	memcpy(out->user, vals.str[SF_USER], STORE_FIELD_MAX);
	memcpy(out->service, vals.str[SF_SERVICE], STORE_FIELD_MAX);
	memcpy(out->tty, vals.str[SF_TTY], STORE_FIELD_MAX);
	memcpy(out->rhost, vals.str[SF_RHOST], STORE_FIELD_MAX);
	out->uid = (uid_t)vals.num[SF_UID];
	out->leader_pid = (pid_t)vals.num[SF_PID];
	out->created = (int64_t)vals.num[SF_CREATED];
	out->expires = (int64_t)vals.num[SF_EXPIRES];
	out->idle_timeout = (int64_t)vals.num[SF_IDLE];
	out->last_seen = (int64_t)vals.num[SF_LAST_SEEN];
	out->leader_start = (int64_t)vals.num[SF_LEADER_START];
	out->tokens = vals.num[SF_TOKENS] != 0;
	if (!digest_or_empty(vals.str[SF_PARENT]) || !digest_or_empty(vals.str[SF_ORIGIN_JTI]))
		goto out;
	memcpy(out->parent, vals.str[SF_PARENT], STORE_DIGEST_HEX_LEN + 1);
	memcpy(out->origin_jti, vals.str[SF_ORIGIN_JTI], STORE_DIGEST_HEX_LEN + 1);
	rc = 0;
out:
	if (rc != 0 && out != NULL)
		memset(out, 0, sizeof(*out));
	return rc;
}

char *store_session_format(const struct store_session *sess)
{
	struct textbuf tb = { 0 };

	if (sess == NULL)
		return NULL;
	tb_str(&tb, STORE_HEADER "kind=session\n");
	tb_field(&tb, "user", sess->user);
	tb_num(&tb, "uid", (unsigned long long)sess->uid);
	tb_field(&tb, "service", sess->service);
	tb_field(&tb, "tty", sess->tty);
	tb_field(&tb, "rhost", sess->rhost);
	tb_num(&tb, "pid", sess->leader_pid < 0 ? 0 : (unsigned long long)sess->leader_pid);
	tb_num(&tb, "created", clamp_u(sess->created));
	tb_num(&tb, "expires", clamp_u(sess->expires));
	tb_num(&tb, "idle", clamp_u(sess->idle_timeout));
	tb_num(&tb, "last_seen", clamp_u(sess->last_seen));
	tb_num(&tb, "leader_start", clamp_u(sess->leader_start));
	tb_field(&tb, "parent", sess->parent);
	tb_field(&tb, "origin_jti", sess->origin_jti);
	tb_num(&tb, "tokens", sess->tokens ? 1 : 0);
	return tb_finish(&tb);
}

/* ---- refresh token codec ------------------------------------------------------------- */

int store_refresh_parse(const char *text, size_t len, struct store_refresh *out)
{
	struct rec_vals vals;
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (text == NULL || out == NULL)
		goto out;
	memset(&vals, 0, sizeof(vals));
	if (record_parse(text, len, &schema_refresh, &vals) != 0 ||
	    !is_digest(vals.str[RF_SESSION]) || !digest_or_empty(vals.str[RF_NEXT]) ||
	    (vals.num[RF_USED] != 0) != (vals.str[RF_NEXT][0] != '\0'))
		goto out;
	memcpy(out->session, vals.str[RF_SESSION], STORE_DIGEST_HEX_LEN + 1);
	memcpy(out->user, vals.str[RF_USER], STORE_FIELD_MAX);
	memcpy(out->next, vals.str[RF_NEXT], STORE_DIGEST_HEX_LEN + 1);
	out->uid = (uid_t)vals.num[RF_UID];
	out->created = (int64_t)vals.num[RF_CREATED];
	out->expires = (int64_t)vals.num[RF_EXPIRES];
	out->used = vals.num[RF_USED] != 0;
	rc = 0;
out:
	return rc;
}

char *store_refresh_format(const struct store_refresh *rec)
{
	struct textbuf tb = { 0 };

	if (rec == NULL)
		return NULL;
	tb_str(&tb, STORE_HEADER "kind=refresh\n");
	tb_field(&tb, "session", rec->session);
	tb_field(&tb, "user", rec->user);
	tb_num(&tb, "uid", (unsigned long long)rec->uid);
	tb_num(&tb, "created", clamp_u(rec->created));
	tb_num(&tb, "expires", clamp_u(rec->expires));
	tb_num(&tb, "used", rec->used ? 1 : 0);
	tb_field(&tb, "next", rec->next);
	return tb_finish(&tb);
}

/* ---- session IDs ------------------------------------------------------------------- */

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

/* A new random credential: prefix + base64url of 256 random bits. */
static int random_id_new(const char *prefix, char id_out[STORE_SESSION_ID_LEN + 1])
{
	unsigned char raw[STORE_ID_RAW_BYTES];
	size_t done = 0;
	ssize_t n;
	int rc = -1;

	memset(id_out, 0, STORE_SESSION_ID_LEN + 1);
	while (done < sizeof(raw)) {
		n = getrandom(raw + done, sizeof(raw) - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	memcpy(id_out, prefix, 4);
	b64url_encode(raw, sizeof(raw), id_out + 4);
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
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

/* ---- record files -------------------------------------------------------------------- */

static int record_read(const struct store *st, const char *name, size_t max, char **out,
		       size_t *out_len)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = REC_UNREADABLE;

	*out = NULL;
	*out_len = 0;
	fd = openat(st->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = REC_ABSENT;
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !owner_ok(sb.st_uid) ||
	    sb.st_size < 0 || (unsigned long long)sb.st_size > max)
		goto out;
	buf = malloc(max + 2);
	if (buf == NULL)
		goto out;
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) /* grew while we read it */
			goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = REC_PRESENT;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Read and parse a record: REC_PRESENT, REC_ABSENT or REC_UNREADABLE. */
static int record_load(const struct store *st, const char *name, const struct rec_schema *schema,
		       struct rec_vals *vals)
{
	char *text = NULL;
	size_t len = 0;
	int rc = record_read(st, name, schema->index ? STORE_INDEX_MAX : STORE_RECORD_MAX,
			     &text, &len);

	if (rc == REC_PRESENT && record_parse(text, len, schema, vals) != 0)
		rc = REC_UNREADABLE;
	free(text);
	return rc;
}

static int record_write(const struct store *st, const char *name, const char *text, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[sizeof(STORE_TMP_PREFIX) + 16];
	unsigned char rnd[8];
	size_t done = 0, i;
	ssize_t n;
	int fd = -1, rc = -1, tries;

	tmp[0] = '\0';
	for (tries = 0; tries < 16 && fd < 0; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			goto out;
		memcpy(tmp, STORE_TMP_PREFIX, sizeof(STORE_TMP_PREFIX) - 1);
		for (i = 0; i < sizeof(rnd); i++) {
			tmp[sizeof(STORE_TMP_PREFIX) - 1 + 2 * i] = hex[rnd[i] >> 4];
			tmp[sizeof(STORE_TMP_PREFIX) - 1 + 2 * i + 1] = hex[rnd[i] & 0xf];
		}
		tmp[sizeof(tmp) - 1] = '\0';
		fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, 0600) != 0)
		goto out;
	while (done < len) {
		n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	n = close(fd);
	fd = -1;
	if (n != 0 || renameat(st->dirfd, tmp, st->dirfd, name) != 0)
		goto out;
	tmp[0] = '\0';
	(void)fsync(st->dirfd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlinkat(st->dirfd, tmp, 0);
	return rc;
}

static int record_write_tb(const struct store *st, const char *name, struct textbuf *tb)
{
	char *text = tb_finish(tb);
	int rc = text != NULL ? record_write(st, name, text, strlen(text)) : -1;

	free(text);
	return rc;
}

/* Remove a record; absent is fine. 0, or -1. */
static int record_unlink(const struct store *st, const char *name)
{
	return unlinkat(st->dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
}

static int record_exists(const struct store *st, const char *name);

/* Whether the record of this kind and digest exists. */
static int record_exists_for(const struct store *st, char kind, const char *digest)
{
	char name[STORE_NAME_SIZE];

	record_name(name, kind, digest);
	return record_exists(st, name);
}

static int record_exists(const struct store *st, const char *name)
{
	struct stat sb;

	return fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

static int store_recover(const struct store *st);

/* Take the store's lock, then finish what a writer killed under it left half done. */
static int store_lock(const struct store *st, struct verdict *v)
{
	struct timespec pause_ts = { 0, 50000 }; /* 50 us, doubling up to 1.6 ms */
	int64_t waited_ns = 0;
	int rc;

	/* Bounded: a holder that never lets go (a stopped process) costs a refusal, not a
	 * hang of every login and of pam-jwtd. */
	for (;;) {
		rc = flock(st->lockfd, LOCK_EX | LOCK_NB);
		if (rc == 0 || (errno != EWOULDBLOCK && errno != EINTR) ||
		    waited_ns >= STORE_LOCK_WAIT_MS * 1000000LL)
			break;
		(void)nanosleep(&pause_ts, NULL);
		waited_ns += pause_ts.tv_nsec;
		if (pause_ts.tv_nsec < 1600000)
			pause_ts.tv_nsec *= 2;
	}
	if (rc != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, errno == EWOULDBLOCK ?
			    "the session store is busy" : "cannot lock the session store");
		goto out;
	}
	rc = store_recover(st);
	if (rc != 0) {
		(void)flock(st->lockfd, LOCK_UN);
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot repair the session store");
	}
out:
	return rc == 0 ? 0 : -1;
}

static void store_unlock(const struct store *st)
{
	(void)flock(st->lockfd, LOCK_UN);
}

/* Names in the store: "<kind>-<64 hex>" for each kind letter in `kinds`, and temporary
 * files when `kinds` holds 't'. */
static int list_names(const struct store *st, const char *kinds, struct digest_list *out)
{
	struct dirent *de;
	DIR *d = NULL;
	size_t len;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	fd = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		goto out;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if ((len == STORE_NAME_LEN && de->d_name[1] == '-' &&
		     strchr(kinds, de->d_name[0]) != NULL && de->d_name[0] != 't' &&
		     is_hex_lower(de->d_name + 2, STORE_DIGEST_HEX_LEN)) ||
		    (strchr(kinds, 't') != NULL && len < STORE_NAME_SIZE &&
		     strncmp(de->d_name, STORE_TMP_PREFIX, sizeof(STORE_TMP_PREFIX) - 1) == 0)) {
			if (dl_add(out, de->d_name, len) != 0)
				goto out;
		}
		errno = 0;
	}
	if (errno != 0)
		goto out;
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	if (rc != 0)
		dl_free(out);
	return rc;
}

/* ---- open / close -------------------------------------------------------------------- */

/* A directory above the store: owned by root (or us), not writable by group or others,
 * unless it is a root-owned sticky directory such as /tmp. */
static int ancestor_ok(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0 || !S_ISDIR(sb.st_mode) || !owner_ok(sb.st_uid))
		return 0;
	return (sb.st_mode & 022) == 0 || (sb.st_uid == 0 && (sb.st_mode & S_ISVTX) != 0);
}

/* Open the directory holding `base` (the parent of the store), walking its canonical path
 * from "/" with O_NOFOLLOW and checking every directory on the way. */
static int open_parent(const char *parent, const char **reason)
{
	char *real = NULL, *component, *save = NULL;
	int fd = -1, next;

	*reason = "cannot open store directory";
	real = realpath(parent, NULL);
	if (real == NULL)
		goto out;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (component = strtok_r(real, "/", &save); fd >= 0 && component != NULL;
	     component = strtok_r(NULL, "/", &save)) {
		if (!ancestor_ok(fd)) {
			*reason = "a directory above the store is unsafe";
			close(fd);
			fd = -1;
			break;
		}
		next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd >= 0 && !ancestor_ok(fd)) {
		*reason = "a directory above the store is unsafe";
		close(fd);
		fd = -1;
	}
out:
	free(real);
	return fd;
}

int store_open(const char *dir, const struct store_options *opts, struct store **out,
	       struct verdict *v)
{
	static const struct store_options defaults = { 0 };
	const char *reason = "cannot open store directory", *base;
	char *copy = NULL, *parent = NULL, *slash;
	struct store *st = NULL;
	struct stat sb;
	struct statfs sfs;
	size_t len;
	int pfd = -1, dfd = -1, lfd = -1, rc = -1;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || dir == NULL || dir[0] != '/')
		goto out;
	if (opts == NULL)
		opts = &defaults;
	copy = strdup(dir);
	if (copy == NULL)
		goto out;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	base = slash + 1;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		goto out;
	parent = slash == copy ? strdup("/") : strndup(copy, (size_t)(slash - copy));
	if (parent == NULL)
		goto out;
	pfd = open_parent(parent, &reason);
	if (pfd < 0)
		goto out;
	reason = "cannot open store directory";
	dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ELOOP || (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				       S_ISLNK(sb.st_mode)))
			reason = "store directory is a symbolic link";
		goto out;
	}
	if (fstat(dfd, &sb) != 0 || !S_ISDIR(sb.st_mode))
		goto out;
	if (!owner_ok(sb.st_uid)) {
		reason = "store directory is not owned by root";
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		reason = "store directory is accessible by group or others";
		goto out;
	}
	if (fstatfs(dfd, &sfs) != 0)
		goto out;
	if (!opts->allow_non_tmpfs && (unsigned long)sfs.f_type != (unsigned long)TMPFS_MAGIC) {
		reason = "store directory is not on tmpfs";
		goto out;
	}
	reason = "store lock file is unusable";
	lfd = openat(dfd, STORE_LOCK_NAME,
		     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (lfd < 0 || fstat(lfd, &sb) != 0 || !S_ISREG(sb.st_mode) || !owner_ok(sb.st_uid))
		goto out;
	reason = "out of memory";
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		goto out;
	st->dirfd = dfd;
	st->lockfd = lfd;
	st->opts = *opts;
	dfd = lfd = -1;
	*out = st;
	rc = 0;
	verdict_ok(v);
out:
	if (rc != 0)
		verdict_set(v, VERDICT_UNAVAILABLE, reason);
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0)
		close(dfd);
	if (pfd >= 0)
		close(pfd);
	free(copy);
	free(parent);
	return rc;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st);
}

/* ---- sessions: loading, index, counter ------------------------------------------------ */

/* Idle past its limit at `now` (stored times are never negative: no overflow). */
static int session_idle(const struct store_session *sess, int64_t now)
{
	return sess->idle_timeout > 0 && now > sess->last_seen &&
	       now - sess->last_seen > sess->idle_timeout;
}

/* Load "s-<digest>" into out (digest filled in): REC_PRESENT, REC_ABSENT, REC_UNREADABLE. */
static int session_load(const struct store *st, const char *digest, struct store_session *out)
{
	char name[STORE_NAME_SIZE], *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	record_name(name, 's', digest);
	rc = record_read(st, name, STORE_RECORD_MAX, &text, &len);
	if (rc == REC_PRESENT && store_session_parse(text, len, out) != 0)
		rc = REC_UNREADABLE;
	if (rc == REC_PRESENT)
		memcpy(out->digest, digest, STORE_DIGEST_HEX_LEN + 1);
	else
		memset(out, 0, sizeof(*out));
	free(text);
	return rc;
}

static int session_write(const struct store *st, const char *digest,
			 const struct store_session *sess)
{
	char name[STORE_NAME_SIZE], *text = store_session_format(sess);
	int rc = -1;

	if (text == NULL)
		goto out;
	record_name(name, 's', digest);
	rc = record_write(st, name, text, strlen(text));
out:
	free(text);
	return rc;
}

/* Collect the digests of all sessions of `user` by scanning (rebuilding an index). */
static int sessions_of_user_scan(const struct store *st, const char *user,
				 struct digest_list *dl)
{
	struct digest_list names;
	struct store_session sess;
	size_t i;
	int rc = -1;

	if (list_names(st, "s", &names) != 0)
		goto out;
	for (i = 0; i < names.n; i++) {
		if (session_load(st, names.d[i] + 2, &sess) == REC_PRESENT &&
		    strcmp(sess.user, user) == 0 &&
		    dl_add(dl, names.d[i] + 2, STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	}
	rc = 0;
out:
	dl_free(&names);
	return rc;
}

static int index_write(const struct store *st, const char *user, const char *iname,
		       const struct digest_list *dl);

/* The user's index into dl (empty if absent; rebuilt by a scan if unreadable). *existed
 * tells whether a readable index was there. Under the lock. */
static int index_load(const struct store *st, const char *user, const char *iname,
		      struct digest_list *dl, int *existed)
{
	struct rec_vals vals;
	int rc = -1, status;

	memset(dl, 0, sizeof(*dl));
	memset(&vals, 0, sizeof(vals));
	vals.digests = dl;
	*existed = 0;
	status = record_load(st, iname, &schema_index, &vals);
	if (status == REC_PRESENT && strcmp(vals.str[0], user) == 0) {
		*existed = 1;
		rc = 0;
		goto out;
	}
	dl_free(dl);
	if (status == REC_ABSENT) {
		rc = 0;
		goto out;
	}
	/* Unreadable (or another user's): rebuild it from the session records. */
	rc = sessions_of_user_scan(st, user, dl);
	if (rc == 0)
		(void)index_write(st, user, iname, dl);
out:
	if (rc != 0)
		dl_free(dl);
	return rc;
}

static int index_write(const struct store *st, const char *user, const char *iname,
		       const struct digest_list *dl)
{
	struct textbuf tb = { 0 };
	size_t i;

	if (dl->n == 0)
		return record_unlink(st, iname);
	tb_str(&tb, STORE_HEADER "kind=index\n");
	tb_field(&tb, "user", user);
	for (i = 0; i < dl->n; i++) {
		tb_add(&tb, "s=", 2);
		tb_add(&tb, dl->d[i], STORE_DIGEST_HEX_LEN);
		tb_add(&tb, "\n", 1);
	}
	return record_write_tb(st, iname, &tb);
}

/* Drop index entries whose session record is gone (a crash between writes). */
static size_t index_prune(const struct store *st, struct digest_list *dl)
{
	char name[STORE_NAME_SIZE];
	size_t i = 0, dropped = 0;

	while (i < dl->n) {
		record_name(name, 's', dl->d[i]);
		if (record_exists(st, name)) {
			i++;
		} else {
			dl_remove_at(dl, i);
			dropped++;
		}
	}
	return dropped;
}

static int counter_write(const struct store *st, size_t n)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=counter\n");
	tb_num(&tb, "n", (unsigned long long)n);
	return record_write_tb(st, STORE_COUNTER_NAME, &tb);
}

/* Count the session records by scanning and rewrite the counter. Under the lock. */
static int counter_rebuild(const struct store *st, size_t *n)
{
	struct digest_list names;
	int rc = -1;

	*n = 0;
	if (list_names(st, "s", &names) != 0)
		goto out;
	*n = names.n;
	rc = counter_write(st, names.n);
out:
	dl_free(&names);
	return rc;
}

/* The session count: from the counter record, or rebuilt when it is missing or
 * unreadable. *fresh tells whether it was just counted. Under the lock. */
static int counter_get(const struct store *st, size_t *n, int *fresh)
{
	struct rec_vals vals;
	int rc = 0;

	memset(&vals, 0, sizeof(vals));
	*fresh = 0;
	*n = 0;
	if (record_load(st, STORE_COUNTER_NAME, &schema_counter, &vals) == REC_PRESENT &&
	    vals.num[0] <= SIZE_MAX) {
		*n = (size_t)vals.num[0];
	} else {
		*fresh = 1;
		rc = counter_rebuild(st, n);
	}
	return rc;
}

/*
 * Adding or removing a session touches three records (session, index, counter). Before
 * the first write the writer records its intent ("c-intent": the user and the session
 * digest) and removes it after the last; whoever takes the lock next and finds an intent
 * left behind by a killed writer reconciles the user's index with whether the session
 * record exists and recounts the sessions. So the limits stay exact across crashes,
 * while the common path stays O(1).
 */
static int intent_write(const struct store *st, const char *user, const char *digest)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=intent\n");
	tb_field(&tb, "user", user);
	tb_field(&tb, "session", digest);
	return record_write_tb(st, STORE_INTENT_NAME, &tb);
}

static int intent_clear(const struct store *st)
{
	int rc = record_unlink(st, STORE_INTENT_NAME);

	if (rc == 0)
		(void)fsync(st->dirfd);
	return rc;
}

/* Make the user's index agree with whether the session record exists. */
static int index_reconcile(const struct store *st, const char *user, const char *digest)
{
	char name[STORE_NAME_SIZE], iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	int existed = 0, idx, present, rc = -1;

	if (record_name_for(iname, 'i', user) != 0 ||
	    index_load(st, user, iname, &dl, &existed) != 0)
		goto out;
	record_name(name, 's', digest);
	present = record_exists(st, name);
	idx = dl_find(&dl, digest);
	if (present && idx < 0) {
		if (dl_add(&dl, digest, STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	} else if (!present && idx >= 0) {
		dl_remove_at(&dl, (size_t)idx);
	} else {
		rc = 0;
		goto out;
	}
	rc = index_write(st, user, iname, &dl);
out:
	dl_free(&dl);
	return rc;
}

static int store_recover(const struct store *st)
{
	struct rec_vals vals;
	size_t n = 0;
	int status, rc = 0;

	memset(&vals, 0, sizeof(vals));
	status = record_load(st, STORE_INTENT_NAME, &schema_intent, &vals);
	if (status == REC_ABSENT)
		goto out;
	rc = -1;
	if (status == REC_PRESENT && vals.str[0][0] != '\0' && is_digest(vals.str[1]) &&
	    index_reconcile(st, vals.str[0], vals.str[1]) != 0)
		goto out;
	if (counter_rebuild(st, &n) != 0)
		goto out;
	rc = intent_clear(st);
out:
	return rc;
}

/* Remove one session (its record, its index entry and, if adjust_counter, one from the
 * counter). *removed: 1 if a record went. Under the lock. */
static int session_delete_locked(const struct store *st, const char *digest, int adjust_counter,
				 int *removed)
{
	char name[STORE_NAME_SIZE], iname[STORE_NAME_SIZE];
	struct store_session sess;
	struct digest_list dl = { 0 };
	size_t n = 0;
	int status, existed = 0, fresh = 0, idx, rc = -1;

	*removed = 0;
	status = session_load(st, digest, &sess);
	if (status == REC_ABSENT) {
		rc = 0;
		goto out;
	}
	record_name(name, 's', digest);
	/* An unreadable record has no user: recovery then only recounts. */
	if (intent_write(st, status == REC_PRESENT ? sess.user : "", digest) != 0)
		goto out;
	if (unlinkat(st->dirfd, name, 0) != 0) {
		if (errno == ENOENT)
			rc = intent_clear(st);
		goto out;
	}
	*removed = 1;
	if (status == REC_PRESENT && record_name_for(iname, 'i', sess.user) == 0 &&
	    index_load(st, sess.user, iname, &dl, &existed) == 0) {
		idx = dl_find(&dl, digest);
		if (idx >= 0) {
			dl_remove_at(&dl, (size_t)idx);
			if (index_write(st, sess.user, iname, &dl) != 0)
				goto out; /* the intent stays: the next lock repairs */
		}
	}
	if (adjust_counter && (counter_get(st, &n, &fresh) != 0 ||
			       (!fresh && counter_write(st, n > 0 ? n - 1 : 0) != 0)))
		goto out;
	rc = intent_clear(st);
out:
	dl_free(&dl);
	return rc;
}

static int session_lineage_check(const struct store *st, const struct store_session *sess,
				 int64_t now, struct verdict *v);

/* At a user's limit: drop that user's sessions that are gone, expired or idle at `now`
 * (they no longer count), then reload the index into dl. Never touches a live session. */
static int user_drop_expired_locked(const struct store *st, const char *user,
				    const char *iname, struct digest_list *dl, int64_t now)
{
	struct digest_list stale = { 0 };
	struct store_session sess;
	struct verdict lineage;
	size_t i;
	int status, removed, existed, rc = -1;

	for (i = 0; i < dl->n; i++) {
		status = session_load(st, dl->d[i], &sess);
		if ((status == REC_ABSENT ||
		     (status == REC_PRESENT &&
		      (sess.expires <= now || session_idle(&sess, now) ||
		       session_lineage_check(st, &sess, now, &lineage) != 0))) &&
		    dl_add(&stale, dl->d[i], STORE_DIGEST_HEX_LEN) != 0)
			goto out;
	}
	for (i = 0; i < stale.n; i++) {
		if (session_delete_locked(st, stale.d[i], 1, &removed) != 0)
			goto out;
	}
	if (stale.n > 0) {
		dl_free(dl);
		if (index_load(st, user, iname, dl, &existed) != 0)
			goto out;
		if (index_prune(st, dl) > 0 && index_write(st, user, iname, dl) != 0)
			goto out;
	}
	rc = 0;
out:
	dl_free(&stale);
	return rc;
}

/* ---- sessions: public operations ------------------------------------------------------- */

static int session_digest(const char *session_id, char digest[STORE_DIGEST_HEX_LEN + 1])
{
	digest[0] = '\0';
	if (session_id == NULL ||
	    !store_session_id_looks_like(session_id, strnlen(session_id, STORE_SESSION_ID_LEN + 1)))
		return -1;
	return digest_hex(session_id, STORE_SESSION_ID_LEN, digest);
}

int store_session_put(struct store *st, const char *session_id,
		      const struct store_session *sess, struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], name[STORE_NAME_SIZE], iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	size_t per_user_max, total = 0;
	int locked = 0, existed = 0, fresh = 0, rc = -1;

	if (st == NULL || sess == NULL || session_digest(session_id, digest) != 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session ID is malformed");
		goto out;
	}
	if (sess->user[0] == '\0' || sess->expires <= 0 || sess->created < 0 ||
	    sess->idle_timeout < 0 || sess->last_seen < 0 || sess->leader_pid < 0 ||
	    sess->uid == (uid_t)-1) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session fields are invalid");
		goto out;
	}
	/* refused, never altered: a record must parse back to what was asked for */
	if (!field_ok(sess->user, 1) || !field_ok(sess->service, 0) || !field_ok(sess->tty, 0) ||
	    !field_ok(sess->rhost, 0) || !digest_or_empty(sess->parent) ||
	    !digest_or_empty(sess->origin_jti)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
		goto out;
	}
	if (record_name_for(iname, 'i', sess->user) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	record_name(name, 's', digest);
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (record_exists(st, name)) {
		verdict_set(v, VERDICT_REJECT, "session already exists");
		goto out;
	}
	if (index_load(st, sess->user, iname, &dl, &existed) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	per_user_max = st->opts.max_sessions_per_user;
	if (per_user_max == 0 || per_user_max > STORE_INDEX_MAX_ENTRIES)
		per_user_max = STORE_INDEX_MAX_ENTRIES;
	if (dl.n >= per_user_max && user_drop_expired_locked(st, sess->user, iname, &dl,
							      sess->created) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (dl.n >= per_user_max) {
		verdict_set(v, VERDICT_REJECT, "too many sessions for this user");
		goto out;
	}
	if (counter_get(st, &total, &fresh) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	if (st->opts.max_sessions_total != 0 && total >= st->opts.max_sessions_total && !fresh &&
	    counter_rebuild(st, &total) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	if (st->opts.max_sessions_total != 0 && total >= st->opts.max_sessions_total) {
		verdict_set(v, VERDICT_REJECT, "the session store is full");
		goto out;
	}
	/* Intent, session, index, counter; on failure undo through the recovery path. */
	if (intent_write(st, sess->user, digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (session_write(st, digest, sess) != 0 ||
	    dl_add(&dl, digest, STORE_DIGEST_HEX_LEN) != 0 ||
	    index_write(st, sess->user, iname, &dl) != 0 || counter_write(st, total + 1) != 0)
		goto write_failed;
	if (intent_clear(st) != 0)
		goto write_failed;
	rc = 0;
	verdict_ok(v);
	goto out;
write_failed:
	(void)record_unlink(st, name);
	(void)store_recover(st);
	verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
out:
	if (locked)
		store_unlock(st);
	dl_free(&dl);
	return rc;
}

static int session_get_by_digest(struct store *st, const char *digest,
				 struct store_session *out, struct verdict *v)
{
	int status = session_load(st, digest, out), rc = -1;

	if (status == REC_ABSENT) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
	} else if (status == REC_UNREADABLE) {
		verdict_set(v, VERDICT_REJECT, "session record is unreadable");
	} else {
		verdict_ok(v);
		rc = 0;
	}
	return rc;
}

int store_session_get(struct store *st, const char *session_id, struct store_session *out,
		      struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || session_digest(session_id, digest) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
		goto out;
	}
	rc = session_get_by_digest(st, digest, out, v);
out:
	return rc;
}

int store_session_get_digest(struct store *st, const char *digest, struct store_session *out,
			     struct verdict *v)
{
	int rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || !is_digest(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	rc = session_get_by_digest(st, digest, out, v);
out:
	return rc;
}

/* Whether the revoked-jti record named by a jti digest is in force at `now`: 0 no, 1 yes,
 * -1 unreadable. */
static int jti_digest_revoked(const struct store *st, const char *jti_digest, int64_t now)
{
	char name[STORE_NAME_SIZE];
	struct rec_vals vals;
	int status, rc = 0;

	memset(&vals, 0, sizeof(vals));
	record_name(name, 'j', jti_digest);
	status = record_load(st, name, &schema_jti, &vals);
	if (status == REC_UNREADABLE)
		rc = -1;
	else if (status == REC_PRESENT && (int64_t)vals.num[0] >= now)
		rc = 1;
	return rc;
}

/* A session stands only while what opened it stands: the JWT (origin_jti, inherited by
 * descendants) is not revoked and every ancestor session still exists. */
static int session_lineage_check(const struct store *st, const struct store_session *sess,
				 int64_t now, struct verdict *v)
{
	struct store_session cur;
	char parent[STORE_DIGEST_HEX_LEN + 1];
	int status, depth, revoked, rc = -1;

	revoked = sess->origin_jti[0] != '\0' ? jti_digest_revoked(st, sess->origin_jti, now) : 0;
	if (revoked != 0) {
		verdict_set(v, revoked > 0 ? VERDICT_REJECT : VERDICT_UNAVAILABLE,
			    revoked > 0 ? "the token that opened this session is revoked" :
					  "revocation record is unreadable");
		goto out;
	}
	cur = *sess;
	for (depth = 0; cur.parent[0] != '\0'; depth++) {
		if (depth >= STORE_LINEAGE_MAX) {
			verdict_set(v, VERDICT_REJECT, "session chain is too long");
			goto out;
		}
		memcpy(parent, cur.parent, sizeof(parent));
		status = session_load(st, parent, &cur);
		if (status != REC_PRESENT) {
			verdict_set(v, VERDICT_REJECT, "the session that opened this one has ended");
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

int store_session_check(struct store *st, const struct store_session *sess, const char *user,
			const char *service, bool bind_service, int64_t now, struct verdict *v)
{
	int rc = -1;

	if (st == NULL || sess == NULL || user == NULL || strcmp(sess->user, user) != 0) {
		verdict_set(v, VERDICT_REJECT, "session belongs to another user");
		goto out;
	}
	if (bind_service && service != NULL && strcmp(sess->service, service) != 0) {
		verdict_set(v, VERDICT_REJECT, "session is bound to another service");
		goto out;
	}
	if (sess->expires <= now) {
		verdict_setf_seconds(v, VERDICT_REJECT, "session expired", "%lld s ago",
				     (long long)(now - sess->expires));
		goto out;
	}
	if (session_idle(sess, now)) {
		verdict_setf_seconds(v, VERDICT_REJECT, "session is idle past its limit",
				     "idle %lld s", (long long)(now - sess->last_seen));
		goto out;
	}
	if (session_lineage_check(st, sess, now, v) != 0)
		goto out;
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_session_use(struct store *st, const char *session_id, const char *user,
		      const char *service, bool bind_service, int64_t now,
		      struct store_session *out, struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session sess;
	int locked = 0, rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&sess, 0, sizeof(sess));
	if (st == NULL || user == NULL || session_digest(session_id, digest) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown session");
		goto out;
	}
	/* an ID the store never issued, or someone else's, is refused without the lock */
	if (session_get_by_digest(st, digest, &sess, v) != 0)
		goto out;
	if (strcmp(sess.user, user) != 0) {
		verdict_set(v, VERDICT_REJECT, "session belongs to another user");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (session_get_by_digest(st, digest, &sess, v) != 0 ||
	    store_session_check(st, &sess, user, service, bind_service, now, v) != 0)
		goto out;
	sess.last_seen = now;
	if (session_write(st, digest, &sess) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (out != NULL)
		*out = sess;
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

/* The digests of `root` and of every session of its user that descends from it. */
static int session_tree_locked(const struct store *st, const struct store_session *root,
			       struct digest_list *tree)
{
	char iname[STORE_NAME_SIZE];
	char (*parents)[STORE_DIGEST_HEX_LEN + 1] = NULL;
	struct digest_list idx = { 0 };
	struct store_session sess;
	unsigned char *taken = NULL;
	size_t i, j;
	int existed, rc = -1;

	if (dl_add(tree, root->digest, STORE_DIGEST_HEX_LEN) != 0 ||
	    record_name_for(iname, 'i', root->user) != 0 ||
	    index_load(st, root->user, iname, &idx, &existed) != 0)
		goto out;
	if (idx.n == 0) {
		rc = 0;
		goto out;
	}
	parents = calloc(idx.n, sizeof(*parents));
	taken = calloc(idx.n, 1);
	if (parents == NULL || taken == NULL)
		goto out;
	for (i = 0; i < idx.n; i++) {
		if (session_load(st, idx.d[i], &sess) == REC_PRESENT)
			memcpy(parents[i], sess.parent, sizeof(parents[i]));
	}
	/* breadth first: tree grows while it is walked */
	for (i = 0; i < tree->n; i++) {
		for (j = 0; j < idx.n; j++) {
			if (!taken[j] && strcmp(parents[j], tree->d[i]) == 0) {
				taken[j] = 1;
				if (dl_add(tree, idx.d[j], STORE_DIGEST_HEX_LEN) != 0)
					goto out;
			}
		}
	}
	rc = 0;
out:
	free(parents);
	free(taken);
	dl_free(&idx);
	return rc;
}

/* Tell fn about each removed session, outside the lock. */
static void sessions_report(const struct store_session *list, size_t n, store_session_fn fn,
			    void *ctx)
{
	size_t i;

	for (i = 0; fn != NULL && i < n; i++)
		(void)fn(&list[i], ctx);
}

/* Remove a session and its descendants under the lock; the removed records are appended
 * to *gone (grown with realloc). */
static int session_revoke_locked(const struct store *st, const char *digest,
				 struct store_session **gone, size_t *n_gone)
{
	struct digest_list tree = { 0 };
	struct store_session root, *grown;
	size_t i;
	int status, removed, rc = -1;

	status = session_load(st, digest, &root);
	if (status == REC_ABSENT) {
		rc = 0;
		goto out;
	}
	if (status == REC_PRESENT) {
		if (session_tree_locked(st, &root, &tree) != 0)
			goto out;
	} else if (dl_add(&tree, digest, STORE_DIGEST_HEX_LEN) != 0) {
		goto out;
	}
	for (i = 0; i < tree.n; i++) {
		status = session_load(st, tree.d[i], &root);
		if (session_delete_locked(st, tree.d[i], 1, &removed) != 0)
			goto out;
		if (!removed || status != REC_PRESENT)
			continue;
		grown = realloc(*gone, (*n_gone + 1) * sizeof(**gone));
		if (grown == NULL)
			goto out;
		*gone = grown;
		(*gone)[(*n_gone)++] = root;
	}
	rc = 0;
out:
	dl_free(&tree);
	return rc;
}

int store_session_revoke(struct store *st, const char *digest, store_session_fn fn,
			 void *ctx, size_t *count, struct verdict *v)
{
	struct store_session *gone = NULL;
	size_t n_gone = 0;
	int rc = -1;

	if (count != NULL)
		*count = 0;
	if (st == NULL || !is_digest(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	rc = session_revoke_locked(st, digest, &gone, &n_gone);
	store_unlock(st);
	if (rc != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (count != NULL)
		*count = n_gone;
	sessions_report(gone, n_gone, fn, ctx);
	verdict_ok(v);
out:
	free(gone);
	return rc;
}

int store_session_delete(struct store *st, const char *digest, struct verdict *v)
{
	return store_session_revoke(st, digest, NULL, NULL, NULL, v);
}

struct jti_match {
	char digest[STORE_DIGEST_HEX_LEN + 1];
	struct digest_list found;
	int failed;
};

static int jti_match_collect(const struct store_session *sess, void *ctx)
{
	struct jti_match *m = ctx;

	if (strcmp(sess->origin_jti, m->digest) == 0 &&
	    dl_add(&m->found, sess->digest, STORE_DIGEST_HEX_LEN) != 0)
		m->failed = 1;
	return m->failed;
}

int store_revoke_jti_sessions(struct store *st, const char *jti, store_session_fn fn,
			      void *ctx, size_t *count, struct verdict *v)
{
	struct jti_match m;
	size_t i, n = 0, one;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (count != NULL)
		*count = 0;
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (digest_hex(jti, strlen(jti), m.digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	/* The scan runs without the lock (logins go on); each revocation takes it. */
	if (store_session_scan(st, NULL, jti_match_collect, &m, NULL, v) != 0)
		goto out;
	if (m.failed) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	for (i = 0; i < m.found.n; i++) {
		if (store_session_revoke(st, m.found.d[i], fn, ctx, &one, v) != 0)
			goto out;
		n += one;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (count != NULL)
		*count = n;
	dl_free(&m.found);
	return rc;
}

int store_session_set_tokens(struct store *st, const char *digest, bool tokens,
			     struct verdict *v)
{
	struct store_session sess;
	int locked = 0, rc = -1;

	if (st == NULL || !is_digest(digest)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "not a session digest");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (session_get_by_digest(st, digest, &sess, v) != 0)
		goto out;
	sess.tokens = tokens;
	if (session_write(st, digest, &sess) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

int store_session_resolve_prefix(struct store *st, const char *prefix,
				 char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	char want[STORE_DIGEST_HEX_LEN + 1];
	struct digest_list names = { 0 };
	size_t len, i, matches = 0, hit = 0;
	int rc = -1;

	if (digest_out != NULL)
		digest_out[0] = '\0';
	if (st == NULL || prefix == NULL || digest_out == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix too short");
		goto out;
	}
	len = strnlen(prefix, STORE_DIGEST_HEX_LEN + 1);
	if (len < 8) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix too short");
		goto out;
	}
	for (i = 0; i < len && i < STORE_DIGEST_HEX_LEN; i++)
		want[i] = (prefix[i] >= 'A' && prefix[i] <= 'F') ? (char)(prefix[i] + 32) : prefix[i];
	if (len > STORE_DIGEST_HEX_LEN || !is_hex_lower(want, len)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session prefix is not a digest prefix");
		goto out;
	}
	if (list_names(st, "s", &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		if (memcmp(names.d[i] + 2, want, len) == 0) {
			matches++;
			hit = i;
		}
	}
	if (matches == 0) {
		verdict_set(v, VERDICT_REJECT, "no session");
	} else if (matches > 1) {
		verdict_set(v, VERDICT_REJECT, "prefix is ambiguous");
	} else {
		memcpy(digest_out, names.d[hit] + 2, STORE_DIGEST_HEX_LEN + 1);
		verdict_ok(v);
		rc = 0;
	}
out:
	dl_free(&names);
	return rc;
}

/* fn returns 0 to go on, anything else to stop the scan early (not an error). */
int store_session_scan(struct store *st, const char *user, store_session_fn fn, void *ctx,
		       size_t *unreadable, struct verdict *v)
{
	struct digest_list names = { 0 };
	struct store_session sess;
	size_t i;
	int rc = -1, status;

	if (unreadable != NULL)
		*unreadable = 0;
	if (st == NULL || fn == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "nothing to scan with");
		goto out;
	}
	if (list_names(st, "s", &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		status = session_load(st, names.d[i] + 2, &sess);
		if (status == REC_UNREADABLE && unreadable != NULL)
			(*unreadable)++;
		if (status != REC_PRESENT || (user != NULL && strcmp(sess.user, user) != 0))
			continue;
		if (fn(&sess, ctx) != 0)
			break;
	}
	verdict_ok(v);
	rc = 0;
out:
	dl_free(&names);
	return rc;
}

int store_revoke_user(struct store *st, const char *user, store_session_fn fn, void *ctx,
		      size_t *count, struct verdict *v)
{
	char iname[STORE_NAME_SIZE];
	struct digest_list dl = { 0 };
	struct store_session *gone = NULL, *grown, sess;
	size_t i, n = 0, n_gone = 0, total = 0;
	int locked = 0, removed, status, rc = -1;

	if (count != NULL)
		*count = 0;
	if (st == NULL || user == NULL || user[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "user name is invalid");
		goto out;
	}
	if (record_name_for(iname, 'i', user) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	/* A scan, not the index: the index may miss a session after a crash. */
	if (sessions_of_user_scan(st, user, &dl) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < dl.n; i++) {
		status = session_load(st, dl.d[i], &sess);
		if (session_delete_locked(st, dl.d[i], 0, &removed) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
			goto out;
		}
		n += (size_t)removed;
		if (!removed || status != REC_PRESENT || fn == NULL)
			continue;
		grown = realloc(gone, (n_gone + 1) * sizeof(*gone));
		if (grown == NULL) {
			verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
			goto out;
		}
		gone = grown;
		gone[n_gone++] = sess;
	}
	if (record_unlink(st, iname) != 0 || counter_rebuild(st, &total) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	store_unlock(st);
	locked = 0;
	sessions_report(gone, n_gone, fn, ctx);
	verdict_ok(v);
	rc = 0;
out:
	if (count != NULL)
		*count = n;
	if (locked)
		store_unlock(st);
	free(gone);
	dl_free(&dl);
	return rc;
}

/* ---- refresh tokens -------------------------------------------------------------------- */

static int refresh_digest(const char *token, char digest[STORE_DIGEST_HEX_LEN + 1])
{
	digest[0] = '\0';
	if (token == NULL ||
	    !store_refresh_id_looks_like(token, strnlen(token, STORE_SESSION_ID_LEN + 1)))
		return -1;
	return digest_hex(token, STORE_SESSION_ID_LEN, digest);
}

/* Load "r-<digest>": REC_PRESENT, REC_ABSENT, REC_UNREADABLE. */
static int refresh_load(const struct store *st, const char *digest, struct store_refresh *out)
{
	char name[STORE_NAME_SIZE], *text = NULL;
	size_t len = 0;
	int rc;

	record_name(name, 'r', digest);
	rc = record_read(st, name, STORE_RECORD_MAX, &text, &len);
	if (rc == REC_PRESENT && store_refresh_parse(text, len, out) != 0)
		rc = REC_UNREADABLE;
	if (rc == REC_PRESENT)
		memcpy(out->digest, digest, STORE_DIGEST_HEX_LEN + 1);
	else
		memset(out, 0, sizeof(*out));
	free(text);
	return rc;
}

static int refresh_write(const struct store *st, const struct store_refresh *rec)
{
	char name[STORE_NAME_SIZE], *text = store_refresh_format(rec);
	int rc = -1;

	if (text == NULL)
		goto out;
	record_name(name, 'r', rec->digest);
	rc = record_write(st, name, text, strlen(text));
out:
	free(text);
	return rc;
}

int store_refresh_get(struct store *st, const char *token, struct store_refresh *out,
		      struct verdict *v)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int status, rc = -1;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || refresh_digest(token, digest) != 0) {
		verdict_set(v, VERDICT_REJECT, "unknown refresh token");
		goto out;
	}
	status = refresh_load(st, digest, out);
	if (status != REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, status == REC_ABSENT ? "unknown refresh token" :
					       "refresh token record is unreadable");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int store_refresh_put(struct store *st, const char *token, struct store_refresh *rec,
		      int64_t now, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	struct store_session sess;
	int locked = 0, rc = -1;

	if (st == NULL || rec == NULL || refresh_digest(token, rec->digest) != 0 ||
	    !is_digest(rec->session)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "refresh token is malformed");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (session_get_by_digest(st, rec->session, &sess, v) != 0 ||
	    store_session_check(st, &sess, sess.user, NULL, false, now, v) != 0)
		goto out;
	record_name(name, 'r', rec->digest);
	if (record_exists(st, name)) {
		verdict_set(v, VERDICT_REJECT, "refresh token already exists");
		goto out;
	}
	memcpy(rec->user, sess.user, sizeof(rec->user));
	rec->uid = sess.uid;
	rec->created = now;
	if (rec->expires > sess.expires || rec->expires <= now)
		rec->expires = sess.expires;
	rec->used = false;
	rec->next[0] = '\0';
	if (refresh_write(st, rec) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

int store_refresh_rotate(struct store *st, const char *old_token, const char *new_token,
			 int64_t new_expires, int64_t now, struct store_refresh *rec_out,
			 struct store_session *sess_out, bool *reuse, store_session_fn fn,
			 void *ctx, struct verdict *v)
{
	char old_digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_refresh old, fresh;
	struct store_session sess, *gone = NULL;
	size_t n_gone = 0;
	int locked = 0, status, rc = -1;

	memset(&fresh, 0, sizeof(fresh));
	memset(&sess, 0, sizeof(sess));
	if (rec_out != NULL)
		memset(rec_out, 0, sizeof(*rec_out));
	if (sess_out != NULL)
		memset(sess_out, 0, sizeof(*sess_out));
	if (reuse != NULL)
		*reuse = false;
	if (st == NULL || refresh_digest(old_token, old_digest) != 0 ||
	    refresh_digest(new_token, fresh.digest) != 0 ||
	    strcmp(old_digest, fresh.digest) == 0) {
		verdict_set(v, VERDICT_REJECT, "unknown refresh token");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	status = refresh_load(st, old_digest, &old);
	if (status != REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, status == REC_ABSENT ? "unknown refresh token" :
					       "refresh token record is unreadable");
		goto out;
	}
	status = session_load(st, old.session, &sess);
	if (status == REC_PRESENT && sess_out != NULL)
		*sess_out = sess;
	if (old.used) {
		/* reuse: the token was stolen or replayed; the whole family goes */
		if (reuse != NULL)
			*reuse = true;
		if (session_revoke_locked(st, old.session, &gone, &n_gone) != 0)
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		else
			verdict_set(v, VERDICT_REJECT, "refresh token reuse: session revoked");
		goto out;
	}
	if (old.expires <= now) {
		verdict_set(v, VERDICT_REJECT, "refresh token expired");
		goto out;
	}
	if (status != REC_PRESENT) {
		verdict_set(v, VERDICT_REJECT, "the session of this refresh token has ended");
		goto out;
	}
	if (store_session_check(st, &sess, sess.user, NULL, false, now, v) != 0)
		goto out;
	if (record_exists_for(st, 'r', fresh.digest)) {
		verdict_set(v, VERDICT_REJECT, "refresh token already exists");
		goto out;
	}
	/* the successor first: a crash between the writes leaves the old token usable */
	memcpy(fresh.session, old.session, sizeof(fresh.session));
	memcpy(fresh.user, sess.user, sizeof(fresh.user));
	fresh.uid = sess.uid;
	fresh.created = now;
	fresh.expires = new_expires > now && new_expires < sess.expires ? new_expires :
									 sess.expires;
	old.used = true;
	memcpy(old.next, fresh.digest, sizeof(old.next));
	if (refresh_write(st, &fresh) != 0 || refresh_write(st, &old) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	if (rec_out != NULL)
		*rec_out = fresh;
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	sessions_report(gone, n_gone, fn, ctx);
	free(gone);
	return rc;
}

/* ---- JWT ids --------------------------------------------------------------------------- */

static int exp_record_write(const struct store *st, const char *name, const char *kind,
			    int64_t exp)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=");
	tb_str(&tb, kind);
	tb_add(&tb, "\n", 1);
	tb_num(&tb, "exp", clamp_u(exp));
	return record_write_tb(st, name, &tb);
}

int store_jti_revoke(struct store *st, const char *jti, int64_t exp, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	struct rec_vals vals;
	int locked = 0, rc = -1;

	memset(&vals, 0, sizeof(vals));
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (record_name_for(name, 'j', jti) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	/* Revoking again never shortens an existing revocation. */
	if (record_load(st, name, &schema_jti, &vals) == REC_PRESENT &&
	    vals.num[0] > clamp_u(exp))
		exp = (int64_t)vals.num[0];
	if (exp_record_write(st, name, "revoked-jti", exp) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

int store_jti_check(struct store *st, const char *jti, int64_t now, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	struct rec_vals vals;
	int status, rc = -1;

	memset(&vals, 0, sizeof(vals));
	if (st == NULL || jti == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (record_name_for(name, 'j', jti) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	status = record_load(st, name, &schema_jti, &vals);
	if (status == REC_UNREADABLE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "revocation record is unreadable");
	} else if (status == REC_PRESENT && (int64_t)vals.num[0] >= now) {
		verdict_set(v, VERDICT_REJECT, "token id is revoked");
	} else {
		verdict_ok(v);
		rc = 0;
	}
out:
	return rc;
}

int store_jti_use_once(struct store *st, const char *service, const char *jti, int64_t exp,
		       int64_t now, struct verdict *v)
{
	char name[STORE_NAME_SIZE], digest[STORE_DIGEST_HEX_LEN + 1], *key = NULL;
	struct rec_vals vals;
	size_t slen, jlen;
	int locked = 0, status, rc = -1;

	memset(&vals, 0, sizeof(vals));
	if (st == NULL || jti == NULL || jti[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "token id is empty");
		goto out;
	}
	if (service == NULL)
		service = "";
	slen = strlen(service);
	jlen = strlen(jti);
	key = malloc(slen + 1 + jlen);
	if (key == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	memcpy(key, service, slen);
	key[slen] = '\0';
	memcpy(key + slen + 1, jti, jlen);
	if (digest_hex(key, slen + 1 + jlen, digest) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	record_name(name, 'u', digest);
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	status = record_load(st, name, &schema_used, &vals);
	if (status == REC_UNREADABLE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "single-use record is unreadable");
		goto out;
	}
	if (status == REC_PRESENT && (int64_t)vals.num[0] >= now) {
		verdict_set(v, VERDICT_REJECT, "token was already used");
		goto out;
	}
	if (exp_record_write(st, name, "used-jti", exp) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	free(key);
	return rc;
}

/* ---- user locks ------------------------------------------------------------------------ */

/* The lock record's name for a user. Looking up (to_write 0) takes any user name without
 * control bytes, as PAM may pass: one the format cannot hold has no lock, and a record
 * that does not parse is refused when read. A lock is written only for a name the format
 * holds (field_ok). */
static int user_lock_name(struct store *st, const char *user, int to_write,
			  char name[STORE_NAME_SIZE], struct verdict *v)
{
	size_t n = user != NULL ? strnlen(user, STORE_FIELD_MAX) : 0, i;
	int ok = st != NULL && n > 0 && n < STORE_FIELD_MAX, rc = -1;

	for (i = 0; ok && i < n; i++)
		ok = (unsigned char)user[i] >= 0x20 && user[i] != 0x7f;
	if (!ok || (to_write && !field_ok(user, 1))) {
		verdict_set(v, VERDICT_BAD_CONFIG, "user name is invalid");
		goto out;
	}
	if (record_name_for(name, 'l', user) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot compute a digest");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int store_user_lock(struct store *st, const char *user, int64_t until, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	struct textbuf tb = { 0 };
	int locked = 0, rc = -1;

	if (user_lock_name(st, user, 1, name, v) != 0)
		goto out;
	if (until < 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "lock time is invalid");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	tb_str(&tb, STORE_HEADER "kind=lock\n");
	tb_field(&tb, "user", user);
	tb_num(&tb, "until", clamp_u(until));
	if (record_write_tb(st, name, &tb) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

int store_user_unlock(struct store *st, const char *user, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	int locked = 0, rc = -1;

	if (user_lock_name(st, user, 0, name, v) != 0)
		goto out;
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (record_unlink(st, name) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (locked)
		store_unlock(st);
	return rc;
}

int store_user_check(struct store *st, const char *user, int64_t now, struct verdict *v)
{
	char name[STORE_NAME_SIZE];
	struct rec_vals vals;
	int status, rc = -1;
	int64_t until;

	memset(&vals, 0, sizeof(vals));
	if (user_lock_name(st, user, 0, name, v) != 0)
		goto out;
	status = record_load(st, name, &schema_lock, &vals);
	if (status == REC_PRESENT && strcmp(vals.str[0], user) != 0)
		status = REC_UNREADABLE;
	until = (int64_t)vals.num[1];
	if (status == REC_UNREADABLE) {
		verdict_set(v, VERDICT_UNAVAILABLE, "lock record is unreadable");
	} else if (status == REC_PRESENT && until == 0) {
		verdict_set(v, VERDICT_REJECT, "user is locked");
	} else if (status == REC_PRESENT && now < until && now < 0) {
		verdict_set(v, VERDICT_REJECT, "user is locked");
	} else if (status == REC_PRESENT && now < until) {
		verdict_setf_seconds(v, VERDICT_REJECT, "user is locked", "for %lld s",
				     (long long)(until - now));
	} else {
		verdict_ok(v);
		rc = 0;
	}
out:
	return rc;
}

/* ---- garbage collection --------------------------------------------------------------- */

/* Whether a record (not a session) has had its time. -1 if unreadable (kept). */
static int gc_record_expired(const struct store *st, const char *name, int64_t now)
{
	struct rec_vals vals;
	const struct rec_schema *schema;
	int status;

	memset(&vals, 0, sizeof(vals));
	schema = name[0] == 'j' ? &schema_jti : name[0] == 'u' ? &schema_used : &schema_lock;
	status = record_load(st, name, schema, &vals);
	if (status == REC_ABSENT)
		return 0;
	if (status != REC_PRESENT)
		return -1;
	if (name[0] == 'l')
		return vals.num[1] != 0 && (int64_t)vals.num[1] < now;
	return (int64_t)vals.num[0] < now;
}

/* Drop index entries whose session is gone and indexes left empty. An index that does
 * not parse goes too: indexes are derived data, rebuilt from the sessions when needed. */
static void gc_indexes(const struct store *st, const struct digest_list *names)
{
	struct digest_list dl;
	struct rec_vals vals;
	size_t i;
	int status;

	for (i = 0; i < names->n; i++) {
		if (names->d[i][0] != 'i')
			continue;
		memset(&dl, 0, sizeof(dl));
		memset(&vals, 0, sizeof(vals));
		vals.digests = &dl;
		status = record_load(st, names->d[i], &schema_index, &vals);
		if (status == REC_UNREADABLE)
			(void)record_unlink(st, names->d[i]);
		else if (status == REC_PRESENT && index_prune(st, &dl) > 0)
			(void)index_write(st, vals.str[0], names->d[i], &dl);
		dl_free(&dl);
	}
}

int store_gc(struct store *st, int64_t now, size_t *removed, struct verdict *v)
{
	struct digest_list names = { 0 };
	struct store_session sess;
	struct store_refresh rec;
	struct verdict lineage;
	struct store_session *gone_list = NULL;
	size_t i, n = 0, n_gone, total = 0;
	int locked = 0, expired, rc = -1;

	if (removed != NULL)
		*removed = 0;
	if (st == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no store");
		goto out;
	}
	if (store_lock(st, v) != 0)
		goto out;
	locked = 1;
	if (list_names(st, "sjulrit", &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the session store");
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		const char *name = names.d[i];

		if (name[0] == '.') { /* a writer's leftover; every writer holds the lock */
			(void)unlinkat(st->dirfd, name, 0);
			continue;
		}
		if (name[0] == 's') {
			if (session_load(st, name + 2, &sess) != REC_PRESENT)
				continue;
			if (sess.expires > now && !session_idle(&sess, now) &&
			    session_lineage_check(st, &sess, now, &lineage) == 0)
				continue;
			n_gone = 0;
			if (session_revoke_locked(st, name + 2, &gone_list, &n_gone) != 0)
				goto write_failed;
			n += n_gone;
		} else if (name[0] == 'r') {
			if (refresh_load(st, name + 2, &rec) != REC_PRESENT ||
			    (rec.expires > now && record_exists_for(st, 's', rec.session)))
				continue;
			if (unlinkat(st->dirfd, name, 0) == 0)
				n++;
			else if (errno != ENOENT)
				goto write_failed;
		} else if (name[0] != 'i') {
			expired = gc_record_expired(st, name, now);
			if (expired <= 0)
				continue;
			if (unlinkat(st->dirfd, name, 0) == 0)
				n++;
			else if (errno != ENOENT)
				goto write_failed;
		}
	}
	gc_indexes(st, &names);
	if (counter_rebuild(st, &total) != 0)
		goto write_failed;
	verdict_ok(v);
	rc = 0;
	goto out;
write_failed:
	verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
out:
	if (removed != NULL)
		*removed = n;
	if (locked)
		store_unlock(st);
	free(gone_list);
	dl_free(&names);
	return rc;
}

/* ---- persistent revocations -------------------------------------------------------------- */

static int st_pair_ok(const struct store *to, const struct store *from)
{
	return to != NULL && from != NULL && to != from ? 0 : -1;
}

/* Whether the store's record `name` (a revoked jti or a lock) already lasts at least as
 * long as the imported one: then the import must not shorten it. */
static int import_keeps_longer(const struct store *to, const struct store *from,
			       const char *name)
{
	const struct rec_schema *schema = name[0] == 'j' ? &schema_jti : &schema_lock;
	struct rec_vals in_store, imported;
	size_t f = name[0] == 'j' ? 0 : 1; /* exp, or until (0: for ever) */

	memset(&in_store, 0, sizeof(in_store));
	memset(&imported, 0, sizeof(imported));
	if (record_load(to, name, schema, &in_store) != REC_PRESENT ||
	    record_load(from, name, schema, &imported) != REC_PRESENT)
		return 0;
	if (name[0] == 'l' && in_store.num[f] == 0)
		return 1;
	if (name[0] == 'l' && imported.num[f] == 0)
		return 0;
	return in_store.num[f] >= imported.num[f];
}

int store_import_revocations(struct store *to, struct store *from, int64_t now,
			     size_t *copied, size_t *unreadable, struct verdict *v)
{
	struct digest_list names = { 0 };
	char *text = NULL;
	size_t i, len, n_copied = 0, n_bad = 0;
	int locked = 0, expired, rc = -1;

	if (st_pair_ok(to, from) != 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no store");
		goto out;
	}
	if (list_names(from, "jl", &names) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot read the revocation directory");
		goto out;
	}
	if (store_lock(to, v) != 0)
		goto out;
	locked = 1;
	for (i = 0; i < names.n; i++) {
		expired = gc_record_expired(from, names.d[i], now);
		if (expired != 0) {
			n_bad += expired < 0;
			continue;
		}
		free(text);
		text = NULL;
		if (record_read(from, names.d[i], STORE_RECORD_MAX, &text, &len) != REC_PRESENT) {
			n_bad++;
			continue;
		}
		/* a revocation already in force in the store is never shortened */
		if (import_keeps_longer(to, from, names.d[i]))
			continue;
		if (record_write(to, names.d[i], text, len) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "cannot write to the session store");
			goto out;
		}
		n_copied++;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (copied != NULL)
		*copied = n_copied;
	if (unreadable != NULL)
		*unreadable = n_bad;
	if (locked)
		store_unlock(to);
	free(text);
	dl_free(&names);
	return rc;
}
