"""A login leader that survives SIGHUP, for tests/integration/test_daemon.sh.

Usage: daemon_leader.py HUP_LOG SERVICE USER TOKEN_FILE OP...

Runs helpers/pam_drive.py (the same arguments and output; "hold" keeps the login open in
this very process, which is then the session's recorded leader) with a SIGHUP handler that
appends "SIGHUP <monotonic seconds>" to HUP_LOG and carries on. Only SIGKILL (or SIGTERM,
which closes the session) ends it then.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pam_drive  # noqa: E402


def main():
    hup_log = sys.argv[1]

    def on_hup(_signo, _frame):
        with open(hup_log, "a") as f:
            f.write("SIGHUP %.3f\n" % time.monotonic())

    signal.signal(signal.SIGHUP, on_hup)
    sys.argv = [sys.argv[0]] + sys.argv[2:]
    return pam_drive.main()


if __name__ == "__main__":
    sys.exit(main())
