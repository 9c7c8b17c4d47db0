/* Helpers shared by the Wycheproof suites. Include after <cmocka.h>, <jansson.h> and
 * "testutil.h". */
#ifndef PAM_JWT_WYCHEPROOF_UTIL_H
#define PAM_JWT_WYCHEPROOF_UTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>

static inline const char *jstr(const json_t *obj, const char *name)
{
	const json_t *m = json_object_get(obj, name);

	return json_is_string(m) ? json_string_value(m) : NULL;
}

/* A file of wycheproof/testvectors_v1 as a JSON object; a missing file fails the test. */
static inline json_t *load_file(const char *name)
{
	char *dir = tu_vectors_dir(), path[PATH_MAX];
	json_error_t err;
	json_t *doc;

	if (dir == NULL)
		fail_msg("vector directory not found: set PAM_JWT_VECTORS or put shared/vectors "
			 "beside the repository (../shared/vectors)");
	snprintf(path, sizeof(path), "%s/wycheproof/testvectors_v1/%s", dir, name);
	free(dir);
	doc = json_load_file(path, 0, &err);
	if (!json_is_object(doc))
		fail_msg("cannot load %s: %s (line %d)", path, err.text, err.line);
	return doc;
}

#endif
