#!/usr/bin/python3
"""Time to containment, seen from outside: for each host, tries SMTP AUTH
on port 25 as the host's stolen account with its OLD password every
INTERVAL seconds, from the moment it starts until STOPFILE exists or MAX
seconds passed, and prints one JSON object: per address the wall-clock time
(epoch seconds) at which the account could no longer send there for good,
i.e. the start of the first attempt of the last stretch of failed attempts
(AUTH refused, or Postfix not accepting), and the attempts made.

A host is done at the first AUTH refusal (535) after a success: the old
password is no longer in force, and further refusals would only pile up
the authentication server's failure delays.  A host that never accepted
the old password at all is contained from its first attempt; one still
accepting at the end has no time ("contained_at": null).

Each host's entry also gives its first attempt's result ("first"): a
measure is only valid where that is "ok", the old password working before
the tool ran. With READYFILE, the probe creates it once every host's first
attempt is over, so that the caller can start the tool after it (with
hundreds of hosts, starting the threads takes a while on a busy machine).

Stdin: one line per host, "ADDRESS ACCOUNT PASSWORD" (the lab's test
passwords; not on the command line).

usage: authprobe.py STOPFILE MAX INTERVAL [READYFILE] <hosts.txt
"""
import json
import os
import smtplib
import socket
import sys
import threading
import time


def attempt(addr, user, password, timeout):
    """'ok' (the old password works), 'refused' (535) or 'down'."""
    try:
        s = smtplib.SMTP(addr, 25, timeout=timeout)
    except (OSError, smtplib.SMTPException):
        return "down"
    try:
        s.ehlo("probe.invalid")
        s.login(user, password)
        return "ok"
    except smtplib.SMTPAuthenticationError:
        return "refused"
    except (OSError, smtplib.SMTPException):
        return "down"
    finally:
        s.close()  # no QUIT: a server that refused may have hung up


def probe(addr, user, password, stop, t_end, interval, out, started):
    """Probes one host until it is done, STOPFILE exists or t_end."""
    fail_since = None
    tries = 0
    first = None
    while time.monotonic() < t_end and not os.path.exists(stop):
        t0 = time.time()
        m0 = time.monotonic()
        tries += 1
        r = attempt(addr, user, password, max(interval, 1.0))
        if first is None:
            first = r
            started.release()
        if r == "ok":
            fail_since = None
        elif fail_since is None:
            fail_since = t0
        if r == "refused":
            break
        time.sleep(max(0.0, interval - (time.monotonic() - m0)))
    if first is None:
        started.release()
    out[addr] = {"contained_at": fail_since, "tries": tries, "first": first}


def main():
    stop, limit, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    ready = sys.argv[4] if len(sys.argv) > 4 else None
    hosts = [line.split() for line in sys.stdin if line.strip()]
    if any(len(h) != 3 for h in hosts):
        sys.exit("authprobe: each line is ADDRESS ACCOUNT PASSWORD")
    socket.setdefaulttimeout(max(interval, 1.0))
    t_end = time.monotonic() + limit
    out = {}
    started = threading.Semaphore(0)
    threads = [threading.Thread(target=probe, args=(a, u, p, stop, t_end,
                                                    interval, out, started))
               for a, u, p in hosts]
    for t in threads:
        t.start()
    for _ in threads:
        started.acquire()
    if ready is not None:
        open(ready, "w").close()
    for t in threads:
        t.join()
    print(json.dumps({"hosts": out}))


if __name__ == "__main__":
    main()
