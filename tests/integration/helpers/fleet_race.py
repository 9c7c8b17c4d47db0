"""One of two racers on one refresh token, each on its own host (test_fleet.sh).

Usage: fleet_race.py SOCK MY_FIFO OTHER_FIFO < tokens

SOCK is the host's pam-jwtd socket. For each refresh token on stdin (one a line), the
racer meets the other racer at a gate made of two FIFOs (it writes a byte into
OTHER_FIFO and waits, at most 30 s, for the other's byte in MY_FIFO; both are opened
read-write, so neither side blocks on open), then presents the token at once on a
connection opened beforehand, and prints "I OUTCOME" (OUTCOME: "ok", or the daemon's
error with blanks as underscores, or "closed"). The two racers run the same list in the
same order, so round I is the same token on both hosts.
"""
import json
import os
import sys

from daemon_client import ask, connect, gate_wait, outcome


def main():
    path, mine, other = sys.argv[1:4]
    gate = (os.open(mine, os.O_RDWR), os.open(other, os.O_RDWR))
    for i, tok in enumerate(sys.stdin.read().split()):
        s = connect(path)
        msg = json.dumps({"op": "refresh", "refresh_token": tok}).encode()
        gate_wait(gate)
        print("%d %s" % (i, outcome(ask(s, msg))), flush=True)
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
