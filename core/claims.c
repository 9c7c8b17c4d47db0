#include "claims.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

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
	const json_t *user_value;
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
	if (claims_check_time(cfg, claims, now, v) != 0)
		goto out;
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
	if (user != NULL) {
		user_value = json_object_get(claims, cfg->user_claim);
		if (!json_is_string(user_value)) {
			verdict_set(v, VERDICT_REJECT, "token has no user claim");
			goto out;
		}
		if (json_string_length(user_value) != strlen(user) ||
		    strcmp(json_string_value(user_value), user) != 0) {
			verdict_set(v, VERDICT_REJECT, "token is for another user");
			goto out;
		}
	}
	for (i = 0; i < cfg->required_count; i++) {
		if (!claim_matches(json_object_get(claims, cfg->required[i].name),
				   cfg->required[i].value)) {
			verdict_set(v, VERDICT_REJECT, "a required claim is missing or differs");
			goto out;
		}
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}
