#include "claims.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "claimpath.h"
#include "usermap.h"

/* Saturating int64 arithmetic, so hostile NumericDates can't wrap a comparison. */
static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int claims_numeric_date(const json_t *value, int64_t *out)
{
	double d;

	if (json_is_integer(value)) {
		*out = (int64_t)json_integer_value(value);
		return 0;
	}
	if (json_is_real(value)) {
		d = json_real_value(value);
		if (!isfinite(d) || d >= 9.2e18 || d <= -9.2e18)
			return -1;
		*out = (int64_t)floor(d);
		return 0;
	}
	return -1;
}

/* A claim equals `want` if it is that string, or an array holding that string. */
static bool claim_matches(const json_t *claim, const char *want)
{
	const json_t *item;
	size_t i;

	if (json_is_string(claim))
		return strcmp(json_string_value(claim), want) == 0;
	if (json_is_array(claim)) {
		json_array_foreach(claim, i, item)
			if (json_is_string(item) && strcmp(json_string_value(item), want) == 0)
				return true;
	}
	return false;
}

/* ---- the user claim: which login name it stands for ---- */

/* The bytes a name may hold where user_domain or user_case=lower applies: printable ASCII,
 * no space. So no control character, and no lookalike from outside ASCII, is ever folded
 * or split; such a claim is refused. */
static bool name_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether [s, s + len) is one of the configured domains, ignoring ASCII case (they are
 * kept in lowercase), length and all. */
static bool domain_listed(const struct config *cfg, const char *s, size_t len)
{
	size_t i, j;

	for (i = 0; i < cfg->user_domain_count; i++) {
		if (strlen(cfg->user_domains[i]) != len)
			continue;
		for (j = 0; j < len && ascii_lower(s[j]) == cfg->user_domains[i][j]; j++)
			;
		if (j == len)
			return true;
	}
	return false;
}

/* Under user_domain and user_case: the length of the login part of claim string
 * [s, s + len) in *name_len, or a reason why it has none. */
static const char *user_name_part(const struct config *cfg, const char *s, size_t len,
				  size_t *name_len)
{
	const char *at = memchr(s, '@', len);
	size_t i;

	*name_len = len;
	if (cfg->user_domain_count == 0 && cfg->user_case == CONFIG_USER_CASE_EXACT)
		return NULL;
	for (i = 0; i < len; i++)
		if (!name_byte_ok((unsigned char)s[i]))
			return "user claim holds a byte that is not printable ASCII";
	if (cfg->user_domain_count == 0)
		return NULL;
	if (at == NULL || at == s || at + 1 == s + len ||
	    memchr(at + 1, '@', len - (size_t)(at + 1 - s)) != NULL)
		return "user claim is not NAME@DOMAIN";
	if (!domain_listed(cfg, at + 1, len - (size_t)(at + 1 - s)))
		return "user claim's domain is not a user_domain";
	*name_len = (size_t)(at - s);
	return NULL;
}

int claims_user_name(const struct config *cfg, const json_t *claims, char **name,
		     struct verdict *v)
{
	const json_t *claim = claimpath_get(claims, cfg->user_claim);
	const struct usermap_entry *e;
	struct usermap map;
	const char *s, *reason;
	size_t len, name_len, i;
	int rc = -1;

	*name = NULL;
	memset(&map, 0, sizeof(map));
	if (!json_is_string(claim)) {
		verdict_set(v, VERDICT_REJECT, "token has no user claim");
		goto out;
	}
	s = json_string_value(claim);
	len = json_string_length(claim);
	if (memchr(s, '\0', len) != NULL) {
		verdict_set(v, VERDICT_REJECT, "user claim holds a NUL byte");
		goto out;
	}
	if (cfg->user_map != NULL) {
		/* config_validate refuses these together; never guess which one was meant */
		if (cfg->user_domain_count > 0 || cfg->user_case != CONFIG_USER_CASE_EXACT) {
			verdict_set(v, VERDICT_BAD_CONFIG,
				    "user_map excludes user_domain and user_case");
			goto out;
		}
		if (usermap_load(&map, cfg->user_map, v) != 0)
			goto out;
		e = usermap_find_value(&map, s, len);
		if (e == NULL) {
			verdict_set(v, VERDICT_REJECT, "user claim is not in user_map");
			goto out;
		}
		*name = strndup(e->account, e->account_len);
	} else {
		reason = user_name_part(cfg, s, len, &name_len);
		if (reason != NULL) {
			verdict_set(v, VERDICT_REJECT, reason);
			goto out;
		}
		*name = strndup(s, name_len);
		for (i = 0; *name != NULL && cfg->user_case == CONFIG_USER_CASE_LOWER &&
			    i < name_len; i++)
			(*name)[i] = ascii_lower((*name)[i]);
	}
	if (*name == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	rc = 0;
out:
	usermap_free(&map);
	return rc;
}

int claims_set_user(const struct config *cfg, json_t *claims, const char *user,
		    struct verdict *v)
{
	const struct usermap_entry *e;
	struct usermap map;
	json_t *value = NULL;
	char *back = NULL;
	int rc = -1;

	memset(&map, 0, sizeof(map));
	if (cfg->user_map != NULL) {
		if (usermap_load(&map, cfg->user_map, v) != 0)
			goto out;
		e = usermap_find_account(&map, user);
		if (e == NULL) {
			verdict_set(v, VERDICT_REJECT, "user_map maps no claim value to this user");
			goto out;
		}
		value = json_stringn(e->value, e->value_len);
	} else if (cfg->user_domain_count > 0) {
		value = json_sprintf("%s@%s", user, cfg->user_domains[0]);
	} else {
		value = json_string(user);
	}
	if (value == NULL || claimpath_set(claims, cfg->user_claim, value) != 0) {
		verdict_set(v, VERDICT_REJECT, "cannot put the user claim into the token");
		goto out;
	}
	/* never mint a token that would not stand for this very user */
	if (claims_user_name(cfg, claims, &back, v) != 0)
		goto out;
	if (strcmp(back, user) != 0) {
		verdict_set(v, VERDICT_REJECT, "the user claim would stand for another user");
		goto out;
	}
	rc = 0;
out:
	free(back);
	json_decref(value);
	usermap_free(&map);
	return rc;
}

static const char *strip_application(const char *media_type)
{
	return strncasecmp(media_type, "application/", 12) == 0 ? media_type + 12 : media_type;
}

static int claims_check_time(const struct config *cfg, const json_t *claims, int64_t now,
			     struct verdict *v)
{
	const json_t *exp_json = json_object_get(claims, "exp");
	const json_t *nbf_json = json_object_get(claims, "nbf");
	const json_t *iat_json = json_object_get(claims, "iat");
	const json_t *auth_time_json = json_object_get(claims, "auth_time");
	int64_t exp, nbf, iat, auth_time, age;
	int rc = -1;

	if (exp_json == NULL) {
		verdict_set(v, VERDICT_REJECT, "token has no exp");
		goto out;
	}
	if (claims_numeric_date(exp_json, &exp) != 0) {
		verdict_set(v, VERDICT_REJECT, "exp is not a NumericDate");
		goto out;
	}
	if (sat_sub(now, cfg->leeway) >= exp) {
		verdict_setf_seconds(v, VERDICT_REJECT, "expired", "%lld s ago",
				     (long long)sat_sub(now, exp));
		goto out;
	}
	if (nbf_json != NULL) {
		if (claims_numeric_date(nbf_json, &nbf) != 0) {
			verdict_set(v, VERDICT_REJECT, "nbf is not a NumericDate");
			goto out;
		}
		if (sat_add(now, cfg->leeway) < nbf) {
			verdict_setf_seconds(v, VERDICT_REJECT, "not yet valid", "for another %lld s",
					     (long long)sat_sub(nbf, now));
			goto out;
		}
	}
	if (iat_json != NULL) {
		if (claims_numeric_date(iat_json, &iat) != 0) {
			verdict_set(v, VERDICT_REJECT, "iat is not a NumericDate");
			goto out;
		}
		if (sat_add(now, cfg->leeway) < iat) {
			verdict_setf_seconds(v, VERDICT_REJECT, "issued in the future", "by %lld s",
					     (long long)sat_sub(iat, now));
			goto out;
		}
	}
	if (auth_time_json != NULL) {
		if (claims_numeric_date(auth_time_json, &auth_time) != 0) {
			verdict_set(v, VERDICT_REJECT, "auth_time is not a NumericDate");
			goto out;
		}
		/* a login that has not happened yet would make any max_age hold */
		if (sat_add(now, cfg->leeway) < auth_time) {
			verdict_setf_seconds(v, VERDICT_REJECT, "authenticated in the future",
					     "by %lld s", (long long)sat_sub(auth_time, now));
			goto out;
		}
	}
	if (cfg->max_age >= 0) {
		/* auth_time, when present, is when the user last authenticated; else iat. */
		if (auth_time_json == NULL && iat_json == NULL) {
			verdict_set(v, VERDICT_REJECT, "max_age is set but the token has no iat or auth_time");
			goto out;
		}
		age = sat_sub(now, auth_time_json != NULL ? auth_time : iat);
		if (age > sat_add(cfg->max_age, cfg->leeway)) {
			verdict_setf_seconds(v, VERDICT_REJECT, "authentication is too old",
					     "(%lld s)", (long long)age);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

int claims_check(const struct config *cfg, const json_t *header, const json_t *claims,
		 const char *user, int64_t now, struct verdict *v)
{
	const json_t *jti = json_object_get(claims, "jti");
	const json_t *iss = json_object_get(claims, "iss");
	const json_t *aud = json_object_get(claims, "aud");
	const json_t *typ = json_object_get(header, "typ");
	char *name = NULL;
	size_t i;
	int rc = -1;

	if (!json_is_object(claims)) {
		verdict_set(v, VERDICT_REJECT, "claims are not a JSON object");
		goto out;
	}
	if (jti != NULL) {
		if (!json_is_string(jti)) {
			verdict_set(v, VERDICT_REJECT, "jti is not a string");
			goto out;
		}
		verdict_label_copy(v->jti, sizeof(v->jti), json_string_value(jti));
	}
	if (cfg->issuer != NULL && (!json_is_string(iss) ||
				    strcmp(json_string_value(iss), cfg->issuer) != 0)) {
		verdict_set(v, VERDICT_REJECT, iss == NULL ? "token has no iss" : "wrong issuer");
		goto out;
	}
	if (aud != NULL && !json_is_string(aud) && !json_is_array(aud)) {
		verdict_set(v, VERDICT_REJECT, "aud is neither a string nor an array");
		goto out;
	}
	if (cfg->audience != NULL && !claim_matches(aud, cfg->audience)) {
		verdict_set(v, VERDICT_REJECT, aud == NULL ? "token has no aud" : "wrong audience");
		goto out;
	}
	if (cfg->audience == NULL && aud != NULL) {
		/* RFC 7519 4.1.3: a token for a named audience is not for an unnamed verifier. */
		verdict_set(v, VERDICT_REJECT, "token has an aud but no audience is configured");
		goto out;
	}
	/* Whose token it is comes before the times: the refusals that follow may be shown to
	 * the user (explain_refusal), and must tell nothing about a token for another
	 * account. Issuer and audience, checked above, are the token's own and say nothing
	 * about any account. */
	if (user != NULL) {
		if (claims_user_name(cfg, claims, &name, v) != 0)
			goto out;
		if (strcmp(name, user) != 0) {
			verdict_set(v, VERDICT_REJECT, "token is for another user");
			goto out;
		}
	}
	if (claims_check_time(cfg, claims, now, v) != 0)
		goto out;
	if (typ != NULL && !json_is_string(typ)) {
		verdict_set(v, VERDICT_REJECT, "header typ is not a string");
		goto out;
	}
	if (cfg->typ != NULL && (typ == NULL ||
				 strcasecmp(strip_application(json_string_value(typ)),
					    strip_application(cfg->typ)) != 0)) {
		verdict_set(v, VERDICT_REJECT, "wrong typ");
		goto out;
	}
	for (i = 0; i < cfg->required_count; i++) {
		if (!claim_matches(claimpath_get(claims, cfg->required[i].name),
				   cfg->required[i].value)) {
			verdict_set(v, VERDICT_REJECT, "a required claim is missing or differs");
			goto out;
		}
	}
	verdict_ok(v);
	rc = 0;
out:
	free(name);
	return rc;
}
