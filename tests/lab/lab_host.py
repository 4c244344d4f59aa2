#!/usr/bin/python3
"""spamstop lab helper run inside a lab host (via `lab.sh on`): queue count,
wait until staged mail is all deferred, canonical state dump; plus the
password hashing lab.sh uses when it builds the hosts."""

import hashlib
import json
import os
import subprocess
import sys
import time

SPOOL = "/var/spool/postfix"
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")
STANDIN_STORE = "/var/lib/dovecot/plesk-standin/passwords"


def sha512_crypt(password):
    """Return a SHA512-CRYPT hash of password (never passed on argv)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        out = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()


def hash_users():
    """Turn "address password" lines on stdin into a Dovecot passwd-file."""
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 2:
            continue
        print("%s:{SHA512-CRYPT}%s" % (parts[0], sha512_crypt(parts[1])))
    return 0


def postqueue():
    """Return the queue listing of `postqueue -j` as a list of dicts."""
    out = subprocess.run(
        ["postqueue", "-j"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError("postqueue -j failed: " + out.stderr.strip())
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def wait(expected, timeout=60.0):
    """Wait until the queue holds `expected` messages, none in transit."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        q = postqueue()
        moving = [m for m in q if m["queue_name"] not in ("deferred", "hold")]
        if not moving and len(q) == expected:
            quiet += 1
            if quiet >= 2:
                return 0
        else:
            quiet = 0
        time.sleep(0.1)
    q = postqueue()
    by = {}
    for m in q:
        by[m["queue_name"]] = by.get(m["queue_name"], 0) + 1
    print("wait: timed out: %d messages %s, expected %d deferred" % (len(q), by, expected),
          file=sys.stderr)
    return 1


def queue_files():
    """Return the paths of all queue files, relative to the spool."""
    files = []
    for q in QUEUES:
        for root, _dirs, names in os.walk(os.path.join(SPOOL, q)):
            for n in names:
                files.append(os.path.relpath(os.path.join(root, n), SPOOL))
    return files


def message_ids(files):
    """Map each queue file to its Message-ID header via `postcat -eh`."""
    ids = {}
    for i in range(0, len(files), 500):
        batch = files[i : i + 500]
        out = subprocess.run(
            ["postcat", "-eh"] + batch,
            cwd=SPOOL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError("postcat failed: " + out.stderr.strip())
        cur = None
        for line in out.stdout.splitlines():
            if line.startswith("*** ENVELOPE RECORDS "):
                cur = line[len("*** ENVELOPE RECORDS ") :].rstrip(" *")
                continue
            if cur and line.lower().startswith("message-id:") and cur not in ids:
                ids[cur] = line.split(":", 1)[1].strip()
    return ids


def file_sha256(path):
    """Return the sha256 of a file, or "none" when it does not exist."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return "none"


def state():
    """Print the host's canonical state lines (lab.sh sorts them)."""
    files = queue_files()
    for attempt in range(3):
        try:
            ids = message_ids(files)
            break
        except RuntimeError:
            if attempt == 2:
                raise
            time.sleep(0.2)
            files = queue_files()
    for f in files:
        qname = f.split("/", 1)[0]
        print("queue %s %s" % (qname, ids.get(f, "-no-message-id-" + os.path.basename(f))))
    st = subprocess.run(["postfix", "status"], capture_output=True, check=False)
    print("postfix %s" % ("running" if st.returncode == 0 else "stopped"))
    print("users %s" % file_sha256("/etc/dovecot/users"))
    print("standin-store %s" % file_sha256(STANDIN_STORE))
    return 0


def clone(factor):
    """Copy every deferred message file factor - 1 times under new names.

    Postfix must be stopped.  Each copy is the template's bytes, owner,
    mode (0700: a complete queue file) and times (the mtime is the next
    retry time of a deferred message, so the copies wait like it), under a
    hex name no queue file has (C plus a counter); `postsuper -s` then
    renames each to the short queue id of its own inode, as after a
    restore.  Prints the number of copies made."""
    made = 0
    templates = []
    for root, _dirs, names in os.walk(os.path.join(SPOOL, "deferred")):
        templates += [os.path.join(root, n) for n in names]
    for path in sorted(templates):
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
        for _ in range(factor - 1):
            name = "C%09X" % made
            dst = os.path.join(SPOOL, "deferred", name[0], name)
            os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fchown(fd, st.st_uid, st.st_gid)
                os.fchmod(fd, st.st_mode & 0o7777)
            finally:
                os.close(fd)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            made += 1
    print(made)
    return 0


def main(argv):
    """Dispatch the subcommand."""
    if len(argv) < 2:
        print("usage: lab_host.py hash-users|count|wait N|state|clone K", file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "hash-users":
        return hash_users()
    if cmd == "count":
        print(len(postqueue()))
        return 0
    if cmd == "wait":
        return wait(int(argv[2]), float(argv[3]) if len(argv) > 3 else 60.0)
    if cmd == "state":
        return state()
    if cmd == "clone":
        return clone(int(argv[2]))
    print("lab_host.py: unknown command %r" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
