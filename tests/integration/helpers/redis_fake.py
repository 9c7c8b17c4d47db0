#!/usr/bin/python3
"""A misbehaving Redis server for test_redis_conn.sh, on 127.0.0.1 (a free port, written
to PORTFILE). MODE says what it does with each connection:
  silent    accepts and never answers (the connection setup must time out)
  stall     answers the first command (PING) with +PONG, then never answers again
  bigarray  answers PING, then the next command with an array header of 2,000,000
            elements (more than a reply may hold)
  names=HOST,PORT
            a Sentinel that tells a lie (for test_redis_sentinel.sh): answers PING, then
            every command with the address [HOST, PORT]
Runs until killed."""
import os
import socket
import sys
import threading

mode, portfile = sys.argv[1], sys.argv[2]


def serve(conn):
    n = 0
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            n += 1
            if mode == "silent":
                continue
            if n == 1:
                conn.sendall(b"+PONG\r\n")
            elif mode == "bigarray":
                conn.sendall(b"*2000000\r\n:1\r\n")
            elif mode.startswith("names="):
                addr = [a.encode() for a in mode[6:].split(",")]
                conn.sendall(b"*2\r\n" + b"".join(
                    b"$%d\r\n%s\r\n" % (len(a), a) for a in addr))


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
