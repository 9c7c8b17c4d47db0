# Shared helpers for the root-only integration suites and scripts/demo.sh.
#
# Everything a suite creates on the host (temp dirs, users, pam.d services, a syslog
# listener) is registered with pj_defer and undone in reverse order by the EXIT trap,
# also when the suite fails half-way or is interrupted.
#
# Source after tests/lib.sh (or set BUILD_DIR yourself). Uses /usr/bin/python3, which
# has the jwt and cryptography modules.

PJ_TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$PJ_TOP/build}
PJ_CTL=$BUILD_DIR/pam-jwtctl
PJ_MOD=$BUILD_DIR/pam_jwt.so
PJ_PY=/usr/bin/python3
PJ_HELPERS=$PJ_TOP/tests/integration/helpers

# --- clean-up ---------------------------------------------------------------------

pj_cleanup_cmds=()
# pj_defer cmd args...: run cmd at exit (last registered runs first)
pj_defer() { pj_cleanup_cmds+=("$(printf '%q ' "$@")"); }
pj_run_cleanup() {
	local i
	trap - EXIT INT TERM HUP
	for ((i = ${#pj_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${pj_cleanup_cmds[i]}" >/dev/null 2>&1 || true
	done
	pj_cleanup_cmds=()
}
trap pj_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- checks that need no root -----------------------------------------------------

# pj_have_build: the module and the CLI exist
pj_have_build() { [ -f "$PJ_MOD" ] && [ -x "$PJ_CTL" ]; }

# pj_suite_needs NAME COMMAND...: the start of a root-only suite that drives the module:
# not root, it skips; the module, pam-jwtctl or a command missing is a failure; either way
# the suite ends there
pj_suite_needs() {
	local name=$1 c
	shift
	if [ "$(id -u)" != 0 ]; then
		skip "$name needs root"
		done_testing
		exit
	fi
	pj_have_build || { not_ok "the module and pam-jwtctl are built"; done_testing; exit; }
	for c in "$@"; do
		command -v "$c" >/dev/null || { not_ok "$c is installed"; done_testing; exit; }
	done
}

# pj_tmpdir: PJ_TMP, a private temp dir removed at exit
pj_tmpdir() {
	umask 077
	PJ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pamjwt-test.XXXXXX") || return 1
	pj_defer rm -rf -- "$PJ_TMP"
}

# pj_store_dir: PJ_STORE, an empty 0700 directory on tmpfs (the store refuses other
# file systems), removed at exit
pj_store_dir() {
	PJ_STORE=$(mktemp -d /dev/shm/pamjwt-store.XXXXXX) || return 1
	chmod 0700 "$PJ_STORE"
	pj_defer rm -rf -- "$PJ_STORE"
}

# pj_keygen ALG KID: keys in $PJ_TMP/keys (KID.key private, KID.jwks public set)
pj_keygen() {
	mkdir -p "$PJ_TMP/keys"
	"$PJ_CTL" keygen --alg "$1" --kid "$2" --out "$PJ_TMP/keys" >/dev/null
}

# pj_merge_jwks OUT IN...: one JWKS holding the keys of every IN, mode 0600
pj_merge_jwks() {
	local out=$1
	shift
	"$PJ_PY" - "$out" "$@" <<-'EOF'
	import json, os, sys
	keys = []
	for path in sys.argv[2:]:
	    with open(path) as f:
	        keys.extend(json.load(f)["keys"])
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	with os.fdopen(fd, "w") as f:
	    json.dump({"keys": keys}, f)
	EOF
}

# pj_token_file NAME ARGS...: mint a token into $PJ_TMP/tok/NAME (0600, one line) and
# set PJ_TOKEN to its path
pj_token_file() {
	local name=$1
	shift
	mkdir -p "$PJ_TMP/tok"
	PJ_TOKEN=$PJ_TMP/tok/$name
	if ! "$PJ_CTL" issue "$@" >"$PJ_TOKEN" || [ ! -s "$PJ_TOKEN" ]; then
		# no file at all, so that no case can pass by refusing an empty answer
		rm -f -- "$PJ_TOKEN"
		echo "# pam-jwtctl issue failed for token \"$name\"" >&2
		return 1
	fi
}

# pj_have_token DESC FILE: the token file exists (a failed mint makes the case fail, not
# pass as a refusal); reports not_ok itself
pj_have_token() {
	[ -s "$2" ] && return 0
	not_ok "$1 (no token: minting it failed)"
	return 1
}

# pj_jti FILE / pj_sig FILE: the jti claim / the signature segment of a stored token
pj_jti() {
	"$PJ_PY" -c '
import base64, json, sys
p = open(sys.argv[1]).read().strip().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get("jti", ""))' "$1"
}
pj_sig() { tr -d '\n' <"$1" | cut -d. -f3; }

# pj_tamper_sig IN OUT: flip one character in the middle of the signature
pj_tamper_sig() {
	"$PJ_PY" - "$1" "$2" <<-'EOF'
	import sys
	h, p, s = open(sys.argv[1]).read().strip().split(".")
	i = len(s) // 2
	c = "B" if s[i] != "B" else "C"
	open(sys.argv[2], "w").write(".".join([h, p, s[:i] + c + s[i + 1:]]) + "\n")
	EOF
}

# pj_token_len FILE: length of the token without its newline
pj_token_len() { tr -d '\n' <"$1" | wc -c; }

# pj_token_of_length NAME LENGTH KEYSPEC... -- ISSUE_ARGS...: a token of exactly LENGTH
# bytes, padded with a "pad" claim. KEYSPEC is KEYFILE:KID; several may be given, since a
# base64url segment can never be 4n+1 long, so one header and signature size cannot hit
# every length. Sets PJ_TOKEN.
pj_token_of_length() {
	local name=$1 want=$2 spec key kid n len step tries
	shift 2
	local specs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do specs+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	for spec in "${specs[@]}"; do
		key=${spec%:*}
		kid=${spec##*:}
		n=0
		for tries in 1 2 3 4 5 6 7 8 9 10 11 12; do
			pj_token_file "$name" --key "$key" --kid "$kid" "$@" \
				--claim "pad=$(head -c "$n" /dev/zero | tr '\0' p)" || return 1
			len=$(pj_token_len "$PJ_TOKEN")
			[ "$len" = "$want" ] && return 0
			step=$(((want - len) * 3 / 4))
			if [ "$step" = 0 ]; then
				[ "$len" -lt "$want" ] && step=1 || step=-1
			fi
			n=$((n + step))
			[ "$n" -lt 0 ] && break
		done
	done
	echo "# could not make a token of exactly $want bytes" >&2
	return 1
}

# --- pam.d services -------------------------------------------------------------------

# pj_service NAME: write stdin to a new /etc/pam.d/pamjwt-test-$$-NAME (never an existing
# file; PJ_SERVICE_PREFIX replaces "pamjwt-test-$$"); sets PJ_SERVICE to the service name
pj_service() {
	PJ_SERVICE=${PJ_SERVICE_PREFIX:-pamjwt-test-$$}-$1
	local f=/etc/pam.d/$PJ_SERVICE
	if [ -e "$f" ]; then
		echo "# $f already exists" >&2
		return 1
	fi
	(set -o noclobber; umask 022; cat >"$f") || return 1
	pj_defer rm -f -- "$f"
}

# pj_pamtester SERVICE USER TOKENFILE OPS...: pamtester with the token on stdin; its
# output goes to $PJ_TMP/pamtester.out
pj_pamtester() {
	local svc=$1 user=$2 tok=$3
	shift 3
	pamtester -v "$svc" "$user" "$@" <"$tok" >"$PJ_TMP/pamtester.out" 2>&1
}

# --- users ----------------------------------------------------------------------------

# pj_add_user [useradd options]: a new user with an unused name (PJ_USER; the prefix
# PJ_USER_PREFIX, default "pjt"), removed at exit
pj_add_user() {
	local name i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		name=${PJ_USER_PREFIX:-pjt}$RANDOM$RANDOM
		name=${name:0:12}
		getent passwd "$name" >/dev/null || getent group "$name" >/dev/null || break
	done
	useradd -s /bin/sh "$@" "$name" || return 1
	pj_defer rm -f -- "/run/sudo/ts/$name"
	pj_defer userdel -r -f "$name"
	PJ_USER=$name
}

# pj_user_reaches USER PATH...: USER can run /bin/sh and reach every PATH (test -e). On
# failure says which path fails and shows the modes along it (namei), e.g. a root
# directory of mode 0700 in a chroot made from a mktemp -d directory.
pj_user_reaches() {
	local user=$1 bad
	shift
	bad=$(runuser -u "$user" -- /bin/sh -c 'for p; do [ -e "$p" ] || { echo "$p"; exit 1; }; done' \
		sh "$@" 2>&1) && return 0
	echo "# user $user cannot run /bin/sh or reach ${bad:-a path}" >&2
	namei -m "$(printf '%s\n' "$bad" | grep -m1 '^/' || echo /bin/sh)" 2>&1 | sed 's/^/#   /' >&2
	return 1
}

# pj_unused_user: a name that is not in the password database
pj_unused_user() {
	local name
	while :; do
		name=pjnone$RANDOM
		getent passwd "$name" >/dev/null || break
	done
	echo "$name"
}

# --- syslog capture -------------------------------------------------------------------
#
# pam_syslog writes to /dev/log. If nothing provides /dev/log, a small listener is bound
# there for the duration of the run (and the socket removed afterwards, only if it is still
# the one it created); if a syslog daemon is running, its auth log file is read instead.
# PJ_LOG_MODE: own | authlog | none.

PJ_LOG_MODE=none
pj_syslog_start() {
	PJ_LOG=$PJ_TMP/syslog.txt
	: >"$PJ_LOG"
	if [ ! -e /dev/log ] && [ ! -L /dev/log ]; then
		"$PJ_PY" "$PJ_HELPERS/syslog_listener.py" /dev/log "$PJ_LOG" "$PJ_TMP/syslog.ready" &
		local pid=$! i
		pj_defer kill "$pid"
		for i in $(seq 1 200); do
			[ -s "$PJ_TMP/syslog.ready" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if [ -s "$PJ_TMP/syslog.ready" ]; then
			PJ_LOG_MODE=own
			return 0
		fi
		return 1
	fi
	local f
	for f in /var/log/auth.log /var/log/secure; do
		if [ -f "$f" ] && [ -S /dev/log ]; then
			PJ_LOG_SRC=$f
			PJ_LOG_OFFSET=$(stat -c %s "$f")
			PJ_LOG_MODE=authlog
			return 0
		fi
	done
	return 1
}

# pj_log_sync: make sure every message sent before now has been written
pj_log_sync() {
	[ "$PJ_LOG_MODE" = none ] && return 1
	local mark="pamjwt-test-mark-$$-$RANDOM$RANDOM" i
	logger -p authpriv.info -t pamjwt-test -u /dev/log -- "$mark" 2>/dev/null || return 1
	for i in $(seq 1 100); do
		pj_log_text | grep -qF -- "$mark" && return 0
		sleep 0.05
	done
	return 1
}

# pj_log_text: everything logged since pj_syslog_start
pj_log_text() {
	case $PJ_LOG_MODE in
	own) cat -- "$PJ_LOG" ;;
	authlog) tail -c +"$((PJ_LOG_OFFSET + 1))" -- "$PJ_LOG_SRC" ;;
	*) return 1 ;;
	esac
}

# pj_log_mark / pj_log_new: the log lines written after the last pj_log_mark
pj_log_mark() {
	pj_log_sync || return 1
	PJ_LOG_MARK=$(pj_log_text | wc -l)
}
pj_log_new() {
	pj_log_sync || return 1
	pj_log_text | tail -n +"$((${PJ_LOG_MARK:-0} + 1))"
}

# pj_log_has FIXED_STRING...: every string occurs on one and the same log line
pj_log_has() {
	pj_log_sync || return 1
	local lines
	lines=$(pj_log_text) || return 1
	local s
	for s in "$@"; do
		lines=$(printf '%s\n' "$lines" | grep -F -- "$s") || return 1
	done
	[ -n "$lines" ]
}

# pj_log_lacks FIXED_STRING: the string occurs nowhere in the log
pj_log_lacks() {
	pj_log_sync || return 1
	! pj_log_text | grep -qF -- "$1"
}

# --- reasons --------------------------------------------------------------------------

# pj_verify_reason CONFIG USER TOKENFILE: the text after "refused: " that pam-jwtctl
# verify prints for the token (the module logs the same reason); notices before it, such
# as the one about an early refetch of the issuer's keys, are passed over
pj_verify_reason() {
	local out
	out=$("$PJ_CTL" verify -c "$1" -u "$2" - <"$3" 2>&1 | grep -m1 '^refused: ')
	[ -n "$out" ] || return 1
	printf '%s\n' "${out#refused: }"
}

# pj_log_has_reason PREFIX REASON: a log line with PREFIX and the refusal REASON as
# pam-jwtctl verify printed it. Numbers in the reason text ("expired 6300 s ago") may
# differ by the second between the two runs: the part before the first digit and the
# "(jti=…, kid=…)" labels must match exactly.
pj_log_has_reason() {
	local prefix=$1 reason=$2 main labels head
	main=${reason%% (jti=*}
	labels=${reason#"$main"}
	head=$(printf '%s' "$main" | sed 's/[0-9].*//; s/ *$//')
	if [ -n "$labels" ]; then
		pj_log_has "$prefix" ": $head" "$labels"
	else
		pj_log_has "$prefix" ": $head"
	fi
}

# --- private service names for sshd and sudo ------------------------------------------
#
# sshd and sudo use the PAM services "sshd" and "sudo" by default. The suites never edit
# those files, nor any other existing file in /etc/pam.d or /etc/sudoers.d, and need no
# mount namespace (which cannot be made private inside a chroot). Instead the program is
# pointed at a service of its own, new and uniquely named:
# - sshd takes its PAM service name from its program name, so the suite runs it through
#   a symlink $PJ_TMP/pamjwt-sshd-PID -> /usr/sbin/sshd (pj_sshd_link);
# - sudo takes it from "Defaults pam_service=NAME", set for the test user only by a
#   sudoers drop-in /etc/sudoers.d/pamjwt-test-PID (pj_sudoers_dropin).
# Every file is created under a new name only (never replacing one it did not create),
# written atomically, and removed by the EXIT trap (also after SIGINT, SIGTERM, SIGHUP).

pj_own_pamd=" "
# pj_pamd_write NAME: write stdin to /etc/pam.d/NAME atomically (mode 0644). The first
# write for a NAME creates the file and fails if it already exists; later writes replace
# the file this run created. Both are removed at exit.
pj_pamd_write() {
	local name=$1
	local f=/etc/pam.d/$name tmp=/etc/pam.d/.$name.pamjwt-tmp
	case $name in '' | .* | */*) return 1 ;; esac
	rm -f -- "$tmp"
	if [[ $pj_own_pamd != *" $name "* ]]; then
		if [ -e "$f" ] || [ -L "$f" ]; then
			echo "# $f already exists" >&2
			return 1
		fi
		pj_defer rm -f -- "$tmp"
		pj_defer rm -f -- "$f"
		pj_own_pamd+="$name "
		(set -o noclobber; umask 022; cat >"$tmp") || { rm -f -- "$tmp"; return 1; }
		# link(2) never replaces an existing file
		ln -T -- "$tmp" "$f" || { rm -f -- "$tmp"; return 1; }
		rm -f -- "$tmp"
	else
		(set -o noclobber; umask 022; cat >"$tmp") || { rm -f -- "$tmp"; return 1; }
		mv -fT -- "$tmp" "$f"
	fi
}

# pj_sshd_link NAME: PJ_SSHD, the absolute path $PJ_TMP/NAME of a symlink to
# /usr/sbin/sshd; an sshd started by that path uses the PAM service NAME
# (SSHD_PAM_SERVICE is __progname, and the re-exec keeps argv[0])
pj_sshd_link() {
	case $PJ_TMP in /*) ;; *) return 1 ;; esac
	PJ_SSHD=$PJ_TMP/$1
	ln -s /usr/sbin/sshd "$PJ_SSHD"
}

# pj_sudoers_dropin NAME: install stdin as /etc/sudoers.d/NAME (root, 0440). The text is
# written under a name sudo ignores (it contains a dot), checked with visudo -cf, and
# only then linked in under NAME, which must not exist; removed at exit.
pj_sudoers_dropin() {
	local f=/etc/sudoers.d/$1 tmp=/etc/sudoers.d/.$1.pamjwt-tmp
	case $1 in '' | .* | */* | *.* | *~) return 1 ;; esac
	[ -d /etc/sudoers.d ] || return 1
	if [ -e "$f" ] || [ -L "$f" ]; then
		echo "# $f already exists" >&2
		return 1
	fi
	pj_defer rm -f -- "$tmp"
	pj_defer rm -f -- "$f"
	rm -f -- "$tmp"
	(set -o noclobber; umask 0337; cat >"$tmp") || { rm -f -- "$tmp"; return 1; }
	if ! chown 0:0 "$tmp" || ! chmod 0440 "$tmp" || ! visudo -c -q -f "$tmp"; then
		echo "# the sudoers drop-in does not pass visudo -cf:" >&2
		visudo -c -f "$tmp" 2>&1 | sed 's/^/#   /' >&2
		rm -f -- "$tmp"
		return 1
	fi
	ln -T -- "$tmp" "$f" || { rm -f -- "$tmp"; return 1; }
	rm -f -- "$tmp"
}

# pj_dir_state DIR: names, modes, sizes and mtimes of DIR's entries (to compare later)
pj_dir_state() {
	find "$1" -mindepth 1 -maxdepth 1 -printf '%f %U:%G %m %s %T@\n' 2>/dev/null | sort
}

# pj_pam_probe: PJ_PROBE, a script for "pam_exec.so seteuid quiet $PJ_PROBE" that appends
# "SERVICE TYPE USER" to $PJ_PROBE_LOG each time a stack runs it
pj_pam_probe() {
	PJ_PROBE=$PJ_TMP/pam-probe
	PJ_PROBE_LOG=$PJ_TMP/pam-probe.log
	: >"$PJ_PROBE_LOG"
	printf '#!/bin/sh\necho "$PAM_SERVICE $PAM_TYPE $PAM_USER" >>%q\n' "$PJ_PROBE_LOG" >"$PJ_PROBE"
	chmod 0700 "$PJ_PROBE"
}

# --- Redis ------------------------------------------------------------------------

# pj_redis_start NAME [redis-server options...]: a redis-server of this suite's own (no
# persistence, in the background, killed at exit) on the unix socket $PJ_TMP/NAME.sock
# unless the options give a port; its log is $PJ_TMP/NAME.log. Waits until it answers.
# PJ_REDIS_EXEC, an array, is a command prefix for redis-server (e.g. nsenter --net=...).
PJ_REDIS_EXEC=()
pj_redis_start() {
	local name=$1 pid i
	shift
	"${PJ_REDIS_EXEC[@]}" redis-server --save '' --appendonly no --daemonize no --port 0 \
		--unixsocket "$PJ_TMP/$name.sock" --unixsocketperm 700 \
		--dir "$PJ_TMP" --logfile "$PJ_TMP/$name.log" "$@" &
	pid=$!
	pj_defer kill -KILL "$pid"
	for ((i = 0; i < 100; i++)); do
		redis-cli -s "$PJ_TMP/$name.sock" --no-auth-warning ping 2>/dev/null | grep -q . &&
			return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# pj_mkca DIR NAME: a CA (P-256, two days) in DIR/NAME.crt and DIR/NAME.key
pj_mkca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=pamjwt test $2" -keyout "$1/$2.key" -out "$1/$2.crt" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1
}

# pj_mkcert DIR NAME CA SAN EKU: a certificate that CA signed for SAN (e.g.
# "DNS:localhost,IP:127.0.0.1") and EKU (serverAuth, clientAuth), in DIR/NAME.{crt,key}
pj_mkcert() {
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$4" "$5" >"$1/$2.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$1/$2.key" -out "$1/$2.csr" >/dev/null 2>&1 &&
		openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.crt" -CAkey "$1/$3.key" \
			-CAcreateserial -days 2 -extfile "$1/$2.ext" -out "$1/$2.crt" >/dev/null 2>&1
}
