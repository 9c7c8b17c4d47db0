/* pam_jwt.conf and module arguments: one vocabulary, strict values, unknown is an error. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "jwt.h"
#include "keys.h"
#include "redis.h"
#include "testutil.h"

static int load(struct config *cfg, const char *text, struct verdict *v)
{
	verdict_init(v);
	assert_int_equal(config_init(cfg), 0);
	return config_load_text(cfg, text, strlen(text), v);
}

static void test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.leeway, 60);
	assert_int_equal(cfg.max_age, -1);
	assert_int_equal(cfg.max_token_size, 16384);
	assert_string_equal(cfg.user_claim, "sub");
	assert_string_equal(cfg.prompt, "JWT: ");
	assert_string_equal(cfg.store_dir, "/run/pam_jwt");
	assert_null(cfg.issuer);
	assert_null(cfg.audience);
	assert_false(cfg.debug);
	config_free(&cfg);
}

static void test_full_file(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg,
		"# comment\n"
		"\n"
		"  issuer = https://idp.example  \n"
		"audience=sshd\n"
		"jwks = /etc/security/pam_jwt.jwks\n"
		"key = ES256:/etc/security/es.pem\n"
		"key = RS256:k2:/etc/security/rs.pem\n"
		"leeway = 2m\n"
		"user_claim = preferred_username\n"
		"require_claim = groups:admins\n"
		"require_claim = acr:urn:mfa\n"
		"typ = JWT\n"
		"max_age = 1h\n"
		"max_token_size = 8192\n"
		"prompt = Token: \n"
		"store_dir = /run/pam_jwt\n"
		"debug = yes\n"
		"ignore_non_jwt = true\r\n", &v), 0);
	assert_string_equal(cfg.issuer, "https://idp.example");
	assert_string_equal(cfg.audience, "sshd");
	assert_int_equal(cfg.key_count, 2);
	assert_int_equal(cfg.keys[0].alg, JWA_ES256);
	assert_null(cfg.keys[0].kid);
	assert_string_equal(cfg.keys[1].kid, "k2");
	assert_string_equal(cfg.keys[1].path, "/etc/security/rs.pem");
	assert_int_equal(cfg.leeway, 120);
	assert_int_equal(cfg.required_count, 2);
	assert_string_equal(cfg.required[1].name, "acr");
	assert_string_equal(cfg.required[1].value, "urn:mfa");
	assert_int_equal(cfg.max_age, 3600);
	assert_int_equal(cfg.max_token_size, 8192);
	assert_string_equal(cfg.prompt, "Token:");
	assert_true(cfg.debug);
	assert_true(cfg.ignore_non_jwt);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"unknown_key = 1\n",
		"issuer\n",
		"leeway = abc\n",
		"leeway = -5\n",
		"leeway = 5w\n",
		"leeway = 99999999999999999999\n",
		"max_token_size = 10\n",
		"max_token_size = 1000000\n",
		"debug = maybe\n",
		"jwks = relative/path\n",
		"key = ES256\n",
		"key = none:/x.pem\n",
		"key = ES256:kid:relative\n",
		"key = ES256::/x.pem\n",
		"require_claim = groups\n",
		"require_claim = :x\n",
		"require_claim = x:\n",
		"issuer =\n",
		"Issuer = x\n",
		"leeway = 11m\n",
	};
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(&cfg, bad[i], &v), -1);
		assert_int_equal(v.code, VERDICT_BAD_CONFIG);
		assert_int_equal(v.where.line, 1);
		config_free(&cfg);
	}
}

static void test_line_number_reported(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, "# a\nissuer = x\n\nbogus = 1\n", &v), -1);
	assert_string_equal(v.reason, "unknown option");
	assert_int_equal(v.where.line, 4);
	assert_string_equal(v.where.option, "bogus");
	config_free(&cfg);
}

static void test_nul_byte_rejected(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_load_text(&cfg, "issuer = a\0b\n", 13, &v), -1);
	config_free(&cfg);
}

static void test_validate_needs_keys(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, "issuer = x\n", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);
}

/* Write a private temp dir with a config file; returns the file path. */
static char *write_config(char *dir, const char *text)
{
	char *path = malloc(strlen(dir) + 16);
	FILE *f;

	assert_non_null(mkdtemp(dir));
	sprintf(path, "%s/pam_jwt.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
	return path;
}

static void remove_config(char *dir, char *path)
{
	unlink(path);
	rmdir(dir);
	free(path);
}

static void test_args_override_file(void **state)
{
	char dir[] = "/tmp/pam_jwt_cfg.XXXXXX";
	char *path = write_config(dir, "issuer = file-iss\naudience = file-aud\n"
				  "require_claim = a:1\nrequire_claim = b:2\nkey = ES256:/k.pem\n");
	char config_arg[256];
	const char *argv[] = { config_arg, "audience=arg-aud", "require_claim=c:3", "debug",
			       "leeway=5" };
	struct config cfg;
	struct verdict v;

	(void)state;
	snprintf(config_arg, sizeof(config_arg), "config=%s", path);
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 5, argv, &v), 0);
	assert_string_equal(cfg.issuer, "file-iss");
	assert_string_equal(cfg.audience, "arg-aud");
	/* a repeatable key given as an argument replaces the file's list */
	assert_int_equal(cfg.required_count, 1);
	assert_string_equal(cfg.required[0].name, "c");
	assert_int_equal(cfg.key_count, 1);
	assert_true(cfg.debug);
	assert_int_equal(cfg.leeway, 5);
	assert_string_equal(cfg.config_path, path);
	config_free(&cfg);
	remove_config(dir, path);
}

static void test_args_errors(void **state)
{
	const char *unknown[] = { "config=/nonexistent/pam_jwt.conf" };
	const char *bad_flag[] = { "issuer" };
	const char *bogus[] = { "bogus" };
	const char *bad_value[] = { "leeway=1x" };
	struct config cfg;
	struct verdict v;

	(void)state;
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 1, unknown, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_from_args(&cfg, 1, bad_flag, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_from_args(&cfg, 1, bogus, &v), -1);
	assert_string_equal(v.reason, "unknown option");
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_from_args(&cfg, 1, bad_value, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);
}

static void test_unsafe_config_file_refused(void **state)
{
	char dir[] = "/tmp/pam_jwt_cfg.XXXXXX";
	char *path = write_config(dir, "issuer = x\n");
	struct config cfg;
	struct verdict v;

	(void)state;
	chmod(path, 0666);
	verdict_init(&v);
	config_init(&cfg);
	assert_int_equal(config_load_file(&cfg, path, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "file is group- or world-writable");
	config_free(&cfg);
	remove_config(dir, path);
}

/* The example shipped in conf/ must parse (it configures no key, so validation fails). */
static void test_shipped_example_parses(void **state)
{
	size_t len = 0;
	char *text = tu_read_file("conf/pam_jwt.conf", &len);
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_non_null(text);
	verdict_init(&v);
	config_init(&cfg);
	assert_int_equal(config_load_text(&cfg, text, len, &v), 0);
	config_free(&cfg);
	free(text);
}

static void test_durations(void **state)
{
	int64_t d;

	(void)state;
	assert_int_equal(config_parse_duration("30", &d), 0);
	assert_int_equal(d, 30);
	assert_int_equal(config_parse_duration("30s", &d), 0);
	assert_int_equal(d, 30);
	assert_int_equal(config_parse_duration("15m", &d), 0);
	assert_int_equal(d, 900);
	assert_int_equal(config_parse_duration("2d", &d), 0);
	assert_int_equal(d, 172800);
	assert_int_equal(config_parse_duration("", &d), -1);
	assert_int_equal(config_parse_duration("m", &d), -1);
	assert_int_equal(config_parse_duration("1h1", &d), -1);
	assert_int_equal(config_parse_duration(" 1", &d), -1);
	assert_int_equal(config_parse_duration("+1", &d), -1);
}

static void test_session_defaults(void **state)
{
	struct config cfg;

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.accept, CONFIG_ACCEPT_JWT | CONFIG_ACCEPT_SESSION);
	assert_false(cfg.announce_session);
	assert_false(cfg.bind_service);
	assert_false(cfg.require_session);
	assert_false(cfg.single_use);
	assert_false(cfg.allow_non_tmpfs);
	assert_int_equal(cfg.session_ttl, 8 * 3600);
	assert_int_equal(cfg.idle_timeout, 0);
	assert_int_equal(cfg.max_sessions_per_user, 256);
	assert_int_equal(cfg.max_sessions_total, 100000);
	config_free(&cfg);
}

static void test_session_keys_in_file(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg,
		"accept = session\n"
		"announce_session = yes\n"
		"bind_service = true\n"
		"require_session = 1\n"
		"single_use = yes\n"
		"session_ttl = 2h\n"
		"idle_timeout = 15m\n"
		"allow_non_tmpfs = yes\n"
		"max_sessions_per_user = 4\n"
		"max_sessions_total = 0\n", &v), 0);
	assert_int_equal(cfg.accept, CONFIG_ACCEPT_SESSION);
	assert_true(cfg.announce_session);
	assert_true(cfg.bind_service);
	assert_true(cfg.require_session);
	assert_true(cfg.single_use);
	assert_true(cfg.allow_non_tmpfs);
	assert_int_equal(cfg.session_ttl, 7200);
	assert_int_equal(cfg.idle_timeout, 900);
	assert_int_equal(cfg.max_sessions_per_user, 4);
	assert_int_equal(cfg.max_sessions_total, 0);
	config_free(&cfg);
}

static void test_accept_lists(void **state)
{
	static const struct {
		const char *value;
		int ok;
		unsigned int accept;
	} cases[] = {
		{ "jwt", 1, CONFIG_ACCEPT_JWT },
		{ "session", 1, CONFIG_ACCEPT_SESSION },
		{ "jwt,session", 1, CONFIG_ACCEPT_JWT | CONFIG_ACCEPT_SESSION },
		{ "session, jwt", 1, CONFIG_ACCEPT_JWT | CONFIG_ACCEPT_SESSION },
		{ "jwt,jwt", 1, CONFIG_ACCEPT_JWT },
		{ "jwt,", 0, 0 },
		{ ",jwt", 0, 0 },
		{ "jwt session", 0, 0 },
		{ "password", 0, 0 },
		{ "JWT", 0, 0 },
		{ "jwt,sessions", 0, 0 },
	};
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		verdict_init(&v);
		assert_int_equal(config_init(&cfg), 0);
		if (cases[i].ok) {
			assert_int_equal(config_set(&cfg, "accept", cases[i].value, &v), 0);
			assert_int_equal(cfg.accept, cases[i].accept);
		} else {
			assert_int_equal(config_set(&cfg, "accept", cases[i].value, &v), -1);
			assert_int_equal(v.code, VERDICT_BAD_CONFIG);
			/* a bad value changes nothing */
			assert_int_equal(cfg.accept, CONFIG_ACCEPT_JWT | CONFIG_ACCEPT_SESSION);
		}
		config_free(&cfg);
	}
	/* empty is "option needs a value" */
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "accept", "", &v), -1);
	config_free(&cfg);
}

static void test_session_bad_values(void **state)
{
	static const char *const bad[][2] = {
		{ "announce_session", "maybe" },
		{ "bind_service", "2" },
		{ "require_session", "on" },
		{ "single_use", "Yes" },
		{ "allow_non_tmpfs", "y" },
		{ "session_ttl", "0" },
		{ "session_ttl", "8x" },
		{ "session_ttl", "-1h" },
		{ "idle_timeout", "forever" },
		{ "max_sessions_per_user", "-1" },
		{ "max_sessions_per_user", "1k" },
		{ "max_sessions_per_user", " 4" },
		{ "max_sessions_total", "100000001" },
		{ "max_sessions_total", "99999999999999999999999" },
	};
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		verdict_init(&v);
		assert_int_equal(config_init(&cfg), 0);
		if (config_set(&cfg, bad[i][0], bad[i][1], &v) != -1)
			fail_msg("%s = %s was accepted", bad[i][0], bad[i][1]);
		assert_int_equal(v.code, VERDICT_BAD_CONFIG);
		config_free(&cfg);
	}
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "idle_timeout", "0", &v), 0);
	assert_int_equal(config_set(&cfg, "max_sessions_total", "100000000", &v), 0);
	assert_int_equal(cfg.max_sessions_total, 100000000);
	config_free(&cfg);
}

static void test_session_args(void **state)
{
	char dir[] = "/tmp/pam_jwt_cfg.XXXXXX";
	char *path = write_config(dir, "accept = session\nsession_ttl = 1h\n"
				  "max_sessions_total = 5\nsingle_use = yes\n");
	char config_arg[256];
	const char *argv[] = { config_arg, "accept=jwt", "announce_session", "bind_service",
			       "require_session=no", "allow_non_tmpfs", "session_ttl=30m",
			       "idle_timeout=5m", "max_sessions_per_user=8" };
	const char *bare_count[] = { config_arg, "max_sessions_total" };
	struct config cfg;
	struct verdict v;

	(void)state;
	snprintf(config_arg, sizeof(config_arg), "config=%s", path);
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 9, argv, &v), 0);
	assert_int_equal(cfg.accept, CONFIG_ACCEPT_JWT);
	assert_true(cfg.announce_session);
	assert_true(cfg.bind_service);
	assert_false(cfg.require_session);
	assert_true(cfg.single_use);          /* from the file */
	assert_true(cfg.allow_non_tmpfs);
	assert_int_equal(cfg.session_ttl, 1800); /* argument wins */
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.max_sessions_per_user, 8);
	assert_int_equal(cfg.max_sessions_total, 5);
	config_free(&cfg);
	/* a count is not a boolean: no bare form */
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 2, bare_count, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);
	remove_config(dir, path);
}

static void test_validate_session_only_needs_no_keys(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, "accept = session\n", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "accept = jwt, session\n", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	config_free(&cfg);
}

/* token_audiences: what pam-jwtd may mint besides `audience` (issue 9: a user named any
 * audience, including sudo's). */
static void test_token_audiences(void **state)
{
	static const char *const bad[] = {
		"a,,b", ",a", "a,", " , ", "a, ,b",
	};
	char long_aud[CONFIG_MAX_AUDIENCE_LEN + 2], list[16 * 4 + 8];
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	/* default: the daemon's own audience alone; nothing at all without one */
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.token_audience_count, 0);
	assert_false(config_token_audience_allowed(&cfg, "ssh.example"));
	assert_false(config_token_audience_allowed(&cfg, NULL));
	config_free(&cfg);
	assert_int_equal(load(&cfg, "audience = ssh.example\n", &v), 0);
	assert_true(config_token_audience_allowed(&cfg, "ssh.example"));
	assert_false(config_token_audience_allowed(&cfg, "sudo.example"));
	assert_false(config_token_audience_allowed(&cfg, "ssh.example "));
	assert_false(config_token_audience_allowed(&cfg, ""));
	config_free(&cfg);

	/* comma-separated and repeatable; exact matches only; a repeat is listed once */
	assert_int_equal(load(&cfg, "audience = ssh.example\n"
			      "token_audiences = git.example ,  ci.example\n"
			      "token_audiences = web.example,git.example\n"
			      "token_audiences = a b\n", &v), 0);
	assert_int_equal(cfg.token_audience_count, 4);
	assert_string_equal(cfg.token_audiences[0], "git.example");
	assert_string_equal(cfg.token_audiences[1], "ci.example");
	assert_string_equal(cfg.token_audiences[2], "web.example");
	assert_string_equal(cfg.token_audiences[3], "a b");
	assert_true(config_token_audience_allowed(&cfg, "ssh.example"));
	assert_true(config_token_audience_allowed(&cfg, "ci.example"));
	assert_true(config_token_audience_allowed(&cfg, "a b"));
	assert_false(config_token_audience_allowed(&cfg, "GIT.example"));
	assert_false(config_token_audience_allowed(&cfg, "git"));
	assert_false(config_token_audience_allowed(&cfg, "sudo.example"));
	config_free(&cfg);

	/* bad values are errors and leave the list as it was */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		verdict_init(&v);
		assert_int_equal(config_init(&cfg), 0);
		assert_int_equal(config_set(&cfg, "token_audiences", "keep", &v), 0);
		if (config_set(&cfg, "token_audiences", bad[i], &v) != -1)
			fail_msg("token_audiences = \"%s\" was accepted", bad[i]);
		assert_int_equal(v.code, VERDICT_BAD_CONFIG);
		assert_int_equal(cfg.token_audience_count, 1);
		config_free(&cfg);
	}
	assert_int_equal(load(&cfg, "token_audiences =\n", &v), -1);
	assert_string_equal(v.reason, "option needs a value");
	config_free(&cfg);
	memset(long_aud, 'a', sizeof(long_aud) - 1);
	long_aud[sizeof(long_aud) - 1] = '\0';
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "token_audiences", long_aud, &v), -1);
	long_aud[CONFIG_MAX_AUDIENCE_LEN] = '\0';
	assert_int_equal(config_set(&cfg, "token_audiences", long_aud, &v), 0);
	config_free(&cfg);

	/* at most CONFIG_MAX_AUDIENCES; a value that would pass it adds nothing */
	list[0] = '\0';
	for (i = 0; i < CONFIG_MAX_AUDIENCES; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sa%zu",
			 i > 0 ? "," : "", i);
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_set(&cfg, "token_audiences", list, &v), 0);
	assert_int_equal(cfg.token_audience_count, CONFIG_MAX_AUDIENCES);
	assert_int_equal(config_set(&cfg, "token_audiences", "a3", &v), 0); /* listed already */
	assert_int_equal(config_set(&cfg, "token_audiences", "a3, one-more", &v), -1);
	assert_string_equal(v.reason, "too many token_audiences entries");
	assert_int_equal(cfg.token_audience_count, CONFIG_MAX_AUDIENCES);
	config_free(&cfg);
}

/* Given as module arguments, token_audiences replaces the file's list (as key does). */
static void test_token_audiences_args(void **state)
{
	char dir[] = "/tmp/pam_jwt_cfg.XXXXXX";
	char *path = write_config(dir, "audience = ssh\ntoken_audiences = git, ci\n");
	char config_arg[256];
	const char *argv[] = { config_arg, "token_audiences=web", "token_audiences=ops,web" };
	struct config cfg;
	struct verdict v;

	(void)state;
	snprintf(config_arg, sizeof(config_arg), "config=%s", path);
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 1, argv, &v), 0);
	assert_int_equal(cfg.token_audience_count, 2);
	config_free(&cfg);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 3, argv, &v), 0);
	assert_int_equal(cfg.token_audience_count, 2);
	assert_string_equal(cfg.token_audiences[0], "web");
	assert_string_equal(cfg.token_audiences[1], "ops");
	assert_false(config_token_audience_allowed(&cfg, "git"));
	assert_true(config_token_audience_allowed(&cfg, "ssh"));
	config_free(&cfg);
	remove_config(dir, path);
}


/* ---- who the token is: user_claim paths, require_claim pointers, user_domain, user_case,
 * user_map ---------------------------------------------------------------------------- */

static void test_user_forms_in_file(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg,
		"key = ES256:/etc/security/es.pem\n"
		"user_claim = /kubernetes.io/serviceaccount/name\n"
		"require_claim = /realm_access/roles=admin\n"
		"require_claim = /sub=repo:org/app:environment:prod\n"
		"require_claim = /https:~1~1example.com~1roles=a=b\n"
		"require_claim = groups:admins\n"
		"user_domain = Example.COM\n"
		"user_domain = corp.example\n"
		"user_domain = example.com\n"
		"user_case = lower\n", &v), 0);
	assert_string_equal(cfg.user_claim, "/kubernetes.io/serviceaccount/name");
	assert_int_equal(cfg.required_count, 4);
	assert_string_equal(cfg.required[0].name, "/realm_access/roles");
	assert_string_equal(cfg.required[0].value, "admin");
	/* the pointer ends at the first '='; the value may hold ':' and '=' */
	assert_string_equal(cfg.required[1].name, "/sub");
	assert_string_equal(cfg.required[1].value, "repo:org/app:environment:prod");
	assert_string_equal(cfg.required[2].name, "/https:~1~1example.com~1roles");
	assert_string_equal(cfg.required[2].value, "a=b");
	/* NAME:VALUE as before */
	assert_string_equal(cfg.required[3].name, "groups");
	assert_string_equal(cfg.required[3].value, "admins");
	/* domains are kept lowercase, each once */
	assert_int_equal(cfg.user_domain_count, 2);
	assert_string_equal(cfg.user_domains[0], "example.com");
	assert_string_equal(cfg.user_domains[1], "corp.example");
	assert_int_equal(cfg.user_case, CONFIG_USER_CASE_LOWER);
	assert_null(cfg.user_map);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);
	/* the defaults are today's rule */
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.user_domain_count, 0);
	assert_int_equal(cfg.user_case, CONFIG_USER_CASE_EXACT);
	assert_null(cfg.user_map);
	config_free(&cfg);
}

static void test_user_forms_bad_values(void **state)
{
	static const char *const bad[][3] = {
		{ "user_claim", "/", "user_claim has a malformed JSON Pointer" },
		{ "user_claim", "//name", "user_claim has a malformed JSON Pointer" },
		{ "user_claim", "/kubernetes.io/", "user_claim has a malformed JSON Pointer" },
		{ "user_claim", "/a~2", "user_claim has a malformed JSON Pointer" },
		{ "user_claim", "/a~", "user_claim has a malformed JSON Pointer" },
		{ "require_claim", "/realm_access/roles", "require_claim must be /POINTER=VALUE" },
		{ "require_claim", "/realm_access/roles=", "require_claim must be /POINTER=VALUE" },
		{ "require_claim", "/=admin", "require_claim has a malformed JSON Pointer" },
		{ "require_claim", "/realm_access//roles=admin",
		  "require_claim has a malformed JSON Pointer" },
		{ "require_claim", "/a~x=admin", "require_claim has a malformed JSON Pointer" },
		{ "require_claim", "groups", "require_claim must be NAME:VALUE" },
		{ "user_domain", "@example.com", "user_domain must be a domain name" },
		{ "user_domain", "alice@example.com", "user_domain must be a domain name" },
		{ "user_domain", ".example.com", "user_domain must be a domain name" },
		{ "user_domain", "example.com.", "user_domain must be a domain name" },
		{ "user_domain", "example..com", "user_domain must be a domain name" },
		{ "user_domain", "-x.example", "user_domain must be a domain name" },
		{ "user_domain", "x-.example", "user_domain must be a domain name" },
		{ "user_domain", "ex ample.com", "user_domain must be a domain name" },
		{ "user_domain", "ex\xc3\xa4mple.com", "user_domain must be a domain name" },
		{ "user_domain", "*.example.com", "user_domain must be a domain name" },
		{ "user_case", "upper", "user_case must be exact or lower" },
		{ "user_case", "LOWER", "user_case must be exact or lower" },
		{ "user_map", "relative/map", "path must be absolute" },
	};
	struct config cfg;
	struct verdict v;
	char line[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "# x\n%s = %s\n", bad[i][0], bad[i][1]);
		if (load(&cfg, line, &v) != -1)
			fail_msg("%s = %s was accepted", bad[i][0], bad[i][1]);
		assert_int_equal(v.code, VERDICT_BAD_CONFIG);
		if (strncmp(v.reason, bad[i][2], strlen(bad[i][2])) != 0)
			fail_msg("%s = %s: reason '%s'", bad[i][0], bad[i][1], v.reason);
		assert_int_equal(v.where.line, 2);
		assert_string_equal(v.where.option, bad[i][0]);
		/* nothing of the bad value is kept */
		assert_int_equal(cfg.required_count, 0);
		assert_int_equal(cfg.user_domain_count, 0);
		assert_string_equal(cfg.user_claim, "sub");
		config_free(&cfg);
	}
}

static void test_user_domain_bounds(void **state)
{
	struct config cfg;
	struct verdict v;
	char domain[300];
	size_t i;

	(void)state;
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	for (i = 0; i < CONFIG_MAX_USER_DOMAINS; i++) {
		snprintf(domain, sizeof(domain), "d%zu.example", i);
		assert_int_equal(config_set(&cfg, "user_domain", domain, &v), 0);
	}
	/* a domain already listed is no new entry; a 17th is refused */
	assert_int_equal(config_set(&cfg, "user_domain", "D3.EXAMPLE", &v), 0);
	assert_int_equal(config_set(&cfg, "user_domain", "d16.example", &v), -1);
	assert_string_equal(v.reason, "too many user_domain entries (at most 16)");
	assert_int_equal(cfg.user_domain_count, CONFIG_MAX_USER_DOMAINS);
	config_free(&cfg);
	/* labels up to 63 bytes, names up to 253 */
	assert_int_equal(config_init(&cfg), 0);
	memset(domain, 'a', 63);
	strcpy(domain + 63, ".example");
	assert_int_equal(config_set(&cfg, "user_domain", domain, &v), 0);
	memset(domain, 'a', 64);
	strcpy(domain + 64, ".example");
	assert_int_equal(config_set(&cfg, "user_domain", domain, &v), -1);
	for (i = 0; i < 4; i++)
		memcpy(domain + i * 64, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 64);
	domain[253] = '\0';
	assert_int_equal(config_set(&cfg, "user_domain", domain, &v), 0);
	domain[253] = 'a';
	domain[254] = '\0';
	assert_int_equal(config_set(&cfg, "user_domain", domain, &v), -1);
	config_free(&cfg);
}

static void test_user_map_excludes_domain_and_case(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, "key = ES256:/k.pem\nuser_map = /etc/security/pam_jwt.map\n",
			      &v), 0);
	assert_string_equal(cfg.user_map, "/etc/security/pam_jwt.map");
	assert_int_equal(config_validate(&cfg, &v), 0);
	assert_int_equal(config_set(&cfg, "user_domain", "example.com", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_string_equal(v.reason, "user_map and user_domain exclude each other");
	config_free(&cfg);
	assert_int_equal(load(&cfg, "key = ES256:/k.pem\nuser_case = lower\n"
			      "user_map = /etc/security/pam_jwt.map\n", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	assert_string_equal(v.reason, "user_map takes no user_case but exact");
	assert_int_equal(config_set(&cfg, "user_case", "exact", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);
}

/* user_domain given as module arguments replaces the file's list, as key does. */
static void test_user_domain_args(void **state)
{
	char dir[] = "/tmp/pam_jwt_cfg.XXXXXX";
	char *path = write_config(dir, "user_domain = file.example\nuser_domain = two.example\n");
	char config_arg[256];
	const char *argv[] = { config_arg, "user_domain=arg.example", "user_domain=ARG2.example",
			       "user_claim=/realm_access/name", "require_claim=/a/b=c:d" };
	const char *bad[] = { config_arg, "user_claim=/a//b" };
	struct config cfg;
	struct verdict v;

	(void)state;
	snprintf(config_arg, sizeof(config_arg), "config=%s", path);
	verdict_init(&v);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 5, argv, &v), 0);
	assert_int_equal(cfg.user_domain_count, 2);
	assert_string_equal(cfg.user_domains[0], "arg.example");
	assert_string_equal(cfg.user_domains[1], "arg2.example");
	assert_string_equal(cfg.user_claim, "/realm_access/name");
	assert_string_equal(cfg.required[0].name, "/a/b");
	assert_string_equal(cfg.required[0].value, "c:d");
	config_free(&cfg);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_from_args(&cfg, 2, bad, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	assert_string_equal(v.reason, "user_claim has a malformed JSON Pointer "
			    "(names must be non-empty, '~' only as ~0 or ~1)");
	config_free(&cfg);
	remove_config(dir, path);
}

/* Fetched keys: jwks_cache turns fetching on; jwks_url must pass the URL policy; without it
 * the issuer is needed for discovery; jwks_refresh defaults to 1h and is at least 1s. */
/* validate TEXT: config_validate's result, with *reason the refusal's reason */
static int validate_text(const char *text, const char **reason)
{
	static char kept[160];
	struct config cfg;
	struct verdict v;
	int rc = load(&cfg, text, &v);

	if (rc == 0)
		rc = config_validate(&cfg, &v);
	snprintf(kept, sizeof(kept), "%s", rc != 0 && v.reason != NULL ? v.reason : "");
	*reason = kept;
	config_free(&cfg);
	return rc;
}

struct bad_form {
	const char *text, *reason;
};

/* Each of good[] (after base) validates; each of bad[] is refused with its reason. */
static void check_forms(const char *base, const char *const *good, size_t ngood,
			const struct bad_form *bad, size_t nbad)
{
	char text[512];
	const char *reason;
	size_t i;

	for (i = 0; i < ngood; i++) {
		snprintf(text, sizeof(text), "%s%s", base, good[i]);
		if (validate_text(text, &reason) != 0)
			fail_msg("refused: %s(%s)", good[i], reason);
	}
	for (i = 0; i < nbad; i++) {
		snprintf(text, sizeof(text), "%s%s", base, bad[i].text);
		if (validate_text(text, &reason) == 0)
			fail_msg("accepted: %s", bad[i].text);
		if (strstr(reason, bad[i].reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].text, reason, bad[i].reason);
	}
}

static void test_redis_options(void **state)
{
	static const char base[] = "jwks = /etc/k.jwks\n";
	static const char *const good[] = {
		"store = redis://10.0.0.5\n",
		"store = redis://pamjwt@redis.example:6380/2\nredis_password_file = /etc/p\n",
		"store = redis+unix:///run/redis/redis.sock\nredis_prefix = fleet-1.a_b\n",
		"store = rediss://redis.example\nredis_ca_file = /etc/ca.pem\n"
		"redis_cert_file = /etc/c.pem\nredis_key_file = /etc/k.pem\n",
	};
	static const struct bad_form bad[] = {
		{ "store = /run/pam_jwt\n", "store must be a redis://" },
		{ "store = redis://u:secret@h\n", "" },
		{ "store = redis://\n", "" },
		{ "store = redis://h:0\n", "" },
		{ "redis_password_file = /etc/p\n", "redis_* options need store" },
		{ "redis_prefix = x\n", "redis_* options need store" },
		{ "store = redis://h\nredis_ca_file = /etc/ca.pem\n", "need rediss://" },
		{ "store = rediss://h\nredis_cert_file = /etc/c.pem\n", "go together" },
		{ "store = redis://u@h\n", "needs redis_password_file" },
		{ "store = redis+unix://run/r.sock\n", "absolute" },
		{ "store = redis://h/x\n", "database" },
		{ "store = redis://h:70000\n", "port" },
	};
	char text[512];
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, base, &v), 0);
	assert_null(cfg.store);
	assert_int_equal(cfg.redis_timeout_ms, 1000);
	assert_string_equal(config_store_location(&cfg), cfg.store_dir);
	config_free(&cfg);
	check_forms(base, good, sizeof(good) / sizeof(good[0]), bad, sizeof(bad) / sizeof(bad[0]));
	snprintf(text, sizeof(text), "%sstore = redis://h\n", base);
	assert_int_equal(load(&cfg, text, &v), 0);
	assert_string_equal(config_store_location(&cfg), "redis://h");
	config_free(&cfg);
	/* redis_timeout: milliseconds or a duration, 1 ms .. 60 s */
	assert_int_equal(load(&cfg, "redis_timeout = 250ms\n", &v), 0);
	assert_int_equal(cfg.redis_timeout_ms, 250);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 2s\n", &v), 0);
	assert_int_equal(cfg.redis_timeout_ms, 2000);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 60\n", &v), 0);
	assert_int_equal(cfg.redis_timeout_ms, 60000);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 0ms\n", &v), -1);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 61s\n", &v), -1);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 2m\n", &v), -1);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "redis_timeout = 5x\n", &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);
}

/* store_unavailable and max_staleness: only with a Redis store, and max_staleness only
 * with last_known */
static void test_store_unavailable_options(void **state)
{
	static const char base[] = "jwks = /etc/k.jwks\n";
	static const char *const good[] = {
		"store = redis://h\nstore_unavailable = refuse\n",
		"store = redis://h\nstore_unavailable = last_known\n",
		"store = redis://h\nstore_unavailable = last_known\nmax_staleness = 15s\n",
		"store = redis://h\nstore_unavailable = last_known\nmax_staleness = 7d\n",
	};
	static const struct { const char *text, *reason; } bad[] = {
		{ "store_unavailable = last_known\n", "needs store = a Redis URL" },
		{ "store = redis://h\nmax_staleness = 5m\n", "needs store_unavailable = last_known" },
		{ "store = redis://h\nstore_unavailable = refuse\nmax_staleness = 5m\n",
		  "needs store_unavailable = last_known" },
		{ "store = redis://h\nstore_unavailable = open\n", "refuse or last_known" },
		{ "store = redis://h\nstore_unavailable = last_known\nmax_staleness = 14s\n",
		  "15s .. 7d" },
		{ "store = redis://h\nstore_unavailable = last_known\nmax_staleness = 8d\n",
		  "15s .. 7d" },
	};
	char text[512];
	const char *reason;
	struct config cfg;
	struct verdict v;
	size_t i;

	(void)state;
	assert_int_equal(load(&cfg, base, &v), 0);
	assert_int_equal(cfg.store_unavailable, CONFIG_STORE_UNAVAILABLE_REFUSE);
	assert_int_equal(cfg.max_staleness, -1);
	config_free(&cfg);
	snprintf(text, sizeof(text), "%s%s", base, good[2]);
	assert_int_equal(load(&cfg, text, &v), 0);
	assert_int_equal(cfg.store_unavailable, CONFIG_STORE_UNAVAILABLE_LAST_KNOWN);
	assert_int_equal(cfg.max_staleness, 15);
	config_free(&cfg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, good[i]);
		if (validate_text(text, &reason) != 0)
			fail_msg("refused: %s(%s)", good[i], reason);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, bad[i].text);
		if (validate_text(text, &reason) == 0)
			fail_msg("accepted: %s", bad[i].text);
		if (strstr(reason, bad[i].reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].text, reason, bad[i].reason);
	}
}

/* redis_sentinel, redis_master, redis_replicas: accepted and refused forms */
static void test_redis_sentinel_options(void **state)
{
	static const char base[] = "jwks = /etc/k.jwks\n";
	static const char *const good[] = {
		"store = redis://primary\nredis_sentinel = 10.0.0.1:26379\nredis_master = pj\n",
		"store = rediss://pamjwt@primary/3\nredis_password_file = /etc/p\n"
		"redis_sentinel = s1.example:26379,[2001:db8::1]:26380,10.0.0.3:1\n"
		"redis_master = fleet_1.a-b\nredis_replicas = 1\n",
		"store = redis://h\nredis_sentinel = a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8\n"
		"redis_master = m\n",
		"store = redis://h\nredis_replicas = 16\n",
		"store = redis+unix:///run/r.sock\nredis_replicas = 2\n",
	};
	static const struct bad_form bad[] = {
		{ "store = redis://h\nredis_sentinel = s:26379\n", "go together" },
		{ "store = redis://h\nredis_master = m\n", "go together" },
		{ "redis_sentinel = s:26379\nredis_master = m\n", "redis_* options need store" },
		{ "redis_replicas = 1\n", "redis_* options need store" },
		{ "store = redis+unix:///run/r.sock\nredis_sentinel = s:1\nredis_master = m\n",
		  "not redis+unix" },
		{ "store = redis://h\nredis_sentinel = s\nredis_master = m\n",
		  "redis_sentinel: each Sentinel needs a port" },
		{ "store = redis://h\nredis_sentinel = s:0\nredis_master = m\n",
		  "redis_sentinel: each Sentinel needs a port" },
		{ "store = redis://h\nredis_sentinel = s:65536\nredis_master = m\n",
		  "redis_sentinel: each Sentinel needs a port" },
		{ "store = redis://h\nredis_sentinel = s:1,\nredis_master = m\n",
		  "redis_sentinel: bad host" },
		{ "store = redis://h\nredis_sentinel = s:1;t:2\nredis_master = m\n",
		  "redis_sentinel" },
		{ "store = redis://h\nredis_sentinel = 2001:db8::1:26379\nredis_master = m\n",
		  "redis_sentinel" },
		{ "store = redis://h\nredis_sentinel = [nothost]:1\nredis_master = m\n",
		  "redis_sentinel: bad host" },
		{ "store = redis://h\nredis_sentinel = u@s:1\nredis_master = m\n",
		  "redis_sentinel: bad host" },
		{ "store = redis://h\nredis_sentinel = a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9\n"
		  "redis_master = m\n", "more than 8" },
		{ "store = redis://h\nredis_sentinel = s:1\nredis_master = a b\n", "redis_master" },
		{ "store = redis://h\nredis_sentinel = s:1\nredis_master = m{x}\n", "redis_master" },
		{ "store = redis://h\nredis_sentinel = s:1\nredis_master = "
		  "m123456789m123456789m123456789m123456789m123456789m123456789m1234\n",
		  "redis_master" },
		{ "store = redis://h\nredis_replicas = 17\n", "redis_replicas may be at most 16" },
		{ "store = redis://h\nredis_replicas = -1\n", "count" },
	};
	char text[512];
	struct config cfg;
	struct verdict v;

	(void)state;
	check_forms(base, good, sizeof(good) / sizeof(good[0]), bad, sizeof(bad) / sizeof(bad[0]));
	/* the parsed values */
	snprintf(text, sizeof(text), "%s%s", base, good[1]);
	assert_int_equal(load(&cfg, text, &v), 0);
	assert_string_equal(cfg.redis_master, "fleet_1.a-b");
	assert_int_equal(cfg.redis_replicas, 1);
	config_free(&cfg);
	assert_int_equal(load(&cfg, base, &v), 0);
	assert_null(cfg.redis_sentinel);
	assert_int_equal(cfg.redis_replicas, 0);
	config_free(&cfg);
}

/* redis_sentinels_parse: what each entry becomes */
static void test_redis_sentinels_parse(void **state)
{
	struct redis_sentinels s;
	const char *reason;

	(void)state;
	assert_int_equal(redis_sentinels_parse("127.0.0.1:26379,[::1]:1,s-1.example:65535", &s,
					       &reason), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.at[0].host, "127.0.0.1");
	assert_int_equal(s.at[0].port, 26379);
	assert_string_equal(s.at[1].host, "::1");
	assert_int_equal(s.at[1].port, 1);
	assert_string_equal(s.at[2].host, "s-1.example");
	assert_int_equal(s.at[2].port, 65535);
	assert_int_equal(redis_sentinels_parse("", &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse(NULL, &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse(",a:1", &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse("a:1 ,b:2", &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse("a:01x", &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse("[::1]", &s, &reason), -1);
	assert_int_equal(redis_sentinels_parse("[::1]x:1", &s, &reason), -1);
	assert_int_equal(s.n, 0); /* nothing half-parsed */
	assert_true(redis_master_name_ok("mymaster"));
	assert_false(redis_master_name_ok(""));
	assert_false(redis_master_name_ok("my master"));
}

static void test_fetch_options(void **state)
{
	static const char base[] = "jwks = /etc/k.jwks\nissuer = https://idp.example\n";
	char text[512];
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, base, &v), 0);
	assert_null(cfg.jwks_cache);
	assert_null(cfg.jwks_url);
	assert_int_equal(cfg.jwks_refresh, 3600);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);

	snprintf(text, sizeof(text), "%sjwks_cache = /var/lib/pam_jwt/jwks/i.json\n"
		 "jwks_refresh = 2s\njwks_url = https://idp.example/keys\n", base);
	assert_int_equal(load(&cfg, text, &v), 0);
	assert_string_equal(cfg.jwks_cache, "/var/lib/pam_jwt/jwks/i.json");
	assert_string_equal(cfg.jwks_url, "https://idp.example/keys");
	assert_int_equal(cfg.jwks_refresh, 2);
	assert_int_equal(config_validate(&cfg, &v), 0);
	config_free(&cfg);

	/* plain http away from loopback is refused when fetching is on */
	snprintf(text, sizeof(text), "%sjwks_cache = /c.json\njwks_url = http://idp.example/k\n",
		 base);
	assert_int_equal(load(&cfg, text, &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);

	/* discovery needs the issuer */
	assert_int_equal(load(&cfg, "jwks = /etc/k.jwks\njwks_cache = /c.json\n", &v), 0);
	assert_int_equal(config_validate(&cfg, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);

	assert_int_equal(load(&cfg, "jwks_refresh = 0\n", &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "jwks_cache = relative/c.json\n", &v), -1);
	config_free(&cfg);
}

/* ---- errors that say where, repeats, comments, problem lists, effective settings ---- */

static void test_did_you_mean(void **state)
{
	static const char *const near[][2] = {
		{ "leewya", "leeway" }, { "isuer", "issuer" }, { "audiance", "audience" },
		{ "user-claim", "user_claim" }, { "jwk", "jwks" }, { "Issuer", "issuer" },
		{ "store_dirr", "store_dir" }, { "explain_refusals", "explain_refusal" },
	};
	struct config cfg;
	struct verdict v;
	char line[128], text[VERDICT_TEXT_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
		snprintf(line, sizeof(line), "%s = 1\n", near[i][0]);
		assert_int_equal(load(&cfg, line, &v), -1);
		assert_string_equal(v.reason, "unknown option");
		if (v.where.suggest == NULL || strcmp(v.where.suggest, near[i][1]) != 0)
			fail_msg("%s: suggested %s, want %s", near[i][0],
				 v.where.suggest != NULL ? v.where.suggest : "nothing", near[i][1]);
		config_free(&cfg);
	}
	/* nothing near: no guess, a pointer to the manual */
	assert_int_equal(load(&cfg, "# c\n\nfrobnicate = 1\n", &v), -1);
	assert_null(v.where.suggest);
	assert_non_null(v.where.hint);
	verdict_describe(&v, text, sizeof(text));
	assert_string_equal(text, "unknown option [line 3, option frobnicate]; "
				  "pam_jwt.conf(5) lists the options");
	config_free(&cfg);
	/* the same for a module argument, which has no line */
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_set(&cfg, "debgu", "yes", &v), -1);
	verdict_describe(&v, text, sizeof(text));
	assert_string_equal(text, "unknown option [option debgu]; did you mean debug?");
	config_free(&cfg);
}

static void test_errors_name_file_line_option_path(void **state)
{
	char dir[] = "/tmp/pamjwt-cfg-XXXXXX", path[128], text[VERDICT_TEXT_MAX];
	struct config cfg;
	struct verdict v;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pam_jwt.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("issuer = x\njwks = relative.jwks\n", fp);
	fclose(fp);
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_load_file(&cfg, path, &v), -1);
	assert_string_equal(v.where.file, path);
	assert_int_equal(v.where.line, 2);
	assert_string_equal(v.where.option, "jwks");
	verdict_describe(&v, text, sizeof(text));
	assert_non_null(strstr(text, "path must be absolute ["));
	assert_non_null(strstr(text, "pam_jwt.conf line 2, option jwks, path relative.jwks]"));
	config_free(&cfg);
	/* a key file named by key = that is not there is an error when the keys load, with
	 * the file, line, option and path */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "# keys\nkey = ES256:k1:%s/missing.pem\n", dir);
	fclose(fp);
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_load_file(&cfg, path, &v), 0);
	{
		struct keyset *ks = NULL;
		struct keyset_notes notes;
		char missing[160];

		snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
		assert_int_equal(jwt_keyset_load(&cfg, &ks, &notes, &v), -1);
		assert_null(ks);
		assert_string_equal(v.reason, "file does not exist");
		assert_string_equal(v.where.file, path);
		assert_int_equal(v.where.line, 2);
		assert_string_equal(v.where.option, "key");
		assert_string_equal(v.where.path, missing);
		assert_non_null(v.where.hint);
	}
	config_free(&cfg);
	/* the file itself: its path, and what to do */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_load_file(&cfg, path, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.where.path, path);
	assert_non_null(v.where.hint);
	config_free(&cfg);
	assert_int_equal(rmdir(dir), 0);
}

static void test_repeated_options(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	/* a single-value option given twice in the file */
	assert_int_equal(load(&cfg, "issuer = a\nleeway = 5\nissuer = b\n", &v), -1);
	assert_string_equal(v.reason, "option given more than once");
	assert_string_equal(v.detail, "(first at line 1)");
	assert_int_equal(v.where.line, 3);
	assert_string_equal(v.where.option, "issuer");
	config_free(&cfg);
	assert_int_equal(load(&cfg, "debug = no\ndebug = no\n", &v), -1);
	config_free(&cfg);
	/* the list options add up */
	assert_int_equal(load(&cfg, "jwks = /a.jwks\njwks = /b.jwks\nkey = ES256:/k.pem\n"
				    "key = ES256:k2:/k2.pem\nrequire_claim = a:1\n"
				    "require_claim = b:2\nuser_domain = a.example\n"
				    "user_domain = b.example\ntoken_audiences = x\n"
				    "token_audiences = y\n", &v), 0);
	assert_int_equal(cfg.jwks_count, 2);
	assert_int_equal(cfg.jwks_lines[1], 2);
	assert_int_equal(cfg.key_count, 2);
	assert_int_equal(cfg.keys[1].line, 4);
	assert_int_equal(cfg.required_count, 2);
	assert_int_equal(cfg.user_domain_count, 2);
	assert_int_equal(cfg.token_audience_count, 2);
	assert_int_equal(config_option_line(&cfg, "token_audiences"), 10);
	assert_int_equal(config_option_line(&cfg, "issuer"), 0);
	/* an argument overrides the file's value once */
	assert_int_equal(config_from_args(&cfg, 0, NULL, &v), 0);
	config_free(&cfg);
	{
		char dir[] = "/tmp/pamjwt-cfg-XXXXXX", arg[160];
		FILE *fp;

		assert_non_null(mkdtemp(dir));
		snprintf(arg, sizeof(arg), "config=%s/empty.conf", dir);
		fp = fopen(arg + 7, "w");
		assert_non_null(fp);
		fputs("debug = yes\n", fp);
		fclose(fp);
		assert_int_equal(config_init(&cfg), 0);
		verdict_init(&v);
		assert_int_equal(config_from_args(&cfg, 2, (const char *[]){ arg, "debug=no" }, &v),
				 0);
		assert_false(cfg.debug);
		config_free(&cfg);
		assert_int_equal(config_init(&cfg), 0);
		assert_int_equal(config_from_args(&cfg, 3, (const char *[]){ arg, "debug",
			"debug=no" }, &v), -1);
		assert_string_equal(v.reason, "module argument given more than once");
		assert_string_equal(v.where.option, "debug");
		config_free(&cfg);
		assert_int_equal(config_init(&cfg), 0);
		assert_int_equal(config_from_args(&cfg, 2, (const char *[]){ arg, "leewya=5" }, &v),
				 -1);
		assert_string_equal(v.where.suggest, "leeway");
		assert_int_equal(v.where.line, 0);
		assert_string_equal(v.where.file, "");
		config_free(&cfg);
		assert_int_equal(unlink(arg + 7), 0);
		assert_int_equal(rmdir(dir), 0);
	}
}

static void test_comments_after_values(void **state)
{
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_int_equal(load(&cfg, "issuer = https://idp.example/#frag   # the issuer\n"
				    "audience = host#1\t# tab before\n"
				    "token_audiences = a, b   # two\n"
				    "leeway = 30s # half a minute\n"
				    "require_claim = groups:#admins # a channel name\n"
				    "prompt = Token: #\n", &v), 0);
	assert_string_equal(cfg.issuer, "https://idp.example/#frag");
	assert_string_equal(cfg.audience, "host#1");
	assert_int_equal(cfg.token_audience_count, 2);
	assert_string_equal(cfg.token_audiences[1], "b");
	assert_int_equal(cfg.leeway, 30);
	assert_string_equal(cfg.required[0].value, "#admins");
	assert_string_equal(cfg.prompt, "Token:");
	config_free(&cfg);
	/* a value that is only a comment is no value */
	assert_int_equal(load(&cfg, "issuer = # none\n", &v), -1);
	assert_string_equal(v.reason, "option needs a value");
	config_free(&cfg);
}

static void test_report_collects_every_problem(void **state)
{
	char dir[] = "/tmp/pamjwt-cfg-XXXXXX", path[128];
	struct config_report *r = calloc(1, sizeof(*r));
	struct config cfg;
	struct verdict v;
	FILE *fp;

	(void)state;
	assert_non_null(r);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pam_jwt.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("isuer = x\nleeway = soon\nissuer = a\nnot a line\nissuer = b\n"
	      "audience = ok\n", fp);
	fclose(fp);
	assert_int_equal(config_init(&cfg), 0);
	verdict_init(&v);
	assert_int_equal(config_load_file_report(&cfg, path, r, &v), 0);
	assert_int_equal(r->errors, 4);
	assert_int_equal(r->count, 4);
	assert_int_equal(r->item[0].v.where.line, 1);
	assert_string_equal(r->item[0].v.where.suggest, "issuer");
	assert_int_equal(r->item[1].v.where.line, 2);
	assert_string_equal(r->item[1].v.where.option, "leeway");
	assert_int_equal(r->item[2].v.where.line, 4);
	assert_string_equal(r->item[2].v.reason, "config line is not key = value");
	assert_int_equal(r->item[3].v.where.line, 5);
	assert_string_equal(r->item[3].v.reason, "option given more than once");
	/* the good lines were taken */
	assert_string_equal(cfg.audience, "ok");
	assert_string_equal(cfg.issuer, "a");
	config_free(&cfg);
	/* an unreadable file: nothing in the list, -1 */
	memset(r, 0, sizeof(*r));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_load_file_report(&cfg, path, r, &v), -1);
	assert_int_equal(r->count, 0);
	config_free(&cfg);
	/* the list is bounded and counts what it dropped */
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < CONFIG_REPORT_MAX + 3; i++)
		config_report_add(r, &v, i % 2 == 0);
	assert_int_equal(r->count, CONFIG_REPORT_MAX);
	assert_int_equal(r->dropped, 3);
	assert_int_equal(r->errors, (CONFIG_REPORT_MAX + 3) / 2);
	assert_int_equal(rmdir(dir), 0);
	free(r);
}

struct settings {
	char text[8192];
	size_t len;
	size_t lines;
};

static void collect(void *ctx, const char *name, const char *value)
{
	struct settings *s = ctx;
	int n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s %s\n", name, value);

	assert_true(n > 0 && (size_t)n < sizeof(s->text) - s->len);
	s->len += (size_t)n;
	s->lines++;
}

static void test_each_setting(void **state)
{
	struct settings *s = calloc(1, sizeof(*s));
	struct config cfg;
	struct verdict v;

	(void)state;
	assert_non_null(s);
	assert_int_equal(load(&cfg, "key = ES256:k1:/k1.pem\nkey = HS256:/s.key\nleeway = 2m\n"
				    "require_claim = /realm/roles=admin\nexplain_refusal = no\n",
			      &v), 0);
	config_each_setting(&cfg, collect, s);
	/* defaults included, one per line, in a stable order */
	assert_non_null(strstr(s->text, "issuer none\naudience none\njwks none\n"));
	assert_non_null(strstr(s->text, "\nkey ES256:k1:/k1.pem\nkey HS256:/s.key\nleeway 120s\n"));
	assert_non_null(strstr(s->text, "\nrequire_claim /realm/roles=admin\n"));
	assert_non_null(strstr(s->text, "\nexplain_refusal no\n"));
	assert_non_null(strstr(s->text, "\nstore_dir /run/pam_jwt\n"));
	assert_non_null(strstr(s->text, "\nredis_timeout 1000ms\n"));
	assert_non_null(strstr(s->text, "\nmax_age none\n"));
	assert_non_null(strstr(s->text, "\nredis_replicas 0\n"));
	config_free(&cfg);
	/* what it prints reads back as the same settings */
	{
		struct settings *again = calloc(1, sizeof(*again));
		char *copy = strdup(s->text), *line, *save = NULL, *sp;

		assert_non_null(again);
		assert_non_null(copy);
		assert_int_equal(config_init(&cfg), 0);
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			sp = strchr(line, ' ');
			assert_non_null(sp);
			*sp = '\0';
			if (strcmp(sp + 1, "none") == 0 || strcmp(line, "max_staleness") == 0)
				continue;
			if (config_set(&cfg, line, sp + 1, &v) != 0)
				fail_msg("%s %s does not read back: %s", line, sp + 1, v.reason);
		}
		config_each_setting(&cfg, collect, again);
		assert_string_equal(again->text, s->text);
		config_free(&cfg);
		free(copy);
		free(again);
	}
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_store_unavailable_options),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_line_number_reported),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_validate_needs_keys),
		cmocka_unit_test(test_args_override_file),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_unsafe_config_file_refused),
		cmocka_unit_test(test_shipped_example_parses),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_session_defaults),
		cmocka_unit_test(test_session_keys_in_file),
		cmocka_unit_test(test_accept_lists),
		cmocka_unit_test(test_session_bad_values),
		cmocka_unit_test(test_session_args),
		cmocka_unit_test(test_validate_session_only_needs_no_keys),
		cmocka_unit_test(test_token_audiences),
		cmocka_unit_test(test_user_forms_in_file),
		cmocka_unit_test(test_user_forms_bad_values),
		cmocka_unit_test(test_user_domain_bounds),
		cmocka_unit_test(test_user_map_excludes_domain_and_case),
		cmocka_unit_test(test_user_domain_args),
		cmocka_unit_test(test_token_audiences_args),
		cmocka_unit_test(test_fetch_options),
		cmocka_unit_test(test_redis_options),
		cmocka_unit_test(test_redis_sentinel_options),
		cmocka_unit_test(test_redis_sentinels_parse),
		cmocka_unit_test(test_did_you_mean),
		cmocka_unit_test(test_errors_name_file_line_option_path),
		cmocka_unit_test(test_repeated_options),
		cmocka_unit_test(test_comments_after_values),
		cmocka_unit_test(test_report_collects_every_problem),
		cmocka_unit_test(test_each_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
