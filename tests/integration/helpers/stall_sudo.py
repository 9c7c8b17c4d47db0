"""The user's side of tests/integration/test_store_stall.sh: stop sudo while it works on the
session store. Run as an unprivileged user (who need not be in sudoers).

Usage: stall_sudo.py SUDO LOCK_ID STOPS SEED LONG  (stdin: the user's session ID, one line)

LOCK_ID names the store's .lock file as /proc/locks shows it ("MAJ:MIN:INODE", the first
two in hex). Each round runs `SUDO -S -k -u root /usr/bin/true` with the session ID on its
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
import subprocess
import sys
import time


def lock_holders(lock_id):
    """pids holding a flock on the file (blocked waiters, "->" lines, left out)."""
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
    for h in lock_holders(lock_id):
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
        if ms:
            c["signalable_holders"] += 1
        elif ms is False:
            c["unsignalable_holders"] += 1
    return held


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
    sid = sys.stdin.readline().strip().encode()
    rng = random.Random(seed)
    c = {
        "rounds": 0, "long_stops": 0, "aware_rounds": 0,
        "seen_held_by_sudo": 0, "seen_held_by_child": 0, "seen_held_by_others": 0,
        "signalable_holders": 0, "unsignalable_holders": 0,
        "stop_refused": 0, "stopped_holding": 0, "held_after_stop": 0, "long_holds": 0,
        "conts": 0, "kills": 0,
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
                if note_holders(lock_id, p.pid, seen, c):
                    moment = stop(p, c)
        else:
            time.sleep(rng.uniform(0, 0.08))
            while p.poll() is None and not moment:
                moment = stop(p, c)
        held_by_round = moment and note_holders(lock_id, p.pid, seen, c)
        if moment:
            c["long_stops"] += 1
            c["stopped_holding"] += held_by_round
            if held_by_round and c["long_holds"] == 0:
                c["long_holds"] += 1
                time.sleep(long_hold)
            else:
                time.sleep(rng.uniform(0.2, 1.4))
            # still held by this round's processes at the end of the long stop?
            if any(round_pid(h, p.pid) for h in lock_holders(lock_id)):
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
