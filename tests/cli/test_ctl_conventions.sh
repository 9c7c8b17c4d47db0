#!/bin/bash
# pam-jwtctl's command-line conventions: the table of commands (usage, COMMAND --help,
# completion), global options before the command, "must be root", ISO 8601 times, --json,
# locks and revocations, keygen --pem. A private store; root only for the "must be root"
# cases (run as nobody).
set -u
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/common.sh"

if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
pj_tmpdir || { not_ok "make a temp dir"; done_testing; exit; }
STORE=$PJ_TMP/store
mkdir -m 0700 "$STORE"
pj_keygen ES256 es1 || { not_ok "keygen"; done_testing; exit; }
CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOC
jwks = $PJ_TMP/keys/es1.jwks
store_dir = $STORE
persist_dir = none
allow_non_tmpfs = yes
socket_path = $PJ_TMP/no-daemon.sock
EOC
chmod 0600 "$CONF"
OUT=$PJ_TMP/out
ERR=$PJ_TMP/err
ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
ctl() { "$PJ_CTL" "$@" >"$OUT" 2>"$ERR"; }
ctl_is() {
	local d=$1 want=$2 pat=$3 rc=0
	shift 3
	ctl "$@" || rc=$?
	if [ "$rc" = "$want" ] && cat "$OUT" "$ERR" | grep -qE -- "$pat"; then ok "$d"; else
		not_ok "$d (exit $rc, want $want and /$pat/)"
		cat "$OUT" "$ERR" | head -5 | sed 's/^/#   /'
	fi
}
json_is() { # DESC PYTHON-EXPR (on j, the JSON in $OUT)
	if "$PJ_PY" -c "import json,sys; j = json.load(open('$OUT')); sys.exit(0 if ($2) else 1)"; then
		ok "$1"; else not_ok "$1"; head -5 "$OUT" | sed 's/^/#   /'; fi
}

# every command of the table has --help, is completed and is in the usage and the manual
ctl --complete; cmds=$(cat "$OUT")
check "--complete lists the commands (17)" test "$(wc -l <<<"$cmds")" = 17
"$PJ_CTL" --help >"$PJ_TMP/usage" 2>&1
sed 's/\\-/-/g' "$TOP/man/pam-jwtctl.1" >"$PJ_TMP/man"
for c in $cmds; do
	rc=0; ctl "$c" --help || rc=$?
	if [ "$rc" = 0 ] && grep -q "^usage: pam-jwtctl $c " "$OUT" && grep -q "pam-jwtctl($c)\|pam-jwtctl(1)" "$OUT" &&
		grep -q "pam-jwtctl $c " "$PJ_TMP/usage" && grep -q "^\.B pam-jwtctl $c\b" "$PJ_TMP/man"
	then ok "$c --help, the usage and the manual know it"; else not_ok "$c --help (exit $rc)"; fi
done
ctl_is "--complete lock: its options" 0 '^--config --until --end-logins --help$' --complete lock
ctl_is "an unknown command: exit 2, says so" 2 "unknown command 'nosuch'" nosuch
ctl_is "--version" 0 '^pam-jwtctl [0-9]' --version

# global -c before the command
ctl_is "pam-jwtctl -c FILE sessions" 0 '^SESSION +USER' -c "$CONF" sessions
ctl_is "pam-jwtctl --config FILE locks" 0 '^USER +UNTIL' --config "$CONF" locks
ctl_is "-c with a command that takes none: exit 2" 2 'takes no configuration' -c "$CONF" keygen

# locks: ISO 8601 in human output, epoch in --json; a name that is no user is warned about
ctl_is "lock --until 2h: the end time in ISO 8601" 0 "^locked user root until $ISO$" \
	-c "$CONF" lock root --until 2h
ctl_is "lock a name that is not a user: a warning, exit 0" 0 \
	'warning: pjt-no-such-user is not a user' -c "$CONF" lock pjt-no-such-user
ctl_is "locking a real user gives no warning" 0 '^locked user root' -c "$CONF" lock root
check "... (no warning on stderr)" test ! -s "$ERR"
ctl_is "locks lists both" 0 "^pjt-no-such-user +until unlocked$" -c "$CONF" locks
check "... root's lock has no end now (locked again without --until)" \
	grep -qE "^root +until unlocked$" "$OUT"
ctl -c "$CONF" locks --json
json_is "locks --json: user and until (epoch, 0: until unlocked)" \
	'sorted((l["user"], l["until"]) for l in j) == [("pjt-no-such-user", 0), ("root", 0)]'
ctl -c "$CONF" unlock pjt-no-such-user
ctl_is "lock --until 1h" 0 "until $ISO" -c "$CONF" lock pjt-timed --until 1h
ctl -c "$CONF" locks --json
json_is "locks --json: a timed lock ends in about an hour" \
	'any(l["user"] == "pjt-timed" and 3500 < l["until"] - int(__import__("time").time()) <= 3600 for l in j)'

# revocations: the digest of the jti (all the store keeps) and its end
ctl_is "revoke --jti: until an ISO 8601 time" 0 "^revoked token id jti-one until $ISO" \
	-c "$CONF" revoke --jti jti-one --exp 1d
DJ=$(printf %s jti-one | sha256sum | cut -d' ' -f1)
ctl_is "revocations lists the SHA-256 of the jti and its end" 0 "^$DJ +$ISO$" -c "$CONF" revocations
check "... never the jti itself" eval '! grep -q jti-one "$OUT"'
ctl -c "$CONF" revocations --json
json_is "revocations --json: jti_sha256 and exp (epoch)" \
	'[r["jti_sha256"] for r in j] == ["'"$DJ"'"] and isinstance(j[0]["exp"], int)'

# verify --json
ctl_is "verify --json of garbage: refused, exit 1" 1 '"result": "refused"' \
	verify -c "$CONF" --json - <<<"not-a-token"
json_is "... with a reason" 'j["reason"]'
ctl_is "verify --json and -v together: usage" 2 'usage' verify -c "$CONF" --json -v -

# keygen --pem: a public PEM a key = line takes
mkdir "$PJ_TMP/k"
ctl_is "keygen --pem writes KID.pem" 0 "k/es\.pem$" keygen --alg ES256 --kid es --out "$PJ_TMP/k" --pem
check "... a public key, mode 0644" eval 'grep -q "BEGIN PUBLIC KEY" "$PJ_TMP/k/es.pem" && [ "$(stat -c %a "$PJ_TMP/k/es.pem")" = 644 ]'
"$PJ_CTL" issue --key "$PJ_TMP/k/es.key" -u root >"$PJ_TMP/tok"
ctl_is "a token it signs verifies with --key ES256:KID.pem" 0 '^accepted' \
	verify --jws-only --key "ES256:$PJ_TMP/k/es.pem" - <"$PJ_TMP/tok"
ctl_is "keygen --pem for an HMAC key: refused" 2 'no public key' \
	keygen --alg HS256 --kid hs --out "$PJ_TMP/k" --pem
check "... and writes nothing" test ! -e "$PJ_TMP/k/hs.key"

# root-only commands run by another user: "must be root", not a store error
# (as root, run as nobody; as a user, run as is: the default store is root's either way)
as_other() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
for c in sessions locks revocations gc "lock root" "unlock root" "revoke --user root" restore; do
	rc=0; out=$(cd / && as_other "$PJ_CTL" $c 2>&1) || rc=$?
	if [ "$rc" = 2 ] && [[ $out == *"must be root"* ]] && [[ $out != *unavailable* ]]; then
		ok "not root: $c says \"must be root\" (exit 2)"
	else not_ok "not root: $c (exit $rc: $out)"; fi
done
rc=0; out=$(cd / && as_other "$PJ_CTL" keygen --help 2>&1) || rc=$?
check "not root: a user command's --help works" test "$rc" = 0

# completion: the file loads and completes from the table
got=$(PATH="$(dirname "$PJ_CTL"):$PATH" bash -c '
		source "$1/conf/bash-completion/pam-jwtctl"
		COMP_WORDS=(pam-jwtctl loc); COMP_CWORD=1; _pam_jwtctl; echo "${COMPREPLY[*]}"
		COMP_WORDS=(pam-jwtctl -c x lock --u); COMP_CWORD=4; _pam_jwtctl; echo "${COMPREPLY[*]}"' _ "$TOP")
check "bash completion: commands and a command's options (got: ${got//$'\n'/ | })" \
	test "$got" = $'lock locks\n--until'

done_testing
