#!/usr/bin/env python3
"""raw_http.py - sends the bytes on stdin to 127.0.0.1:PORT as they are and
prints what comes back (for requests curl will not make: no Content-Length,
malformed headers, a body then a half-close).

  raw_http.py PORT [--half-close] [--timeout SECS]

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
    a = p.parse_args()
    data = sys.stdin.buffer.read()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s.sendall(data)
    if a.half_close:
        s.shutdown(socket.SHUT_WR)
    got = b""
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
