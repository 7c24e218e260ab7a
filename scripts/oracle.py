"""What the generators in scripts/ share: a private redis-server to ask, a RESP3 connection
to it, rustfmt, and writing or checking the generated files.

Python 3 standard library only.
"""

import contextlib
import difflib
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GenError(Exception):
    pass


# --- RESP3 over a socket ---------------------------------------------------------------


class Resp:
    """A blocking RESP3 connection: send a command, read one reply."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def call(self, *args):
        """The reply; an error reply stops the generator."""
        reply = self.call_raw(*args)
        if isinstance(reply, RespError):
            raise GenError("%s: %s" % (" ".join(map(str, args)), reply))
        return reply

    def call_raw(self, *args):
        """The reply, error replies (`RespError`) included."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.read()

    def line(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise GenError("connection closed mid-reply")
        return line[:-2]

    def read(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"("):
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"_":
            return None
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            if kind == b"=":
                data = data[4:]  # "txt:" or "mkd:"
            text = data.decode()
            return RespError(text) if kind == b"!" else text
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"%":
            return {self.read(): self.read() for _ in range(int(rest))}
        if kind == b"|":
            # An attribute precedes the real reply; drop it.
            for _ in range(2 * int(rest)):
                self.read()
            return self.read()
        raise GenError("unexpected RESP type %r" % kind)


class RespError(str):
    pass


def rustfmt(source):
    proc = subprocess.run(
        ["rustfmt", "--edition", "2021", "--emit", "stdout", "--quiet"],
        input=source.encode(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if proc.returncode != 0:
        raise GenError("rustfmt failed: %s" % proc.stderr.decode()[:2000])
    return proc.stdout.decode()


@contextlib.contextmanager
def private_server(redis_server, *extra):
    """A redis-server of our own, on a unix socket in a temporary directory (no TCP port, no
    persistence), started from an empty config file there (so that CONFIG REWRITE has a
    file to write). Yields (connection over RESP3, the directory)."""
    tmp = tempfile.mkdtemp(prefix="lockstep-gen-")
    path = os.path.join(tmp, "s")
    conf = os.path.join(tmp, "redis.conf")
    open(conf, "w").close()
    proc = None
    try:
        proc = subprocess.Popen(
            [redis_server, conf, "--port", "0", "--unixsocket", path, "--save", "",
             "--appendonly", "no", "--dir", tmp, "--daemonize", "no", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp,
        )
        conn = connect(path, proc)
        try:
            conn.call("HELLO", "3")
            yield conn, tmp
        finally:
            conn.close()
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def connect(path, proc):
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise GenError("redis-server exited with status %d" % proc.returncode)
        try:
            return Resp(path)
        except OSError:
            if time.monotonic() > deadline:
                raise GenError("redis-server did not open %s in 10 s" % path)
            time.sleep(0.02)


def server_version(conn):
    info = conn.call("INFO", "server")
    return next(
        line.split(":", 1)[1].strip()
        for line in info.splitlines()
        if line.startswith("redis_version:")
    )


def write_or_check(outputs, check, script):
    """Writes each (path, text), or with `check` compares them with the committed files and
    returns 1 if any differs (printing the first differences), 0 otherwise."""
    if not check:
        for path, text in outputs:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s (%d bytes)" % (os.path.relpath(path), len(text)))
        return 0
    stale = False
    for path, text in outputs:
        try:
            with open(path) as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if old != text:
            stale = True
            diff = list(difflib.unified_diff(
                old.splitlines(), text.splitlines(), path, "regenerated", lineterm="", n=0))
            changed = sum(1 for l in diff if l[:1] in "+-") - 2
            print("%s is stale: %d lines differ; first differences:" % (path, changed))
            for line in diff[2:22]:
                print("  " + line[:160])
    if stale:
        print("rerun scripts/%s" % script)
        return 1
    return 0
