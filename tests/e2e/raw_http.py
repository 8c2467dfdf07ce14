#!/usr/bin/env python3
"""raw_http.py - sends the bytes on stdin to 127.0.0.1:PORT as they are and
prints what comes back (for requests curl will not make: no Content-Length,
malformed headers, a body then a half-close).

  raw_http.py PORT [--half-close] [--timeout SECS] [--wait-after-headers SECS]

With --wait-after-headers, the body is sent only after an answer came (a
100 Continue, as an Expect: 100-continue client waits for) or SECS passed.

Prints the answer's bytes as received; "" when the server closed without an
answer, and exits 3 when nothing came back before the timeout.
"""
import argparse
import socket
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("--half-close", action="store_true", help="shut down writing after sending")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--wait-after-headers", type=float, default=0)
    a = p.parse_args()
    data = sys.stdin.buffer.read()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    got = b""
    if a.wait_after_headers:
        end = data.index(b"\r\n\r\n") + 4
        s.sendall(data[:end])
        data = data[end:]
        s.settimeout(a.wait_after_headers)
        try:
            got = s.recv(65536)
        except socket.timeout:
            pass
        s.settimeout(a.timeout)
    s.sendall(data)
    if a.half_close:
        s.shutdown(socket.SHUT_WR)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        if not got:
            sys.exit(3)
    except ConnectionResetError:
        pass
    sys.stdout.buffer.write(got)


if __name__ == "__main__":
    main()
