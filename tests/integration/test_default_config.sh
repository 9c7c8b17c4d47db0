#!/bin/bash
# The module's default configuration, /etc/security/pam_jwt.conf (root): `account required
# pam_jwt.so` with no arguments, as the man page and the pam-auth-update profile write it.
# Runs in a mount namespace of its own, with a directory of the suite's bind-mounted over
# /etc/security, so the host's file (if any) is neither read nor touched: without the file
# the module passes over logins it did not authenticate; with one whose store holds a lock
# of the user, it refuses the user's login; with a typo in it, it refuses every login
# (check-config is how an admin finds it first).
#
# Pieces (removed at exit): a temp dir, a tmpfs store, a user, a pam.d service.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

pj_suite_needs test_default_config pamtester unshare
pj_tmpdir && pj_store_dir || { not_ok "temp dirs"; done_testing; exit; }
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
pj_service acct <<EOF
account  required $PJ_MOD
account  required pam_permit.so
EOF
SVC=$PJ_SERVICE
HOST_ETC=$(ls -la --time-style=full-iso /etc/security | sha256sum)
ETC=$PJ_TMP/etc-security
mkdir -m 0755 "$ETC"

# in_ns CMD...: CMD with $ETC as /etc/security, in a mount namespace of its own
in_ns() {
	unshare --mount --propagation private sh -c \
		'mount --bind "$1" /etc/security && shift && exec "$@"' sh "$ETC" "$@"
}
acct() { in_ns pamtester -v "$SVC" "$U" acct_mgmt </dev/null >"$PJ_TMP/pamtester.out" 2>&1; }

check "no /etc/security/pam_jwt.conf: a login pam_jwt did not authenticate passes" acct
cat >"$ETC/pam_jwt.conf" <<EOF
jwks = $PJ_TMP/keys/es1.jwks
store_dir = $PJ_STORE
persist_dir = none
EOF
chmod 0600 "$ETC/pam_jwt.conf"
check "with the file, and its store holding no lock: still passes" acct
check "pam-jwtctl lock through that file" \
	in_ns "$PJ_CTL" lock -c /etc/security/pam_jwt.conf "$U"
check_fails "the locked user is refused by the account phase" acct
check "... with PAM_PERM_DENIED" grep -q "Permission denied" "$PJ_TMP/pamtester.out"
in_ns "$PJ_CTL" unlock -c /etc/security/pam_jwt.conf "$U" >/dev/null
check "unlocked: passes again" acct
echo "store_dri = $PJ_STORE" >>"$ETC/pam_jwt.conf"
check_fails "a typo in the file refuses every login (fails closed)" acct
check "pam-jwtctl check-config names the typo and its line" eval \
	'in_ns "$PJ_CTL" check-config -c /etc/security/pam_jwt.conf 2>&1 | grep -q "line 4.*store_dri"'
check "the host's /etc/security is as it was" \
	test "$(ls -la --time-style=full-iso /etc/security | sha256sum)" = "$HOST_ETC"
done_testing
