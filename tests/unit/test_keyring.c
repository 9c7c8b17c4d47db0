/* Credentials in a user's persistent keyring: put, replace, get, remove, removal bound to a
 * session, the permissions the user ends up with, and size and argument limits.
 *
 * Needs root (CAP_SETUID for another uid's persistent keyring, CAP_SYS_ADMIN for chown):
 * skipped otherwise, a failure under CI=true. Works only on a throwaway uid that no account
 * has, and invalidates that uid's persistent keyring at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <grp.h>
#include <keyutils.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyring.h"
#include "store.h"
#include "testutil.h"

/* What a key ends up with: possessor view, read, search, link; owner view, read, search. */
#define EXPECTED_PERM 0x1b0b0000u
#define TEST_DESC "pam_jwt:test"

static uid_t tuid;
static gid_t tgid;

static bool kt_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && strcmp(ci, "true") == 0;
}

/* Root-only: skipped when not root, a failure under CI (which runs as root). */
static void require_root(void)
{
	if (geteuid() == 0)
		return;
	if (kt_in_ci())
		fail_msg("CI=true but not running as root");
	skip();
}

/* ---- looking at the keyring directly ---------------------------------------------- */

/* The test uid's persistent keyring, linked into our process keyring until kt_close. */
static key_serial_t kt_open(void)
{
	long p = keyctl_get_persistent(tuid, KEY_SPEC_PROCESS_KEYRING);

	if (p < 0)
		fail_msg("keyctl_get_persistent(%u): %s", (unsigned)tuid, strerror(errno));
	return (key_serial_t)p;
}

static void kt_close(key_serial_t p)
{
	assert_int_equal(keyctl_unlink(p, KEY_SPEC_PROCESS_KEYRING), 0);
}

/* Serials linked directly in a keyring; returns their count (0 if it does not exist). */
static long kt_links(key_serial_t ring, key_serial_t *out, size_t max)
{
	long n = keyctl_read(ring, (char *)out, max * sizeof(*out));

	if (n < 0)
		return errno == ENOKEY ? 0 : -1;
	assert_true((size_t)n <= max * sizeof(*out));
	return n / (long)sizeof(*out);
}

/* The direct link named desc ("user" keys only): its serial, how many there are. */
static int kt_direct(key_serial_t ring, const char *desc, key_serial_t *serial)
{
	key_serial_t links[256];
	char *d = NULL, *name;
	long n = kt_links(ring, links, 256), i;
	int count = 0;

	assert_true(n >= 0);
	*serial = -1;
	for (i = 0; i < n; i++) {
		if (keyctl_describe_alloc(links[i], &d) < 0)
			continue;
		name = strrchr(d, ';');
		if (strncmp(d, "user;", 5) == 0 && name != NULL && strcmp(name + 1, desc) == 0) {
			*serial = links[i];
			count++;
		}
		free(d);
	}
	return count;
}

struct kt_desc {
	uid_t uid;
	gid_t gid;
	unsigned perm;
};

static void kt_describe(key_serial_t key, struct kt_desc *out)
{
	char *d = NULL;
	int uid, gid;

	assert_true(keyctl_describe_alloc(key, &d) >= 0);
	assert_int_equal(sscanf(d, "user;%d;%d;%x;", &uid, &gid, &out->perm), 3);
	out->uid = (uid_t)uid;
	out->gid = (gid_t)gid;
	free(d);
}

/* Link a key of our own making under desc into the keyring, displacing what is there
 * (add_key there would try to update our key, which grants no write). */
static key_serial_t kt_plant(key_serial_t ring, const char *desc, const void *data, size_t len)
{
	key_serial_t key = add_key("user", desc, data, len, KEY_SPEC_PROCESS_KEYRING);

	assert_true(key >= 0);
	assert_int_equal(keyctl_link(key, ring), 0);
	assert_int_equal(keyctl_unlink(key, KEY_SPEC_PROCESS_KEYRING), 0);
	return key;
}

/* Does the calling thread hold any link (an anchor left behind)? */
static long kt_thread_links(void)
{
	key_serial_t links[16];

	return kt_links(KEY_SPEC_THREAD_KEYRING, links, 16);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	/* above any real account, below (uid_t)-1 and the overflow ids */
	tuid = (uid_t)(4000000000u - (unsigned)(getpid() % 100000));
	tgid = (gid_t)tuid;
	return 0;
}

static int group_teardown(void **state)
{
	long p;

	(void)state;
	if (geteuid() != 0)
		return 0;
	p = keyctl_get_persistent(tuid, KEY_SPEC_PROCESS_KEYRING);
	if (p >= 0) {
		if (keyctl_invalidate((key_serial_t)p) != 0)
			fprintf(stderr, "# cannot invalidate the test uid's keyring: %s\n",
				strerror(errno));
		(void)keyctl_unlink((key_serial_t)p, KEY_SPEC_PROCESS_KEYRING);
	}
	return 0;
}

/* Each test starts and ends with none of the names it uses present. */
static int clean(void **state)
{
	static const char *const names[] = { KEYRING_SESSION, KEYRING_ACCESS, KEYRING_REFRESH,
					     TEST_DESC, "pam_jwt:big", "pam_jwt:nul" };
	size_t i;

	(void)state;
	if (geteuid() != 0)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (keyring_remove(tuid, names[i], NULL) != 0)
			return -1;
	return 0;
}

static void put_ok(const char *desc, const char *value)
{
	const char *reason = NULL;

	if (keyring_put(tuid, tgid, desc, value, strlen(value), &reason) != 0)
		fail_msg("keyring_put %s: %s (%s)", desc, reason, strerror(errno));
}

static void get_equals(const char *desc, const char *value)
{
	const char *reason = NULL;
	char *data = NULL;
	size_t len = 0;

	if (keyring_get(tuid, desc, &data, &len, &reason) != 0)
		fail_msg("keyring_get %s: %s", desc, reason != NULL ? reason : "absent");
	assert_int_equal(len, strlen(value));
	assert_string_equal(data, value);
	keyring_data_free(data, len);
}

static void get_absent(const char *desc)
{
	char sentinel[] = "x", *data = sentinel;
	size_t len = 7;

	assert_int_equal(keyring_get(tuid, desc, &data, &len, NULL), 1);
	assert_null(data);
	assert_int_equal(len, 0);
}

static void digest_of(const char *s, char out[STORE_DIGEST_HEX_LEN + 1])
{
	store_digest_hex(s, strlen(s), out);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_put_get_round_trip(void **state)
{
	struct kt_desc d;
	key_serial_t p, key;

	(void)state;
	require_root();
	put_ok(KEYRING_SESSION, "pjs_round_trip");
	get_equals(KEYRING_SESSION, "pjs_round_trip");
	p = kt_open();
	assert_int_equal(kt_direct(p, KEYRING_SESSION, &key), 1);
	kt_describe(key, &d);
	assert_int_equal(d.uid, tuid);
	assert_int_equal(d.gid, tgid);
	assert_int_equal(d.perm, EXPECTED_PERM);
	kt_close(p);
	/* nothing stays linked in the caller's keyrings */
	assert_int_equal(kt_thread_links(), 0);
}

static void test_replace(void **state)
{
	key_serial_t p, first, second;

	(void)state;
	require_root();
	put_ok(KEYRING_ACCESS, "eyJ.first.sig");
	p = kt_open();
	assert_int_equal(kt_direct(p, KEYRING_ACCESS, &first), 1);
	kt_close(p);
	/* the key grants nobody write: it is replaced by a new key, not updated */
	put_ok(KEYRING_ACCESS, "eyJ.second.longer.sig");
	get_equals(KEYRING_ACCESS, "eyJ.second.longer.sig");
	p = kt_open();
	assert_int_equal(kt_direct(p, KEYRING_ACCESS, &second), 1);
	assert_int_not_equal(first, second);
	kt_close(p);
	put_ok(KEYRING_ACCESS, "eyJ.third");
	get_equals(KEYRING_ACCESS, "eyJ.third");
	/* displacing a key needs no permission on it: a key of that name that grants its
	 * possessor nothing but view is replaced all the same */
	p = kt_open();
	first = kt_plant(p, KEYRING_REFRESH, "planted", 7);
	assert_int_equal(keyctl_setperm(first, KEY_POS_VIEW), 0);
	kt_close(p);
	put_ok(KEYRING_REFRESH, "pjr_ours");
	get_equals(KEYRING_REFRESH, "pjr_ours");
	assert_int_equal(kt_thread_links(), 0);
}

static void test_absent(void **state)
{
	(void)state;
	require_root();
	get_absent(KEYRING_REFRESH);
	get_absent(TEST_DESC);
	assert_int_equal(keyring_remove(tuid, KEYRING_REFRESH, NULL), 0);
}

static void test_remove(void **state)
{
	const char *reason = NULL;

	(void)state;
	require_root();
	put_ok(KEYRING_SESSION, "pjs_stays");
	put_ok(KEYRING_REFRESH, "pjr_goes");
	assert_int_equal(keyring_remove(tuid, KEYRING_REFRESH, &reason), 0);
	get_absent(KEYRING_REFRESH);
	get_equals(KEYRING_SESSION, "pjs_stays");
	assert_int_equal(keyring_remove(tuid, KEYRING_REFRESH, &reason), 0);
	assert_int_equal(kt_thread_links(), 0);
}

static void test_remove_session(void **state)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], other[STORE_DIGEST_HEX_LEN + 1], upper[80];
	const char *reason = NULL;
	bool removed = true;
	key_serial_t p;
	size_t i;

	(void)state;
	require_root();
	digest_of("pjs_one", digest);
	digest_of("pjs_two", other);
	/* no session key: nothing to remove */
	assert_int_equal(keyring_remove_session(tuid, digest, &removed, &reason), 0);
	assert_false(removed);

	put_ok(KEYRING_SESSION, "pjs_one");
	put_ok(KEYRING_ACCESS, "eyJ.one");
	put_ok(KEYRING_REFRESH, "pjr_one");
	removed = true;
	assert_int_equal(keyring_remove_session(tuid, other, &removed, &reason), 0);
	assert_false(removed);
	get_equals(KEYRING_SESSION, "pjs_one");
	get_equals(KEYRING_ACCESS, "eyJ.one");
	get_equals(KEYRING_REFRESH, "pjr_one");

	/* malformed digests are errors, never a match */
	for (i = 0; i < STORE_DIGEST_HEX_LEN; i++)
		upper[i] = (digest[i] >= 'a' && digest[i] <= 'f') ? (char)(digest[i] - 32)
								 : digest[i];
	upper[STORE_DIGEST_HEX_LEN] = '\0';
	assert_int_equal(keyring_remove_session(tuid, upper, &removed, &reason), -1);
	upper[STORE_DIGEST_HEX_LEN - 1] = '\0';
	assert_int_equal(keyring_remove_session(tuid, upper, &removed, &reason), -1);
	snprintf(upper, sizeof(upper), "%s0", digest);
	assert_int_equal(keyring_remove_session(tuid, upper, &removed, &reason), -1);
	get_equals(KEYRING_SESSION, "pjs_one");

	removed = false;
	assert_int_equal(keyring_remove_session(tuid, digest, &removed, &reason), 0);
	assert_true(removed);
	get_absent(KEYRING_SESSION);
	get_absent(KEYRING_ACCESS);
	get_absent(KEYRING_REFRESH);
	assert_int_equal(keyring_remove_session(tuid, digest, &removed, &reason), 0);
	assert_false(removed);

	/* a newer login replaced the keys: revoking the older session leaves them */
	put_ok(KEYRING_SESSION, "pjs_one");
	put_ok(KEYRING_ACCESS, "eyJ.one");
	put_ok(KEYRING_SESSION, "pjs_two");
	put_ok(KEYRING_ACCESS, "eyJ.two");
	assert_int_equal(keyring_remove_session(tuid, digest, &removed, &reason), 0);
	assert_false(removed);
	get_equals(KEYRING_SESSION, "pjs_two");
	get_equals(KEYRING_ACCESS, "eyJ.two");
	/* a session key that is not acceptable data matches no session */
	p = kt_open();
	(void)kt_plant(p, KEYRING_SESSION, "pjs_two\0", 8);
	kt_close(p);
	removed = true;
	assert_int_equal(keyring_remove_session(tuid, other, &removed, &reason), 0);
	assert_false(removed);
	get_equals(KEYRING_ACCESS, "eyJ.two");
	put_ok(KEYRING_SESSION, "pjs_two");
	/* a session without a refresh token is removed all the same */
	assert_int_equal(keyring_remove_session(tuid, other, &removed, &reason), 0);
	assert_true(removed);
	get_absent(KEYRING_SESSION);
	get_absent(KEYRING_ACCESS);
	assert_int_equal(kt_thread_links(), 0);
}

static void test_put_if_session(void **state)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], other[STORE_DIGEST_HEX_LEN + 1];
	static char big[KEYRING_DATA_MAX + 1];
	const char *reason = NULL;
	bool put = true;
	key_serial_t p;

	(void)state;
	require_root();
	memset(big, 'b', sizeof(big));
	digest_of("pjs_live", digest);
	digest_of("pjs_older", other);
	assert_int_equal(keyring_put_if_session(tuid, tgid, digest, KEYRING_ACCESS, "eyJ.a", 5,
						&put, &reason), 0);
	assert_false(put);
	get_absent(KEYRING_ACCESS);

	put_ok(KEYRING_SESSION, "pjs_live");
	put_ok(KEYRING_ACCESS, "eyJ.live.1");
	assert_int_equal(keyring_put_if_session(tuid, tgid, digest, KEYRING_ACCESS, "eyJ.live.2",
						10, &put, &reason), 0);
	assert_true(put);
	get_equals(KEYRING_ACCESS, "eyJ.live.2");
	/* renewing an older session's token does not overwrite the newer login's */
	assert_int_equal(keyring_put_if_session(tuid, tgid, other, KEYRING_ACCESS, "eyJ.older",
						9, &put, &reason), 0);
	assert_false(put);
	get_equals(KEYRING_ACCESS, "eyJ.live.2");
	/* nor does a session key that is not acceptable data */
	p = kt_open();
	(void)kt_plant(p, KEYRING_SESSION, big, sizeof(big));
	kt_close(p);
	assert_int_equal(keyring_put_if_session(tuid, tgid, digest, KEYRING_ACCESS, "eyJ.x", 5,
						&put, &reason), 0);
	assert_false(put);
	get_equals(KEYRING_ACCESS, "eyJ.live.2");
	assert_int_equal(keyring_put_if_session(tuid, tgid, "nope", KEYRING_ACCESS, "x", 1, &put,
						&reason), -1);
	assert_int_equal(keyring_put_if_session(tuid, tgid, digest, KEYRING_ACCESS, "x", 1, NULL,
						&reason), -1);
	assert_int_equal(kt_thread_links(), 0);
}

/* The child's checks, as the test uid; returns the number of the first failed step. */
static int user_child(void)
{
	const char *reason = NULL;
	char *data = NULL;
	size_t len = 0;
	long p, key;
	int step = 0;

	step++; /* 1: become the user */
	if (setgroups(0, NULL) != 0 || setgid(tgid) != 0 || setuid(tuid) != 0 || geteuid() != tuid)
		goto out;
	step++; /* 2: the user reads their keys through the library */
	if (keyring_get(tuid, KEYRING_ACCESS, &data, &len, &reason) != 0 ||
	    strcmp(data, "eyJ.system.copy") != 0)
		goto out;
	keyring_data_free(data, len);
	data = NULL;
	step++; /* 3: but not another user's */
	if (keyring_get(tuid - 1, KEYRING_ACCESS, &data, &len, &reason) != -1 || errno != EPERM)
		goto out;
	step++; /* 4: possessing the keyring, as any process of the user can */
	p = keyctl_get_persistent((uid_t)-1, KEY_SPEC_THREAD_KEYRING);
	key = p >= 0 ? keyctl_search((key_serial_t)p, "user", KEYRING_ACCESS, 0) : -1;
	if (key < 0)
		goto out;
	step++; /* 5: no update in place */
	if (keyctl_update((key_serial_t)key, "forged", 6) != -1 || errno != EACCES)
		goto out;
	step++; /* 6: add_key over it is an update too */
	if (add_key("user", KEYRING_ACCESS, "forged", 6, (key_serial_t)p) != -1 ||
	    errno != EACCES)
		goto out;
	step++; /* 7: no permission changes, ownership changes, revocation or timeout */
	if (keyctl_setperm((key_serial_t)key, KEY_POS_ALL | KEY_USR_ALL) != -1 || errno != EACCES)
		goto out;
	if (keyctl_chown((key_serial_t)key, tuid, tgid) != -1 || errno != EACCES)
		goto out;
	if (keyctl_revoke((key_serial_t)key) != -1 || errno != EACCES)
		goto out;
	if (keyctl_set_timeout((key_serial_t)key, 1) != -1 || errno != EACCES)
		goto out;
	step++; /* 8: the value is untouched */
	if (keyring_get(tuid, KEYRING_ACCESS, &data, &len, &reason) != 0 ||
	    strcmp(data, "eyJ.system.copy") != 0)
		goto out;
	step++; /* 9: the persistent keyring itself is the user's (the kernel sets its
		 * permissions): they may unlink keys from it, here the session key */
	key = keyctl_search((key_serial_t)p, "user", KEYRING_SESSION, 0);
	if (key < 0 || keyctl_unlink((key_serial_t)key, (key_serial_t)p) != 0)
		goto out;
	step = 0;
out:
	keyring_data_free(data, len);
	return step;
}

static void test_holds_session(void **state)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], other[STORE_DIGEST_HEX_LEN + 1];
	const char *reason = NULL;
	bool held = true;

	(void)state;
	require_root();
	digest_of("pjs_live", digest);
	digest_of("pjs_other", other);
	assert_int_equal(keyring_holds_session(tuid, digest, &held, &reason), 0);
	assert_false(held); /* no session key at all */
	put_ok(KEYRING_SESSION, "pjs_live");
	assert_int_equal(keyring_holds_session(tuid, digest, &held, &reason), 0);
	assert_true(held);
	assert_int_equal(keyring_holds_session(tuid, other, &held, &reason), 0);
	assert_false(held);
	put_ok(KEYRING_SESSION, "pjs_other"); /* a newer login */
	assert_int_equal(keyring_holds_session(tuid, digest, &held, &reason), 0);
	assert_false(held);
	held = true;
	assert_int_equal(keyring_holds_session(tuid, "0123", &held, &reason), -1);
	assert_false(held);
	assert_string_equal(reason, "invalid session digest");
	assert_int_equal(keyring_holds_session(tuid, digest, NULL, &reason), -1);
}

static void test_user_reads_but_cannot_change(void **state)
{
	pid_t pid;
	int status = 0;

	(void)state;
	require_root();
	put_ok(KEYRING_SESSION, "pjs_user");
	put_ok(KEYRING_ACCESS, "eyJ.system.copy");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(user_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the user's child failed at step %d (status %#x)",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
	get_equals(KEYRING_ACCESS, "eyJ.system.copy");
	get_absent(KEYRING_SESSION);
}

/* As sudo runs the module: real uid the user, effective uid root. */
static void test_real_uid_user_effective_root(void **state)
{
	const char *reason = NULL;
	char *data = NULL;
	size_t len = 0;
	pid_t pid;
	int status = 0, step = 0;

	(void)state;
	require_root();
	put_ok(KEYRING_ACCESS, "eyJ.sudo");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		step = setresuid(tuid, 0, 0) == 0 ? 0 : 1;
		if (step == 0 && (keyring_get(tuid, KEYRING_ACCESS, &data, &len, &reason) != 0 ||
				  strcmp(data, "eyJ.sudo") != 0))
			step = 2;
		keyring_data_free(data, len);
		if (step == 0 && kt_thread_links() != 0)
			step = 3;
		_exit(step);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sizes(void **state)
{
	char *big = malloc(KEYRING_DATA_MAX + 2), *data = NULL;
	const char *reason = NULL;
	key_serial_t p;
	size_t i, len = 0;
	long maxbytes = 0;
	char *sysctl;

	(void)state;
	require_root();
	assert_non_null(big);
	sysctl = tu_read_file("/proc/sys/kernel/keys/maxbytes", NULL);
	assert_non_null(sysctl);
	maxbytes = strtol(sysctl, NULL, 10);
	free(sysctl);
	if (maxbytes < KEYRING_DATA_MAX + 64)
		fail_msg("kernel.keys.maxbytes is %ld: too small for a %d byte key", maxbytes,
			 KEYRING_DATA_MAX);
	for (i = 0; i < KEYRING_DATA_MAX + 1; i++)
		big[i] = (char)('A' + i % 26);
	big[KEYRING_DATA_MAX] = '\0';
	/* the largest value: several pages */
	put_ok(KEYRING_ACCESS, big);
	get_equals(KEYRING_ACCESS, big);
	assert_int_equal(keyring_remove(tuid, KEYRING_ACCESS, &reason), 0);
	big[KEYRING_DATA_MAX] = 'x';
	assert_int_equal(keyring_put(tuid, tgid, KEYRING_ACCESS, big, KEYRING_DATA_MAX + 1,
				     &reason), -1);
	assert_non_null(reason);
	assert_int_equal(keyring_put(tuid, tgid, KEYRING_ACCESS, big, 0, &reason), -1);
	assert_int_equal(keyring_put(tuid, tgid, KEYRING_ACCESS, "a\0b", 3, &reason), -1);
	get_absent(KEYRING_ACCESS);
	put_ok(KEYRING_ACCESS, "x");
	get_equals(KEYRING_ACCESS, "x");

	/* keys put there by other means: too large, or holding a NUL, are refused on reading */
	p = kt_open();
	(void)kt_plant(p, "pam_jwt:big", big, KEYRING_DATA_MAX + 1);
	(void)kt_plant(p, "pam_jwt:nul", "a\0b", 3);
	kt_close(p);
	reason = NULL;
	assert_int_equal(keyring_get(tuid, "pam_jwt:big", &data, &len, &reason), -1);
	assert_non_null(reason);
	assert_null(data);
	reason = NULL;
	assert_int_equal(keyring_get(tuid, "pam_jwt:nul", &data, &len, &reason), -1);
	assert_non_null(reason);
	assert_null(data);
	free(big);
}

static void test_descriptions(void **state)
{
	static const char *const bad[] = {
		"",
		"pam_jwt:",
		"pam_jwt",
		"krb:ccache",
		"pam_jwt:Access",
		"pam_jwt:a b",
		"pam_jwt:a;b",
		"pam_jwt:../x",
		"pam_jwt:a/b",
		" pam_jwt:access",
	};
	char desc[KEYRING_DESC_MAX + 2], *data = NULL;
	const char *reason;
	bool flag;
	size_t i, len;

	(void)state;
	require_root();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reason = NULL;
		assert_int_equal(keyring_put(tuid, tgid, bad[i], "v", 1, &reason), -1);
		assert_non_null(reason);
		assert_int_equal(keyring_get(tuid, bad[i], &data, &len, &reason), -1);
		assert_null(data);
		assert_int_equal(keyring_remove(tuid, bad[i], &reason), -1);
	}
	/* the longest description */
	memset(desc, 'z', sizeof(desc));
	memcpy(desc, KEYRING_DESC_PREFIX, strlen(KEYRING_DESC_PREFIX));
	desc[KEYRING_DESC_MAX] = '\0';
	put_ok(desc, "long");
	get_equals(desc, "long");
	assert_int_equal(keyring_remove(tuid, desc, NULL), 0);
	desc[KEYRING_DESC_MAX] = 'z';
	desc[KEYRING_DESC_MAX + 1] = '\0';
	assert_int_equal(keyring_put(tuid, tgid, desc, "v", 1, NULL), -1);
	assert_int_equal(keyring_get(tuid, desc, &data, &len, NULL), -1);
	/* uid and gid -1 mean "unchanged" to the kernel: refused */
	assert_int_equal(keyring_put((uid_t)-1, tgid, TEST_DESC, "v", 1, NULL), -1);
	assert_int_equal(keyring_put(tuid, (gid_t)-1, TEST_DESC, "v", 1, NULL), -1);
	assert_int_equal(keyring_get((uid_t)-1, TEST_DESC, &data, &len, NULL), -1);
	assert_int_equal(keyring_remove((uid_t)-1, TEST_DESC, NULL), -1);
	assert_int_equal(keyring_remove_session((uid_t)-1, "0000000000000000000000000000000000"
						"000000000000000000000000000000", &flag, NULL), -1);
}

static void test_null_arguments(void **state)
{
	const char *reason = NULL;
	char *data = NULL;
	size_t len = 0;
	bool flag = false;

	(void)state;
	require_root();
	assert_int_equal(keyring_put(tuid, tgid, NULL, "v", 1, &reason), -1);
	assert_int_equal(keyring_put(tuid, tgid, TEST_DESC, NULL, 1, &reason), -1);
	assert_int_equal(keyring_get(tuid, NULL, &data, &len, &reason), -1);
	assert_int_equal(keyring_get(tuid, TEST_DESC, NULL, &len, &reason), -1);
	assert_int_equal(keyring_get(tuid, TEST_DESC, &data, NULL, &reason), -1);
	assert_null(data);
	assert_int_equal(keyring_remove(tuid, NULL, &reason), -1);
	assert_int_equal(keyring_remove_session(tuid, NULL, &flag, &reason), -1);
	assert_int_equal(keyring_remove_session(tuid, "0000000000000000000000000000000000000000"
						"000000000000000000000000", NULL, &reason), -1);
	assert_int_equal(keyring_put_if_session(tuid, tgid, NULL, TEST_DESC, "v", 1, &flag,
						&reason), -1);
	assert_int_equal(keyring_put_if_session(tuid, tgid, "000000000000000000000000000000000"
						"0000000000000000000000000000000", NULL, "v", 1,
						&flag, &reason), -1);
	/* the reason pointer may be NULL */
	assert_int_equal(keyring_put(tuid, tgid, NULL, "v", 1, NULL), -1);
	keyring_data_free(NULL, 0);
	keyring_data_free(NULL, 42);
	get_absent(TEST_DESC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_round_trip, clean, clean),
		cmocka_unit_test_setup_teardown(test_replace, clean, clean),
		cmocka_unit_test_setup_teardown(test_absent, clean, clean),
		cmocka_unit_test_setup_teardown(test_remove, clean, clean),
		cmocka_unit_test_setup_teardown(test_remove_session, clean, clean),
		cmocka_unit_test_setup_teardown(test_put_if_session, clean, clean),
		cmocka_unit_test_setup_teardown(test_holds_session, clean, clean),
		cmocka_unit_test_setup_teardown(test_user_reads_but_cannot_change, clean, clean),
		cmocka_unit_test_setup_teardown(test_real_uid_user_effective_root, clean, clean),
		cmocka_unit_test_setup_teardown(test_sizes, clean, clean),
		cmocka_unit_test_setup_teardown(test_descriptions, clean, clean),
		cmocka_unit_test_setup_teardown(test_null_arguments, clean, clean),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
