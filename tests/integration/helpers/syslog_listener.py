"""A minimal syslog receiver for hosts without a syslog daemon.

Usage: syslog_listener.py SOCKET_PATH OUT_FILE READY_FILE

Binds a datagram socket at SOCKET_PATH (which must not exist), appends every message it
receives as one line to OUT_FILE, and writes "dev:inode" of the socket to READY_FILE once it
listens. On SIGTERM/SIGINT/SIGHUP, or when the process that started it dies, it removes the
socket, but only if the path still names the socket it created.
"""
import ctypes
import os
import signal
import socket
import sys


def main():
    path, out_path, ready_path = sys.argv[1:4]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)  # fails if the path exists: nothing is ever replaced
    mine = os.stat(path)

    def stop(*_):
        try:
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                os.unlink(path)
        except OSError:
            pass
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    # PR_SET_PDEATHSIG: also clean up if the suite that started us is killed outright.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        stop()
    os.chmod(path, 0o666)
    with open(out_path, "ab", buffering=0) as out:
        with open(ready_path, "w") as ready:
            ready.write("%d:%d\n" % (mine.st_dev, mine.st_ino))
        while True:
            data = sock.recv(65536)
            out.write(data.rstrip(b"\0\n").replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    main()
