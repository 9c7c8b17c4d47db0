#ifndef PAM_JWT_REDIS_H
#define PAM_JWT_REDIS_H
#include <stdbool.h>

#include <hiredis/hiredis.h>
#include "verdict.h"
enum redis_transport { REDIS_TCP = 0, REDIS_TLS = 1, REDIS_UNIX = 2 };
struct redis_target {
	enum redis_transport transport;
	char host[256];
	unsigned port;
	char path[108];
	char user[64];
	unsigned db;
};
int redis_url_parse(const char *url, struct redis_target *t, const char **reason);
struct redis_options {
	const char *password_file;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	int timeout_ms;
};
struct redis_conn;
int redis_connect(const struct redis_target *t, const struct redis_options *o,
		  struct redis_conn **out, struct verdict *v);
int redis_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		  redisReply **reply, struct verdict *v);
int redis_append(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
		 struct verdict *v);
int redis_read(struct redis_conn *c, redisReply **reply, struct verdict *v);
int redis_wait(struct redis_conn *c, int timeout_ms, redisReply **reply, struct verdict *v);
int redis_fd(const struct redis_conn *c);
/* Has an I/O error or a timeout made the connection unusable? */
bool redis_is_broken(const struct redis_conn *c);
void redis_close(struct redis_conn *c);
#endif
