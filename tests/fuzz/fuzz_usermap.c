/*
 * libFuzzer target: who a token stands for. The input is, in turn,
 * - the text of a user_map file, parsed by usermap_parse: a map that parses holds only
 *   entries with a non-empty value free of control bytes and a valid account, no value
 *   twice, and every entry is found again by its exact value;
 * - a claim spec: claimpath_valid, then claimpath_get on fixed nested claims;
 * - the value of a user claim under user_domain and user_case=lower: whatever the bytes,
 *   a name is only ever resolved from NAME@example.com, lowercased, ASCII.
 * No file is read. Seeds: tests/fuzz/corpus/fuzz_usermap/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "claimpath.h"
#include "claims.h"
#include "config.h"
#include "usermap.h"
#include "verdict.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void check_map(const char *text, size_t size)
{
	struct usermap map;
	struct verdict v;
	size_t i, j;

	verdict_init(&v);
	if (usermap_parse(&map, text, size, "fuzz", &v) != 0) {
		if (v.code != VERDICT_UNAVAILABLE || v.reason == NULL || map.count != 0)
			abort();
		return;
	}
	for (i = 0; i < map.count; i++) {
		const struct usermap_entry *e = &map.entries[i];

		if (e->value_len == 0 || e->account_len == 0 ||
		    e->account_len > USERMAP_ACCOUNT_MAX || e->account[0] == '-' ||
		    e->value[0] == ' ' || e->value[e->value_len - 1] == ' ')
			abort();
		for (j = 0; j < e->value_len; j++)
			if ((unsigned char)e->value[j] < 0x20 || e->value[j] == 0x7f)
				abort();
		if (usermap_find_value(&map, e->value, e->value_len) != e)
			abort();
	}
	usermap_free(&map);
}

static void check_spec(const char *spec)
{
	json_t *claims = json_pack("{s:s, s:{s:[s]}, s:{s:{s:s}}}", "sub", "x", "realm_access",
				   "roles", "admin", "kubernetes.io", "serviceaccount", "name", "d");
	const json_t *found;

	if (claims == NULL)
		return;
	found = claimpath_get(claims, spec);
	if (found != NULL && !claimpath_valid(spec))
		abort();
	json_decref(claims);
}

static void check_user_value(const char *value, size_t size)
{
	struct config cfg;
	struct verdict v;
	json_t *claims = json_object();
	char *name = NULL;
	size_t i, len;

	if (claims == NULL || config_init(&cfg) != 0) {
		json_decref(claims);
		return;
	}
	verdict_init(&v);
	if (config_set(&cfg, "user_domain", "example.com", &v) != 0 ||
	    config_set(&cfg, "user_case", "lower", &v) != 0 ||
	    json_object_set_new(claims, "sub", json_stringn_nocheck(value, size)) != 0)
		goto out;
	if (claims_user_name(&cfg, claims, &name, &v) == 0) {
		len = strlen(name);
		if (len == 0 || len + 12 != size || strncasecmp(value + len, "@example.com", 12) != 0)
			abort();
		for (i = 0; i < len; i++)
			if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '@' ||
			    (name[i] >= 'A' && name[i] <= 'Z'))
				abort();
	}
out:
	free(name);
	json_decref(claims);
	config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_map(text, size);
	if (strlen(text) == size) {
		check_spec(text);
		check_user_value(text, size);
	}
	free(text);
	return 0;
}
