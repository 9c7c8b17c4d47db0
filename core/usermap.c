#include "usermap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secfile.h"
#include "secmem.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool account_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '$' || c == '-';
}

/* A value may hold spaces and any byte from 0x21 up but DEL: no tab, no control byte. */
static bool value_byte_ok(unsigned char c)
{
	return c == ' ' || (c > 0x20 && c != 0x7f);
}

static int line_error(struct verdict *v, const char *reason, long long line_no,
		      const char *name)
{
	verdict_set(v, VERDICT_UNAVAILABLE, reason);
	snprintf(v->detail, sizeof(v->detail), "at line %lld of %s", line_no,
		 name != NULL ? name : "user_map");
	return -1;
}

/* One non-skipped line [s, s + len) into *e. Returns a reason, or NULL if it is good. */
static const char *parse_line(const char *s, size_t len, struct usermap_entry *e)
{
	size_t acc_start = len, val_end, i;

	if (is_blank(s[0]))
		return "user_map: a line begins with a blank";
	while (acc_start > 0 && !is_blank(s[acc_start - 1]))
		acc_start--;
	val_end = acc_start;
	while (val_end > 0 && is_blank(s[val_end - 1]))
		val_end--;
	if (acc_start == 0 || acc_start == len || val_end == 0)
		return "user_map: a line is not CLAIM_VALUE ACCOUNT";
	for (i = 0; i < val_end; i++)
		if (!value_byte_ok((unsigned char)s[i]))
			return "user_map: a claim value holds a tab or a control character";
	if (len - acc_start > USERMAP_ACCOUNT_MAX || s[acc_start] == '-')
		return "user_map: an account is not a valid login name";
	for (i = acc_start; i < len; i++)
		if (!account_char_ok(s[i]))
			return "user_map: an account is not a valid login name";
	e->value = s;
	e->value_len = val_end;
	e->account = s + acc_start;
	e->account_len = len - acc_start;
	return NULL;
}

static bool only_blanks(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_blank(s[i]))
			return false;
	return true;
}

int usermap_parse(struct usermap *map, const char *text, size_t len, const char *name,
		  struct verdict *v)
{
	struct usermap_entry e;
	const char *line, *nl, *reason;
	size_t pos = 0, line_len;
	long long line_no = 0;
	int rc = -1;

	memset(map, 0, sizeof(*map));
	if (memchr(text, '\0', len) != NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "user_map: the file holds a NUL byte");
		snprintf(v->detail, sizeof(v->detail), "in %s", name != NULL ? name : "user_map");
		goto out;
	}
	map->text = malloc(len + 1);
	map->entries = calloc(USERMAP_MAX_ENTRIES, sizeof(*map->entries));
	if (map->text == NULL || map->entries == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	memcpy(map->text, text, len);
	map->text[len] = '\0';
	map->text_len = len;
	while (pos < len) {
		line_no++;
		line = map->text + pos;
		nl = memchr(line, '\n', len - pos);
		line_len = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += line_len + (nl != NULL ? 1 : 0);
		if (line_len > USERMAP_MAX_LINE) {
			line_error(v, "user_map: a line is too long", line_no, name);
			goto out;
		}
		if (only_blanks(line, line_len) || line[0] == '#')
			continue;
		reason = parse_line(line, line_len, &e);
		if (reason != NULL) {
			line_error(v, reason, line_no, name);
			goto out;
		}
		if (usermap_find_value(map, e.value, e.value_len) != NULL) {
			line_error(v, "user_map: a claim value is listed twice", line_no, name);
			goto out;
		}
		if (map->count >= USERMAP_MAX_ENTRIES) {
			line_error(v, "user_map: too many entries", line_no, name);
			goto out;
		}
		map->entries[map->count++] = e;
	}
	rc = 0;
out:
	if (rc != 0)
		usermap_free(map);
	return rc;
}

int usermap_load(struct usermap *map, const char *path, struct verdict *v)
{
	unsigned char *text = NULL;
	size_t len = 0;
	int rc = -1;

	memset(map, 0, sizeof(*map));
	if (secfile_read(path, SECFILE_PUBLIC, &text, &len, v) != 0) {
		snprintf(v->detail, sizeof(v->detail), "(user_map %s)", path);
		goto out;
	}
	rc = usermap_parse(map, (const char *)text, len, path, v);
out:
	secmem_free(text, len);
	return rc;
}

void usermap_free(struct usermap *map)
{
	if (map == NULL)
		return;
	free(map->text);
	free(map->entries);
	memset(map, 0, sizeof(*map));
}

const struct usermap_entry *usermap_find_value(const struct usermap *map, const char *value,
					       size_t len)
{
	size_t i;

	for (i = 0; i < map->count; i++)
		if (map->entries[i].value_len == len &&
		    memcmp(map->entries[i].value, value, len) == 0)
			return &map->entries[i];
	return NULL;
}

const struct usermap_entry *usermap_find_account(const struct usermap *map,
						 const char *account)
{
	size_t i, len = strlen(account);

	for (i = 0; i < map->count; i++)
		if (map->entries[i].account_len == len &&
		    memcmp(map->entries[i].account, account, len) == 0)
			return &map->entries[i];
	return NULL;
}
