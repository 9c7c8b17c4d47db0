"""The user's side of tests/integration/test_sudo_dead.sh: start real sudo processes and,
with "kill", SIGKILL each one once its command runs (its PAM session is then open).
Run as an unprivileged sudoer, with the user's ids only.

Usage: dead_sudo.py SUDO MODE COUNT TAG   (stdin: the user's token, one line)

Each round runs `SUDO -S -k -u root /usr/bin/sleep TAG` with the token on sudo's
standard input and waits (at most 30 s) until a descendant of sudo has exec'd
/usr/bin/sleep TAG (a fork of sudo, such as the child that runs a store transaction,
still has sudo's argv). sudo opens the PAM session before it forks the command, so a
running command means that open_session has returned. Then:
- MODE "kill": SIGKILL to sudo (its real uid is the user's, so the user may), and sudo
  is reaped, so its pid is free: the session's leader is gone. The command, root's now,
  goes on (the test ends it).
- MODE "live": sudo is left running (the leader stays alive).
A sudo that ends before its command runs is a failed round (its stderr is kept).

Prints one JSON object per round: i, sudo (pid), start (sudo's start time in clock ticks
since boot, field 22 of /proc/PID/stat), ran (the command ran), cmd (a list of the
command's pid and start time), status (sudo's exit status, negative for a signal; null
while it runs) and err (the end of its stderr, for a failed round).
"""
import json
import os
import signal
import subprocess
import sys
import time


def start_time(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            text = f.read()
    except OSError:
        return None
    return int(text[text.rindex(b")") + 2:].split()[19])


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            found.append(c)
            todo.append(c)
    return found


def runs_tag(pid, tag):
    """pid has exec'd the command: /usr/bin/sleep TAG (a fork of sudo has sudo's argv)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    if argv and argv[-1] == b"":
        argv.pop()
    return (len(argv) == 2 and os.path.basename(argv[0]) == b"sleep" and
            argv[1] == tag.encode())


def one_round(i, sudo, mode, tag, token):
    res = {"i": i, "sudo": None, "start": None, "ran": False, "cmd": [], "status": None,
           "err": ""}
    r, w = os.pipe()
    p = subprocess.Popen([sudo, "-S", "-k", "-u", "root", "/usr/bin/sleep", tag],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=w,
                         close_fds=True)
    os.close(w)
    res["sudo"] = p.pid
    res["start"] = start_time(p.pid)
    try:
        p.stdin.write(token)
        p.stdin.close()
    except BrokenPipeError:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if p.poll() is not None:
            break
        cmd = [c for c in descendants(p.pid) if runs_tag(c, tag)]
        if cmd:
            res["ran"] = True
            res["cmd"] = [[c, start_time(c)] for c in cmd]
            break
        time.sleep(0.005)
    if res["ran"] and mode == "kill":
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    elif not res["ran"] and p.poll() is None:
        # neither ran its command nor ended: give up on it (it is the user's to kill)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    res["status"] = p.poll()
    if not res["ran"]:
        os.set_blocking(r, False)
        try:
            res["err"] = os.read(r, 65536).decode("utf-8", "replace")[-300:]
        except BlockingIOError:
            pass
    os.close(r)
    return res


def main():
    sudo, mode, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode not in ("kill", "live"):
        sys.exit("mode must be kill or live")
    token = sys.stdin.buffer.readline()
    for i in range(count):
        print(json.dumps(one_round(i, sudo, mode, tag, token)), flush=True)


main()
