"""Check a session store and the refresh chains that daemon_client.py chains logged, after
pam-jwtd was killed in the middle of the traffic (tests/integration/test_daemon.sh).

Usage: daemon_store.py STORE_DIR CHAIN_LOG...

Every record file must parse (the record syntax of core/store_record.h: "pam_jwt-store 1",
then "kind=KIND" matching the name, then key=value lines, each key once, no control
characters, numbers without leading zeros, a trailing newline, at most 4096 bytes; a
refresh family with exactly its fields, its current token a digest).

A refresh token is "pjr_" + base64url of 32 bytes; the first 16 name its family, whose
record is "r-<hex sha256(those 16 bytes)>" and keeps only the digest of the family's
current token and how often it rotated. Each chain is t0, t1, ..., tn, where t(k+1) is
what the daemon answered to t(k), all of one family opened with t0. Then:
- the family record is there, of the chain's session, and that session record too (no
  crash made a reuse);
- if the client was not waiting for an answer when the daemon died, tn is current and
  the family rotated n times (no rotation was lost or made twice);
- if it was waiting (its answer lost to the crash), the rotation either did not happen
  (tn current, n rotations: the client can retry) or did entirely (the current token is
  one nobody received, n + 1 rotations; tn is spent).
The tokens t0..t(n-1) are spent whichever way: only the current one is kept.

Prints "PASS ..." / "FAIL ..." lines, then "RETRY CHAIN TOKEN" for each tn that must still
refresh, and "COMMITTED CHAIN TOKEN" for each tn whose rotation committed with its answer
lost (presenting it again is reuse).
"""
import base64
import hashlib
import os
import re
import sys

HEX64 = re.compile(r"^[0-9a-f]{64}$")
KINDS = {"s": "session", "r": "refresh-family", "j": "revoked-jti", "u": "used-jti", "l": "lock",
         "i": "index"}
REFRESH_FIELDS = ["session", "user", "uid", "created", "expires", "current", "rotations",
                  "window_start", "window_count"]
NUMERIC = {"uid", "pid", "created", "expires", "idle", "last_seen", "leader_start", "tokens",
           "exp", "until", "n", "rotations", "window_start", "window_count"}


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def family_of(token):
    raw = base64.urlsafe_b64decode(token[4:] + "=")
    return hashlib.sha256(raw[:16]).hexdigest()


def parse_record(name, data):
    """(kind, dict of fields) or raise ValueError."""
    if len(data) > 4096 and not name.startswith("i-"):
        raise ValueError("longer than 4096 bytes")
    text = data.decode("utf-8")
    if not text.endswith("\n"):
        raise ValueError("no trailing newline")
    lines = text[:-1].split("\n")
    if lines[0] != "pam_jwt-store 1":
        raise ValueError("bad header %r" % lines[0][:40])
    if len(lines) < 2 or not lines[1].startswith("kind="):
        raise ValueError("no kind line")
    kind = lines[1][5:]
    fields = {}
    for line in lines[2:]:
        if len(line) > 512:
            raise ValueError("line longer than 512 bytes")
        key, eq, value = line.partition("=")
        if not eq or not key:
            raise ValueError("line without key=value: %r" % line[:40])
        if any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in value):
            raise ValueError("control character in %s" % key)
        if key == "s" and kind == "index":
            if not HEX64.match(value):
                raise ValueError("index entry is not a digest")
            continue
        if key in fields:
            raise ValueError("key %s twice" % key)
        if key in NUMERIC and not re.match(r"^(0|[1-9][0-9]*)$", value):
            raise ValueError("%s=%r is no unsigned decimal" % (key, value))
        fields[key] = value
    prefix = name[0]
    if name == "c-total":
        want = "counter"
    elif name == "c-intent":
        want = "intent"
    else:
        want = KINDS.get(prefix)
        if want is None or not HEX64.match(name[2:]) or name[1] != "-":
            raise ValueError("unexpected record name")
    if kind != want:
        raise ValueError("kind %s in a %s record" % (kind, want))
    if kind == "refresh-family":
        if sorted(fields) != sorted(REFRESH_FIELDS):
            raise ValueError("refresh fields %s" % ",".join(sorted(fields)))
        if not HEX64.match(fields["session"]) or not HEX64.match(fields["current"]):
            raise ValueError("refresh session/current is no digest")
    if kind == "session" and fields.get("family"):
        fams = fields["family"].split(",")
        if len(fams) > 3 or len(set(fams)) != len(fams) or not all(HEX64.match(f) for f in fams):
            raise ValueError("session family list malformed")
    return kind, fields


def read_chains(paths):
    chains = {}  # name -> {"tokens": [...], "inflight": bool, "errors": [...]}
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                what = parts[0]
                if what in ("SENT", "OK", "ERR", "LOST"):
                    c = chains.setdefault(parts[1], {"tokens": [], "inflight": False,
                                                     "errors": []})
                if what == "SENT":
                    if not c["tokens"]:
                        c["tokens"].append(parts[2])
                    elif c["tokens"][-1] != parts[2]:
                        c["errors"].append("sent a token that is not the newest")
                    c["inflight"] = True
                elif what == "OK":
                    c["tokens"].append(parts[2])
                    c["inflight"] = False
                elif what == "ERR":
                    c["errors"].append("daemon refused: %s" % parts[2])
                    c["inflight"] = False
                elif what == "LOST":
                    c["inflight"] = True
    return chains


def main():
    store, logs = sys.argv[1], sys.argv[2:]
    fails = 0

    def fail(msg):
        nonlocal fails
        fails += 1
        print("FAIL %s" % msg)

    records = {}
    bad = []
    leftovers = []
    for name in sorted(os.listdir(store)):
        if name == ".lock":
            continue
        if name.startswith(".tmp."):
            leftovers.append(name)
            continue
        with open(os.path.join(store, name), "rb") as f:
            data = f.read()
        try:
            records[name] = parse_record(name, data)
        except (ValueError, UnicodeDecodeError) as e:
            bad.append("%s: %s" % (name, e))
    if bad:
        fail("%d record(s) do not parse: %s" % (len(bad), "; ".join(bad[:5])))
    else:
        print("PASS all %d record files parse (%d refresh families, %d sessions; %d writer temp "
              "file(s) left by the crash)" % (
                  len(records), sum(k == "refresh-family" for k, _ in records.values()),
                  sum(k == "session" for k, _ in records.values()), len(leftovers)))

    chains = read_chains(logs)
    rotated = 0
    retry = []
    committed = []
    chain_fail = []
    for name in sorted(chains):
        c = chains[name]
        toks = c["tokens"]
        if c["errors"]:
            chain_fail.append("%s: %s" % (name, c["errors"][0]))
            continue
        if not toks:
            continue
        fam = family_of(toks[0])
        if any(family_of(t) != fam for t in toks):
            chain_fail.append("%s: a successor is of another family" % name)
            continue
        r = records.get("r-" + fam)
        if r is None or r[0] != "refresh-family":
            chain_fail.append("%s: its family record is gone" % name)
            continue
        r = r[1]
        session = r["session"]
        srec = records.get("s-" + session)
        if srec is None:
            chain_fail.append("%s: its session record is gone" % name)
            continue
        if fam not in srec[1].get("family", "").split(","):
            chain_fail.append("%s: its session does not name the family" % name)
            continue
        n = len(toks) - 1
        rotated += n
        rotations = int(r["rotations"])
        if r["current"] == digest(toks[-1]):
            if rotations != n:
                chain_fail.append("%s: newest token current after %d rotations, family "
                                  "says %d" % (name, n, rotations))
            else:
                retry.append((name, toks[-1]))
        elif any(r["current"] == digest(t) for t in toks[:-1]):
            chain_fail.append("%s: a spent token is current again" % name)
        elif not c["inflight"]:
            chain_fail.append("%s: newest token (answer received, never presented again) "
                              "is not current" % name)
        elif rotations != n + 1:
            chain_fail.append("%s: the lost rotation committed, but the family says %d "
                              "rotations (want %d)" % (name, rotations, n + 1))
        else:
            committed.append((name, toks[-1]))
    if chain_fail:
        for m in chain_fail[:10]:
            fail("chain %s" % m)
    else:
        inflight = sum(c["inflight"] for c in chains.values())
        print("PASS %d chains consistent: %d rotations counted by their families; newest "
              "token current in %d chains, rotation committed with the answer lost in %d "
              "(%d chains had a request in flight)" % (
                  len(chains), rotated, len(retry), len(committed), inflight))
    for name, tok in retry:
        print("RETRY %s %s" % (name, tok))
    for name, tok in committed:
        print("COMMITTED %s %s" % (name, tok))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
