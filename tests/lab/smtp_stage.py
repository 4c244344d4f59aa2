#!/usr/bin/python3
"""spamstop lab: stage a real incident on a lab host.

smtp  -- submit messages over SMTP AUTH (pipelined, several connections,
         several client source addresses, random HELO names and forged
         envelope senders for spam), so smtpd records a genuine sasl_username;
local -- run inside a host: submit via local sendmail (no SASL), optionally
         as a web script (X-PHP-Originating-Script header, uid 33);
auth  -- check one SMTP AUTH login: exit 0 accepted, 1 rejected, 2 error.

Passwords come from the environment variable STAGE_PASSWORD, never argv.
Every message gets a unique Message-ID; the manifest line printed for it is
"<kind> <account-or-> <sha256 hex of the Message-ID value> <Message-ID>",
the Message-ID value taken exactly as in the header, angle brackets included.
"""

import argparse
import base64
import hashlib
import os
import random
import socket
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

DOMAIN = "example.test"
REMOTE = "remote.test"
WORDS = (
    "cheap offer winner bitcoin pharmacy invoice urgent account verify prize "
    "limited deal refund crypto loan bonus gift secure update claim now"
).split()
TLDS = ("ru", "cn", "top", "xyz", "biz", "info", "click", "work")


class SmtpError(Exception):
    """An unexpected SMTP reply."""


def rnd(n, alphabet=string.ascii_lowercase + string.digits):
    """Return a random string of n characters."""
    return "".join(random.choice(alphabet) for _ in range(n))


class Conn:
    """One SMTP client connection with pipelined submission."""

    def __init__(self, server, port, source, helo):
        src = (source, 0) if source else None
        self.sock = socket.create_connection((server, port), timeout=30, source_address=src)
        self.f = self.sock.makefile("rb")
        self.expect(220, "greeting")
        self.sock.sendall(b"EHLO " + helo.encode() + b"\r\n")
        self.expect(250, "EHLO")

    def reply(self):
        """Read one (possibly multi-line) reply; return (code, text)."""
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise SmtpError("connection closed by server")
            lines.append(line.decode("ascii", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), "\n".join(lines)

    def expect(self, code, what):
        """Read a reply and fail unless it has the given code."""
        got, text = self.reply()
        if got != code:
            raise SmtpError("%s: expected %d, got: %s" % (what, code, text))
        return text

    def auth(self, user, password):
        """AUTH PLAIN; return the reply code (235 on success)."""
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        self.sock.sendall(b"AUTH PLAIN " + tok + b"\r\n")
        return self.reply()

    def send_all(self, msgs):
        """Submit messages, one round trip each (RFC 2920 pipelining)."""

        def envelope(m):
            out = b"MAIL FROM:<" + m["sender"].encode() + b">\r\n"
            for r in m["rcpts"]:
                out += b"RCPT TO:<" + r.encode() + b">\r\n"
            return out + b"DATA\r\n"

        def read_envelope(m):
            self.expect(250, "MAIL FROM")
            for _ in m["rcpts"]:
                self.expect(250, "RCPT TO")
            self.expect(354, "DATA")

        if not msgs:
            return
        self.sock.sendall(envelope(msgs[0]))
        read_envelope(msgs[0])
        for i, m in enumerate(msgs):
            data = m["data"] + b".\r\n"
            if i + 1 < len(msgs):
                data += envelope(msgs[i + 1])
            self.sock.sendall(data)
            self.expect(250, "end of DATA")
            if i + 1 < len(msgs):
                read_envelope(msgs[i + 1])

    def quit(self):
        """Say QUIT and close."""
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, SmtpError):
            pass
        self.sock.close()


def make_message(kind, n, tag, host, account, extra_headers="", remote=REMOTE):
    """Build one message dict with a unique Message-ID and a distinct body."""
    if kind == "spam":
        dom = "%s.%s" % (rnd(8), random.choice(TLDS))
        sender = "%s@%s" % (rnd(6), dom)
        rcpts = ["%s@%s" % (rnd(7), remote) for _ in range(random.randint(1, 3))]
        subject = " ".join(random.choice(WORDS) for _ in range(4)).title()
        from_hdr = sender
    else:
        dom = DOMAIN
        sender = account if account != "-" else "root@%s.%s" % (host, DOMAIN)
        rcpts = ["%s@%s" % (rnd(7), remote)]
        subject = "%s note %d" % (kind, n)
        from_hdr = sender
    msgid = "<%s.%s.%s.%d.%s@%s>" % (kind, host, tag, n, rnd(6), dom)
    body_lines = [" ".join(random.choice(WORDS) for _ in range(10)) for _ in range(3)]
    body_lines.append("serial %s-%d %s" % (tag, n, rnd(16)))
    text = (
        "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n%s"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
        % (
            from_hdr,
            ", ".join(rcpts),
            subject,
            time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            msgid,
            extra_headers,
            "\r\n".join(body_lines),
        )
    )
    # Dot-stuffing: no line of ours starts with a dot, but keep it correct.
    data = "\r\n".join(("." + l if l.startswith(".") else l) for l in text.split("\r\n"))
    return {"sender": sender, "rcpts": rcpts, "msgid": msgid, "data": data.encode()}


def manifest_line(kind, account, msgid):
    """Return the manifest line of one staged message."""
    return "%s %s %s %s" % (kind, account, hashlib.sha256(msgid.encode()).hexdigest(), msgid)


def full_address(account):
    """Append the lab's mail domain to a bare user name."""
    return account if "@" in account else account + "@" + DOMAIN


def cmd_smtp(a):
    """Submit a.count messages of a.kind over SMTP AUTH as a.account."""
    password = os.environ.get("STAGE_PASSWORD", "")
    if not password:
        print("smtp_stage: STAGE_PASSWORD is not set", file=sys.stderr)
        return 2
    account = full_address(a.account)
    tag = rnd(8)
    sources = a.sources.split() if a.sources else [None]
    # Spam comes over many short sessions (each its own HELO name and source
    # address, a.conns at a time); legitimate mail over one session.
    if a.kind == "spam":
        per_conn = a.per_conn or max(5, min(250, -(-a.count // (a.conns * 8))))
    else:
        per_conn = max(a.count, 1)
    chunks = []
    n = 0
    while n < a.count:
        k = min(per_conn, a.count - n)
        chunks.append(
            [make_message(a.kind, n + i, tag, a.host, account, remote=a.remote) for i in range(k)]
        )
        n += k

    def run(idx):
        msgs = chunks[idx]
        helo = (
            "%s.%s.%s" % (rnd(5), rnd(7), random.choice(TLDS))
            if a.kind == "spam"
            else "workstation.%s" % DOMAIN
        )
        c = Conn(a.server, a.port, sources[idx % len(sources)], helo)
        code, text = c.auth(account, password)
        if code != 235:
            raise SmtpError("AUTH as %s: %s" % (account, text))
        c.send_all(msgs)
        c.quit()
        return len(msgs)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=a.conns) as ex:
        sent = sum(ex.map(run, range(len(chunks))))
    dt = time.monotonic() - t0
    for ch in chunks:
        for m in ch:
            print(manifest_line(a.kind, account, m["msgid"]))
    print(
        "smtp_stage: %d %s messages as %s in %.2f s (%.0f msg/s)"
        % (sent, a.kind, account, dt, sent / dt if dt > 0 else 0),
        file=sys.stderr,
    )
    return 0


def cmd_local(a):
    """Submit messages through the local sendmail (run inside a lab host)."""
    tag = rnd(8)
    extra = ""
    if a.kind == "script":
        extra = "X-PHP-Originating-Script: 33:mailer.php\r\n"
    msgs = [make_message(a.kind, i, tag, a.host, "-", extra) for i in range(a.count)]

    def run(m):
        kw = {}
        if a.kind == "script":
            kw = {"user": 33, "group": 33, "extra_groups": []}
        data = m["data"].replace(b"\r\n", b"\n")
        p = subprocess.run(
            ["/usr/sbin/sendmail", "-i", "-t"], input=data, capture_output=True, **kw
        )
        if p.returncode != 0:
            raise RuntimeError("sendmail failed: %s" % p.stderr.decode(errors="replace"))

    with ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(run, msgs))
    for m in msgs:
        print(manifest_line(a.kind, "-", m["msgid"]))
    return 0


def cmd_auth(a):
    """Try one SMTP AUTH login: 0 accepted, 1 rejected, 2 error."""
    password = os.environ.get("STAGE_PASSWORD", "")
    try:
        c = Conn(a.server, a.port, None, "authcheck.%s" % DOMAIN)
        code, text = c.auth(full_address(a.account), password)
        c.quit()
    except (OSError, SmtpError) as e:
        print("smtp_stage: auth: %s" % e, file=sys.stderr)
        return 2
    if code == 235:
        return 0
    if code == 535:
        return 1
    print("smtp_stage: auth: unexpected reply: %s" % text, file=sys.stderr)
    return 2


def main():
    """Parse arguments and run the subcommand."""
    p = argparse.ArgumentParser(description="stage mail on a spamstop lab host")
    p.add_argument("mode", choices=("smtp", "local", "auth"))
    p.add_argument("--kind", choices=("spam", "legit", "script", "local"), default="spam")
    p.add_argument("--server")
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--account", default="-")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--sources", default="")
    p.add_argument("--host", default="h")
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--per-conn", type=int, default=0)
    p.add_argument("--remote", default=REMOTE, help="the recipients' domain")
    a = p.parse_args()
    try:
        if a.mode == "smtp":
            return cmd_smtp(a)
        if a.mode == "local":
            return cmd_local(a)
        return cmd_auth(a)
    except (OSError, SmtpError, RuntimeError) as e:
        print("smtp_stage: %s: %s" % (a.mode, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
