/*
 * libFuzzer target: the input is the text of a pam_jwt.conf, parsed by config_load_text
 * and then validated. No file is read. Seeds: tests/fuzz/corpus/fuzz_config/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "verdict.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct verdict v;
	char text[320], *line;
	int64_t seconds = 0;
	size_t i, j;
	int rc;

	verdict_init(&v);
	if (config_init(&cfg) != 0)
		return 0;
	rc = config_load_text(&cfg, (const char *)data, size, &v);
	/* A refusal is a config error (or out of memory), with a reason of its own. */
	if (rc != 0 && ((v.code != VERDICT_BAD_CONFIG && v.code != VERDICT_UNAVAILABLE) ||
			v.reason == NULL))
		abort();
	if (rc == 0) {
		verdict_init(&v);
		(void)config_validate(&cfg, &v);
		if (cfg.key_count > CONFIG_MAX_KEYS || cfg.required_count > CONFIG_MAX_REQUIRED ||
		    cfg.user_claim == NULL || cfg.prompt == NULL || cfg.store_dir == NULL ||
		    cfg.jwks_count > CONFIG_MAX_JWKS)
			abort();
		/* every jwks file is absolute and listed once; the RSA pin is an RSA alg */
		for (i = 0; i < cfg.jwks_count; i++) {
			if (cfg.jwks_paths[i][0] != '/')
				abort();
			for (j = 0; j < i; j++)
				if (strcmp(cfg.jwks_paths[i], cfg.jwks_paths[j]) == 0)
					abort();
		}
		if (jwa_alg_family(cfg.jwks_rsa_alg) != JWA_FAMILY_RSA &&
		    jwa_alg_family(cfg.jwks_rsa_alg) != JWA_FAMILY_RSA_PSS)
			abort();
	}
	verdict_describe(&v, text, sizeof(text));
	config_free(&cfg);

	/* The input as one duration value too. */
	line = malloc(size + 1);
	if (line != NULL) {
		memcpy(line, data, size);
		line[size] = '\0';
		if (config_parse_duration(line, &seconds) == 0 &&
		    (seconds < 0 || seconds > 10LL * 365 * 24 * 3600))
			abort();
		free(line);
	}
	return 0;
}
