"""Clients of pam-jwtd for tests/integration/test_daemon.sh (AF_UNIX SOCK_SEQPACKET, one
JSON object per message, one answer per request; see core/proto.h).

Usage: daemon_client.py MODE SOCKET [ARGS...]

  call SOCK [--fresh]
      stdin: lines "LABEL REQUEST" (split at the first space); each REQUEST is sent as one message (on one
      connection, or a new connection per request with --fresh) and its answer printed as
      "LABEL ANSWER" (as received). A connection the daemon closed instead of
      answering prints "LABEL #closed" (and the next request reconnects). With
      --pipeline every request is sent before the first answer is read (one connection).
  open SOCK
      (root) stdin: session IDs, one a line. For each, asks {"op":"open"} with the ID's
      digest and prints the refresh token of the answer (or "#error REASON").
  fuzz SOCK SEED COUNT
      COUNT malformed, truncated, oversize and random requests made by a PRNG seeded with
      SEED, on one connection (reconnecting after the daemon closes it). Every answer must
      be {"ok":false,"error":...}, or the connection closed; after each oversize request
      and every 500 requests a ping on the same connection must still answer ok. Prints
      "# ..." statistics and "FAIL ..." lines; exits 1 on any failure.
  race SOCK
      stdin: refresh tokens, one a line, each of its own fresh session. Round i presents
      token i twice at the same instant: even rounds from two processes released by a
      barrier, odd rounds back-to-back on two connections of one process. Prints one line
      per round "i A B" (A, B: "ok" or the error) and "# ..." statistics.
  conns SOCK N SECONDS
      Opens N connections and pings on each, in order, printing "I ok" or "I closed"
      (flushed); then prints "HELD", keeps them open for SECONDS and exits.
  chains SOCK SECONDS
      stdin: "CHAIN TOKEN" lines. Refreshes every chain in turn, following the rotation,
      for up to SECONDS or until the daemon goes away; logs (flushed, line by line)
      "SENT CHAIN TOKEN", then "OK CHAIN NEWTOKEN" or "ERR CHAIN REASON"; a connection
      lost with the request in flight logs "LOST CHAIN"; the daemon gone at connect time
      logs "DOWN".
  rotate SOCK COUNT
      stdin: one refresh token. Refreshes it COUNT times in a row on one connection,
      each time presenting the token the previous answer gave, and stops at the first
      refusal. Prints "DONE N" (the rotations that succeeded), "TOKEN T" (the token to
      present next: the last one issued, or the input if none was) and, if it stopped
      early, "ERR REASON" (the daemon's error, or "#closed").
"""
import hashlib
import json
import multiprocessing
import os
import random
import select
import socket
import sys
import time

MAX_REQUEST = 8192


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_answer(s):
    """The answer message as bytes; None when the daemon closed the connection."""
    try:
        data = s.recv(1 << 17)
    except (ConnectionResetError, BrokenPipeError):
        return None
    if not data:
        return None
    return data


def ask(s, msg):
    """Send one message and read its answer: bytes, or None if the connection closed."""
    try:
        s.send(msg)
    except (BrokenPipeError, ConnectionResetError):
        return None
    return recv_answer(s)


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def mode_call(path, args):
    fresh = "--fresh" in args
    if "--pipeline" in args:
        s = connect(path)
        sent = []
        for line in sys.stdin.read().splitlines():
            if line.strip():
                label, _, req = line.partition(" ")
                s.send(req.encode())
                sent.append(label)
        for label in sent:
            ans = recv_answer(s)
            print("%s %s" % (label, "#closed" if ans is None else ans.decode(errors="replace")),
                  flush=True)
            if ans is None:
                break
        return 0
    s = None
    for line in sys.stdin.read().splitlines():
        if not line.strip():
            continue
        label, _, req = line.partition(" ")
        if s is None or fresh:
            if s is not None:
                s.close()
            s = connect(path)
        ans = ask(s, req.encode())
        if ans is None:
            print("%s #closed" % label, flush=True)
            s.close()
            s = None
            continue
        print("%s %s" % (label, ans.decode(errors="replace")), flush=True)
    return 0


def mode_open(path, _args):
    s = connect(path)
    for sid in sys.stdin.read().split():
        ans = ask(s, json.dumps({"op": "open", "session": digest(sid)}).encode())
        if ans is None:
            print("#error connection closed")
            s = connect(path)
            continue
        a = json.loads(ans)
        if a.get("ok") and str(a.get("refresh_token", "")).startswith("pjr_"):
            print(a["refresh_token"])
        else:
            print("#error %s" % a.get("error", "malformed answer"))
    return 0


# ---- fuzz ---------------------------------------------------------------------------

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def fuzz_cases(rng):
    """Requests that the daemon must refuse for an unprivileged caller (never ok:true)."""
    rnd_b64 = lambda n: "".join(rng.choice(B64) for _ in range(n))
    rnd_hex = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))
    # Templates that cannot succeed for this caller whatever their members: ops only root
    # may call, and credentials nobody issued. (ping, status and sessions are left out:
    # a mutation that keeps them valid would rightly be answered ok.)
    templates = [
        {"op": "open", "session": rnd_hex(64)},
        {"op": "open", "session": rnd_hex(64), "aud": "x"},
        {"op": "refresh", "refresh_token": "pjr_" + rnd_b64(43)},
        {"op": "token", "session_id": "pjs_" + rnd_b64(43)},
        {"op": "token", "session_id": "pjs_" + rnd_b64(43), "aud": "a"},
        {"op": "logout", "session_id": "pjs_" + rnd_b64(43)},
        {"op": "revoke", "session": rnd_hex(12)},
        {"op": "revoke", "user": "root"},
        {"op": "revoke", "jti": "j", "exp": 4102444800},
        {"op": "lock", "user": "root", "until": 0},
        {"op": "unlock", "user": "root"},
        {"op": "gc"},
        {"op": "reload"},
    ]
    t = rng.choice(templates)
    base = json.dumps(t, separators=(",", ":")).encode()
    kind = rng.randrange(16)
    if kind == 0:  # truncated
        return "truncated", base[: rng.randrange(1, len(base))]
    if kind == 1:  # random bytes
        return "random", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 2:  # byte flips
        b = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return "flipped", bytes(b)
    if kind == 3:  # oversize
        n = rng.choice([MAX_REQUEST + 1, MAX_REQUEST + 2, rng.randrange(MAX_REQUEST + 1, 60000)])
        pad = b'{"op":"ping","x":"' + b"A" * n + b'"}'
        return "oversize", pad[:n] if rng.random() < 0.5 else pad
    if kind == 4:  # unknown / duplicate members, wrong types
        d = dict(t)
        choice = rng.randrange(5)
        if choice == 0:
            d["zz" + rnd_b64(3)] = 1
            return "unknown-member", json.dumps(d).encode()
        if choice == 1:
            s = json.dumps(d)
            return "duplicate", (s[:-1] + ',"op":"ping"}').encode()
        if choice == 2:
            k = rng.choice(list(d))
            d[k] = rng.choice([1, -1, 1.5, None, True, [], {}, [d[k]], {"a": d[k]}])
            return "wrong-type", json.dumps(d).encode()
        if choice == 3:
            k = rng.choice(list(d))
            d[k] = rng.choice(["", "a" * 256, "a" * 5000, "\x01", "\x7f", "\u0085", "\x00"])
            return "bad-string", json.dumps(d).encode()
        d.pop("op")
        return "missing-op", json.dumps(d).encode()
    if kind == 8 and rng.random() < 0.5:  # an empty message: the daemon closes the connection
        return "empty", b""
    if kind == 5:  # not an object, trailing data, nesting, numbers
        return "shape", rng.choice([
            b"[]", b'"op"', b"null", b"1", b"{}", b"{",
            base + b"{}", base + b" x", base + b"\x00", b"\x00" + base,
            b"[" * 5000 + b"]" * 5000, b'{"op":' + b"[" * 3000 + b"]" * 3000 + b"}",
            b'{"op":"revoke","jti":"j","exp":99999999999999999999999999}',
            b'{"op":"revoke","jti":"j","exp":-1}', b'{"op":"revoke","jti":"j","exp":1e3}',
            b'{"op":"lock","user":"root","until":9223372036854775808}',
            b'{"op":"gc"}' * 3, b"\xef\xbb\xbf" + base, b'{"op":"pin\\u0000g"}',
            b'{"op":"\xff\xfe"}', b'{"op":"\xc0\xaf"}', b'{"op":"\xed\xa0\x80"}',
            b'{"op":"token","session_id":"pjs_' + b"A" * 42 + b'"}',
            b'{"op":"token","session_id":"pjs_' + b"A" * 44 + b'"}',
            b'{"op":"token","session_id":"pjs_' + b"A" * 42 + b'="}',
            b'{"op":"refresh","refresh_token":"pjs_' + b"A" * 43 + b'"}',
            b'{"op":"open","session":"' + b"A" * 64 + b'"}',
            b'{"op":"open","session":"' + b"a" * 63 + b'"}',
            b'{"op":"revoke","session":"abcdef1"}',
            b'{"op":"revoke","user":"root","jti":"j"}', b'{"op":"revoke","user":"x","exp":5}',
            b'{"op":"PING"}', b'{"op":"ping "}', b'{"op":""}', b'{"OP":"ping"}',
        ])
    if kind == 6:  # a NUL or control byte somewhere in a valid-looking message
        b = bytearray(base)
        b.insert(rng.randrange(len(b) + 1), rng.choice([0, 1, 10, 13, 27, 127]))
        return "control", bytes(b)
    if kind == 7:  # invalid UTF-8 inside a string
        s = base.decode()
        i = s.find('":"') + 3 if '":"' in s else 1
        bad = rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xbf\xbf",
                          b"\xf4\x90\x80\x80", b"\xc1\xbf"])
        return "utf8", s[:i].encode() + bad + s[i:].encode()
    # otherwise: a structurally valid request this caller may not make (or for an unknown
    # credential), with random whitespace
    ws = lambda: rng.choice(["", " ", "\n", "\t", "\r\n  "])
    items = [ws() + json.dumps(k) + ws() + ":" + ws() + json.dumps(v) + ws() for k, v in t.items()]
    return "valid-shape", ("{" + ",".join(items) + "}" + ws()).encode()


def mode_fuzz(path, args):
    seed, count = int(args[0]), int(args[1])
    rng = random.Random(seed)
    stats = {}
    fails = 0
    closed = {}
    errors = {}
    s = connect(path)
    ping = b'{"op":"ping"}'

    def check_ping(sock, why):
        nonlocal fails
        ans = ask(sock, ping)
        try:
            ok = ans is not None and json.loads(ans).get("ok") is True
        except ValueError:
            ok = False
        if not ok:
            fails += 1
            print("FAIL ping on the same connection after %s: %r" % (why, ans))
        return ok

    for i in range(count):
        kind, msg = fuzz_cases(rng)
        stats[kind] = stats.get(kind, 0) + 1
        try:
            s.send(msg)
            ans = recv_answer(s)
        except OSError as e:
            if not msg:
                ans = None
            else:
                fails += 1
                print("FAIL request %d (%s, %d bytes): %s" % (i, kind, len(msg), e))
                ans = None
        if ans is None:
            closed[kind] = closed.get(kind, 0) + 1
            s.close()
            s = connect(path)
            continue
        try:
            a = json.loads(ans)
            good = (isinstance(a, dict) and a.get("ok") is False and
                    isinstance(a.get("error"), str) and set(a) == {"ok", "error"})
        except ValueError:
            good = False
        if not good:
            fails += 1
            print("FAIL request %d (%s): %r answered %r" % (i, kind, msg[:120], ans[:200]))
            continue
        errors[a["error"]] = errors.get(a["error"], 0) + 1
        if kind == "oversize" and len(msg) > MAX_REQUEST and a["error"] != "request too large":
            fails += 1
            print("FAIL request %d: %d bytes answered %r, not \"request too large\"" %
                  (i, len(msg), a["error"]))
        if kind == "oversize" or i % 500 == 0:
            check_ping(s, "%s request %d" % (kind, i))
    print("# %d requests: %s" % (count, ", ".join("%s %d" % kv for kv in sorted(stats.items()))))
    print("# answers: %s" %
          "; ".join("%s: %d" % kv for kv in sorted(errors.items(), key=lambda kv: -kv[1])))
    print("# connections closed by the daemon instead of an answer: %s" %
          (", ".join("%s %d" % kv for kv in sorted(closed.items())) or "none"))
    return 1 if fails else 0


# ---- races --------------------------------------------------------------------------

def outcome(ans):
    if ans is None:
        return "closed"
    try:
        a = json.loads(ans)
    except ValueError:
        return "malformed"
    if a.get("ok") is True:
        return "ok" if str(a.get("refresh_token", "")).startswith("pjr_") else "ok-without-token"
    return str(a.get("error", "?")).replace(" ", "_")


def gate_pair():
    """A two-party start gate made of two pipes (no POSIX semaphores, so no /dev/shm):
    each side writes a byte to the other and waits for the other's byte."""
    r0, w0 = os.pipe()
    r1, w1 = os.pipe()
    return [(r0, w1), (r1, w0)]


def gate_wait(gate):
    mine, other = gate
    os.write(other, b"x")
    ready, _, _ = select.select([mine], [], [], 30)
    if not ready or os.read(mine, 1) != b"x":
        raise RuntimeError("the other racer did not come")


def race_worker(path, tokens, gate, conn):
    s = connect(path)
    out = []
    for i, tok in enumerate(tokens):
        if i % 2 == 1:
            out.append(None)
            continue
        msg = json.dumps({"op": "refresh", "refresh_token": tok}).encode()
        gate_wait(gate)
        out.append(outcome(ask(s, msg)))
    conn.send(out)
    conn.close()


def mode_race(path, _args):
    tokens = sys.stdin.read().split()
    ctx = multiprocessing.get_context("fork")
    gates = gate_pair()
    pipes = [ctx.Pipe(False) for _ in range(2)]
    procs = [ctx.Process(target=race_worker, args=(path, tokens, gates[k], pipes[k][1]))
             for k in range(2)]
    for p in procs:
        p.start()
    # odd rounds: two connections of this process, both sends before either answer is read
    a, b = connect(path), connect(path)
    local = {}
    for i, tok in enumerate(tokens):
        if i % 2 == 0:
            continue
        msg = json.dumps({"op": "refresh", "refresh_token": tok}).encode()
        a.send(msg)
        b.send(msg)
        local[i] = (outcome(recv_answer(a)), outcome(recv_answer(b)))
    res = [r.recv() for r, _ in pipes]
    for p in procs:
        p.join()
    both_ok = none_ok = 0
    for i in range(len(tokens)):
        x, y = local[i] if i % 2 else (res[0][i], res[1][i])
        both_ok += x == "ok" and y == "ok"
        none_ok += x != "ok" and y != "ok"
        print("%d %s %s" % (i, x, y))
    print("# %d rounds: both ok %d, neither ok %d" % (len(tokens), both_ok, none_ok))
    return 0


def mode_conns(path, args):
    n, seconds = int(args[0]), float(args[1])
    held = []
    for i in range(n):
        s = connect(path)
        held.append(s)
        try:
            ans = ask(s, b'{"op":"ping"}')
        except OSError:
            ans = None
        print("%d %s" % (i + 1, "ok" if ans and json.loads(ans).get("ok") is True else "closed"),
              flush=True)
    print("HELD", flush=True)
    time.sleep(seconds)
    for s in held:
        s.close()
    return 0


# ---- refresh chains -------------------------------------------------------------------

def mode_chains(path, args):
    seconds = float(args[0])
    chains = {}
    order = []
    for line in sys.stdin.read().splitlines():
        name, tok = line.split()
        chains[name] = tok
        order.append(name)
    log = sys.stdout
    end = time.monotonic() + seconds
    try:
        s = connect(path)
    except OSError:
        print("DOWN", flush=True)
        return 0
    while order and time.monotonic() < end:
        for name in list(order):
            tok = chains[name]
            print("SENT %s %s" % (name, tok), file=log, flush=True)
            try:
                ans = ask(s, json.dumps({"op": "refresh", "refresh_token": tok}).encode())
            except OSError:
                ans = None
            if ans is None:
                print("LOST %s" % name, file=log, flush=True)
                return 0
            a = json.loads(ans)
            if a.get("ok") is True:
                chains[name] = a["refresh_token"]
                print("OK %s %s" % (name, a["refresh_token"]), file=log, flush=True)
            else:
                print("ERR %s %s" % (name, a.get("error", "?").replace(" ", "_")), file=log,
                      flush=True)
                order.remove(name)
    print("END", flush=True)
    return 0


def mode_rotate(path, args):
    count = int(args[0])
    tok = sys.stdin.read().split()[0]
    s = connect(path)
    done = 0
    err = None
    for _ in range(count):
        ans = ask(s, json.dumps({"op": "refresh", "refresh_token": tok}).encode())
        if ans is None:
            err = "#closed"
            break
        try:
            a = json.loads(ans)
        except ValueError:
            err = "malformed answer"
            break
        if a.get("ok") is True and str(a.get("refresh_token", "")).startswith("pjr_"):
            tok = a["refresh_token"]
            done += 1
        else:
            err = str(a.get("error", "malformed answer"))
            break
    s.close()
    print("DONE %d" % done)
    print("TOKEN %s" % tok)
    if err is not None:
        print("ERR %s" % err)
    return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    mode, path, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    modes = {"call": mode_call, "open": mode_open, "fuzz": mode_fuzz, "race": mode_race,
             "conns": mode_conns, "chains": mode_chains, "rotate": mode_rotate}
    if mode not in modes:
        print("unknown mode %s" % mode, file=sys.stderr)
        return 2
    return modes[mode](path, args)


if __name__ == "__main__":
    sys.exit(main())
