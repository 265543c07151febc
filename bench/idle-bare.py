#!/usr/bin/python3
"""idle-bare.py HOST PORT USER PASSWORD_FILE CA_FILE [FOLDER] - the floor for push latency.

A bare IMAP IDLE client over IMAPS: log in, EXAMINE the folder, IDLE, and
for every "* N EXISTS" the server sends print "NANOSECONDS N" (CLOCK_REALTIME,
time.time_ns()) on stdout at once.  It does nothing else: no fetch, no
parsing beyond the line, so what it sees is when the server told.  Runs until
killed; "ready" on stderr once it is idling.  The password comes from the
first line of a file, never the command line.
"""
import re
import socket
import ssl
import sys
import time

EXISTS = re.compile(rb"^\* (\d+) EXISTS\r?$")


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    host, port, user, pwfile, ca = sys.argv[1:6]
    folder = sys.argv[6] if len(sys.argv) > 6 else "INBOX"
    with open(pwfile) as f:
        password = f.readline().rstrip("\r\n")
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((host, int(port)))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = ctx.wrap_socket(raw, server_hostname=host)
    rd = sock.makefile("rb", buffering=0)

    def line():
        s = rd.readline()
        if not s:
            sys.exit("idle-bare: the server closed the connection")
        return s.rstrip(b"\n")

    def command(tag, text):
        sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        while True:
            s = line()
            if s.startswith(tag.encode() + b" "):
                if not s.startswith(tag.encode() + b" OK"):
                    sys.exit("idle-bare: %s failed: %r" % (text.split()[0], s[:200]))
                return

    line()  # greeting
    command("i1", "LOGIN %s %s" % (quote(user), quote(password)))
    command("i2", "EXAMINE %s" % quote(folder))
    sock.sendall(b"i3 IDLE\r\n")
    s = line()
    if not s.startswith(b"+"):
        sys.exit("idle-bare: IDLE refused: %r" % s[:200])
    print("ready", file=sys.stderr, flush=True)
    out = sys.stdout
    while True:
        s = line()
        now = time.time_ns()
        m = EXISTS.match(s)
        if m:
            out.write("%d %s\n" % (now, m.group(1).decode()))
            out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
