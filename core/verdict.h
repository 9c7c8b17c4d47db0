/* The outcome of every core decision: a code and a fixed reason. */
#ifndef PAM_JWT_VERDICT_H
#define PAM_JWT_VERDICT_H

#include <stddef.h>

enum verdict_code {
	VERDICT_OK = 0,          /* complete verification succeeded */
	VERDICT_REJECT = 1,      /* the credential is refused */
	VERDICT_UNAVAILABLE = 2, /* keys, config or system resources unusable */
	VERDICT_BAD_CONFIG = 3,  /* an option or config value is invalid */
};

#define VERDICT_LABEL_MAX 64
#define VERDICT_PATH_MAX 160
#define VERDICT_OPTION_MAX 32
/* Room for verdict_describe's text with every part filled. */
#define VERDICT_TEXT_MAX 768

/* Where a configuration or file error is: which file and line, which option, which path it
 * names, and what to do. Configuration text only (option names, paths), never a value that
 * could be a credential; printable ASCII, truncated. Empty fields are not known. */
struct verdict_where {
	char file[VERDICT_PATH_MAX + 1];     /* the configuration file */
	long line;                           /* its line; 0: none (a module argument) */
	char option[VERDICT_OPTION_MAX + 1]; /* the option */
	char path[VERDICT_PATH_MAX + 1];     /* the file or directory the option names */
	const char *suggest;                 /* static: "did you mean" an option name */
	const char *hint;                    /* static: what to do */
};

struct verdict {
	enum verdict_code code;
	const char *reason;      /* static string; never contains credential data */
	char detail[96];         /* numbers only, e.g. "3600 s ago"; may be empty */
	char jti[VERDICT_LABEL_MAX + 1]; /* sanitised, truncated; for logs */
	char kid[VERDICT_LABEL_MAX + 1];
	struct verdict_where where;
};

void verdict_init(struct verdict *v);
/* Record a non-OK outcome; returns the code so callers can `return verdict_set(...)`. */
int verdict_set(struct verdict *v, enum verdict_code code, const char *reason);
int verdict_setf_seconds(struct verdict *v, enum verdict_code code, const char *reason,
			 const char *fmt, long long seconds);
void verdict_ok(struct verdict *v);
/* Copy a label (jti/kid) keeping only [A-Za-z0-9._:@+=/-], truncated; others become '?'. */
void verdict_label_copy(char *dst, size_t dst_size, const char *src);
/* Fill the parts of v->where that are still empty (NULL or 0: leave as is). Text is copied as printable ASCII (others become '?'), truncated. */
void verdict_where_fill(struct verdict *v, const char *file, long line, const char *option,
			const char *path);
/* "reason[ detail][ (jti=…, kid=…)][ [FILE line N|module argument, option O, path P]]
 * [; did you mean S?][; HINT]" */
void verdict_describe(const struct verdict *v, char *buf, size_t buf_size);
/* What may be shown to the user who presented a refused credential (explain_refusal): a
 * fixed text for the reasons of a fixed allow-list, else NULL. */
const char *verdict_user_message(const struct verdict *v);
const char *verdict_code_name(enum verdict_code code);

#endif
