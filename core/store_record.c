/* The store's record codec (see store_record.h) and the session and refresh-family
 * records' text form. */
#include "store_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

bool store_hex_lower(const char *s, size_t n)
{
	size_t i;
	bool ok = true;

	for (i = 0; ok && i < n; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	return ok;
}

bool store_digest_or_empty(const char *s)
{
	return s[0] == '\0' || store_digest_looks_like(s);
}

/* Text a record may hold: UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without
 * control characters (C0, DEL, C1). So every value is a valid JSON string (jansson refuses
 * anything else) and safe to show on a terminal or in a log. */
bool store_text_ok(const char *s, size_t n)
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
bool store_field_ok(const char *s, bool nonempty)
{
	size_t n = strnlen(s, STORE_FIELD_MAX);

	return n < STORE_FIELD_MAX && !(nonempty && n == 0) && store_text_ok(s, n);
}

void tb_add(struct textbuf *tb, const char *s, size_t n)
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

void tb_str(struct textbuf *tb, const char *s)
{
	tb_add(tb, s, strlen(s));
}

/* key=value\n. A value the format cannot hold (too long, not field_ok) fails the whole
 * text: the writer refuses rather than alters it. */
void tb_field(struct textbuf *tb, const char *key, const char *value)
{
	if (!store_field_ok(value, 0)) {
		tb->failed = 1;
		return;
	}
	tb_str(tb, key);
	tb_add(tb, "=", 1);
	tb_str(tb, value);
	tb_add(tb, "\n", 1);
}

void tb_num(struct textbuf *tb, const char *key, unsigned long long value)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s=%llu\n", key, value);

	if (n > 0 && (size_t)n < sizeof(line))
		tb_add(tb, line, (size_t)n);
	else
		tb->failed = 1;
}

unsigned long long clamp_u(int64_t value)
{
	return value < 0 ? 0 : (unsigned long long)value;
}

char *tb_finish(struct textbuf *tb)
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

void dl_free(struct digest_list *dl)
{
	if (dl == NULL)
		return;
	free(dl->d);
	dl->d = NULL;
	dl->n = dl->cap = 0;
}

int dl_add(struct digest_list *dl, const char *s, size_t len)
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

int dl_find(const struct digest_list *dl, const char *s)
{
	size_t i;

	for (i = 0; i < dl->n; i++) {
		if (strcmp(dl->d[i], s) == 0)
			return (int)i;
	}
	return -1;
}

void dl_remove_at(struct digest_list *dl, size_t i)
{
	if (i + 1 < dl->n)
		memmove(dl->d[i], dl->d[i + 1], (dl->n - i - 1) * sizeof(*dl->d));
	dl->n--;
}

/* ---- the record parser --------------------------------------------------------------- */

#define NUM_MAX ((unsigned long long)INT64_MAX)

static const struct field_def session_fields[] = {
	{ "user", FT_STR, 0, 1, 0 },
	{ "uid", FT_NUM, (unsigned long long)UINT32_MAX - 1, 0, 0 },
	{ "service", FT_STR, 0, 0, 0 },
	{ "tty", FT_STR, 0, 0, 0 },
	{ "rhost", FT_STR, 0, 0, 0 },
	{ "pid", FT_NUM, (unsigned long long)INT32_MAX, 0, 0 },
	{ "created", FT_NUM, NUM_MAX, 0, 0 },
	{ "expires", FT_NUM, NUM_MAX, 0, 0 },
	{ "idle", FT_NUM, NUM_MAX, 0, 0 },
	{ "last_seen", FT_NUM, NUM_MAX, 0, 0 },
	{ "leader_start", FT_NUM, NUM_MAX, 0, 0 },
	{ "parent", FT_STR, 0, 0, 0 },
	{ "origin_jti", FT_STR, 0, 0, 0 },
	{ "tokens", FT_NUM, 1, 0, 0 },
	{ "owner", FT_STR, 0, 1, 0 },
	{ "family", FT_STR, 0, 0, 0 },
	{ "boot", FT_STR, 0, 0, 1 }, /* added with shared (Redis) stores */
	{ "host", FT_STR, 0, 0, 1 }, /* added with bind_host */
};
enum { SF_USER, SF_UID, SF_SERVICE, SF_TTY, SF_RHOST, SF_PID, SF_CREATED, SF_EXPIRES,
       SF_IDLE, SF_LAST_SEEN, SF_LEADER_START, SF_PARENT, SF_ORIGIN_JTI, SF_TOKENS, SF_OWNER,
       SF_FAMILY, SF_BOOT, SF_HOST };
static const struct field_def refresh_fields[] = {
	{ "session", FT_STR, 0, 1, 0 },
	{ "user", FT_STR, 0, 1, 0 },
	{ "uid", FT_NUM, (unsigned long long)UINT32_MAX - 1, 0, 0 },
	{ "created", FT_NUM, NUM_MAX, 0, 0 },
	{ "expires", FT_NUM, NUM_MAX, 0, 0 },
	{ "current", FT_STR, 0, 1, 0 },
	{ "rotations", FT_NUM, NUM_MAX, 0, 0 },
	{ "window_start", FT_NUM, NUM_MAX, 0, 0 },
	{ "window_count", FT_NUM, NUM_MAX, 0, 0 },
};
enum { RF_SESSION, RF_USER, RF_UID, RF_CREATED, RF_EXPIRES, RF_CURRENT, RF_ROTATIONS,
       RF_WINDOW_START, RF_WINDOW_COUNT };
static const struct field_def exp_fields[] = { { "exp", FT_NUM, NUM_MAX, 0, 0 } };
static const struct field_def lock_fields[] = { { "user", FT_STR, 0, 1, 0 },
						{ "until", FT_NUM, NUM_MAX, 0, 0 } };
static const struct field_def index_fields[] = { { "user", FT_STR, 0, 1, 0 } };
static const struct field_def counter_fields[] = { { "n", FT_NUM, NUM_MAX, 0, 0 } };
static const struct field_def mirror_fields[] = { { "synced", FT_NUM, NUM_MAX, 0, 0 },
						  { "changes", FT_STR, 0, 0, 0 },
						  { "copied", FT_NUM, NUM_MAX, 0, 0 } };
static const struct field_def intent_fields[] = { { "user", FT_STR, 0, 0, 0 },
						  { "session", FT_STR, 0, 1, 0 } };

#define SCHEMA(kind, f, idx) { kind, f, sizeof(f) / sizeof((f)[0]), idx }
static const struct rec_schema schema_session = SCHEMA("session", session_fields, 0);
static const struct rec_schema schema_refresh = SCHEMA("refresh-family", refresh_fields, 0);
const struct rec_schema schema_jti = SCHEMA("revoked-jti", exp_fields, 0);
const struct rec_schema schema_used = SCHEMA("used-jti", exp_fields, 0);
const struct rec_schema schema_lock = SCHEMA("lock", lock_fields, 0);
const struct rec_schema schema_index = SCHEMA("index", index_fields, 1);
const struct rec_schema schema_counter = SCHEMA("counter", counter_fields, 0);
const struct rec_schema schema_intent = SCHEMA("intent", intent_fields, 0);
const struct rec_schema schema_mirror = SCHEMA("mirror", mirror_fields, 0);

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
		if (vlen != STORE_DIGEST_HEX_LEN || !store_hex_lower(val, vlen) ||
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

int record_parse(const char *text, size_t len, const struct rec_schema *schema,
			struct rec_vals *vals)
{
	const char *p, *end = text + len, *nl;
	unsigned int seen = 0;
	size_t i, kind_len = strlen(schema->kind);
	int rc = -1, first = 1;

	if (len < STORE_HEADER_LEN || memcmp(text, STORE_HEADER, STORE_HEADER_LEN) != 0 ||
	    text[len - 1] != '\n')
		goto out;
	for (p = text + STORE_HEADER_LEN; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || (size_t)(nl - p) > STORE_LINE_MAX)
			goto out;
		if (!store_text_ok(p, (size_t)(nl - p)))
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
	vals->present = seen;
	for (i = 0; i < schema->n; i++) {
		if (schema->fields[i].optional)
			seen |= 1u << i;
	}
	if (first || seen != (1u << schema->n) - 1)
		goto out;
	rc = 0;
out:
	return rc;
}

/* ---- session codec ------------------------------------------------------------------- */

/* The `family` field: the session's family digests, oldest first, separated by ","; empty
 * for none. Strict: each a digest, none twice, at most STORE_SESSION_FAMILIES. */
static int families_parse(const char *s,
			  char out[STORE_SESSION_FAMILIES][STORE_DIGEST_HEX_LEN + 1])
{
	size_t n = 0, i;
	int rc = -1;

	memset(out, 0, STORE_SESSION_FAMILIES * (STORE_DIGEST_HEX_LEN + 1));
	while (*s != '\0') {
		if (n == STORE_SESSION_FAMILIES ||
		    strnlen(s, STORE_DIGEST_HEX_LEN) != STORE_DIGEST_HEX_LEN ||
		    !store_hex_lower(s, STORE_DIGEST_HEX_LEN))
			goto out;
		memcpy(out[n], s, STORE_DIGEST_HEX_LEN);
		for (i = 0; i < n; i++) {
			if (memcmp(out[i], out[n], STORE_DIGEST_HEX_LEN) == 0)
				goto out;
		}
		n++;
		s += STORE_DIGEST_HEX_LEN;
		if (*s == ',' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, STORE_SESSION_FAMILIES * (STORE_DIGEST_HEX_LEN + 1));
	return rc;
}

static void families_format(const char in[STORE_SESSION_FAMILIES][STORE_DIGEST_HEX_LEN + 1],
			    char out[STORE_SESSION_FAMILIES * (STORE_DIGEST_HEX_LEN + 1)])
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < STORE_SESSION_FAMILIES && in[i][0] != '\0'; i++) {
		if (i > 0)
			out[len++] = ',';
		memcpy(out + len, in[i], STORE_DIGEST_HEX_LEN);
		len += STORE_DIGEST_HEX_LEN;
		out[len] = '\0';
	}
}

/* Absent (a record from before it was kept), or 32 lowercase hex digits: an empty value
 * is never written, so it is never read either (a record reads back as it was written). */
static bool boot_ok(const char *s, bool present)
{
	size_t n = strspn(s, "0123456789abcdef");

	return present ? s[n] == '\0' && n == STORE_BOOT_LEN : s[0] == '\0';
}

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
	memcpy(out->owner, vals.str[SF_OWNER], STORE_FIELD_MAX);
	if (!store_digest_or_empty(vals.str[SF_PARENT]) ||
	    !store_digest_or_empty(vals.str[SF_ORIGIN_JTI]) ||
	    families_parse(vals.str[SF_FAMILY], out->family) != 0 ||
	    !boot_ok(vals.str[SF_BOOT], (vals.present & (1u << SF_BOOT)) != 0) ||
	    ((vals.present & (1u << SF_HOST)) != 0 && vals.str[SF_HOST][0] == '\0'))
		goto out;
	memcpy(out->host, vals.str[SF_HOST], STORE_FIELD_MAX);
	memcpy(out->boot, vals.str[SF_BOOT], STORE_BOOT_LEN + 1);
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
	char families[STORE_SESSION_FAMILIES * (STORE_DIGEST_HEX_LEN + 1)];

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
	tb_field(&tb, "owner", sess->owner[0] != '\0' ? sess->owner : sess->user);
	families_format(sess->family, families);
	tb_field(&tb, "family", families);
	if (sess->boot[0] != '\0')
		tb_field(&tb, "boot", sess->boot);
	if (sess->host[0] != '\0')
		tb_field(&tb, "host", sess->host);
	return tb_finish(&tb);
}

/* ---- refresh family codec ------------------------------------------------------------ */

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
	    !store_digest_looks_like(vals.str[RF_SESSION]) ||
	    !store_digest_looks_like(vals.str[RF_CURRENT]))
		goto out;
	memcpy(out->session, vals.str[RF_SESSION], STORE_DIGEST_HEX_LEN + 1);
	memcpy(out->user, vals.str[RF_USER], STORE_FIELD_MAX);
	memcpy(out->current, vals.str[RF_CURRENT], STORE_DIGEST_HEX_LEN + 1);
	out->uid = (uid_t)vals.num[RF_UID];
	out->created = (int64_t)vals.num[RF_CREATED];
	out->expires = (int64_t)vals.num[RF_EXPIRES];
	out->rotations = (int64_t)vals.num[RF_ROTATIONS];
	out->window_start = (int64_t)vals.num[RF_WINDOW_START];
	out->window_count = (int64_t)vals.num[RF_WINDOW_COUNT];
	rc = 0;
out:
	if (rc != 0 && out != NULL)
		memset(out, 0, sizeof(*out));
	return rc;
}

char *store_refresh_format(const struct store_refresh *rec)
{
	struct textbuf tb = { 0 };

	if (rec == NULL)
		return NULL;
	tb_str(&tb, STORE_HEADER "kind=refresh-family\n");
	tb_field(&tb, "session", rec->session);
	tb_field(&tb, "user", rec->user);
	tb_num(&tb, "uid", (unsigned long long)rec->uid);
	tb_num(&tb, "created", clamp_u(rec->created));
	tb_num(&tb, "expires", clamp_u(rec->expires));
	tb_field(&tb, "current", rec->current);
	tb_num(&tb, "rotations", clamp_u(rec->rotations));
	tb_num(&tb, "window_start", clamp_u(rec->window_start));
	tb_num(&tb, "window_count", clamp_u(rec->window_count));
	return tb_finish(&tb);
}

/* ---- small records -------------------------------------------------------------------- */

char *record_exp_format(const char *kind, int64_t exp)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=");
	tb_str(&tb, kind);
	tb_add(&tb, "\n", 1);
	tb_num(&tb, "exp", clamp_u(exp));
	return tb_finish(&tb);
}

char *record_lock_format(const char *user, int64_t until)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=lock\n");
	tb_field(&tb, "user", user);
	tb_num(&tb, "until", clamp_u(until));
	return tb_finish(&tb);
}

char *record_mirror_format(int64_t synced, const char *changes, int64_t copied)
{
	struct textbuf tb = { 0 };

	tb_str(&tb, STORE_HEADER "kind=mirror\n");
	tb_num(&tb, "synced", clamp_u(synced));
	tb_field(&tb, "changes", changes);
	tb_num(&tb, "copied", clamp_u(copied));
	return tb_finish(&tb);
}
