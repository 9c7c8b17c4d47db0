/*
 * pam-jwtctl, the user side: a fresh access token, a refresh, logging out, the daemon's
 * status. A user's own credentials come from their keyring, where the login put them.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jwtctl.h"
#include "keyring.h"
#include "leader.h"

#define CTL_TIMEOUT_MS 5000

int ctl_config_load(const char *config_path, bool admin, struct config *cfg)
{
	struct verdict v;
	struct stat sb;
	char text[VERDICT_TEXT_MAX];
	int rc = EXIT_UNAVAILABLE;

	verdict_init(&v);
	if (config_init(cfg) != 0) {
		fprintf(stderr, "pam-jwtctl: out of memory\n");
		goto out;
	}
	/* an admin command must not go on without a default file that is there but broken;
	 * a user cannot read root's 0600 file, and works from the defaults */
	if (config_path == NULL &&
	    (admin ? (lstat(CONFIG_DEFAULT_PATH, &sb) == 0 || errno != ENOENT) :
		     (lstat(CONFIG_DEFAULT_PATH, &sb) == 0 && access(CONFIG_DEFAULT_PATH, R_OK) == 0)))
		config_path = CONFIG_DEFAULT_PATH;
	if (config_path != NULL && config_load_file(cfg, config_path, &v) != 0) {
		verdict_describe(&v, text, sizeof(text));
		printf("%s: %s\n", verdict_code_name(v.code), text);
		goto out;
	}
	rc = EXIT_ACCEPTED;
out:
	return rc;
}

int ctl_daemon_call(const char *socket_path, const struct proto_request *req,
		    struct proto_answer *ans, const char **reason)
{
	char *msg = NULL, *answer = NULL;
	size_t answer_len = 0;
	int rc = -1;

	memset(ans, 0, sizeof(*ans));
	msg = proto_request_format(req, reason);
	if (msg == NULL)
		goto out;
	if (proto_call(socket_path, msg, strlen(msg), CTL_TIMEOUT_MS, &answer, &answer_len,
		       reason) != 0) {
		if (*reason != NULL && strcmp(*reason, "daemon is not running") == 0)
			rc = 1;
		goto out;
	}
	if (proto_answer_parse(answer, answer_len, ans, reason) != 0)
		goto out;
	rc = 0;
out:
	proto_message_free(msg);
	proto_message_free(answer);
	return rc;
}

int ctl_daemon_serves(const struct config *cfg)
{
	struct proto_request req;
	struct proto_answer ans;
	const char *reason = NULL, *store;
	int serves = 0;

	memset(&req, 0, sizeof(req));
	req.op = PROTO_OP_STATUS;
	if (ctl_daemon_call(cfg->socket_path, &req, &ans, &reason) == 0 && ans.ok) {
		store = json_string_value(json_object_get(ans.root, "store"));
		serves = store != NULL && config_store_location(cfg) != NULL &&
			 strcmp(store, config_store_location(cfg)) == 0;
	}
	proto_answer_clear(&ans);
	return serves;
}

void ctl_print_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_end_logins(const struct store_session *list, size_t n, int64_t grace)
{
	int *pidfds = calloc(n > 0 ? n : 1, sizeof(int));
	const char *reason = NULL;
	int64_t deadline = now_ms() + grace * 1000;
	size_t i, alive;

	if (pidfds == NULL)
		return;
	for (i = 0; i < n; i++) {
		pidfds[i] = -1;
		if (list[i].leader_pid <= 1 || list[i].leader_start == 0 ||
		    !leader_is_here(list[i].boot) ||
		    leader_open(list[i].leader_pid, list[i].leader_start, &pidfds[i], &reason) != 0)
			continue;
		if (leader_signal(pidfds[i], SIGHUP, &reason) == 0) {
			printf("ended the login of session %.12s (SIGHUP to pid %d)\n", list[i].digest,
			       (int)list[i].leader_pid);
		} else {
			close(pidfds[i]);
			pidfds[i] = -1;
		}
	}
	do {
		alive = 0;
		for (i = 0; i < n; i++) {
			if (pidfds[i] < 0)
				continue;
			if (leader_wait(pidfds[i], 0) == 0) {
				close(pidfds[i]);
				pidfds[i] = -1;
			} else {
				alive++;
			}
		}
		if (alive > 0 && now_ms() < deadline)
			(void)poll(NULL, 0, 50);
	} while (alive > 0 && now_ms() < deadline);
	for (i = 0; i < n; i++) {
		if (pidfds[i] < 0)
			continue;
		(void)leader_signal(pidfds[i], SIGKILL, &reason);
		printf("pid %d still there after %lld s: SIGKILL\n", (int)list[i].leader_pid,
		       (long long)grace);
		close(pidfds[i]);
	}
	free(pidfds);
}

/* Options shared by the user-side commands. */
struct user_opts {
	const char *config_path;
	const char *socket_path;
	const char *aud;
	bool json;
};

static int user_opts_parse(int argc, char **argv, bool allow_aud, struct user_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "aud", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = -1;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 'S': o->socket_path = optarg; break;
		case 'a':
			if (!allow_aud)
				goto out;
			o->aud = optarg;
			break;
		case 'j': o->json = true; break;
		default: goto out;
		}
	}
	rc = optind == argc ? 0 : -1;
out:
	if (rc != 0)
		fprintf(stderr, "pam-jwtctl: bad arguments (see pam-jwtctl --help)\n");
	return rc;
}

/* One of the caller's own keyring entries (the login put them there). */
static int own_keyring(const char *desc, char **data, size_t *len)
{
	const char *reason = NULL;
	int got = keyring_get(getuid(), desc, data, len, &reason);

	if (got < 0)
		printf("unavailable: keyring: %s\n", reason);
	else if (got == 1)
		printf("refused: no %s in your keyring (log in with keyring = yes)\n",
		       strcmp(desc, KEYRING_REFRESH) == 0 ? "refresh token" : "session");
	return got == 0 ? EXIT_ACCEPTED : got < 0 ? EXIT_UNAVAILABLE : EXIT_REFUSED;
}

/* Run one request built from the caller's keyring entry `desc` (into *slot) and print the
 * answer member `print` (or a line made by show). */
static int user_request(int argc, char **argv, enum proto_op op, const char *desc,
			bool allow_aud, void (*show)(const struct proto_answer *ans))
{
	struct user_opts o;
	struct config cfg;
	struct proto_request req;
	struct proto_answer ans;
	const char *reason = NULL;
	char *cred = NULL;
	size_t cred_len = 0;
	int got, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	memset(&req, 0, sizeof(req));
	memset(&ans, 0, sizeof(ans));
	if (user_opts_parse(argc, argv, allow_aud, &o) != 0)
		goto out;
	if (o.json && op != PROTO_OP_STATUS) {
		fprintf(stderr, "pam-jwtctl: --json is for status only here\n");
		goto out;
	}
	rc = ctl_config_load(o.config_path, false, &cfg);
	if (rc != EXIT_ACCEPTED)
		goto out;
	if (desc != NULL) {
		rc = own_keyring(desc, &cred, &cred_len);
		if (rc != EXIT_ACCEPTED)
			goto out;
	}
	req.op = op;
	req.aud = (char *)(uintptr_t)o.aud;
	if (op == PROTO_OP_REFRESH)
		req.refresh_token = cred;
	else if (desc != NULL)
		req.session_id = cred;
	got = ctl_daemon_call(o.socket_path != NULL ? o.socket_path : cfg.socket_path, &req, &ans,
			      &reason);
	if (got != 0) {
		printf("unavailable: %s\n", got > 0 ? "pam-jwtd is not running" : reason);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (!ans.ok) {
		printf("refused: %s\n", ans.error);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (o.json) {
		json_object_del(ans.root, "ok");
		ctl_print_json(ans.root);
	} else {
		show(&ans);
	}
	rc = EXIT_ACCEPTED;
out:
	keyring_data_free(cred, cred_len);
	proto_answer_clear(&ans);
	config_free(&cfg);
	return rc;
}

static void show_access(const struct proto_answer *ans)
{
	printf("%s\n", json_string_value(json_object_get(ans->root, "access_token")));
}

static void show_logout(const struct proto_answer *ans)
{
	printf("logged out (%lld session(s) ended)\n",
	       (long long)json_integer_value(json_object_get(ans->root, "revoked")));
}

static void show_status(const struct proto_answer *ans)
{
	const char *key;
	json_t *value;

	json_object_foreach(ans->root, key, value) {
		if (strcmp(key, "ok") == 0)
			continue;
		if (json_is_string(value))
			printf("%s: %s\n", key, json_string_value(value));
		else if (json_is_integer(value))
			printf("%s: %lld\n", key, (long long)json_integer_value(value));
	}
}

int cmd_token(int argc, char **argv)
{
	return user_request(argc, argv, PROTO_OP_TOKEN, KEYRING_SESSION, true, show_access);
}

int cmd_refresh(int argc, char **argv)
{
	return user_request(argc, argv, PROTO_OP_REFRESH, KEYRING_REFRESH, false, show_access);
}

int cmd_logout(int argc, char **argv)
{
	return user_request(argc, argv, PROTO_OP_LOGOUT, KEYRING_SESSION, false, show_logout);
}

int cmd_status(int argc, char **argv)
{
	return user_request(argc, argv, PROTO_OP_STATUS, NULL, false, show_status);
}
