"""Check a session store and the refresh chains that daemon_client.py chains logged, after
pam-jwtd was killed in the middle of the traffic (tests/integration/test_daemon.sh).

Usage: daemon_store.py STORE_DIR CHAIN_LOG...

Every record file must parse (the record syntax of core/store.h: "pam_jwt-store 1", then
"kind=KIND" matching the name, then key=value lines, each key once, no control characters,
numbers without leading zeros, a trailing newline, at most 4096 bytes; refresh records
with exactly their fields, used=1 exactly when next is set).

Each chain is t0, t1, ..., tn, where t(k+1) is what the daemon answered to t(k). Then:
- every token the client saw rotated (t0..t(n-1)) is recorded as used, with next = the
  digest of its successor: a token used once never becomes unused again;
- the newest token tn, if the client was not waiting for its answer when the daemon died,
  is recorded unused;
- if the client was waiting (its answer lost to the crash), the rotation either did not
  happen (tn unused: the client can retry) or did entirely (tn used, and next names an
  unused record of the same session and user: the successor that nobody received);
- the chain's session record is still there (no crash made a reuse).

Prints "PASS ..." / "FAIL ..." lines, then "RETRY CHAIN TOKEN" for each tn that must still
refresh, and "COMMITTED CHAIN TOKEN" for each tn whose rotation committed with its answer
lost (presenting it again is reuse).
"""
import hashlib
import os
import re
import sys

HEX64 = re.compile(r"^[0-9a-f]{64}$")
KINDS = {"s": "session", "r": "refresh", "j": "revoked-jti", "u": "used-jti", "l": "lock",
         "i": "index"}
REFRESH_FIELDS = ["session", "user", "uid", "created", "expires", "used", "next"]
NUMERIC = {"uid", "pid", "created", "expires", "idle", "last_seen", "leader_start", "tokens",
           "used", "exp", "until", "n"}


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


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
    if kind == "refresh":
        if sorted(fields) != sorted(REFRESH_FIELDS):
            raise ValueError("refresh fields %s" % ",".join(sorted(fields)))
        if not HEX64.match(fields["session"]) or fields["used"] not in ("0", "1"):
            raise ValueError("refresh session/used malformed")
        if (fields["used"] == "1") != bool(fields["next"]):
            raise ValueError("used and next disagree")
        if fields["next"] and not HEX64.match(fields["next"]):
            raise ValueError("next is no digest")
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
        print("PASS all %d record files parse (%d refresh, %d session; %d writer temp "
              "file(s) left by the crash)" % (
                  len(records), sum(k == "refresh" for k, _ in records.values()),
                  sum(k == "session" for k, _ in records.values()), len(leftovers)))

    def rec(tok):
        r = records.get("r-" + digest(tok))
        return r[1] if r else None

    chains = read_chains(logs)
    rotated = used_ok = 0
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
        first = rec(toks[0])
        session = first["session"] if first else None
        if session is None or ("s-" + session) not in records:
            chain_fail.append("%s: its session record is gone" % name)
            continue
        for k in range(len(toks) - 1):
            rotated += 1
            r = rec(toks[k])
            if r is None:
                chain_fail.append("%s: token %d has no record" % (name, k))
                break
            if r["used"] != "1" or r["next"] != digest(toks[k + 1]) or r["session"] != session:
                chain_fail.append("%s: rotated token %d recorded used=%s next=%s" % (
                    name, k, r["used"], r["next"][:12]))
                break
            used_ok += 1
        else:
            last = rec(toks[-1])
            if last is None:
                chain_fail.append("%s: newest token has no record" % name)
            elif last["session"] != session:
                chain_fail.append("%s: newest token belongs to another session" % name)
            elif last["used"] == "0":
                retry.append((name, toks[-1]))
            elif not c["inflight"]:
                chain_fail.append("%s: newest token (answer received, never presented "
                                  "again) is recorded used" % name)
            else:
                succ = records.get("r-" + last["next"])
                if (succ is None or succ[0] != "refresh" or succ[1]["used"] != "0" or
                        succ[1]["session"] != session or succ[1]["user"] != last["user"]):
                    chain_fail.append("%s: the lost rotation's successor is not an unused "
                                      "token of the same session" % name)
                else:
                    committed.append((name, toks[-1]))
    if chain_fail:
        for m in chain_fail[:10]:
            fail("chain %s" % m)
    else:
        inflight = sum(c["inflight"] for c in chains.values())
        print("PASS %d chains consistent: %d rotated tokens recorded used with the right "
              "successor; newest token unused in %d chains, rotation committed with the "
              "answer lost in %d (%d chains had a request in flight)" % (
                  len(chains), used_ok, len(retry), len(committed), inflight))
    for name, tok in retry:
        print("RETRY %s %s" % (name, tok))
    for name, tok in committed:
        print("COMMITTED %s %s" % (name, tok))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
