/*
 * The store's record codec, shared by the policy (store.c) and the backends. A record is
 * text: "pam_jwt-store 1" on its first line, "kind=<kind>" on its second, then one
 * "key=value" line for every field of the kind, each exactly once, and nothing else
 * (index records: "user" once, then any number of "s=<digest>" lines, no digest twice).
 * Numbers are unsigned decimal without leading zeros; values are UTF-8 without control
 * characters (store_text_ok: the writer refuses anything else rather than alter it); lines
 * are at most STORE_LINE_MAX bytes; the text ends with a newline. record_parse is strict:
 * anything else does not parse, and a record that does not parse never makes anything
 * valid.
 */
#ifndef PAM_JWT_STORE_RECORD_H
#define PAM_JWT_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credid.h"
#include "store.h"

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

/* UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without control characters. */
bool store_text_ok(const char *s, size_t n);
/* A text field: NUL-terminated within STORE_FIELD_MAX, store_text_ok, non-empty if asked. */
bool store_field_ok(const char *s, bool nonempty);
bool store_hex_lower(const char *s, size_t n);
bool store_digest_or_empty(const char *s);

/* A growable text buffer; any failure sticks and makes tb_finish return NULL. */
struct textbuf {
	char *p;
	size_t len, cap;
	int failed;
};
void tb_add(struct textbuf *tb, const char *s, size_t n);
void tb_str(struct textbuf *tb, const char *s);
/* key=value\n; a value the format cannot hold (store_field_ok) fails the whole text. */
void tb_field(struct textbuf *tb, const char *key, const char *value);
void tb_num(struct textbuf *tb, const char *key, unsigned long long value);
/* The text (malloc'd), or NULL if anything failed. */
char *tb_finish(struct textbuf *tb);
unsigned long long clamp_u(int64_t value);

/* A list of digests (or record names). */
struct digest_list {
	char (*d)[STORE_NAME_SIZE];
	size_t n, cap;
};
void dl_free(struct digest_list *dl);
int dl_add(struct digest_list *dl, const char *s, size_t len);
int dl_find(const struct digest_list *dl, const char *s);
void dl_remove_at(struct digest_list *dl, size_t i);

enum field_type { FT_STR, FT_NUM };
struct field_def {
	const char *key;
	enum field_type type;
	unsigned long long max; /* FT_NUM */
	int nonempty;           /* FT_STR */
	int optional;           /* may be absent (fields added later; records before them) */
};
#define REC_MAX_FIELDS 20
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
	unsigned int present;        /* out: bit i: field i was in the text (optional ones) */
};

/* The kinds of small records: fields in the order given. */
extern const struct rec_schema schema_jti;     /* "revoked-jti": exp */
extern const struct rec_schema schema_used;    /* "used-jti": exp */
extern const struct rec_schema schema_lock;    /* "lock": user, until */
extern const struct rec_schema schema_index;   /* "index": user, then s= lines */
extern const struct rec_schema schema_counter; /* "counter": n */
extern const struct rec_schema schema_intent;  /* "intent": user, session */
extern const struct rec_schema schema_mirror;  /* "mirror": synced, changes, copied */

/* 0 if text is a record of the schema (vals filled), -1 otherwise. */
int record_parse(const char *text, size_t len, const struct rec_schema *schema,
		 struct rec_vals *vals);
/* The text of an "exp" record (revoked-jti, used-jti). */
char *record_exp_format(const char *kind, int64_t exp);
/* The text of a lock record. */
char *record_lock_format(const char *user, int64_t until);
/* The text of a mirror's stamp: when it was last known to match the store, the store's
 * change mark then, and when its records were last copied in full. */
char *record_mirror_format(int64_t synced, const char *changes, int64_t copied);

#endif
