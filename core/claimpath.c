#include "claimpath.h"

#include <string.h>

/* The next member name of pointer `*p` (which is at a '/'), unescaped into `name`
 * (CLAIMPATH_MAX_LEN + 1 bytes); *p moves past it. 0 on success, -1 if it is empty or an
 * escape is bad. */
static int next_name(const char **p, char *name)
{
	const char *s = *p + 1;
	size_t n = 0;
	int rc = -1;

	while (*s != '\0' && *s != '/') {
		if (n >= CLAIMPATH_MAX_LEN)
			goto out;
		if (*s == '~') {
			if (s[1] != '0' && s[1] != '1')
				goto out;
			name[n++] = s[1] == '0' ? '~' : '/';
			s += 2;
		} else {
			name[n++] = *s++;
		}
	}
	if (n == 0)
		goto out;
	name[n] = '\0';
	*p = s;
	rc = 0;
out:
	return rc;
}

bool claimpath_valid(const char *spec)
{
	char name[CLAIMPATH_MAX_LEN + 1];
	const char *p = spec;
	size_t depth = 0;

	if (spec == NULL || spec[0] == '\0')
		return false;
	if (spec[0] != '/')
		return true;
	if (strlen(spec) > CLAIMPATH_MAX_LEN)
		return false;
	while (*p != '\0') {
		if (++depth > CLAIMPATH_MAX_DEPTH || next_name(&p, name) != 0)
			return false;
	}
	return true;
}

const json_t *claimpath_get(const json_t *claims, const char *spec)
{
	char name[CLAIMPATH_MAX_LEN + 1];
	const json_t *cur = claims;
	const char *p = spec;

	if (!claimpath_valid(spec))
		return NULL;
	if (spec[0] != '/')
		return json_object_get(claims, spec);
	while (cur != NULL && *p != '\0') {
		if (!json_is_object(cur) || next_name(&p, name) != 0)
			return NULL;
		cur = json_object_get(cur, name);
	}
	return cur;
}

int claimpath_set(json_t *claims, const char *spec, json_t *value)
{
	char name[CLAIMPATH_MAX_LEN + 1];
	json_t *cur = claims, *next;
	const char *p = spec;
	int rc = -1;

	json_incref(value);
	if (value == NULL || !json_is_object(claims) || !claimpath_valid(spec))
		goto out;
	if (spec[0] != '/') {
		rc = json_object_set(claims, spec, value);
		goto out;
	}
	for (;;) {
		if (next_name(&p, name) != 0)
			goto out;
		if (*p == '\0')
			break;
		next = json_object_get(cur, name);
		if (next == NULL) {
			next = json_object();
			if (next == NULL || json_object_set_new(cur, name, next) != 0)
				goto out;
		}
		if (!json_is_object(next))
			goto out;
		cur = next;
	}
	rc = json_object_set(cur, name, value);
out:
	json_decref(value);
	return rc;
}
