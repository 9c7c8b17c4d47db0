/* pam_jwt.conf and module arguments: one vocabulary, file first, arguments override. */
#ifndef PAM_JWT_CONFIG_H
#define PAM_JWT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jwa.h"
#include "verdict.h"

#define CONFIG_DEFAULT_PATH "/etc/security/pam_jwt.conf"
#define CONFIG_DEFAULT_STORE_DIR "/run/pam_jwt"
#define CONFIG_DEFAULT_PERSIST_DIR "/var/lib/pam_jwt"
#define CONFIG_DEFAULT_SOCKET_PATH "/run/pam-jwtd.sock"
#define CONFIG_MAX_KEYS 16
#define CONFIG_MAX_JWKS 8           /* jwks files, merged into one key table */
#define CONFIG_MAX_REQUIRED 16
/* token_audiences: entries, and the longest one (what a pam-jwtd request can carry) */
#define CONFIG_MAX_AUDIENCES 16
#define CONFIG_MAX_AUDIENCE_LEN 255
#define CONFIG_MAX_LINE 4096
/* user_domain: entries, and the longest domain name (RFC 1035) */
#define CONFIG_MAX_USER_DOMAINS 16
#define CONFIG_MAX_DOMAIN_LEN 253
#define CONFIG_MAX_COUNT 100000000ULL
/* Room for the line of each option (config.c checks that its table fits). */
#define CONFIG_MAX_OPTIONS 96
/* Problems one check keeps (config_report); more are counted. */
#define CONFIG_REPORT_MAX 32

/* Where the module looks for a credential (`token_source`). */
enum config_token_source {
	CONFIG_SOURCE_PROMPT = 0,   /* ask through the conversation (default) */
	CONFIG_SOURCE_KEYRING,      /* the user's keyring, then ask */
	CONFIG_SOURCE_KEYRING_ONLY, /* the user's keyring, never ask */
};

/* What the module accepts as a credential (the `accept` list). */
#define CONFIG_ACCEPT_JWT 0x1u
#define CONFIG_ACCEPT_SESSION 0x2u

/* What a login does when the shared (Redis) store cannot be reached (`store_unavailable`). */
enum config_store_unavailable {
	CONFIG_STORE_UNAVAILABLE_REFUSE = 0, /* refuse every login that needs it (default) */
	CONFIG_STORE_UNAVAILABLE_LAST_KNOWN, /* JWTs: check pam-jwtd's mirror instead */
};
#define CONFIG_MAX_STALENESS_DEFAULT 300
#define CONFIG_MAX_STALENESS_MIN 15

/* How the user claim's name is compared with the login name (`user_case`). */
enum config_user_case {
	CONFIG_USER_CASE_EXACT = 0, /* the same bytes (default) */
	CONFIG_USER_CASE_LOWER,     /* the claim's name lowercased (ASCII) */
};

struct config_key {
	enum jwa_alg alg;
	char *kid;   /* may be NULL */
	char *path;  /* absolute */
	long line;   /* line of the config file; 0: a module argument */
};

struct config_claim {
	char *name;
	char *value;
};

struct config {
	char *config_path;
	char *issuer;               /* NULL: not checked */
	char *audience;             /* NULL: not checked */
	/* key sets as identity providers publish them */
	char *jwks_paths[CONFIG_MAX_JWKS]; /* jwks: JWKS files, absolute, each listed once */
	long jwks_lines[CONFIG_MAX_JWKS]; /* their lines in the config file; 0: an argument */
	size_t jwks_count;
	enum jwa_alg jwks_rsa_alg;  /* pinned to RSA keys of a JWKS that name no alg (RS256) */
	struct config_key keys[CONFIG_MAX_KEYS];
	size_t key_count;
	int64_t leeway;             /* seconds, default 60 */
	char *user_claim;           /* default "sub"; a name, or a JSON Pointer (claimpath.h) */
	struct config_claim required[CONFIG_MAX_REQUIRED]; /* name: as user_claim */
	size_t required_count;
	char *typ;                  /* NULL: not checked */
	int64_t max_age;            /* seconds; -1: off */
	size_t max_token_size;      /* default 16 KiB */
	char *prompt;               /* default "JWT: " */
	char *store_dir;
	bool debug;
	bool use_first_pass;
	bool try_first_pass;
	bool ignore_non_jwt;
	bool explain_refusal;       /* tell the user the allow-listed refusals (default yes) */
	/* sessions and the store */
	unsigned int accept;        /* CONFIG_ACCEPT_*; default both; never 0 */
	bool announce_session;      /* open_session shows the new session ID */
	bool bind_service;          /* a session ID works only on the service that opened it */
	bool bind_host;             /* ... only on the host (host name) that opened it */
	bool require_session;       /* a JWT's "sid" must name a live session of the user */
	bool single_use;            /* a JWT (by jti) works once per service */
	bool allow_non_tmpfs;       /* the store may live off tmpfs (tests, odd setups) */
	int64_t session_ttl;        /* seconds, default 8h; at least 1 */
	int64_t idle_timeout;       /* seconds; 0: none */
	size_t max_sessions_per_user; /* default 256; 0: unlimited */
	size_t max_sessions_total;    /* default 100000; 0: unlimited */
	size_t max_refreshes_per_minute; /* rotations of one session's refresh tokens;
					  * default 10; 0: unlimited */
	char *persist_dir;          /* revocations and locks that survive a reboot; NULL: none */
	/* tokens, keyring and the helper daemon */
	bool issue_tokens;          /* open_session asks pam-jwtd for access + refresh tokens */
	bool keyring;               /* open_session keeps the session's credentials in the keyring */
	enum config_token_source token_source;
	char *socket_path;          /* pam-jwtd's socket */
	char *signing_key;          /* pam-jwtd: private JWK that signs access tokens */
	int64_t access_ttl;         /* default 15m */
	int64_t refresh_ttl;        /* default 8h */
	int64_t refresh_ahead;      /* default 5m: renew keyring tokens with this much left */
	int64_t revoke_kill_after;  /* default 10s: SIGHUP, then SIGKILL after this */
	int64_t sweep_interval;     /* default 60s */
	bool end_on_refresh_failure; /* end the live login when its tokens cannot be renewed */
	/* pam-jwtd: the audiences a client may name for an access token, besides `audience` */
	char *token_audiences[CONFIG_MAX_AUDIENCES];
	size_t token_audience_count;
	/* ---- who the token is: how the user claim names a login (claims_user_name) ---- */
	char *user_domains[CONFIG_MAX_USER_DOMAINS]; /* NAME@DOMAIN stands for NAME; lowercase */
	size_t user_domain_count;
	enum config_user_case user_case;
	char *user_map;             /* file of exact claim values and accounts; NULL: none */
	/* keys fetched from the issuer (pam-jwtd, pam-jwtctl jwks fetch); the module only
	 * reads jwks_cache when it is also listed in `jwks` */
	char *jwks_url;             /* NULL: from ISSUER/.well-known/openid-configuration */
	char *jwks_cache;           /* NULL: fetching is off */
	int64_t jwks_refresh;       /* default 1h; at least 1s */
	/* ---- the Redis store: store = URL replaces store_dir ---- */
	char *store;                /* redis://, rediss://, redis+unix://; NULL: store_dir */
	char *redis_prefix;         /* key namespace; NULL: "pam_jwt" */
	char *redis_password_file;  /* root-only, one line; NULL: no AUTH */
	char *redis_ca_file;        /* rediss://; NULL: the system CA store */
	char *redis_cert_file;      /* rediss://: client certificate ... */
	char *redis_key_file;       /* ... and key */
	int64_t redis_timeout_ms;   /* connect and each command; default 1000 */
	enum config_store_unavailable store_unavailable;
	int64_t max_staleness;      /* seconds; -1: not set (CONFIG_MAX_STALENESS_DEFAULT) */
	char *redis_sentinel;       /* HOST:PORT,... (at most 8): the primary through Sentinel */
	char *redis_master;         /* the master's name at the Sentinels */
	size_t redis_replicas;      /* each write waits for this many replicas; default 0 */
	/* where each option was last set: a line of config_path; 0: default or argument */
	long option_line[CONFIG_MAX_OPTIONS];
};

/* Problems found by a check that goes on after the first one (config_load_file_report,
 * config_check): errors make the configuration invalid, warnings do not. */
struct config_problem {
	struct verdict v;
	bool warning;
};
struct config_report {
	struct config_problem item[CONFIG_REPORT_MAX];
	size_t count;               /* kept */
	size_t dropped;             /* not kept: the list was full */
	size_t errors;              /* errors, kept or not */
};
void config_report_add(struct config_report *r, const struct verdict *v, bool warning);

/* Where the session store is: the Redis URL `store`, else the directory store_dir. */
const char *config_store_location(const struct config *cfg);

int config_init(struct config *cfg);
void config_free(struct config *cfg);
/* Apply one key/value. Unknown keys and bad values are VERDICT_BAD_CONFIG. */
int config_set(struct config *cfg, const char *key, const char *value, struct verdict *v);
/* Parse a config file (secfile rules). A missing file is VERDICT_UNAVAILABLE. */
int config_load_file(struct config *cfg, const char *path, struct verdict *v);
/* Parse config text (for tests and fuzzing). */
int config_load_text(struct config *cfg, const char *text, size_t len, struct verdict *v);
/* As config_load_file, but a bad line is added to r and loading goes on with the next one.
 * -1 with v set when the file cannot be read at all (nothing added to r); else 0, and
 * r->errors tells whether any line was bad. */
int config_load_file_report(struct config *cfg, const char *path, struct config_report *r,
			    struct verdict *v);
/* The line of the config file where an option was last set; 0: not in the file. */
long config_option_line(const struct config *cfg, const char *name);
/* Every effective setting, defaults included, in the order of pam_jwt.conf(5): fn gets
 * each option's name and value as the file would give it ("none" for an empty setting;
 * one call per entry of a repeatable option). The configuration holds no secrets (only
 * the paths of secret files), so all of it may be shown. */
typedef void (*config_setting_fn)(void *ctx, const char *name, const char *value);
void config_each_setting(const struct config *cfg, config_setting_fn fn, void *ctx);
/* Module arguments: `config=PATH` (read first), `KEY=VALUE`, bare boolean `KEY`.
 * If no config= is given, the default path is read when it exists. */
int config_from_args(struct config *cfg, int argc, const char **argv, struct verdict *v);
/* "30", "30s", "15m", "1h", "2d" into seconds (0 .. ten years). 0 on success. */
int config_parse_duration(const char *s, int64_t *out);
/* Final consistency check (at least one key source, ...). */
int config_validate(const struct config *cfg, struct verdict *v);
/* Whether pam-jwtd may mint an access token whose aud is `aud`: the configured audience
 * (which the tokens it mints by itself carry) or one listed in token_audiences. */
bool config_token_audience_allowed(const struct config *cfg, const char *aud);

#endif
