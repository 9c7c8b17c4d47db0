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

struct verdict {
	enum verdict_code code;
	const char *reason;      /* static string; never contains credential data */
	char detail[96];         /* numbers only, e.g. "3600 s ago"; may be empty */
	char jti[VERDICT_LABEL_MAX + 1]; /* sanitised, truncated; for logs */
	char kid[VERDICT_LABEL_MAX + 1];
};

void verdict_init(struct verdict *v);
/* Record a non-OK outcome; returns the code so callers can `return verdict_set(...)`. */
int verdict_set(struct verdict *v, enum verdict_code code, const char *reason);
int verdict_setf_seconds(struct verdict *v, enum verdict_code code, const char *reason,
			 const char *fmt, long long seconds);
void verdict_ok(struct verdict *v);
/* Copy a label (jti/kid) keeping only [A-Za-z0-9._:@+=/-], truncated; others become '?'. */
void verdict_label_copy(char *dst, size_t dst_size, const char *src);
/* "reason[ detail][ (jti=…, kid=…)]" */
void verdict_describe(const struct verdict *v, char *buf, size_t buf_size);
const char *verdict_code_name(enum verdict_code code);

#endif
