/* User names as NSS knows them (core/user.c), and why locks need them (issue 9): with an NSS
 * source that folds case (sssd, winbind), "Alice" is the account "alice", but a lock is
 * keyed by the name it was given. The NSS lookup is replaced here by a getpwnam_r of the
 * test's own, which the core library's call resolves to. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"
#include "user.h"

#define NOW 1700000000

static size_t lookups_big; /* the buffer sizes the "big" entry was asked with */

/* Fill pwd with an entry named `name`, its strings in buf. */
static int fake_entry(const char *name, struct passwd *pwd, char *buf, size_t buflen,
		      struct passwd **result)
{
	size_t len = strlen(name) + 1;

	if (len + 2 > buflen)
		return ERANGE;
	memcpy(buf, name, len);
	memcpy(buf + len, "x", 2);
	memset(pwd, 0, sizeof(*pwd));
	pwd->pw_name = buf;
	pwd->pw_passwd = buf + len;
	pwd->pw_uid = 4242;
	pwd->pw_gid = 4242;
	pwd->pw_gecos = buf + len + 1;
	pwd->pw_dir = buf + len + 1;
	pwd->pw_shell = buf + len + 1;
	*result = pwd;
	return 0;
}

/* A password database that folds case for "alice", as sssd with case_sensitive = false
 * does, and misbehaves in the ways NSS sources can. */
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen,
	       struct passwd **result)
{
	char long_name[300];

	*result = NULL;
	if (strcasecmp(name, "alice") == 0)
		return fake_entry("alice", pwd, buf, buflen, result);
	if (strcmp(name, "bob") == 0)
		return fake_entry("bob", pwd, buf, buflen, result);
	if (strcmp(name, "big") == 0) {
		lookups_big = buflen;
		return buflen < 3 * 4096 ? ERANGE : fake_entry("big", pwd, buf, buflen, result);
	}
	if (strcmp(name, "huge") == 0)
		return ERANGE;
	if (strcmp(name, "sssd-down") == 0)
		return EIO;
	if (strcmp(name, "gone-enoent") == 0)
		return ENOENT;
	if (strcmp(name, "nameless") == 0)
		return fake_entry("", pwd, buf, buflen, result);
	if (strcmp(name, "long") == 0) {
		memset(long_name, 'l', sizeof(long_name) - 1);
		long_name[sizeof(long_name) - 1] = '\0';
		return fake_entry(long_name, pwd, buf, buflen, result);
	}
	return 0;
}

static void test_canonical_name(void **state)
{
	char out[STORE_FIELD_MAX];
	struct verdict v;

	(void)state;
	verdict_init(&v);
	/* the account's own name, whichever spelling NSS took */
	assert_int_equal(user_canonical_name("Alice", out, sizeof(out), &v), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(user_canonical_name("ALICE", out, sizeof(out), &v), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(user_canonical_name("alice", out, sizeof(out), &v), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(user_canonical_name("bob", out, sizeof(out), &v), 0);
	assert_string_equal(out, "bob");
	/* unknown to NSS: the name as given (a lock may name a user not yet created) */
	assert_int_equal(user_canonical_name("Bob", out, sizeof(out), &v), 1);
	assert_string_equal(out, "Bob");
	assert_int_equal(user_canonical_name("gone-enoent", out, sizeof(out), &v), 1);
	assert_string_equal(out, "gone-enoent");
	/* a buffer too small at first is grown */
	assert_int_equal(user_canonical_name("big", out, sizeof(out), &v), 0);
	assert_string_equal(out, "big");
	assert_true(lookups_big >= 3 * 4096);
	/* failures: never a guess */
	assert_int_equal(user_canonical_name("sssd-down", out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "cannot look up the user");
	assert_string_equal(out, "");
	verdict_init(&v);
	assert_int_equal(user_canonical_name("huge", out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "cannot look up the user");
	verdict_init(&v);
	assert_int_equal(user_canonical_name("nameless", out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "cannot look up the user");
	verdict_init(&v);
	assert_int_equal(user_canonical_name("long", out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "user name is too long");
	verdict_init(&v);
	assert_int_equal(user_canonical_name("bob", out, 3, &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "user name is too long");
	verdict_init(&v);
	assert_int_equal(user_canonical_name("", out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "no user name");
	verdict_init(&v);
	assert_int_equal(user_canonical_name(NULL, out, sizeof(out), &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "no user name");
}

/* A lock on "alice" and a login as "Alice": the raw name misses the lock, the account name
 * finds it; and a lock given as "ALICE" lands on the account. */
static void test_lock_by_account_name(void **state)
{
	char name[STORE_FIELD_MAX];
	struct tu_store s;
	struct verdict v;

	(void)state;
	assert_int_equal(tu_store_open(&s, "user", 0, 0), 0);
	verdict_init(&v);
	assert_int_equal(store_user_lock(s.st, "alice", 0, &v), 0);
	/* the bug: keyed on the raw PAM user, the lock does not stop "Alice" */
	assert_int_equal(store_user_check(s.st, "Alice", NOW, &v), 0);
	/* the fix: the account name first */
	assert_int_equal(user_canonical_name("Alice", name, sizeof(name), &v), 0);
	verdict_init(&v);
	assert_int_equal(store_user_check(s.st, name, NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	/* and an admin's "lock ALICE" locks the account */
	verdict_init(&v);
	assert_int_equal(store_user_unlock(s.st, "alice", &v), 0);
	assert_int_equal(user_canonical_name("ALICE", name, sizeof(name), &v), 0);
	assert_int_equal(store_user_lock(s.st, name, 0, &v), 0);
	assert_int_equal(store_user_check(s.st, "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	tu_store_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_name),
		cmocka_unit_test(test_lock_by_account_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
