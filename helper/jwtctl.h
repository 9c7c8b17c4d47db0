/* pam-jwtctl: the commands that talk to pam-jwtd, and ending live logins without it. */
#ifndef PAM_JWT_JWTCTL_H
#define PAM_JWT_JWTCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "proto.h"
#include "store.h"

#include "isotime.h"

enum { EXIT_ACCEPTED = 0, EXIT_REFUSED = 1, EXIT_UNAVAILABLE = 2 };

/* Load the config: the file when given; else the default file, for an admin command when
 * it exists at all, for a user-side command when it is readable; else the defaults. 0, or
 * an exit code after a message. */
int ctl_config_load(const char *config_path, bool admin, struct config *cfg);
/* Send a request to pam-jwtd. 0 with *ans filled (ok or not: see ans->ok); 1 when the daemon
 * is not running; -1 on any other failure (*reason set). */
int ctl_daemon_call(const char *socket_path, const struct proto_request *req,
		    struct proto_answer *ans, const char **reason);
/* Whether a pam-jwtd runs on cfg's socket over the same store as cfg: then the admin
 * commands go through it, so it ends the logins they revoke. */
int ctl_daemon_serves(const struct config *cfg);
/* Without a daemon: SIGHUP the leaders of the given sessions, SIGKILL those still there
 * after grace seconds. */
void ctl_end_logins(const struct store_session *list, size_t n, int64_t grace);

/* A JSON document on stdout, indented, ASCII only, one newline after it. */
void ctl_print_json(const json_t *doc);

int cmd_token(int argc, char **argv);
int cmd_refresh(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_status(int argc, char **argv);
/* check-config (checkcfg.c) */
int cmd_check_config(int argc, char **argv);

#endif
