#!/usr/bin/env python3
"""Counts Docker API requests: a proxy on a unix socket in front of the daemon's socket.

usage: count-requests.py PROXY_SOCKET [UPSTREAM_SOCKET] -- COMMAND...
Runs COMMAND with DOCKER_HOST=unix://PROXY_SOCKET and prints one line per request
(METHOD PATH), then `requests: N`.
"""
import os
import socket
import subprocess
import sys
import threading


def pump(src, dst, log):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if log is not None:
                buf += data
                # Request lines start a message: "GET /v1.41/containers/json?... HTTP/1.1".
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    parts = line.split(b" ")
                    if len(parts) == 3 and parts[2].startswith(b"HTTP/"):
                        log.append(f"{parts[0].decode()} {parts[1].decode()}")
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    proxy, upstream = args[0], (args[1] if sep > 1 else "/var/run/docker.sock")
    command = args[sep + 1:]
    if os.path.exists(proxy):
        os.unlink(proxy)
    server = socket.socket(socket.AF_UNIX)
    server.bind(proxy)
    server.listen(64)
    log = []

    def accept():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX)
            up.connect(upstream)
            threading.Thread(target=pump, args=(client, up, log), daemon=True).start()
            threading.Thread(target=pump, args=(up, client, None), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    env = dict(os.environ, DOCKER_HOST=f"unix://{proxy}")
    code = subprocess.call(command, env=env, stdout=subprocess.DEVNULL)
    server.close()
    for line in log:
        print(line)
    print(f"requests: {len(log)}")
    sys.exit(code)


if __name__ == "__main__":
    main()
