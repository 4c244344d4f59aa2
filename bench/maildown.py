#!/usr/bin/python3
"""Mail down per host, seen from outside: connects to port 25 of each
address every INTERVAL seconds (each attempt bounded by the interval) until
STOPFILE exists or MAX seconds passed, and prints one JSON object: per
address the longest time it refused or dropped connections (from the first
failed attempt to the next one that connected) and the attempts made.

usage: maildown.py STOPFILE MAX INTERVAL ADDR...
"""
import json
import os
import socket
import sys
import time


def main():
    stop, limit, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    addrs = sys.argv[4:]
    down_since = {a: None for a in addrs}
    longest = {a: 0.0 for a in addrs}
    tries = {a: 0 for a in addrs}
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end and not os.path.exists(stop):
        t0 = time.monotonic()
        for a in addrs:
            tries[a] += 1
            ok = True
            try:
                with socket.create_connection((a, 25), timeout=interval):
                    pass
            except OSError:
                ok = False
            now = time.monotonic()
            if not ok and down_since[a] is None:
                down_since[a] = now
            elif ok and down_since[a] is not None:
                longest[a] = max(longest[a], now - down_since[a])
                down_since[a] = None
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    now = time.monotonic()
    for a in addrs:
        if down_since[a] is not None:  # still down at the end: counts too
            longest[a] = max(longest[a], now - down_since[a])
    print(json.dumps({"longest_s": longest, "tries": tries,
                      "still_down": [a for a in addrs if down_since[a]]}))


if __name__ == "__main__":
    main()
