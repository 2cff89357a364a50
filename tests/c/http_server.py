#!/usr/bin/env python3
"""Loopback HTTP/1.1 + HTTPS server for tests/c/http_test.c.

Usage: http_server.py DIR
Makes a self-signed certificate for IP 127.0.0.1 in DIR with the openssl CLI, listens on
two free loopback ports (plain and TLS) and prints one line
    READY <http-port> <https-port> <DIR>/cert.pem
then serves until it is terminated or its stdin closes.

Routes (any method):
  /echo            200, text/plain: what arrived (method, body length, body, headers)
  /status/NNN      status NNN with a padded mixed-case header and a short body
  /headers         duplicate, padded and mixed-case headers
  /interim         a 100 Continue with its own header, then the final 200
  /slow?ms=N       sleeps N ms before answering
  /drop            closes the connection without answering
  /truncate        announces 1000 bytes, sends 10, closes
  /big?n=N         N bytes with a Content-Length
  /chunked?n=N     N bytes, chunked (no length known up front)
  /gzip            a gzip-encoded body
  /cookie/set      sets a cookie;  /cookie/get: echoes the Cookie header back
  /redirect        302 to /echo
"""
import gzip
import http.server
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: the client must reuse one connection

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=(), ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_one(self):
        body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path == "/echo":
            lines = [f"method={self.command}", f"len={len(body)}"]
            lines += [f"h:{k.lower()}={v}" for k, v in self.headers.items()]
            out = "\n".join(lines).encode() + b"\nbody=" + body
            self.reply(200, out)
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            self.reply(code, f"status {code}".encode(),
                       [("X-Test-Header", "  padded value \t"), ("x-ms-request-id", "abc-123")])
        elif path == "/headers":
            self.reply(200, b"h", [("X-Dup", "one"), ("x-dup", "two"),
                                   ("MiXeD-CaSe", "Value With Spaces  "), ("X-Empty", "")])
        elif path == "/interim":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
            self.reply(200, b"final", [("X-Final", "yes")])
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.reply(200, b"slow")
        elif path == "/drop":
            self.close_connection = True
        elif path == "/truncate":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        elif path == "/big":
            self.reply(200, b"x" * int(q["n"]))
        elif path == "/chunked":
            self.chunked(int(q["n"]))
        elif path == "/gzip":
            self.reply(200, gzip.compress(b"zipped " * 100), [("Content-Encoding", "gzip")])
        elif path == "/cookie/set":
            self.reply(200, b"set", [("Set-Cookie", "session=s3cr3t; Path=/")])
        elif path == "/cookie/get":
            self.reply(200, (self.headers.get("Cookie") or "").encode())
        elif path == "/redirect":
            self.reply(302, b"", [("Location", "/echo")])
        else:
            self.reply(404, b"no such route")

    def chunked(self, n):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"y" * 65536
        while n > 0:
            k = min(n, len(piece))
            self.wfile.write(b"%x\r\n" % k + piece[:k] + b"\r\n")
            n -= k
        self.wfile.write(b"0\r\n\r\n")

    # Python's default answers "Expect: 100-continue" itself; the client must not send it.
    def handle_expect_100(self):
        return True

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_one
        raise AttributeError(name)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients hang up on purpose here (timeouts, body limits); say nothing about that.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)


class TLSServer(Server):
    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the handler's thread so one failed client cannot stall others.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return   # the client rejected our certificate: expected in the test
        super().finish_request(request, client_address)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def main():
    d = sys.argv[1]
    cert, key = make_cert(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    plain = Server(("127.0.0.1", 0), Handler)
    tls = TLSServer(("127.0.0.1", 0), Handler, ctx)
    for s in (plain, tls):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"READY {plain.server_address[1]} {tls.server_address[1]} {cert}", flush=True)
    sys.stdin.read()   # returns when the test closes our stdin (or exits)


if __name__ == "__main__":
    main()
