#!/usr/bin/env python3
"""Measures what hostile input costs a running idbroker: memory growth from distinct huge pool ids,
metric series minted by junk HTTP methods, and how much of a huge input is echoed back.

    bench/abuse.py target/release/idbroker [--ids 100,300]

It starts the given binary in development mode (SQLite, a temporary folder, per-IP limit off so
every call reaches the per-pool limiter), sends the traffic over loopback, reads the process's
resident memory from /proc, prints one line per measurement and stops the process. The numbers
are for comparing two builds on one machine, not targets.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=b"", headers=()):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                f"Content-Length: {len(body)}", *headers]
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def get_id(port, pool_id):
    body = json.dumps({"IdentityPoolId": pool_id}).encode()
    return request(port, "POST", "/", body, [
        "Content-Type: application/x-amz-json-1.1",
        "X-Amz-Target: AWSCognitoIdentityService.GetId",
    ])


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--ids", default="100,300", help="cumulative counts of distinct huge ids")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="idbroker-abuse.")
    port = free_port()
    env = dict(os.environ,
               IDBROKER_DATABASE_URL=f"sqlite://{folder}/idbroker.db?mode=rwc",
               IDBROKER_LISTEN=f"127.0.0.1:{port}",
               IDBROKER_SIGNING_ALG="ES256",
               IDBROKER_RATE_LIMIT_PER_IP="0",
               IDBROKER_LOG_FORMAT="json",
               RUST_LOG="warn")
    log = open(os.path.join(folder, "serve.log"), "w")
    proc = subprocess.Popen([args.binary, "serve"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("idbroker did not start")
                time.sleep(0.1)

        # Memory: distinct ~1 MB pool ids (just under the 1 MiB body limit).
        for n in range(10):  # warm-up
            get_id(port, f"us-east-1:{n:08d}" + "a" * 1_000_000)
        base = rss_mib(proc.pid)
        sent = 10
        for target in (int(x) for x in args.ids.split(",")):
            while sent < target + 10:
                response = get_id(port, f"us-east-1:{sent:08d}" + "a" * 1_000_000)
                sent += 1
            print(f"memory: {target} distinct 1 MB pool ids: {rss_mib(proc.pid) - base:+.0f} MiB "
                  f"(rss {rss_mib(proc.pid):.0f} MiB)")
        print(f"echo: {len(response)} bytes answered to a 1 MB pool id")

        # Echo: a 900 KB string where the Logins map belongs.
        body = json.dumps({"IdentityPoolId": "us-east-1:00000000-0000-4000-8000-000000000000",
                           "Logins": "t" * 900_000}).encode()
        response = request(port, "POST", "/", body, [
            "Content-Type: application/x-amz-json-1.1",
            "X-Amz-Target: AWSCognitoIdentityService.GetId",
        ])
        print(f"echo: {len(response)} bytes answered to a 900 KB Logins string")

        # Metric series: 150 junk methods.
        def scrape():
            text = request(port, "GET", "/metrics").split(b"\r\n\r\n", 1)[1]
            series = [l for l in text.splitlines() if l and not l.startswith(b"#")]
            return len(text), len(series)
        before = scrape()
        for n in range(150):
            request(port, f"JUNK{n}", "/v1/identity-pools")
        after = scrape()
        print(f"metrics: {before[0] / 1024:.0f} KiB, {before[1]} series before 150 junk methods; "
              f"{after[0] / 1024:.0f} KiB, {after[1]} series after")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
