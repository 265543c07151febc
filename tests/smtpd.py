#!/usr/bin/python3
"""smtpd.py - the SMTP server of postroom's integration tests and demo.

    /usr/bin/python3 tests/smtpd.py --port PORT --dir DIR --user USER
        --password-file FILE [--cert PEM --key PEM] [--host 127.0.0.1]

An aiosmtpd server on loopback that takes mail only after AUTH PLAIN or
LOGIN with the one user and password it was given (the password comes from a
file, never the command line).  Unauthenticated MAIL FROM gets 530.  AUTH is
offered without TLS (auth_require_tls=False: it listens on loopback only);
with --cert and --key it also offers STARTTLS.

Every accepted message is written to DIR as N.eml (the bytes exactly as
received) with N.json beside it: {"mail_from", "rcpt_tos", "auth_user",
"tls", "peer"}.  The .eml is renamed into place after the .json, so a
reader that sees N.eml also finds N.json.  One line per event on stdout.

Stops cleanly on SIGTERM or SIGINT.  Debian's /usr/bin/python3 has aiosmtpd
(python3-aiosmtpd); a pyenv python3 on PATH may not.
"""
import argparse
import itertools
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def log(msg):
    print("smtpd: " + msg, flush=True)


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
                and auth_data.password == self.password):
            log("auth ok: %s %s" % (mechanism, self.user.decode()))
            return AuthResult(success=True, auth_data=auth_data)
        who = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        log("auth refused: %s %s" % (mechanism, who))
        return AuthResult(success=False, handled=False)


class Keeper:
    """Write every accepted message to a directory."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        existing = [int(n[:-4]) for n in os.listdir(directory)
                    if n.endswith(".eml") and n[:-4].isdigit()]
        self.seq = itertools.count(max(existing, default=0) + 1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.seq)
        base = os.path.join(self.dir, "%d" % n)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        side = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_user": login,
            "tls": session.ssl is not None,
            "peer": "%s:%s" % tuple(session.peer[:2]) if session.peer else None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(side, f)
        os.rename(base + ".json.tmp", base + ".json")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(content)
        os.rename(base + ".eml.tmp", base + ".eml")
        log("accepted %d.eml: from=<%s> to=%s size=%d" % (n, envelope.mail_from,
            ",".join("<%s>" % r for r in envelope.rcpt_tos), len(content)))
        return "250 OK: queued as %d" % n


def main():
    ap = argparse.ArgumentParser(description="SMTP server for postroom's tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True, help="where accepted messages go")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--cert", help="PEM certificate: offer STARTTLS")
    ap.add_argument("--key", help="PEM private key of --cert")
    a = ap.parse_args()

    with open(a.password_file) as f:
        password = f.readline().rstrip("\r\n")
    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)

    ctl = Controller(Keeper(a.dir), hostname=a.host, port=a.port,
                     server_hostname="smtp.postroom.test", ident="postroom-test-smtpd",
                     authenticator=Authenticator(a.user, password),
                     auth_required=True, auth_require_tls=False,
                     tls_context=tls, require_starttls=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ctl.start()
    log("listening on %s:%d%s" % (a.host, a.port, " (STARTTLS offered)" if tls else ""))
    while not stop.wait(1):
        pass
    ctl.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    import logging
    import warnings
    # AUTH without TLS, on loopback, is on purpose: keep aiosmtpd quiet about it
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    sys.exit(main())
