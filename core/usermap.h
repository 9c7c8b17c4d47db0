/* user_map: a root-owned file that maps exact user-claim values (workload identities such
 * as a CI job's "sub") to local accounts.
 *
 * Format, one entry a line:  CLAIM_VALUE<blanks>ACCOUNT
 * The account is after the line's last run of spaces and tabs; the value is everything
 * before it, exactly (it may hold single or repeated spaces, never a tab or another control
 * character, and cannot begin with a blank). Lines that are empty or only blanks, and lines
 * whose first byte is '#', are skipped. An account is 1..USERMAP_ACCOUNT_MAX bytes of
 * [A-Za-z0-9._@$-], not starting with '-'. A value listed twice is an error. */
#ifndef PAM_JWT_USERMAP_H
#define PAM_JWT_USERMAP_H

#include <stddef.h>
#include "verdict.h"

#define USERMAP_MAX_ENTRIES 1024
#define USERMAP_MAX_LINE 4096
#define USERMAP_ACCOUNT_MAX 255

struct usermap_entry {
	const char *value;   /* into the map's text; not NUL-terminated */
	size_t value_len;
	const char *account; /* likewise */
	size_t account_len;
};

struct usermap {
	char *text;          /* the file, owned */
	size_t text_len;
	struct usermap_entry *entries; /* USERMAP_MAX_ENTRIES slots, owned */
	size_t count;
};

/* Parse map text (copied). `name` (the file, or NULL) goes into error details, which read
 * "at line N of NAME". Errors are VERDICT_UNAVAILABLE: a broken map authenticates nobody. */
int usermap_parse(struct usermap *map, const char *text, size_t len, const char *name,
		  struct verdict *v);
/* Read and parse a map file under the rules of key files (secfile). */
int usermap_load(struct usermap *map, const char *path, struct verdict *v);
void usermap_free(struct usermap *map);
/* The entry whose value is exactly these bytes, or NULL. */
const struct usermap_entry *usermap_find_value(const struct usermap *map, const char *value,
					       size_t len);
/* The first entry (in file order) that maps to exactly `account`, or NULL. */
const struct usermap_entry *usermap_find_account(const struct usermap *map,
						 const char *account);

#endif
