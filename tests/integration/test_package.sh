#!/bin/bash
# The Debian package (root): VERSION, debian/changelog, --version and the manual pages
# agree; dpkg-buildpackage builds it from a copy of this tree; lintian finds no error and
# no warning; it holds what "make install" installs, stripped, with its -dbgsym; and, in a
# fresh Debian 12 root (../shared/tools/fresh-root.sh: the cached debootstrap root that
# in-fresh-root.sh uses), apt installs it, "pam-auth-update --enable jwt" wires it into
# common-*, a user logs in with a token through pamtester, and removing the package gives
# back the PAM files as they were. The package is built here, not in the root: building
# there would first download the whole toolchain. Only the temporary directory, the root
# and its mounts are made, and all of them are removed on exit.
set -u
source "$(dirname "$0")/../lib.sh"

V=$(cat "$TOP/VERSION")
# dpkg-parsechangelog would do, but this needs only sed: "pam-jwt (VERSION) ..."
CHV=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$TOP/debian/changelog")
check_rc "debian/changelog has VERSION ($V)" 0 test "$CHV" = "$V"
check "pam-jwtctl --version says $V" \
	test "$("$BUILD_DIR/pam-jwtctl" --version 2>&1)" = "pam-jwtctl $V"
check "pam-jwtd --version says $V" \
	test "$("$BUILD_DIR/pam-jwtd" --version 2>&1)" = "pam-jwtd $V"

if [ "$(id -u)" != 0 ]; then
	skip "test_package needs root (chroot, mounts)"
	done_testing
	exit
fi
FRESH_ROOT=${FRESH_ROOT:-$TOP/../shared/tools/fresh-root.sh}
missing=""
for c in dpkg-buildpackage dh lintian debootstrap readelf; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
[ -x "$FRESH_ROOT" ] || missing="$missing $FRESH_ROOT"
if [ -n "$missing" ]; then
	skip "test_package needs:$missing (scripts/install-deps)"
	done_testing
	exit
fi

T=$(mktemp -d /var/tmp/pamjwt-pkg.XXXXXX) || exit 1
R=""
cleanup() {
	if [ -n "$R" ]; then
		local p m
		# processes left in the root by this test (an apt hook, a daemon): theirs only
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null
		done
		awk -v r="$R" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts |
			sort -r | while read -r m; do umount -l "$m"; done
		rm -rf --one-file-system "$R"
	fi
	rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- build ----------------------------------------------------------------------------
# A copy without build trees: dpkg-buildpackage cleans and builds in place.
mkdir "$T/src"
tar -C "$TOP" --exclude=./build --exclude=./build-asan --exclude=./build-fuzz \
	--exclude=./.git -cf - . | tar -C "$T/src" -xf -
if (cd "$T/src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
	>"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	not_ok "dpkg-buildpackage -us -uc -b"
	tail -30 "$T/build.log" | sed 's/^/#   /'
	done_testing
	exit
fi
DEB=$T/libpam-jwt_${V}_$(dpkg --print-architecture).deb
DBG=$T/libpam-jwt-dbgsym_${V}_$(dpkg --print-architecture).deb
check "the package is libpam-jwt $V" test -f "$DEB"
check "with its debug symbols in libpam-jwt-dbgsym" test -f "$DBG"

if lintian --fail-on error,warning "$T"/pam-jwt_"${V}"_*.changes >"$T/lintian.out" 2>&1; then
	ok "lintian: no error, no warning"
else
	not_ok "lintian: no error, no warning"
fi
grep -v 'running with root privileges' "$T/lintian.out" | sed 's/^/#   lintian: /'

# The package's files are those of make install (man pages compressed by dh_compress).
(cd "$T/src" && make --no-print-directory install DESTDIR="$T/mi" PREFIX=/usr) >/dev/null 2>&1
(cd "$T/mi" && find . ! -type d | sort) >"$T/make-install.list"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | grep -v '^\./usr/share/doc/' |
	sed 's/\.gz$//' | sort >"$T/package.list"
if diff "$T/make-install.list" "$T/package.list" >"$T/list.diff"; then
	ok "the package installs the files make install does"
else
	not_ok "the package installs the files make install does"
	sed 's/^/#   /' "$T/list.diff"
fi
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
for f in "./lib/$MA/security/pam_jwt.so" ./usr/bin/pam-jwtctl ./usr/sbin/pam-jwtd \
	./usr/share/pam-configs/jwt ./lib/systemd/system/pam-jwtd.service \
	./lib/systemd/system/pam-jwt-restore.service ./usr/lib/tmpfiles.d/pam_jwt.conf \
	./usr/share/doc/libpam-jwt/copyright ./usr/share/doc/libpam-jwt/changelog.gz \
	./usr/share/man/man8/pam_jwt.8.gz ./usr/share/man/man1/pam-jwtctl.1.gz; do
	check "the package has $f" grep -qxF "$f" <(dpkg-deb -c "$DEB" | awk '{print $6}')
done
check "/etc/security/pam_jwt.conf is a conffile" \
	eval 'dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles | grep -qx /etc/security/pam_jwt.conf'
dpkg-deb -x "$DEB" "$T/x"
for f in "lib/$MA/security/pam_jwt.so" usr/bin/pam-jwtctl usr/sbin/pam-jwtd; do
	check_fails "$f is stripped" eval 'readelf -S --wide "$T/x/$f" | grep -q "\.symtab"'
done
for m in "$T"/x/usr/share/man/man*/*.gz; do
	check "$(basename "$m") shows version $V" \
		eval 'zcat "$m" | grep -q "^\.TH .* \"pam_jwt $V\" "'
done

# --- a fresh Debian 12 root -----------------------------------------------------------
R=$("$FRESH_ROOT") || { R=""; not_ok "a fresh Debian 12 root ($FRESH_ROOT)"; done_testing; exit; }
mount -t proc proc "$R/proc" && mount --bind /dev "$R/dev" && mount --bind /dev/pts "$R/dev/pts" &&
	mount -t tmpfs -o mode=0755 tmpfs "$R/run" ||
	{ not_ok "mount /proc, /dev and /run in the root"; done_testing; exit; }
# in_root CMD...: CMD in the root as root, with a clean environment
in_root() {
	chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
mkdir "$T/before"
cp -p "$R"/etc/pam.d/common-* "$T/before/"
cp "$DEB" "$R/tmp/"
if in_root sh -c "apt-get update && apt-get install -y /tmp/$(basename "$DEB") pamtester" \
	>"$T/apt.log" 2>&1; then
	ok "apt-get install ./$(basename "$DEB") in the fresh root"
else
	not_ok "apt-get install ./$(basename "$DEB") in the fresh root"
	tail -20 "$T/apt.log" | sed 's/^/#   /'
	done_testing
	exit
fi
check "installing it changes no PAM file (Default: no)" \
	eval 'for f in "$T"/before/*; do cmp -s "$f" "$R/etc/pam.d/${f##*/}" || exit 1; done'
check "the store /run/pam_jwt is made by tmpfiles.d (0700)" \
	test "$(stat -c %a "$R/run/pam_jwt" 2>/dev/null)" = 700
check "the units are installed, pam-jwt-restore enabled" \
	test -L "$R/etc/systemd/system/multi-user.target.wants/pam-jwt-restore.service"
check_fails "pam-jwtd is not enabled" \
	test -e "$R/etc/systemd/system/multi-user.target.wants/pam-jwtd.service"

# An administrator's setup: a key, issuer and audience, a user; then the profile.
in_root useradd -m -s /bin/sh alice
check "a user finds pam-jwtctl on their PATH (/usr/bin)" \
	test "$(in_root runuser -u alice -- sh -c 'PATH=/usr/local/bin:/usr/bin:/bin; command -v pam-jwtctl')" \
	= /usr/bin/pam-jwtctl
check "a user runs pam-jwtctl --version" \
	test "$(in_root runuser -u alice -- /usr/bin/pam-jwtctl --version)" = "pam-jwtctl $V"
mkdir -m 0700 "$R/etc/security/pam_jwt"
in_root pam-jwtctl keygen --alg ES256 --kid pkgtest --out /etc/security/pam_jwt >/dev/null
cat >>"$R/etc/security/pam_jwt.conf" <<EOF
issuer = https://idp.pamjwt.test
audience = pkgtest
jwks = /etc/security/pam_jwt/pkgtest.jwks
announce_session = yes
EOF
mint() { # mint USER: a token on stdout
	in_root pam-jwtctl issue --key /etc/security/pam_jwt/pkgtest.key --kid pkgtest -u "$1" \
		--iss https://idp.pamjwt.test --aud pkgtest --ttl 5m
}
mint alice >"$R/tmp/alice.tok"
mint root >"$R/tmp/root.tok"
check "pam-jwtctl verify accepts alice's token" \
	eval 'in_root pam-jwtctl verify -u alice </"$R/tmp/alice.tok" >/dev/null'

check "pam-auth-update --enable jwt" eval 'in_root pam-auth-update --enable jwt >/dev/null 2>&1'
check "common-auth: pam_jwt.so ignore_non_jwt before pam_unix.so" \
	awk '/^auth.*pam_jwt\.so ignore_non_jwt/ { j = NR } /^auth.*pam_unix\.so/ { u = NR }
		END { exit !(j && u && j < u) }' "$R/etc/pam.d/common-auth"
check "common-account has pam_jwt.so" grep -qE '^account[[:space:]]+required[[:space:]]+pam_jwt\.so' \
	"$R/etc/pam.d/common-account"
check "common-session has pam_jwt.so" grep -qE '^session[[:space:]]+required[[:space:]]+pam_jwt\.so' \
	"$R/etc/pam.d/common-session"
check_fails "common-session-noninteractive has not" grep -q pam_jwt \
	"$R/etc/pam.d/common-session-noninteractive"

# A service made of the common files only, in the root's own /etc/pam.d.
printf '@include common-auth\n@include common-account\n@include common-session\n' \
	>"$R/etc/pam.d/pjpkgtest"
# pt USER INPUT OPS...: pamtester in the root, INPUT (a file in the root) on its stdin
pt() {
	local user=$1 input=$2
	shift 2
	in_root pamtester -v pjpkgtest "$user" "$@" <"$R$input" >"$T/pt.out" 2>&1
}
check "alice logs in with her token (auth, account, session)" \
	pt alice /tmp/alice.tok authenticate acct_mgmt open_session
check "the login is a session in the store" \
	eval 'in_root pam-jwtctl sessions -u alice | grep -q pjpkgtest'
# common-auth is sudo's too: the profile takes no session ID there (accept=jwt).
grep -o 'pjs_[A-Za-z0-9_-]*' "$T/pt.out" | head -1 >"$R/tmp/sid"
check "the login announced its session ID" grep -q '^pjs_' "$R/tmp/sid"
check_fails "that session ID does not log in through common-auth" pt alice /tmp/sid authenticate
check_fails "alice's token does not log root in" pt root /tmp/alice.tok authenticate
sed 's/\(.\)$/\1x/' "$R/tmp/alice.tok" >"$R/tmp/bad.tok"
check_fails "a tampered token is refused" pt alice /tmp/bad.tok authenticate
echo 'alice:pkg-Test-pw1' | in_root chpasswd
echo pkg-Test-pw1 >"$R/tmp/pw"
check "a password still logs alice in through pam_unix" pt alice /tmp/pw authenticate acct_mgmt
echo wrong-pw >"$R/tmp/pw"
check_fails "a wrong password is refused" pt alice /tmp/pw authenticate

# --- remove and purge -----------------------------------------------------------------
check "apt-get remove libpam-jwt" eval 'in_root apt-get remove -y libpam-jwt >"$T/rm.log" 2>&1'
for f in "$T"/before/*; do
	check "after removal, ${f##*/} is as before" cmp -s "$f" "$R/etc/pam.d/${f##*/}"
done
check_fails "the module is gone" test -e "$R/lib/$MA/security/pam_jwt.so"
check "the configuration stays until purge" test -f "$R/etc/security/pam_jwt.conf"
check "apt-get purge libpam-jwt" eval 'in_root apt-get purge -y libpam-jwt >>"$T/rm.log" 2>&1'
check_fails "purge removes the configuration" test -e "$R/etc/security/pam_jwt.conf"
check_fails "purge removes /var/lib/pam_jwt" test -e "$R/var/lib/pam_jwt"
done_testing
