#!/bin/bash
# Wycheproof json_web_signature_test.json through the CLI:
#     pam-jwtctl verify --jws-only --key FILE TOKEN
# with the JWK of each group (the public one when the group has one, else the private or
# secret one) written to a 0600 file in a private temporary directory. One TAP line per
# case. The expected verdict of each case is its label, flipped for the cases listed in
# the divergence table of tests/unit/test_wycheproof_jws.c (read from that file between its
# BEGIN/END JWS DIVERGENCES markers, and compared with the copy below), so the CLI and the
# core unit test must agree case by case.
#
# Exit codes (tests/INTERFACE.md): 0 accepted, 1 refused, 2 unavailable/bad config/usage.
# A refused token must exit 1; a key our policy refuses when it is loaded (no "alg", or
# the unregistered "ES521") makes the key unusable: exit 2. Anything else is a failure.
set -u
. "$(dirname "$0")/../lib.sh"

CTL=$BUILD_DIR/pam-jwtctl
VECTORS=${PAM_JWT_VECTORS:-$TOP/../shared/vectors}

run_driver() {
	CTL=$CTL VECTORS=$VECTORS UNIT_TEST=$TOP/tests/unit/test_wycheproof_jws.c \
		"$PYTHON" - <<'PY'
import json, os, re, shutil, subprocess, sys, tempfile

CTL = os.environ["CTL"]
VECTORS = os.environ["VECTORS"]
UNIT_TEST = os.environ["UNIT_TEST"]

def line(ok, desc):
    print(("PASS " if ok else "FAIL ") + desc.replace("\n", " "), flush=True)

# Our copy of the divergence table: tcId -> our verdict (1 accepted, 0 refused).
# Reasons are in tests/unit/test_wycheproof_jws.c.
DIVERGENCES = {
    346: 0,  # token alg PS384, JWK alg PS256: alg pinned by the key
    347: 0,  # JWK alg "ES521" (unregistered): key refused
    350: 0,  # as 346 (key_ops ["verify"])
    351: 0,  # as 347 (key_ops ["verify"])
    367: 1,  # labelled invalid, byte-identical to valid tcId 357
    370: 1,  # labelled invalid, byte-identical to valid tcId 357
    372: 0,  # '?' in the header segment: not base64url
    373: 0,  # '?' in the payload segment: not base64url
}
# Groups whose key is refused when loaded (our policy: every key carries exactly one
# registered alg): their cases must exit 2 (unavailable), not 1.
def key_refused_at_load(jwk):
    return jwk.get("alg") not in ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                                  "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                                  "EdDSA")

def main():
    path = os.path.join(VECTORS, "wycheproof/testvectors_v1/json_web_signature_test.json")
    try:
        doc = json.load(open(path))
    except OSError as e:
        line(False, "vector file %s: %s" % (path, e))
        return
    line(True, "vector file loaded: %d cases" % doc["numberOfTests"])

    try:
        src = open(UNIT_TEST).read()
        m = re.search(r"BEGIN JWS DIVERGENCES \*/(.*?)/\* END JWS DIVERGENCES", src, re.S)
        unit = {int(a): int(b) for a, b in re.findall(r"\{\s*(\d+),\s*([01]),", m.group(1))}
    except (OSError, AttributeError) as e:
        line(False, "cannot read the divergence table of %s: %s" % (UNIT_TEST, e))
        return
    line(unit == DIVERGENCES,
         "divergence table agrees with test_wycheproof_jws.c (%s)" % sorted(unit))

    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        line(False, "%s is not built" % CTL)
        return

    tmp = tempfile.mkdtemp(prefix="pam-jwt-wycheproof.")  # 0700, ours
    counts = {"valid_ok": 0, "valid": 0, "invalid_refused": 0, "invalid": 0, "div": []}
    n = 0
    try:
        for gi, group in enumerate(doc["testGroups"]):
            jwk = group.get("public", group.get("private"))
            keyfile = os.path.join(tmp, "group%02d.jwk" % gi)
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(jwk, f)
            refused_at_load = key_refused_at_load(jwk)
            for t in group["tests"]:
                n += 1
                tcid, label = t["tcId"], t["result"]
                want = (label == "valid")
                if tcid in DIVERGENCES:
                    want = bool(DIVERGENCES[tcid])
                desc = "tcId %d %s (%s, group %d)" % (tcid, t["comment"], label, gi)
                try:
                    p = subprocess.run([CTL, "verify", "--jws-only", "--key", keyfile, t["jws"]],
                                       stdin=subprocess.DEVNULL, capture_output=True,
                                       timeout=60)
                except subprocess.TimeoutExpired:
                    line(False, desc + ": timed out")
                    continue
                out = p.stdout.decode("utf-8", "replace").strip()
                first = out.splitlines()[0] if out else ""
                rc = p.returncode
                accepted = rc == 0
                if label == "valid":
                    counts["valid"] += 1
                    counts["valid_ok"] += accepted
                else:
                    counts["invalid"] += 1
                    counts["invalid_refused"] += not accepted
                if accepted != (label == "valid"):
                    counts["div"].append(tcid)
                if want:
                    good = rc == 0 and first.startswith("accepted")
                    expect = "exit 0, accepted"
                elif refused_at_load:
                    good = rc == 2 and first.startswith("unavailable")
                    expect = "exit 2, unavailable (key refused)"
                else:
                    good = rc == 1 and first.startswith("refused")
                    expect = "exit 1, refused"
                got = "exit %d: %s" % (rc, first[:100] or p.stderr.decode("utf-8", "replace").strip()[:100])
                line(good, desc + ": " + (got if good else "want %s, got %s" % (expect, got)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    line(n == doc["numberOfTests"], "ran %d of %d cases" % (n, doc["numberOfTests"]))
    line(sorted(counts["div"]) == sorted(DIVERGENCES),
         "valid accepted %d/%d, invalid refused %d/%d, divergences %s" %
         (counts["valid_ok"], counts["valid"], counts["invalid_refused"], counts["invalid"],
          sorted(counts["div"])))

main()
PY
}

while IFS= read -r l; do
	case $l in
	PASS\ *) ok "${l#PASS }" ;;
	FAIL\ *) not_ok "${l#FAIL }" ;;
	END\ 0) ;;
	END\ *) not_ok "the driver exited with status ${l#END }" ;;
	*) echo "# $l" ;;
	esac
done < <(run_driver 2>&1; echo "END $?")
done_testing
