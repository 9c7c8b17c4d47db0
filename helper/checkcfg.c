/* pam-jwtctl check-config [-c FILE] [-T]: the configuration checked before it goes live, as
 * sshd -t and sshd -T do. Exit 0: valid (warnings allowed); 1: invalid, every problem
 * found is printed; 2: cannot check (not root, the file cannot be read). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgcheck.h"
#include "config.h"
#include "proto.h"
#include "verdict.h"

#include "jwtctl.h"

static void print_problem(const struct config_problem *p)
{
	char text[VERDICT_TEXT_MAX];

	verdict_describe(&p->v, text, sizeof(text));
	fprintf(stderr, "%s: %s\n", p->warning ? "warning" : "error", text);
}

/* The socket pam-jwtd listens on: its directory must exist; a socket there should answer. */
static void check_daemon(const struct config *cfg, struct config_report *r)
{
	struct proto_request req;
	struct proto_answer ans;
	struct verdict v;
	struct stat sb;
	const char *reason = NULL, *store;
	char *dir = strdup(cfg->socket_path), *slash;
	int got;

	verdict_init(&v);
	memset(&ans, 0, sizeof(ans));
	slash = dir != NULL ? strrchr(dir, '/') : NULL;
	if (slash != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (dir == NULL || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		verdict_set(&v, VERDICT_BAD_CONFIG, "socket_path is in no directory");
		v.where.hint = "pam-jwtd cannot listen there: correct socket_path";
		goto report_error;
	}
	if (lstat(cfg->socket_path, &sb) != 0) {
		fprintf(stderr, "notice: pam-jwtd is not running (no socket %s)\n", cfg->socket_path);
		goto out;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		verdict_set(&v, VERDICT_BAD_CONFIG, "socket_path names something not a socket");
		v.where.hint = "pam-jwtd cannot listen there: correct socket_path";
		goto report_error;
	}
	memset(&req, 0, sizeof(req));
	req.op = PROTO_OP_STATUS;
	got = ctl_daemon_call(cfg->socket_path, &req, &ans, &reason);
	if (got != 0 || !ans.ok) {
		verdict_set(&v, VERDICT_UNAVAILABLE, "pam-jwtd does not answer on socket_path");
		v.where.hint = got > 0 ? "a stale socket: start pam-jwtd" : "see pam-jwtd's log";
		goto report_warning;
	}
	store = json_string_value(json_object_get(ans.root, "store"));
	if (store == NULL || strcmp(store, config_store_location(cfg)) != 0) {
		verdict_set(&v, VERDICT_BAD_CONFIG, "pam-jwtd on socket_path uses another store");
		v.where.hint = "reload pam-jwtd (SIGHUP) after changing the store";
		goto report_warning;
	}
	fprintf(stderr, "notice: pam-jwtd answers on %s\n", cfg->socket_path);
	goto out;
report_warning:
	verdict_where_fill(&v, cfg->config_path, config_option_line(cfg, "socket_path"),
			   "socket_path", cfg->socket_path);
	config_report_add(r, &v, true);
	goto out;
report_error:
	verdict_where_fill(&v, cfg->config_path, config_option_line(cfg, "socket_path"),
			   "socket_path", cfg->socket_path);
	config_report_add(r, &v, false);
out:
	proto_answer_clear(&ans);
	free(dir);
}

static void print_setting(void *ctx, const char *name, const char *value)
{
	json_t *settings = ctx;

	if (settings != NULL)
		(void)json_object_set_new(settings, name, json_string(value));
	else
		printf("%s %s\n", name, value);
}

/* --json: {"valid", "errors", "warnings", "problems": [{"severity", "text"}], "settings"} */
static void print_report_json(const struct config *cfg, const struct config_report *r,
			      size_t warnings, bool settings)
{
	char text[VERDICT_TEXT_MAX];
	json_t *doc, *problems = json_array(), *set = settings ? json_object() : json_null();
	size_t i;

	for (i = 0; problems != NULL && i < r->count; i++) {
		verdict_describe(&r->item[i].v, text, sizeof(text));
		(void)json_array_append_new(problems, json_pack("{s:s, s:s}", "severity",
				r->item[i].warning ? "warning" : "error", "text", text));
	}
	if (settings && set != NULL && r->errors == 0)
		config_each_setting(cfg, print_setting, set);
	doc = json_pack("{s:b, s:I, s:I, s:o, s:o}", "valid", r->errors == 0, "errors",
			(json_int_t)r->errors, "warnings", (json_int_t)warnings, "problems",
			problems, "settings", set);
	if (doc != NULL)
		ctl_print_json(doc);
	else
		fprintf(stderr, "cannot check: out of memory\n");
	json_decref(doc);
}

int cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "settings", no_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONFIG_DEFAULT_PATH;
	struct config_report *r = NULL;
	struct keyset_notes *notes = NULL;
	struct config cfg;
	struct verdict v;
	char text[VERDICT_TEXT_MAX];
	bool settings = false, json = false;
	size_t i, warnings;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "c:T", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'T': settings = true; break;
		case 'j': json = true; break;
		default: goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	r = calloc(1, sizeof(*r));
	notes = calloc(1, sizeof(*notes));
	if (r == NULL || notes == NULL || config_init(&cfg) != 0) {
		fprintf(stderr, "cannot check: out of memory\n");
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "cannot check: check-config reads root's files and must run as "
			"root\n");
		goto out;
	}
	if (config_load_file_report(&cfg, path, r, &v) != 0) {
		verdict_describe(&v, text, sizeof(text));
		fprintf(stderr, "cannot check: %s\n", text);
		goto out;
	}
	(void)config_check(&cfg, r->errors > 0 ? CFGCHECK_NO_VALIDATE : 0, r, notes);
	check_daemon(&cfg, r);
	for (i = 0; i < notes->count; i++)
		fprintf(stderr, "notice: %s\n", notes->line[i]);
	warnings = r->count + r->dropped - r->errors;
	if (json) {
		print_report_json(&cfg, r, warnings, settings);
		rc = r->errors > 0 ? EXIT_REFUSED : EXIT_ACCEPTED;
		goto out;
	}
	for (i = 0; i < r->count; i++)
		print_problem(&r->item[i]);
	if (r->dropped > 0)
		fprintf(stderr, "... and %zu more problem(s)\n", r->dropped);
	if (r->errors > 0 || warnings > 0)
		fprintf(stderr, "%s: %zu error(s), %zu warning(s)\n", path, r->errors, warnings);
	if (settings && r->errors == 0)
		config_each_setting(&cfg, print_setting, NULL);
	rc = r->errors > 0 ? EXIT_REFUSED : EXIT_ACCEPTED;
	goto out;
usage:
	fputs("usage: pam-jwtctl check-config [-c CONFIG] [-T] [--json]\n", stderr);
out:
	free(r);
	free(notes);
	config_free(&cfg);
	return rc;
}
