"""The user's side of tests/integration/test_store_stall.sh: stop sudo while it works on the
session store. Run as an unprivileged user (who need not be in sudoers).

Usage: stall_sudo.py SUDO LOCK_ID STOPS SEED LONG  (stdin: the user's session ID, one line)

LOCK_ID names the store's .lock file as /proc/locks shows it ("MAJ:MIN:INODE", the first
two in hex), or, for the store on Redis, "redis:PORT:USER:PASSWORD:KEY": the lease
key on 127.0.0.1:PORT, read (GET only) as an ACL user the test gives the attacker, who
thus knows more than a real one. Redis does not say which process holds the lease: while
it is held, the children of sudo count as its holders (the transaction runs in one),
"aware" rounds stop sudo whenever the lease is held, and the lease's token is followed: every token seen while sudo is stopped must go
within LEASE_GONE_MS (a transaction stopped with sudo would keep it for the lease's
3 s); the longest is reported as max_lease_ms. Each round runs `SUDO -S -k -u root /usr/bin/true` with the session ID on its
standard input, so sudo's PAM auth uses the session store, and stops sudo once (SIGSTOP):
- in "aware" rounds (70 %), as soon as /proc/locks shows the store's flock held by sudo
  or by a child of sudo (the best moment for the user);
- otherwise at a random moment, 0 to 80 ms after sudo started.
sudo runs some phases with every uid 0 (sudoers' PERM_ROOT), not its PAM auth: a refused
SIGSTOP is counted and tried again. The stop lasts a random 0.2 to 1.4 s, except the first
one made while the round held the lock, which lasts LONG seconds (longer than the store's
10 s wait for its lock); then sudo gets SIGCONT or SIGKILL (at random). Rounds go on until
STOPS stops were made (a sudo that ends before its moment made none). Every holder of the
lock that belongs to the round (sudo or a child of sudo) is probed with kill(pid, 0): a
holder the user may signal breaks the rule "no process an unprivileged user can signal
holds a lock that other logins wait on".

Prints one JSON object with the counts.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time


class Lease:
    """The Redis lease key, read with GET over a connection of its own."""

    def __init__(self, spec):
        _, port, user, pw, self.key = spec.split(":", 4)
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
        self.buf = b""
        if self.cmd("AUTH", user, pw) != "OK":
            raise SystemExit("stall_sudo.py: the lease watcher cannot log in")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        line = self.line()
        if line[:1] in (b"+", b"-"):
            return line[1:].decode()
        n = int(line[1:])
        if n < 0:
            return None
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(4096)
        val, self.buf = self.buf[:n], self.buf[n + 2:]
        return val.decode()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SystemExit("stall_sudo.py: the lease watcher lost its connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def token(self):
        return self.cmd("GET", self.key)


LEASE = None
LEASE_GONE_MS = 1000


def lease_held():
    """On Redis: is the lease held now, by anyone (sudo itself would be the holder if its
    transaction ran in it)?"""
    return LEASE is not None and LEASE.token() is not None


def children(pid):
    """pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and proc_stat(int(d))[1] == pid:
            out.append(int(d))
    return out


def lock_holders(lock_id, sudo_pid=None):
    """pids holding a flock on the file (blocked waiters, "->" lines, left out); on Redis,
    while the lease is held, sudo's children."""
    if LEASE is not None:
        if sudo_pid is None or LEASE.token() is None:
            return []
        return children(sudo_pid)
    pids = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == lock_id:
                    pids.append(int(parts[4]))
    except OSError:
        pass
    return pids


def proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or (None, None)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None, None
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def wait_stopped(pid, limit=0.2):
    """Until the stopped (or dead) state shows, at most `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        state, _ = proc_stat(pid)
        if state in (None, "T", "t", "Z", "X"):
            return state
    return "?"


def round_pid(pid, sudo_pid):
    """Which of the round's processes pid is: sudo, a child of sudo, or neither (None)."""
    if pid == sudo_pid:
        return "seen_held_by_sudo"
    _, ppid = proc_stat(pid)
    return "seen_held_by_child" if ppid == sudo_pid else None


def stop(p, c):
    """SIGSTOP sudo; True once it shows as stopped."""
    try:
        os.kill(p.pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    except PermissionError:
        # sudo runs some phases with every uid 0 (sudoers' PERM_ROOT), not its PAM auth:
        # then wait for the next chance
        c["stop_refused"] += 1
        return False
    return wait_stopped(p.pid) == "T"


def note_holders(lock_id, sudo_pid, seen, c):
    """True when sudo or a child of sudo holds the lock now. Each such holder is counted
    once a round and probed: may the user signal it?"""
    held = False
    for h in lock_holders(lock_id, sudo_pid):
        kind = round_pid(h, sudo_pid)
        if kind is None:
            if h not in seen:
                seen.add(h)
                c["seen_held_by_others"] += 1
            continue
        held = True
        if h in seen:
            continue
        seen.add(h)
        c[kind] += 1
        ms = may_signal(h)
        if ms and LEASE is not None:
            # Redis names no holder: a child of sudo just forked is still the user's until
            # it makes itself unreachable, which it does before it takes the lease; one
            # that is still the user's a moment later while the lease is held counts
            time.sleep(0.2)
            ms = may_signal(h) and lease_held()
        if ms:
            c["signalable_holders"] += 1
        elif ms is False:
            c["unsignalable_holders"] += 1
    return held


def stopped_for(seconds, c):
    """Keep sudo stopped this long; on Redis, follow every lease token seen meanwhile."""
    if LEASE is None:
        time.sleep(seconds)
        return
    seen, kept = {}, set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tok = LEASE.token()
        now = time.monotonic()
        if tok is not None:
            seen.setdefault(tok, now)
            ms = int((now - seen[tok]) * 1000)
            c["max_lease_ms"] = max(c["max_lease_ms"], ms)
            if ms >= LEASE_GONE_MS and tok not in kept:
                kept.add(tok)
                c["leases_kept_while_stopped"] += 1
        c["lease_polls"] += 1
        time.sleep(0.005)


def may_signal(pid):
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:
        return False
    except ProcessLookupError:
        return None


def main():
    sudo, lock_id, stops, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    long_hold = float(sys.argv[5])
    global LEASE
    if lock_id.startswith("redis:"):
        LEASE = Lease(lock_id)
    sid = sys.stdin.readline().strip().encode()
    rng = random.Random(seed)
    c = {
        "rounds": 0, "long_stops": 0, "aware_rounds": 0,
        "seen_held_by_sudo": 0, "seen_held_by_child": 0, "seen_held_by_others": 0,
        "signalable_holders": 0, "unsignalable_holders": 0,
        "stop_refused": 0, "stopped_holding": 0, "held_after_stop": 0, "long_holds": 0,
        "conts": 0, "kills": 0,
        "max_lease_ms": 0, "leases_kept_while_stopped": 0, "lease_polls": 0,
        "sudo_exit": {},
    }
    t_start = time.monotonic()
    while c["long_stops"] < stops and c["rounds"] < 20 * stops:
        c["rounds"] += 1
        aware = rng.random() < 0.7
        c["aware_rounds"] += aware
        p = subprocess.Popen([sudo, "-S", "-k", "-u", "root", "/usr/bin/true"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        p.stdin.write(sid + b"\n")
        p.stdin.close()
        seen = set()
        moment = False
        if aware:
            # watch /proc/locks; stop sudo as soon as the lock is its or its child's
            while p.poll() is None and not moment:
                if note_holders(lock_id, p.pid, seen, c) or lease_held():
                    moment = stop(p, c)
        else:
            time.sleep(rng.uniform(0, 0.08))
            while p.poll() is None and not moment:
                moment = stop(p, c)
        held_by_round = moment and (note_holders(lock_id, p.pid, seen, c) or lease_held())
        if moment:
            c["long_stops"] += 1
            c["stopped_holding"] += held_by_round
            if held_by_round and c["long_holds"] == 0:
                c["long_holds"] += 1
                stopped_for(long_hold, c)
            else:
                stopped_for(rng.uniform(0.2, 1.4), c)
            # still held by this round's processes at the end of the long stop?
            if any(round_pid(h, p.pid) for h in lock_holders(lock_id, p.pid)):
                c["held_after_stop"] += 1
            if rng.random() < 0.5:
                os.kill(p.pid, signal.SIGCONT)
                c["conts"] += 1
            else:
                os.kill(p.pid, signal.SIGKILL)
                c["kills"] += 1
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            rc = p.wait()
            rc = "timeout"
        c["sudo_exit"][str(rc)] = c["sudo_exit"].get(str(rc), 0) + 1
    c["seconds"] = round(time.monotonic() - t_start, 1)
    print(json.dumps(c), flush=True)


if __name__ == "__main__":
    main()
