#!/usr/bin/python3
"""A tiny identity provider for test_jwks_fetch.sh: serves a discovery document and a JWKS
from DIR on 127.0.0.1 (a free port, written to DIR/port). DIR/mode picks the answer to
each request: ok, garbage, 500, big (2 MiB), wrongiss (discovery names another issuer),
slow (the JWKS after 3 s). Requests are served in threads, so a slow answer holds up no
other. With CERT and KEY it speaks TLS."""
import http.server
import os
import ssl
import sys
import time

d = sys.argv[1]


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        with open(os.path.join(d, "requests.log"), "a") as f:
            f.write("%s\n" % (fmt % args))

    def send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        mode = open(os.path.join(d, "mode")).read().strip()
        port = self.server.server_address[1]
        scheme = "https" if len(sys.argv) > 2 else "http"
        base = "%s://127.0.0.1:%d" % (scheme, port)
        if self.path == "/.well-known/openid-configuration":
            iss = base + "/other" if mode == "wrongiss" else base
            body = ('{"issuer":"%s","jwks_uri":"%s/jwks.json"}' % (iss, base)).encode()
            return self.send(200, body)
        if self.path != "/jwks.json":
            return self.send(404, b"{}")
        if mode == "garbage":
            return self.send(200, b"this is not a JWKS {")
        if mode == "500":
            return self.send(500, b"{}")
        if mode == "slow":
            time.sleep(3)
        if mode == "big":
            return self.send(200, b'{"keys":[]' + b" " * (2 * 1024 * 1024) + b"}")
        return self.send(200, open(os.path.join(d, "jwks.json"), "rb").read())


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(os.path.join(d, "port.tmp"), "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
srv.serve_forever()
