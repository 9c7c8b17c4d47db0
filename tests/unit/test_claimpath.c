/* Claim paths (a plain name, or an RFC 6901 JSON Pointer into nested objects) and the
 * user_map file format: what parses, what is refused and where, and that lookups are exact. */
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

#include "claimpath.h"
#include "usermap.h"

/* Claims shaped like the providers': Keycloak, Kubernetes, Cognito, Auth0. */
static const char *const CLAIMS =
	"{\"sub\":\"repo:org/app:environment:prod\","
	"\"realm_access\":{\"roles\":[\"admin\",\"user\"]},"
	"\"kubernetes.io\":{\"namespace\":\"ci\",\"serviceaccount\":{\"name\":\"deployer\"}},"
	"\"cognito:groups\":[\"ops\"],"
	"\"https://example.com/roles\":[\"dba\"],"
	"\"a~b\":{\"c/d\":\"tilde-slash\"},"
	"\"list\":[{\"x\":\"in-array\"}],"
	"\"flat\":\"top\"}";

static void test_valid_specs(void **state)
{
	static const char *const good[] = {
		"sub", "cognito:groups", "https://example.com/roles", "/sub", "/realm_access/roles",
		"/kubernetes.io/serviceaccount/name", "/a~0b/c~1d", "/~0", "/~1", "/x y",
		"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16",
	};
	static const char *const bad[] = {
		"", "/", "//", "/a/", "/a//b", "/~", "/a~", "/~2", "/a~x", "/~~",
		"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
	};
	char *longest = malloc(CLAIMPATH_MAX_LEN + 2);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!claimpath_valid(good[i]))
			fail_msg("refused good spec '%s'", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (claimpath_valid(bad[i]))
			fail_msg("accepted bad spec '%s'", bad[i]);
	}
	assert_false(claimpath_valid(NULL));
	/* the length bound: 1024 bytes pass, 1025 do not */
	assert_non_null(longest);
	longest[0] = '/';
	memset(longest + 1, 'a', CLAIMPATH_MAX_LEN - 1);
	longest[CLAIMPATH_MAX_LEN] = '\0';
	assert_true(claimpath_valid(longest));
	longest[CLAIMPATH_MAX_LEN] = 'a';
	longest[CLAIMPATH_MAX_LEN + 1] = '\0';
	assert_false(claimpath_valid(longest));
	free(longest);
}

static const char *get_string(const json_t *claims, const char *spec)
{
	const json_t *v = claimpath_get(claims, spec);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_get(void **state)
{
	json_t *claims = json_loads(CLAIMS, 0, NULL);
	const json_t *v;

	(void)state;
	assert_non_null(claims);
	/* a plain name is a top-level member, whatever it holds: ':', '.', '/' */
	assert_string_equal(get_string(claims, "sub"), "repo:org/app:environment:prod");
	assert_true(json_is_array(claimpath_get(claims, "cognito:groups")));
	assert_true(json_is_array(claimpath_get(claims, "https://example.com/roles")));
	assert_null(claimpath_get(claims, "realm_access.roles"));
	/* pointers walk objects */
	assert_string_equal(get_string(claims, "/sub"), "repo:org/app:environment:prod");
	v = claimpath_get(claims, "/realm_access/roles");
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(get_string(claims, "/kubernetes.io/serviceaccount/name"), "deployer");
	assert_true(json_is_array(claimpath_get(claims, "/https:~1~1example.com~1roles")));
	assert_true(json_is_array(claimpath_get(claims, "/cognito:groups")));
	/* ~0 is '~', ~1 is '/', in that order: "~01" is "~1", not "/" */
	assert_string_equal(get_string(claims, "/a~0b/c~1d"), "tilde-slash");
	assert_null(claimpath_get(claims, "/a~0b/c/d"));
	assert_null(claimpath_get(claims, "/a~01b"));
	/* an unescaped '/' splits: the URL name is not found that way */
	assert_null(claimpath_get(claims, "/https://example.com/roles"));
	/* missing members, steps into strings and arrays find nothing */
	assert_null(claimpath_get(claims, "/realm_access/missing"));
	assert_null(claimpath_get(claims, "/flat/x"));
	assert_null(claimpath_get(claims, "/list/0/x"));
	assert_null(claimpath_get(claims, "/realm_access/roles/0"));
	/* a malformed pointer finds nothing either */
	assert_null(claimpath_get(claims, "/kubernetes.io//name"));
	assert_null(claimpath_get(claims, "/sub~"));
	json_decref(claims);
}

static void test_set(void **state)
{
	json_t *claims = json_object(), *s = json_string("deployer");

	(void)state;
	assert_int_equal(claimpath_set(claims, "/kubernetes.io/serviceaccount/name", s), 0);
	assert_string_equal(get_string(claims, "/kubernetes.io/serviceaccount/name"), "deployer");
	assert_int_equal(claimpath_set(claims, "/kubernetes.io/namespace", s), 0);
	assert_string_equal(get_string(claims, "/kubernetes.io/namespace"), "deployer");
	assert_int_equal(claimpath_set(claims, "email", s), 0);
	assert_string_equal(get_string(claims, "email"), "deployer");
	assert_int_equal(claimpath_set(claims, "/a~1b", s), 0);
	assert_string_equal(get_string(claims, "a/b"), "deployer");
	/* a step through a string cannot be made; a bad pointer is refused */
	assert_int_equal(claimpath_set(claims, "/email/x", s), -1);
	assert_int_equal(claimpath_set(claims, "/x//y", s), -1);
	assert_int_equal(claimpath_set(claims, "", s), -1);
	/* the caller's reference stays the caller's */
	assert_int_equal(s->refcount, 5);
	json_decref(s);
	json_decref(claims);
}

/* ---- user_map -------------------------------------------------------------------------- */

static int parse(struct usermap *map, const char *text, struct verdict *v)
{
	verdict_init(v);
	return usermap_parse(map, text, strlen(text), "/etc/security/pam_jwt.map", v);
}

static void test_map_good(void **state)
{
	struct usermap map;
	struct verdict v;
	const struct usermap_entry *e;

	(void)state;
	assert_int_equal(parse(&map,
		"# GitHub Actions: one repository's production environment\n"
		"repo:org/app:environment:prod\tdeploy\n"
		"\n"
		"   \t \n"
		"project_path:group/app:ref_type:branch:ref:main   deploy\n"
		"system:serviceaccount:ci:builder builder\n"
		"a value  with  spaces\tsvc.user\n"
		"#comment without a blank after the hash\n"
		"alice@example.com alice@corp\n"
		"last-line-without-newline ci_$", &v), 0);
	assert_int_equal(map.count, 6);
	e = usermap_find_value(&map, "repo:org/app:environment:prod", 29);
	assert_non_null(e);
	assert_int_equal(e->account_len, 6);
	assert_memory_equal(e->account, "deploy", 6);
	e = usermap_find_value(&map, "a value  with  spaces", 21);
	assert_non_null(e);
	assert_memory_equal(e->account, "svc.user", 8);
	assert_non_null(usermap_find_value(&map, "last-line-without-newline", 25));
	/* exact only: no prefix, no case folding, no trimming, no other environment */
	assert_null(usermap_find_value(&map, "repo:org/app:environment:pro", 28));
	assert_null(usermap_find_value(&map, "repo:org/app:environment:prod2", 30));
	assert_null(usermap_find_value(&map, "REPO:org/app:environment:prod", 29));
	assert_null(usermap_find_value(&map, "repo:org/app:environment:prod ", 30));
	assert_null(usermap_find_value(&map, "repo:org/app:environment:staging", 32));
	assert_null(usermap_find_value(&map, "a value with spaces", 19));
	assert_null(usermap_find_value(&map, "deploy", 6));
	assert_null(usermap_find_value(&map, "", 0));
	/* the reverse lookup takes the first line in file order */
	e = usermap_find_account(&map, "deploy");
	assert_non_null(e);
	assert_int_equal(e->value_len, 29);
	assert_null(usermap_find_account(&map, "Deploy"));
	assert_null(usermap_find_account(&map, "root"));
	usermap_free(&map);
	usermap_free(&map); /* twice is harmless */
	/* an empty map (comments only) parses, and maps nothing */
	assert_int_equal(parse(&map, "# nothing yet\n", &v), 0);
	assert_int_equal(map.count, 0);
	assert_null(usermap_find_account(&map, "deploy"));
	usermap_free(&map);
}

static void assert_map_error(const char *text, const char *reason, const char *detail)
{
	struct usermap map;
	struct verdict v;

	if (parse(&map, text, &v) == 0)
		fail_msg("map accepted: %s", text);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, reason);
	assert_string_equal(v.detail, detail);
	assert_null(map.entries);
	assert_int_equal(map.count, 0);
}

static void test_map_errors(void **state)
{
	static const char at2[] = "at line 2 of /etc/security/pam_jwt.map";
	char *big;
	size_t i, n;

	(void)state;
	assert_map_error("# ok\nrepo:a deploy\nrepo:a builder\n",
			 "user_map: a claim value is listed twice",
			 "at line 3 of /etc/security/pam_jwt.map");
	assert_map_error("# ok\n repo:a deploy\n", "user_map: a line begins with a blank", at2);
	assert_map_error("# ok\n# also\n\t#indented\n", "user_map: a line begins with a blank",
			 "at line 3 of /etc/security/pam_jwt.map");
	assert_map_error("# ok\nrepo:a\n", "user_map: a line is not CLAIM_VALUE ACCOUNT", at2);
	assert_map_error("# ok\nrepo:a deploy \n", "user_map: a line is not CLAIM_VALUE ACCOUNT",
			 at2);
	assert_map_error("# ok\nrepo:a\tb deploy\n",
			 "user_map: a claim value holds a tab or a control character", at2);
	assert_map_error("# ok\nrepo:\x01 deploy\n",
			 "user_map: a claim value holds a tab or a control character", at2);
	assert_map_error("# ok\nrepo:\x7f deploy\n",
			 "user_map: a claim value holds a tab or a control character", at2);
	assert_map_error("# ok\nrepo:a deploy\r\n", "user_map: an account is not a valid login name",
			 at2);
	assert_map_error("# ok\nrepo:a -rf\n", "user_map: an account is not a valid login name",
			 at2);
	assert_map_error("# ok\nrepo:a de/ploy\n", "user_map: an account is not a valid login name",
			 at2);
	assert_map_error("# ok\nrepo:a d\xc3\xa9ploy\n",
			 "user_map: an account is not a valid login name", at2);
	/* a NUL anywhere refuses the whole file */
	{
		struct usermap map;
		struct verdict v;
		static const char nul[] = "repo:a deploy\nrepo:\0b deploy\n";

		verdict_init(&v);
		assert_int_equal(usermap_parse(&map, nul, sizeof(nul) - 1, NULL, &v), -1);
		assert_string_equal(v.reason, "user_map: the file holds a NUL byte");
		assert_string_equal(v.detail, "in user_map");
	}
	/* a line over 4096 bytes; and more than 1024 entries */
	big = malloc(USERMAP_MAX_LINE + 64);
	assert_non_null(big);
	memset(big, 'x', USERMAP_MAX_LINE);
	strcpy(big + USERMAP_MAX_LINE, " deploy\n");
	assert_map_error(big, "user_map: a line is too long", "at line 1 of /etc/security/pam_jwt.map");
	free(big);
	big = malloc((USERMAP_MAX_ENTRIES + 1) * 16 + 1);
	assert_non_null(big);
	for (i = 0, n = 0; i <= USERMAP_MAX_ENTRIES; i++)
		n += (size_t)sprintf(big + n, "v%05zu deploy\n", i);
	assert_map_error(big, "user_map: too many entries", "at line 1025 of /etc/security/pam_jwt.map");
	big[n - (size_t)strlen("v01024 deploy\n")] = '\0';
	{
		struct usermap map;
		struct verdict v;

		assert_int_equal(parse(&map, big, &v), 0);
		assert_int_equal(map.count, USERMAP_MAX_ENTRIES);
		usermap_free(&map);
	}
	free(big);
}

/* usermap_load applies the key-file rules: a regular file, no symlink, not writable by
 * group or others, owned by root (or the user running the test). */
static void test_map_file_rules(void **state)
{
	char dir[] = "/tmp/pam_jwt_map.XXXXXX", path[128], link[128];
	struct usermap map;
	struct verdict v;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/map", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("repo:org/app:environment:prod deploy\nrepo:org/app:environment:prod x\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	verdict_init(&v);
	assert_int_equal(usermap_load(&map, path, &v), -1);
	assert_string_equal(v.reason, "user_map: a claim value is listed twice");
	{
		char want[160];

		snprintf(want, sizeof(want), "at line 2 of %s", path);
		assert_string_equal(v.detail, want);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("repo:org/app:environment:prod deploy\n", f);
	fclose(f);
	assert_int_equal(usermap_load(&map, path, &v), 0);
	assert_int_equal(map.count, 1);
	usermap_free(&map);
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(usermap_load(&map, path, &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	assert_string_equal(v.reason, "file is group- or world-writable");
	assert_non_null(strstr(v.detail, "user_map"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(usermap_load(&map, link, &v), -1);
	assert_string_equal(v.reason, "file is a symbolic link");
	if (geteuid() == 0) {
		/* root runs the suites: a file another user owns is refused */
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(usermap_load(&map, path, &v), -1);
		assert_string_equal(v.reason, "file is not owned by root");
	}
	assert_int_equal(usermap_load(&map, "/nonexistent-dir/map", &v), -1);
	assert_int_equal(v.code, VERDICT_UNAVAILABLE);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_specs), cmocka_unit_test(test_get),
		cmocka_unit_test(test_set), cmocka_unit_test(test_map_good),
		cmocka_unit_test(test_map_errors), cmocka_unit_test(test_map_file_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
