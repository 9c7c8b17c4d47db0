#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "claimpath.h"
#include "jwksurl.h"
#include "secfile.h"
#include "secmem.h"
#include "store_backend.h"

#define CONFIG_MAX_DURATION (10LL * 365 * 24 * 3600)
#define CONFIG_MAX_LEEWAY (10 * 60)

enum config_type {
	CT_STRING, CT_PATH, CT_DURATION, CT_SIZE, CT_BOOL, CT_KEY, CT_CLAIM, CT_COUNT, CT_ACCEPT,
	CT_SOURCE, CT_PATH_OR_NONE, CT_AUDIENCES, CT_JWKS, CT_RSA_ALG,
	CT_CLAIM_NAME, CT_USER_DOMAIN, CT_USER_CASE, /* who the token is */
	CT_MILLIS, CT_STORE_UNAVAILABLE, /* the Redis store */
};

struct config_option {
	const char *name;
	enum config_type type;
	size_t offset; /* into struct config; unused for CT_KEY and CT_CLAIM */
};

#define OPT(n, t, f) { n, t, offsetof(struct config, f) }
static const struct config_option config_options[] = {
	OPT("issuer", CT_STRING, issuer),
	OPT("audience", CT_STRING, audience),
	{ "jwks", CT_JWKS, 0 },
	OPT("jwks_rsa_alg", CT_RSA_ALG, jwks_rsa_alg),
	{ "key", CT_KEY, 0 },
	OPT("leeway", CT_DURATION, leeway),
	OPT("user_claim", CT_CLAIM_NAME, user_claim),
	{ "require_claim", CT_CLAIM, 0 },
	/* who the token is: see the block "user claim forms" below */
	{ "user_domain", CT_USER_DOMAIN, 0 },
	OPT("user_case", CT_USER_CASE, user_case),
	OPT("user_map", CT_PATH, user_map),
	OPT("typ", CT_STRING, typ),
	OPT("max_age", CT_DURATION, max_age),
	OPT("max_token_size", CT_SIZE, max_token_size),
	OPT("prompt", CT_STRING, prompt),
	OPT("store_dir", CT_PATH, store_dir),
	OPT("debug", CT_BOOL, debug),
	OPT("use_first_pass", CT_BOOL, use_first_pass),
	OPT("try_first_pass", CT_BOOL, try_first_pass),
	OPT("ignore_non_jwt", CT_BOOL, ignore_non_jwt),
	OPT("explain_refusal", CT_BOOL, explain_refusal),
	OPT("accept", CT_ACCEPT, accept),
	OPT("announce_session", CT_BOOL, announce_session),
	OPT("bind_service", CT_BOOL, bind_service),
	OPT("bind_host", CT_BOOL, bind_host),
	OPT("require_session", CT_BOOL, require_session),
	OPT("single_use", CT_BOOL, single_use),
	OPT("session_ttl", CT_DURATION, session_ttl),
	OPT("idle_timeout", CT_DURATION, idle_timeout),
	OPT("allow_non_tmpfs", CT_BOOL, allow_non_tmpfs),
	OPT("max_sessions_per_user", CT_COUNT, max_sessions_per_user),
	OPT("max_sessions_total", CT_COUNT, max_sessions_total),
	OPT("max_refreshes_per_minute", CT_COUNT, max_refreshes_per_minute),
	OPT("persist_dir", CT_PATH_OR_NONE, persist_dir),
	OPT("issue_tokens", CT_BOOL, issue_tokens),
	OPT("keyring", CT_BOOL, keyring),
	OPT("token_source", CT_SOURCE, token_source),
	OPT("socket_path", CT_PATH, socket_path),
	OPT("signing_key", CT_PATH, signing_key),
	OPT("access_ttl", CT_DURATION, access_ttl),
	OPT("refresh_ttl", CT_DURATION, refresh_ttl),
	OPT("refresh_ahead", CT_DURATION, refresh_ahead),
	OPT("revoke_kill_after", CT_DURATION, revoke_kill_after),
	OPT("sweep_interval", CT_DURATION, sweep_interval),
	OPT("end_on_refresh_failure", CT_BOOL, end_on_refresh_failure),
	{ "token_audiences", CT_AUDIENCES, 0 },
	/* --- keys fetched from the issuer by pam-jwtd / pam-jwtctl jwks fetch --- */
	OPT("jwks_url", CT_STRING, jwks_url),
	OPT("jwks_cache", CT_PATH, jwks_cache),
	OPT("jwks_refresh", CT_DURATION, jwks_refresh),
	/* --- end of the fetched-keys block --- */
	/* --- the Redis store --- */
	OPT("store", CT_STRING, store),
	OPT("redis_prefix", CT_STRING, redis_prefix),
	OPT("redis_password_file", CT_PATH, redis_password_file),
	OPT("redis_ca_file", CT_PATH, redis_ca_file),
	OPT("redis_cert_file", CT_PATH, redis_cert_file),
	OPT("redis_key_file", CT_PATH, redis_key_file),
	OPT("redis_timeout", CT_MILLIS, redis_timeout_ms),
	OPT("store_unavailable", CT_STORE_UNAVAILABLE, store_unavailable),
	OPT("max_staleness", CT_DURATION, max_staleness),
	OPT("redis_sentinel", CT_STRING, redis_sentinel),
	OPT("redis_master", CT_STRING, redis_master),
	OPT("redis_replicas", CT_COUNT, redis_replicas),
	/* --- end of the Redis store block --- */
};
#undef OPT
#define CONFIG_OPTION_COUNT (sizeof(config_options) / sizeof(config_options[0]))
_Static_assert(CONFIG_OPTION_COUNT <= CONFIG_MAX_OPTIONS, "raise CONFIG_MAX_OPTIONS");

static const struct config_option *config_option_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_OPTION_COUNT; i++)
		if (strcmp(config_options[i].name, name) == 0)
			return &config_options[i];
	return NULL;
}

/* The options that may be given more than once: each occurrence adds to a list. */
static bool option_repeatable(const struct config_option *opt)
{
	return opt->type == CT_JWKS || opt->type == CT_KEY || opt->type == CT_CLAIM ||
	       opt->type == CT_USER_DOMAIN || opt->type == CT_AUDIENCES;
}

long config_option_line(const struct config *cfg, const char *name)
{
	const struct config_option *opt = config_option_find(name);

	return opt != NULL ? cfg->option_line[opt - config_options] : 0;
}

/* A check of the whole configuration failed at `option`: the error names it and the line
 * that set it. Returns rc. */
static int config_where(const struct config *cfg, struct verdict *v, const char *option, int rc)
{
	long line = config_option_line(cfg, option);

	if (rc != 0)
		verdict_where_fill(v, line > 0 ? cfg->config_path : NULL, line, option, NULL);
	return rc;
}

static int config_bad(const struct config *cfg, struct verdict *v, const char *option,
		      const char *reason)
{
	return config_where(cfg, v, option, verdict_set(v, VERDICT_BAD_CONFIG, reason));
}

/* ---- "did you mean": the option nearest to an unknown name ---------------------------- */

#define SUGGEST_NAME_MAX 40

/* Edit distance counting an insertion, a deletion, a substitution and a swap of two
 * neighbours as one edit each (optimal string alignment); names longer than
 * SUGGEST_NAME_MAX are never near. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t row[3][SUGGEST_NAME_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j, best;

	if (la > SUGGEST_NAME_MAX || lb > SUGGEST_NAME_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[0][j] = j;
	for (i = 1; i <= la; i++) {
		size_t *cur = row[i % 3], *prev = row[(i + 2) % 3], *prev2 = row[(i + 1) % 3];

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			best = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
	}
	return row[la % 3][lb];
}

/* The known option nearest to name: at most 1 edit away for names of up to 4 bytes, 2 for
 * longer ones; the first in the table on a tie; NULL if none is that near. */
static const char *option_suggest(const char *name)
{
	size_t limit = strlen(name) <= 4 ? 1 : 2, best = SIZE_MAX, d, i;
	const char *found = NULL;

	for (i = 0; i < CONFIG_OPTION_COUNT; i++) {
		d = edit_distance(name, config_options[i].name);
		if (d <= limit && d < best) {
			best = d;
			found = config_options[i].name;
		}
	}
	return found;
}

/* ---- problem lists --------------------------------------------------------------------- */

void config_report_add(struct config_report *r, const struct verdict *v, bool warning)
{
	if (!warning)
		r->errors++;
	if (r->count >= CONFIG_REPORT_MAX) {
		r->dropped++;
		return;
	}
	r->item[r->count].v = *v;
	r->item[r->count].warning = warning;
	r->count++;
}

static int set_string(char **slot, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

const char *config_store_location(const struct config *cfg)
{
	return cfg->store != NULL ? cfg->store : cfg->store_dir;
}

int config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->leeway = 60;
	cfg->max_age = -1;
	cfg->max_token_size = 16 * 1024;
	cfg->accept = CONFIG_ACCEPT_JWT | CONFIG_ACCEPT_SESSION;
	cfg->session_ttl = 8 * 3600;
	cfg->idle_timeout = 0;
	cfg->max_sessions_per_user = 256;
	cfg->max_sessions_total = 100000;
	cfg->max_refreshes_per_minute = 10;
	cfg->token_source = CONFIG_SOURCE_PROMPT;
	cfg->access_ttl = 15 * 60;
	cfg->refresh_ttl = 8 * 3600;
	cfg->refresh_ahead = 5 * 60;
	cfg->revoke_kill_after = 10;
	cfg->sweep_interval = 60;
	cfg->jwks_rsa_alg = JWA_RS256;
	cfg->jwks_refresh = 3600;
	cfg->redis_timeout_ms = 1000;
	cfg->max_staleness = -1;
	cfg->explain_refusal = true;
	if (set_string(&cfg->user_claim, "sub") != 0 || set_string(&cfg->prompt, "JWT: ") != 0 ||
	    set_string(&cfg->store_dir, CONFIG_DEFAULT_STORE_DIR) != 0 ||
	    set_string(&cfg->persist_dir, CONFIG_DEFAULT_PERSIST_DIR) != 0 ||
	    set_string(&cfg->socket_path, CONFIG_DEFAULT_SOCKET_PATH) != 0) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

static void config_keys_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->key_count; i++) {
		free(cfg->keys[i].kid);
		free(cfg->keys[i].path);
	}
	cfg->key_count = 0;
}

static void config_claims_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->required_count; i++) {
		free(cfg->required[i].name);
		free(cfg->required[i].value);
	}
	cfg->required_count = 0;
}

static void config_user_domains_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->user_domain_count; i++)
		free(cfg->user_domains[i]);
	cfg->user_domain_count = 0;
}

static void config_audiences_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->token_audience_count; i++)
		free(cfg->token_audiences[i]);
	cfg->token_audience_count = 0;
}

/* ---- key sets as identity providers publish them: jwks, jwks_rsa_alg ------------------- */

static void config_jwks_clear(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->jwks_count; i++)
		free(cfg->jwks_paths[i]);
	cfg->jwks_count = 0;
}

/* jwks: one absolute path per occurrence, added to the list (a path already listed is not
 * added twice). */
static int parse_jwks(struct config *cfg, const char *value, struct verdict *v)
{
	size_t i;
	int rc = -1;

	if (value[0] != '/') {
		verdict_set(v, VERDICT_BAD_CONFIG, "path must be absolute");
		goto out;
	}
	for (i = 0; i < cfg->jwks_count; i++)
		if (strcmp(cfg->jwks_paths[i], value) == 0)
			break;
	if (i < cfg->jwks_count) {
		rc = 0;
		goto out;
	}
	if (cfg->jwks_count >= CONFIG_MAX_JWKS) {
		verdict_set(v, VERDICT_BAD_CONFIG, "too many jwks entries");
		goto out;
	}
	cfg->jwks_paths[cfg->jwks_count] = strdup(value);
	if (cfg->jwks_paths[cfg->jwks_count] == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	cfg->jwks_count++;
	rc = 0;
out:
	return rc;
}

/* jwks_rsa_alg: an RSA algorithm (the admin's, never the token's choice). */
static int parse_rsa_alg(const char *value, enum jwa_alg *out, struct verdict *v)
{
	enum jwa_alg alg = jwa_alg_from_name(value);
	int rc = -1;

	if (jwa_alg_family(alg) != JWA_FAMILY_RSA && jwa_alg_family(alg) != JWA_FAMILY_RSA_PSS) {
		verdict_set(v, VERDICT_BAD_CONFIG, "jwks_rsa_alg must be RS256, RS384, RS512, "
			    "PS256, PS384 or PS512");
		goto out;
	}
	*out = alg;
	rc = 0;
out:
	return rc;
}

/* ---- end of key sets ------------------------------------------------------------------- */

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	config_keys_clear(cfg);
	config_claims_clear(cfg);
	config_audiences_clear(cfg);
	config_user_domains_clear(cfg);
	free(cfg->user_map);
	config_jwks_clear(cfg);
	free(cfg->config_path);
	free(cfg->issuer);
	free(cfg->audience);
	free(cfg->user_claim);
	free(cfg->typ);
	free(cfg->prompt);
	free(cfg->store_dir);
	free(cfg->persist_dir);
	free(cfg->socket_path);
	free(cfg->signing_key);
	/* fetched keys */
	free(cfg->jwks_url);
	free(cfg->jwks_cache);
	/* the Redis store */
	free(cfg->store);
	free(cfg->redis_prefix);
	free(cfg->redis_password_file);
	free(cfg->redis_ca_file);
	free(cfg->redis_cert_file);
	free(cfg->redis_key_file);
	free(cfg->redis_sentinel);
	free(cfg->redis_master);
	memset(cfg, 0, sizeof(*cfg));
}

/* "30", "30s", "15m", "1h", "2d"; 0 .. ten years. */
static int parse_duration(const char *s, int64_t *out)
{
	char *end = NULL;
	long long n, unit = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 's': unit = 1; end++; break;
	case 'm': unit = 60; end++; break;
	case 'h': unit = 3600; end++; break;
	case 'd': unit = 86400; end++; break;
	default: return -1;
	}
	if (*end != '\0' || n > CONFIG_MAX_DURATION / unit)
		return -1;
	*out = n * unit;
	return 0;
}

/* "500ms", or a duration as above; 1 ms .. 60 s. */
static int parse_millis(const char *s, int64_t *out)
{
	char *end = NULL;
	long long n;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno == 0 && strcmp(end, "ms") == 0)
		*out = n;
	else if (parse_duration(s, out) == 0 && *out <= 60)
		*out *= 1000;
	else
		return -1;
	return *out >= 1 && *out <= 60000 ? 0 : -1;
}

int config_parse_duration(const char *s, int64_t *out)
{
	return parse_duration(s, out);
}

static int parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* A count: decimal digits only, 0 .. CONFIG_MAX_COUNT. */
static int parse_count(const char *s, size_t *out)
{
	unsigned long long n;
	char *end = NULL;
	int rc = -1;

	if (!isdigit((unsigned char)s[0]))
		goto out;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > CONFIG_MAX_COUNT)
		goto out;
	*out = (size_t)n;
	rc = 0;
out:
	return rc;
}

/* "jwt", "session" or "jwt,session" (spaces around items allowed). */
static int parse_accept(const char *s, unsigned int *out)
{
	unsigned int set = 0;
	const char *p = s, *end;
	size_t len;
	int rc = -1;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p;
		while (*end != '\0' && *end != ',' && *end != ' ' && *end != '\t')
			end++;
		len = (size_t)(end - p);
		if (len == 3 && strncmp(p, "jwt", 3) == 0)
			set |= CONFIG_ACCEPT_JWT;
		else if (len == 7 && strncmp(p, "session", 7) == 0)
			set |= CONFIG_ACCEPT_SESSION;
		else
			goto out;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end == '\0')
			break;
		if (*end != ',')
			goto out;
		p = end + 1;
	}
	*out = set;
	rc = 0;
out:
	return rc;
}

/* ALG:/path or ALG:KID:/path */
static int parse_key_spec(struct config *cfg, const char *value, struct verdict *v)
{
	const char *colon = strchr(value, ':'), *path, *kid_end;
	char alg_name[16];
	struct config_key *k;
	int rc = -1;

	if (cfg->key_count >= CONFIG_MAX_KEYS) {
		verdict_set(v, VERDICT_BAD_CONFIG, "too many key entries");
		goto out;
	}
	if (colon == NULL || (size_t)(colon - value) >= sizeof(alg_name)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "key must be ALG:/path or ALG:KID:/path");
		goto out;
	}
	memcpy(alg_name, value, (size_t)(colon - value));
	alg_name[colon - value] = '\0';
	k = &cfg->keys[cfg->key_count];
	memset(k, 0, sizeof(*k));
	k->alg = jwa_alg_from_name(alg_name);
	if (k->alg == JWA_INVALID) {
		verdict_set(v, VERDICT_BAD_CONFIG, "key names an unsupported algorithm");
		goto out;
	}
	path = colon + 1;
	if (*path != '/') {
		kid_end = strchr(path, ':');
		if (kid_end == NULL || kid_end == path || kid_end[1] != '/') {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "key must be ALG:/path or ALG:KID:/path (absolute path)");
			goto out;
		}
		k->kid = strndup(path, (size_t)(kid_end - path));
		path = kid_end + 1;
		if (k->kid == NULL)
			goto nomem;
	}
	k->path = strdup(path);
	if (k->path == NULL)
		goto nomem;
	cfg->key_count++;
	rc = 0;
	goto out;
nomem:
	free(k->kid);
	k->kid = NULL;
	verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
out:
	return rc;
}

/* NAME:VALUE (split at the first ':'), or /POINTER=VALUE (split at the first '='; the
 * pointer's names escape '~' and '/' as ~0 and ~1, as RFC 6901 says). */
static int parse_claim_spec(struct config *cfg, const char *value, struct verdict *v)
{
	const char *sep = strchr(value, value[0] == '/' ? '=' : ':');
	struct config_claim *c;
	int rc = -1;

	if (cfg->required_count >= CONFIG_MAX_REQUIRED) {
		verdict_set(v, VERDICT_BAD_CONFIG, "too many require_claim entries");
		goto out;
	}
	if (sep == NULL || sep == value || sep[1] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, value[0] == '/' ?
			    "require_claim must be /POINTER=VALUE" : "require_claim must be NAME:VALUE");
		goto out;
	}
	c = &cfg->required[cfg->required_count];
	c->name = strndup(value, (size_t)(sep - value));
	c->value = strdup(sep + 1);
	if (c->name != NULL && c->value != NULL && !claimpath_valid(c->name)) {
		free(c->name);
		free(c->value);
		verdict_set(v, VERDICT_BAD_CONFIG, "require_claim has a malformed JSON Pointer "
			    "(names must be non-empty, '~' only as ~0 or ~1)");
		goto out;
	}
	if (c->name == NULL || c->value == NULL) {
		free(c->name);
		free(c->value);
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	cfg->required_count++;
	rc = 0;
out:
	return rc;
}

static bool audience_listed(const struct config *cfg, const char *aud, size_t len)
{
	size_t i;

	for (i = 0; i < cfg->token_audience_count; i++)
		if (strlen(cfg->token_audiences[i]) == len &&
		    memcmp(cfg->token_audiences[i], aud, len) == 0)
			return true;
	return false;
}

/* token_audiences: AUD[,AUD...], spaces around items allowed; added to the list (a value
 * already listed is not added twice). Nothing is added unless the whole value is good. */
static int parse_audiences(struct config *cfg, const char *value, struct verdict *v)
{
	const char *p = value, *start, *end;
	size_t before = cfg->token_audience_count, len;
	int rc = -1;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		len = (size_t)(end - start);
		if (len == 0 || len > CONFIG_MAX_AUDIENCE_LEN) {
			verdict_set(v, VERDICT_BAD_CONFIG, "token_audiences must list audiences of "
				    "1..255 bytes, separated by commas");
			goto out;
		}
		if (!audience_listed(cfg, start, len)) {
			if (cfg->token_audience_count >= CONFIG_MAX_AUDIENCES) {
				verdict_set(v, VERDICT_BAD_CONFIG, "too many token_audiences entries");
				goto out;
			}
			cfg->token_audiences[cfg->token_audience_count] = strndup(start, len);
			if (cfg->token_audiences[cfg->token_audience_count] == NULL) {
				verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
				goto out;
			}
			cfg->token_audience_count++;
		}
		if (*p == '\0')
			break;
		p++;
	}
	rc = 0;
out:
	while (rc != 0 && cfg->token_audience_count > before)
		free(cfg->token_audiences[--cfg->token_audience_count]);
	return rc;
}

bool config_token_audience_allowed(const struct config *cfg, const char *aud)
{
	if (aud == NULL)
		return false;
	if (cfg->audience != NULL && strcmp(cfg->audience, aud) == 0)
		return true;
	return audience_listed(cfg, aud, strlen(aud));
}

/* ---- user claim forms: user_claim, user_domain, user_case (user_map is a path) ---- */

/* user_claim: a claim name, or a well-formed JSON Pointer. */
static int parse_claim_name(struct config *cfg, const char *value, struct verdict *v)
{
	int rc = -1;

	if (!claimpath_valid(value)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "user_claim has a malformed JSON Pointer "
			    "(names must be non-empty, '~' only as ~0 or ~1)");
		goto out;
	}
	if (set_string(&cfg->user_claim, value) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* A domain name: labels of [A-Za-z0-9-] (1..63 bytes, no '-' at either end) joined by
 * dots, at most CONFIG_MAX_DOMAIN_LEN bytes. */
static bool domain_ok(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > CONFIG_MAX_DOMAIN_LEN)
		return false;
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* user_domain: one domain, kept in ASCII lowercase and added to the list once. */
static int parse_user_domain(struct config *cfg, const char *value, struct verdict *v)
{
	char *lower = NULL;
	size_t i;
	int rc = -1;

	if (!domain_ok(value)) {
		verdict_set(v, VERDICT_BAD_CONFIG,
			    "user_domain must be a domain name such as example.com");
		goto out;
	}
	lower = strdup(value);
	if (lower == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	for (i = 0; lower[i] != '\0'; i++)
		if (lower[i] >= 'A' && lower[i] <= 'Z')
			lower[i] = (char)(lower[i] - 'A' + 'a');
	for (i = 0; i < cfg->user_domain_count; i++)
		if (strcmp(cfg->user_domains[i], lower) == 0)
			break;
	if (i < cfg->user_domain_count) {
		rc = 0;
		goto out;
	}
	if (cfg->user_domain_count >= CONFIG_MAX_USER_DOMAINS) {
		verdict_set(v, VERDICT_BAD_CONFIG, "too many user_domain entries (at most 16)");
		goto out;
	}
	cfg->user_domains[cfg->user_domain_count++] = lower;
	lower = NULL;
	rc = 0;
out:
	free(lower);
	return rc;
}

static int parse_user_case(const char *s, enum config_user_case *out)
{
	int rc = 0;

	if (strcmp(s, "exact") == 0)
		*out = CONFIG_USER_CASE_EXACT;
	else if (strcmp(s, "lower") == 0)
		*out = CONFIG_USER_CASE_LOWER;
	else
		rc = -1;
	return rc;
}

/* user_map names accounts exactly: it combines with neither user_domain nor user_case. */
static int validate_user_forms(const struct config *cfg, struct verdict *v)
{
	int rc = -1;

	if (cfg->user_map != NULL && cfg->user_domain_count > 0) {
		config_bad(cfg, v, "user_map", "user_map and user_domain exclude each other");
		goto out;
	}
	if (cfg->user_map != NULL && cfg->user_case != CONFIG_USER_CASE_EXACT) {
		config_bad(cfg, v, "user_case", "user_map takes no user_case but exact");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* ---- end of user claim forms ---- */

static int parse_token_source(const char *s, enum config_token_source *out)
{
	int rc = 0;

	if (strcmp(s, "prompt") == 0)
		*out = CONFIG_SOURCE_PROMPT;
	else if (strcmp(s, "keyring") == 0)
		*out = CONFIG_SOURCE_KEYRING;
	else if (strcmp(s, "keyring_only") == 0)
		*out = CONFIG_SOURCE_KEYRING_ONLY;
	else
		rc = -1;
	return rc;
}

static int config_apply(struct config *cfg, const struct config_option *opt, const char *value,
			struct verdict *v)
{
	char *base = (char *)cfg;
	int64_t duration;
	char *end = NULL;
	unsigned long long size;
	int rc = -1;

	if (value == NULL || value[0] == '\0') {
		verdict_set(v, VERDICT_BAD_CONFIG, "option needs a value");
		goto out;
	}
	switch (opt->type) {
	case CT_PATH_OR_NONE:
		if (strcmp(value, "none") == 0) {
			free(*(char **)(base + opt->offset));
			*(char **)(base + opt->offset) = NULL;
			break;
		}
		/* fall through */
	case CT_PATH:
		if (value[0] != '/') {
			verdict_set(v, VERDICT_BAD_CONFIG, "path must be absolute");
			goto out;
		}
		/* fall through */
	case CT_STRING:
		if (set_string((char **)(base + opt->offset), value) != 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
			goto out;
		}
		break;
	case CT_STORE_UNAVAILABLE:
		if (strcmp(value, "refuse") == 0) {
			cfg->store_unavailable = CONFIG_STORE_UNAVAILABLE_REFUSE;
		} else if (strcmp(value, "last_known") == 0) {
			cfg->store_unavailable = CONFIG_STORE_UNAVAILABLE_LAST_KNOWN;
		} else {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "store_unavailable must be refuse or last_known");
			goto out;
		}
		break;
	case CT_MILLIS:
		if (parse_millis(value, (int64_t *)(base + opt->offset)) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "bad timeout (use e.g. 500ms or 2s; 1ms .. 60s)");
			goto out;
		}
		break;
	case CT_DURATION:
		if (parse_duration(value, &duration) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "bad duration (use e.g. 30, 30s, 15m, 1h, 2d)");
			goto out;
		}
		if (opt->offset == offsetof(struct config, leeway) && duration > CONFIG_MAX_LEEWAY) {
			verdict_set(v, VERDICT_BAD_CONFIG, "leeway may be at most 10m");
			goto out;
		}
		if ((opt->offset == offsetof(struct config, session_ttl) ||
		     opt->offset == offsetof(struct config, access_ttl) ||
		     opt->offset == offsetof(struct config, refresh_ttl) ||
		     opt->offset == offsetof(struct config, sweep_interval) ||
		     opt->offset == offsetof(struct config, jwks_refresh)) && duration == 0) {
			verdict_set(v, VERDICT_BAD_CONFIG, "this duration must be at least 1s");
			goto out;
		}
		if (opt->offset == offsetof(struct config, max_staleness) &&
		    (duration < CONFIG_MAX_STALENESS_MIN || duration > 7 * 86400)) {
			verdict_set(v, VERDICT_BAD_CONFIG, "max_staleness must be 15s .. 7d");
			goto out;
		}
		*(int64_t *)(base + opt->offset) = duration;
		break;
	case CT_SIZE:
		errno = 0;
		size = isdigit((unsigned char)value[0]) ? strtoull(value, &end, 10) : 0;
		if (errno != 0 || end == NULL || *end != '\0' || size < 256 || size > 65536) {
			verdict_set(v, VERDICT_BAD_CONFIG, "max_token_size must be 256..65536");
			goto out;
		}
		*(size_t *)(base + opt->offset) = (size_t)size;
		break;
	case CT_BOOL:
		if (parse_bool(value, (bool *)(base + opt->offset)) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG, "boolean must be yes or no");
			goto out;
		}
		break;
	case CT_COUNT:
		if (parse_count(value, (size_t *)(base + opt->offset)) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG, "count must be a number 0..100000000");
			goto out;
		}
		break;
	case CT_ACCEPT:
		if (parse_accept(value, (unsigned int *)(base + opt->offset)) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "accept must list jwt and/or session (e.g. jwt,session)");
			goto out;
		}
		break;
	case CT_SOURCE:
		if (parse_token_source(value, (enum config_token_source *)(base + opt->offset)) !=
		    0) {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "token_source must be prompt, keyring or keyring_only");
			goto out;
		}
		break;
	case CT_KEY:
		if (parse_key_spec(cfg, value, v) != 0)
			goto out;
		break;
	case CT_CLAIM:
		if (parse_claim_spec(cfg, value, v) != 0)
			goto out;
		break;
	case CT_AUDIENCES:
		if (parse_audiences(cfg, value, v) != 0)
			goto out;
		break;
	case CT_CLAIM_NAME:
		if (parse_claim_name(cfg, value, v) != 0)
			goto out;
		break;
	case CT_USER_DOMAIN:
		if (parse_user_domain(cfg, value, v) != 0)
			goto out;
		break;
	case CT_USER_CASE:
		if (parse_user_case(value, (enum config_user_case *)(base + opt->offset)) != 0) {
			verdict_set(v, VERDICT_BAD_CONFIG, "user_case must be exact or lower");
			goto out;
		}
		break;
	case CT_JWKS:
		if (parse_jwks(cfg, value, v) != 0)
			goto out;
		break;
	case CT_RSA_ALG:
		if (parse_rsa_alg(value, (enum jwa_alg *)(base + opt->offset), v) != 0)
			goto out;
		break;
	}
	rc = 0;
out:
	return rc;
}

/* Apply one option set at `line` of the config file (0: not from the file) and remember
 * the line; an error names the option, the line and a path the value holds. */
static int config_set_at(struct config *cfg, const char *key, const char *value, long line,
			 struct verdict *v)
{
	const struct config_option *opt = config_option_find(key);
	size_t keys = cfg->key_count, jwks = cfg->jwks_count;
	int rc = -1;

	if (opt == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "unknown option");
		v->where.suggest = option_suggest(key);
		if (v->where.suggest == NULL)
			v->where.hint = "pam_jwt.conf(5) lists the options";
		verdict_where_fill(v, line > 0 ? cfg->config_path : NULL, line, key, NULL);
		goto out;
	}
	if (config_apply(cfg, opt, value, v) != 0) {
		verdict_where_fill(v, line > 0 ? cfg->config_path : NULL, line, opt->name,
				   (opt->type == CT_PATH || opt->type == CT_PATH_OR_NONE ||
				    opt->type == CT_JWKS) && value != NULL ? value : NULL);
		goto out;
	}
	cfg->option_line[opt - config_options] = line;
	if (cfg->key_count > keys)
		cfg->keys[keys].line = line;
	if (cfg->jwks_count > jwks)
		cfg->jwks_lines[jwks] = line;
	rc = 0;
out:
	return rc;
}

int config_set(struct config *cfg, const char *key, const char *value, struct verdict *v)
{
	return config_set_at(cfg, key, value, 0, v);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A comment after a value: '#' at the value's start or after a space or tab, to the end of
 * the line. A '#' right after another character (a URL's fragment, "#admins") is kept. */
static void strip_comment(char *value)
{
	char *p;

	for (p = value; *p != '\0'; p++) {
		if (*p == '#' && (p == value || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
}

/* One line of the file (NUL-terminated, in a buffer of its own). */
static int load_line(struct config *cfg, char *line, long line_no, struct verdict *v)
{
	const struct config_option *opt;
	char *key = trim(line), *value, *eq;
	long first;
	int rc = -1;

	if (key[0] == '\0' || key[0] == '#') {
		rc = 0;
		goto out;
	}
	eq = strchr(key, '=');
	if (eq == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "config line is not key = value");
		v->where.hint = "write each option as NAME = VALUE";
		verdict_where_fill(v, cfg->config_path, line_no, NULL, NULL);
		goto out;
	}
	*eq = '\0';
	value = eq + 1;
	strip_comment(value);
	value = trim(value);
	key = trim(key);
	opt = config_option_find(key);
	first = opt != NULL ? cfg->option_line[opt - config_options] : 0;
	if (opt != NULL && first > 0 && !option_repeatable(opt)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "option given more than once");
		snprintf(v->detail, sizeof(v->detail), "(first at line %ld)", first);
		v->where.hint = "keep one of the lines";
		verdict_where_fill(v, cfg->config_path, line_no, opt->name, NULL);
		goto out;
	}
	rc = config_set_at(cfg, key, value, line_no, v);
out:
	return rc;
}

/* The file's lines; with r, a bad line is added to it and the next line is read. */
static int load_text(struct config *cfg, const char *text, size_t len, struct config_report *r,
		     struct verdict *v)
{
	char line[CONFIG_MAX_LINE + 1];
	size_t pos = 0, line_len;
	long line_no = 0;
	const char *nl;
	int rc = -1;

	if (memchr(text, '\0', len) != NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "config file contains a NUL byte");
		verdict_where_fill(v, cfg->config_path, 0, NULL, NULL);
		if (r != NULL)
			config_report_add(r, v, false);
		goto out;
	}
	while (pos < len) {
		line_no++;
		nl = memchr(text + pos, '\n', len - pos);
		line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		pos += line_len + (nl != NULL ? 1 : 0);
		if (line_len > CONFIG_MAX_LINE) {
			verdict_set(v, VERDICT_BAD_CONFIG, "config line too long");
			snprintf(v->detail, sizeof(v->detail), "(more than %d bytes)",
				 CONFIG_MAX_LINE);
			verdict_where_fill(v, cfg->config_path, line_no, NULL, NULL);
		} else {
			memcpy(line, text + pos - line_len - (nl != NULL ? 1 : 0), line_len);
			line[line_len] = '\0';
			if (load_line(cfg, line, line_no, v) == 0)
				continue;
		}
		if (r == NULL)
			goto out;
		config_report_add(r, v, false);
	}
	rc = r != NULL && r->errors > 0 ? -1 : 0;
out:
	return rc;
}

int config_load_text(struct config *cfg, const char *text, size_t len, struct verdict *v)
{
	return load_text(cfg, text, len, NULL, v);
}

/* Read the file, then parse it (into r when given). */
static int load_file(struct config *cfg, const char *path, struct config_report *r,
		     struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	int rc = -1;

	if (secfile_read(path, SECFILE_PUBLIC, &text, &len, v) != 0) {
		verdict_where_fill(v, NULL, 0, NULL, path);
		goto out;
	}
	if (set_string(&cfg->config_path, path) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	rc = load_text(cfg, (const char *)text, len, r, v);
	if (r != NULL)
		rc = 0;
out:
	secmem_free(text, len);
	return rc;
}

int config_load_file(struct config *cfg, const char *path, struct verdict *v)
{
	return load_file(cfg, path, NULL, v);
}

int config_load_file_report(struct config *cfg, const char *path, struct config_report *r,
			    struct verdict *v)
{
	return load_file(cfg, path, r, v);
}

int config_from_args(struct config *cfg, int argc, const char **argv, struct verdict *v)
{
	const char *path = NULL;
	char name[64];
	const char *eq, *value;
	bool keys_replaced = false, claims_replaced = false, audiences_replaced = false;
	bool domains_replaced = false, jwks_replaced = false;
	bool given[CONFIG_MAX_OPTIONS] = { false };
	const struct config_option *opt;
	struct stat st;
	int i, rc = -1;

	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], "config=", 7) == 0)
			path = argv[i] + 7;
	if (path != NULL) {
		if (config_load_file(cfg, path, v) != 0)
			goto out;
	} else if (lstat(CONFIG_DEFAULT_PATH, &st) == 0 || errno != ENOENT) {
		/* only a file that is truly absent may be skipped */
		if (config_load_file(cfg, CONFIG_DEFAULT_PATH, v) != 0)
			goto out;
	}
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0)
			continue;
		eq = strchr(argv[i], '=');
		value = eq != NULL ? eq + 1 : "yes";
		if (eq == NULL)
			eq = argv[i] + strlen(argv[i]);
		if ((size_t)(eq - argv[i]) >= sizeof(name)) {
			verdict_set(v, VERDICT_BAD_CONFIG, "unknown option");
			v->where.hint = "pam_jwt.conf(5) lists the options";
			goto out;
		}
		memcpy(name, argv[i], (size_t)(eq - argv[i]));
		name[eq - argv[i]] = '\0';
		opt = config_option_find(name);
		if (opt != NULL && *eq == '\0' && opt->type != CT_BOOL) {
			verdict_set(v, VERDICT_BAD_CONFIG, "option needs a value");
			verdict_where_fill(v, NULL, 0, opt->name, NULL);
			goto out;
		}
		/* an argument overrides the file; given twice, it is a mistake */
		if (opt != NULL && !option_repeatable(opt) && given[opt - config_options]) {
			verdict_set(v, VERDICT_BAD_CONFIG, "module argument given more than once");
			v->where.hint = "keep one of them";
			verdict_where_fill(v, NULL, 0, opt->name, NULL);
			goto out;
		}
		if (opt != NULL)
			given[opt - config_options] = true;
		/* A repeatable key given as an argument replaces the file's list. */
		if (strcmp(name, "key") == 0 && !keys_replaced) {
			config_keys_clear(cfg);
			keys_replaced = true;
		} else if (strcmp(name, "require_claim") == 0 && !claims_replaced) {
			config_claims_clear(cfg);
			claims_replaced = true;
		} else if (strcmp(name, "token_audiences") == 0 && !audiences_replaced) {
			config_audiences_clear(cfg);
			audiences_replaced = true;
		} else if (strcmp(name, "user_domain") == 0 && !domains_replaced) {
			config_user_domains_clear(cfg);
			domains_replaced = true;
		} else if (strcmp(name, "jwks") == 0 && !jwks_replaced) {
			config_jwks_clear(cfg);
			jwks_replaced = true;
		}
		if (config_set(cfg, name, value, v) != 0)
			goto out;
	}
	rc = 0;
out:
	return rc;
}

/* --- fetched keys: jwks_url and the issuer's discovery document --- */
static int config_validate_fetch(const struct config *cfg, struct verdict *v)
{
	if (cfg->jwks_cache == NULL)
		return 0;
	if (cfg->jwks_url != NULL)
		return config_where(cfg, v, "jwks_url", jwksurl_check(cfg->jwks_url, v));
	if (cfg->issuer == NULL)
		return config_bad(cfg, v, "jwks_cache", "jwks_cache needs jwks_url or issuer");
	return 0;
}
/* --- end of fetched keys --- */

/* --- the Redis store --- */
#define REDIS_REPLICAS_MAX 16
/* redis_sentinel and redis_master go together, with a TCP or TLS store; redis_replicas
 * is bounded. */
static int config_validate_sentinel(const struct config *cfg, const struct redis_target *t,
				    struct verdict *v)
{
	struct redis_sentinels s;
	const char *reason = NULL;

	if (cfg->redis_replicas > REDIS_REPLICAS_MAX)
		return config_bad(cfg, v, "redis_replicas", "redis_replicas may be at most 16");
	if (cfg->redis_sentinel == NULL && cfg->redis_master == NULL)
		return 0;
	if (cfg->redis_sentinel == NULL || cfg->redis_master == NULL)
		return config_bad(cfg, v, "redis_sentinel",
				   "redis_sentinel and redis_master go together");
	if (t->transport == REDIS_UNIX)
		return config_bad(cfg, v, "redis_sentinel",
				   "redis_sentinel needs a redis:// or rediss:// store, not redis+unix");
	if (redis_sentinels_parse(cfg->redis_sentinel, &s, &reason) != 0)
		return config_bad(cfg, v, "redis_sentinel", reason);
	if (!redis_master_name_ok(cfg->redis_master))
		return config_bad(cfg, v, "redis_master",
				   "redis_master: 1 to 64 of A-Z a-z 0-9 . _ -");
	return 0;
}

static int config_validate_redis(const struct config *cfg, struct verdict *v)
{
	struct redis_target t;
	const char *reason = NULL;

	if (cfg->store_unavailable == CONFIG_STORE_UNAVAILABLE_REFUSE && cfg->max_staleness >= 0)
		return config_bad(cfg, v, "max_staleness",
				   "max_staleness needs store_unavailable = last_known");
	if (cfg->store == NULL) {
		if (cfg->redis_prefix != NULL || cfg->redis_password_file != NULL ||
		    cfg->redis_ca_file != NULL || cfg->redis_cert_file != NULL ||
		    cfg->redis_key_file != NULL || cfg->redis_sentinel != NULL ||
		    cfg->redis_master != NULL || cfg->redis_replicas != 0)
			return config_bad(cfg, v, "store",
					   "redis_* options need store = a Redis URL");
		if (cfg->store_unavailable != CONFIG_STORE_UNAVAILABLE_REFUSE)
			return config_bad(cfg, v, "store_unavailable",
					   "store_unavailable = last_known needs store = a Redis "
					   "URL (a local store is always reachable)");
		return 0;
	}
	if (!store_location_is_redis(cfg->store))
		return config_bad(cfg, v, "store",
				   "store must be a redis://, rediss:// or redis+unix:// URL "
				   "(a directory is store_dir)");
	if (redis_url_parse(cfg->store, &t, &reason) != 0)
		return config_bad(cfg, v, "store", reason);
	if (t.transport != REDIS_TLS &&
	    (cfg->redis_ca_file != NULL || cfg->redis_cert_file != NULL ||
	     cfg->redis_key_file != NULL))
		return config_bad(cfg, v, "redis_ca_file",
				   "redis_ca_file, redis_cert_file and redis_key_file need rediss://");
	if ((cfg->redis_cert_file == NULL) != (cfg->redis_key_file == NULL))
		return config_bad(cfg, v, "redis_cert_file",
				   "redis_cert_file and redis_key_file go together");
	if (t.user[0] != '\0' && cfg->redis_password_file == NULL)
		return config_bad(cfg, v, "redis_password_file",
				   "a user in the store URL needs redis_password_file");
	return config_validate_sentinel(cfg, &t, v);
}
/* --- end of the Redis store --- */

int config_validate(const struct config *cfg, struct verdict *v)
{
	int rc = -1;

	if (config_validate_fetch(cfg, v) != 0 || config_validate_redis(cfg, v) != 0)
		goto out;

	/* keys are needed only when JWTs are accepted (session IDs need the store alone) */
	if ((cfg->accept & CONFIG_ACCEPT_JWT) != 0 && cfg->jwks_count == 0 &&
	    cfg->key_count == 0) {
		verdict_set(v, VERDICT_BAD_CONFIG, "no verification keys configured (jwks or key)");
		v->where.hint = "name the issuer's keys with jwks = or key =, or set accept = session";
		verdict_where_fill(v, cfg->config_path, 0, NULL, NULL);
		goto out;
	}
	if (cfg->user_claim == NULL || cfg->user_claim[0] == '\0') {
		config_bad(cfg, v, "user_claim", "user_claim is empty");
		goto out;
	}
	if (validate_user_forms(cfg, v) != 0)
		goto out;
	if (cfg->refresh_ahead >= cfg->access_ttl) {
		config_bad(cfg, v, "refresh_ahead", "refresh_ahead must be shorter than access_ttl");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* ---- the effective settings (pam-jwtctl check-config -T) --------------------------------- */

static const char *accept_name(unsigned int accept)
{
	return accept == CONFIG_ACCEPT_JWT ? "jwt" :
	       accept == CONFIG_ACCEPT_SESSION ? "session" : "jwt,session";
}

static const char *source_name(enum config_token_source source)
{
	return source == CONFIG_SOURCE_KEYRING ? "keyring" :
	       source == CONFIG_SOURCE_KEYRING_ONLY ? "keyring_only" : "prompt";
}

/* The entries of a repeatable option, one call each; "none" when there are none. */
static void each_list_entry(const struct config *cfg, const struct config_option *opt,
			    config_setting_fn fn, void *ctx)
{
	char buf[CONFIG_MAX_LINE + 1];
	const char *alg;
	size_t i, n = 0;

	for (i = 0;; i++) {
		if (opt->type == CT_JWKS && i < cfg->jwks_count) {
			snprintf(buf, sizeof(buf), "%s", cfg->jwks_paths[i]);
		} else if (opt->type == CT_KEY && i < cfg->key_count) {
			alg = jwa_alg_name(cfg->keys[i].alg);
			snprintf(buf, sizeof(buf), "%s:%s%s%s", alg != NULL ? alg : "?",
				 cfg->keys[i].kid != NULL ? cfg->keys[i].kid : "",
				 cfg->keys[i].kid != NULL ? ":" : "", cfg->keys[i].path);
		} else if (opt->type == CT_CLAIM && i < cfg->required_count) {
			snprintf(buf, sizeof(buf), "%s%c%s", cfg->required[i].name,
				 cfg->required[i].name[0] == '/' ? '=' : ':',
				 cfg->required[i].value);
		} else if (opt->type == CT_USER_DOMAIN && i < cfg->user_domain_count) {
			snprintf(buf, sizeof(buf), "%s", cfg->user_domains[i]);
		} else if (opt->type == CT_AUDIENCES && i < cfg->token_audience_count) {
			snprintf(buf, sizeof(buf), "%s", cfg->token_audiences[i]);
		} else {
			break;
		}
		fn(ctx, opt->name, buf);
		n++;
	}
	if (n == 0)
		fn(ctx, opt->name, "none");
}

void config_each_setting(const struct config *cfg, config_setting_fn fn, void *ctx)
{
	const char *base = (const char *)cfg, *text;
	char buf[64];
	int64_t n;
	size_t i;

	for (i = 0; i < CONFIG_OPTION_COUNT; i++) {
		const struct config_option *opt = &config_options[i];
		const void *field = base + opt->offset;

		text = buf;
		switch (opt->type) {
		case CT_STRING: case CT_PATH: case CT_PATH_OR_NONE: case CT_CLAIM_NAME:
			text = *(char *const *)field != NULL ? *(char *const *)field : "none";
			break;
		case CT_DURATION:
			n = *(const int64_t *)field;
			if (opt->offset == offsetof(struct config, max_staleness) && n < 0)
				n = CONFIG_MAX_STALENESS_DEFAULT;
			if (n < 0)
				text = "none";
			else
				snprintf(buf, sizeof(buf), "%llds", (long long)n);
			break;
		case CT_MILLIS:
			snprintf(buf, sizeof(buf), "%lldms", (long long)*(const int64_t *)field);
			break;
		case CT_SIZE: case CT_COUNT:
			snprintf(buf, sizeof(buf), "%zu", *(const size_t *)field);
			break;
		case CT_BOOL:
			text = *(const bool *)field ? "yes" : "no";
			break;
		case CT_ACCEPT:
			text = accept_name(cfg->accept);
			break;
		case CT_SOURCE:
			text = source_name(cfg->token_source);
			break;
		case CT_RSA_ALG:
			text = jwa_alg_name(cfg->jwks_rsa_alg);
			break;
		case CT_USER_CASE:
			text = cfg->user_case == CONFIG_USER_CASE_LOWER ? "lower" : "exact";
			break;
		case CT_STORE_UNAVAILABLE:
			text = cfg->store_unavailable == CONFIG_STORE_UNAVAILABLE_LAST_KNOWN ?
				       "last_known" : "refuse";
			break;
		case CT_JWKS: case CT_KEY: case CT_CLAIM: case CT_USER_DOMAIN: case CT_AUDIENCES:
			each_list_entry(cfg, opt, fn, ctx);
			continue;
		}
		fn(ctx, opt->name, text != NULL ? text : "?");
	}
}
