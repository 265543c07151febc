#!/usr/bin/python3
"""mailbox-push.py - drive the push-latency benchmark (bench/mailbox.sh push).

Appends COUNT messages, one at a time, alternately to two folders of one
Dovecot user: FOLDER_A, watched by postroom (fetchd -> parsed -> routed ->
agentd; an agent logged in, ready, following /api/events) and FOLDER_B, watched
by fetchmail --idle (its MDA names each file after the moment it ran).  A bare
IDLE client (idle-bare.py) watches each folder too: the floor, Dovecot's own
notification delay.

For message i the clock starts when APPEND's tagged OK arrives and stops:
  postroom   when the agent's event stream delivers `assigned` for it (the
             agent then records DONE at once, so it is free for the next);
  fetchmail  when its MDA started for it (bash $EPOCHREALTIME in the file name);
  bare       when "* N EXISTS" arrived (idle-bare.py's output).
The next append waits until every watcher has seen message i (or TIMEOUT
seconds passed), then a random 0.2-0.6 s more, so nobody is mid-work.
Every clock is CLOCK_REALTIME on this machine.

Prints one line per message ("i watcher ms") to --raw and a summary to stdout:
  WATCHER n=N missed=M p50=MS p99=MS max=MS
(percentiles by nearest rank; a missed message counts as TIMEOUT in them).
With --tap CMD (postroom-tap), the moment each stage published message i
splits postroom's time into its stages:
  stage NAME n=N p50=MS p99=MS
"""
import argparse
import atexit
import email
import email.policy
import glob
import http.client
import imaplib
import json
import math
import os
import queue
import random
import signal
import shlex
import subprocess
import sys
import threading
import time

TIMEOUT = 15.0


def load_messages(corpus, count):
    files = sorted(glob.glob(os.path.join(corpus, "*.eml")))[:count]
    if len(files) < count:
        sys.exit("mailbox-push: %s has %d messages, %d wanted" % (corpus, len(files), count))
    out = []
    for i, path in enumerate(files):
        with open(path, "rb") as f:
            m = email.message_from_binary_file(f, policy=email.policy.SMTP)
        # a new conversation each: unique subject, no thread headers
        for h in ("Subject", "In-Reply-To", "References"):
            del m[h]
        m["Subject"] = "push %d" % i
        out.append(m.as_bytes())
    return out


class Sse(threading.Thread):
    """follows /api/events: (ns, event, data) on a queue"""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.q = queue.Queue()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        self.conn.request("GET", "/api/events", headers={
            "Authorization": "Bearer " + token, "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            sys.exit("mailbox-push: /api/events: HTTP %d" % self.resp.status)

    def run(self):
        event = None
        while True:
            line = self.resp.readline()
            if not line:
                self.q.put((time.time_ns(), "closed", None))
                return
            now = time.time_ns()
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                try:
                    data = json.loads(line[6:])
                except ValueError:
                    data = None
                self.q.put((now, event, data))
            elif line == "":
                event = None


class Api:
    def __init__(self, port):
        self.port = port
        self.token = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None
                                  else None, headers=headers)
                r = self.conn.getresponse()
                return r.status, json.loads(r.read() or b"null")
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise


class Lines:
    """the "NS N" lines idle-bare.py writes: first time each N was seen"""

    def __init__(self, path):
        self.path, self.off, self.seen, self.part = path, 0, {}, b""

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        self.off += len(data)
        data = self.part + data
        lines = data.split(b"\n")
        self.part = lines.pop()
        for ln in lines:
            ns, n = ln.split()
            self.seen.setdefault(int(n), int(ns))


class Mda:
    """the files fetchmail's MDA wrote: DIR/SECONDS.MICROS.eml -> message i"""

    def __init__(self, path):
        self.path, self.known, self.seen = path, set(), {}

    def poll(self):
        for name in os.listdir(self.path):
            if not name.endswith(".eml") or name in self.known:
                continue
            self.known.add(name)
            with open(os.path.join(self.path, name), "rb") as f:
                head = f.read(65536)
            m = email.message_from_bytes(head.split(b"\n\n")[0] + b"\n\n")
            subj = str(m.get("Subject", ""))
            if subj.startswith("push "):
                ns = int(round(float(name[:-4].replace(",", ".")) * 1e9))
                self.seen.setdefault(int(subj.split()[1]), ns)


class Tap(threading.Thread):
    """postroom-tap's lines, timestamped on arrival: (type, uid) -> first ns"""

    def __init__(self, cmd):
        super().__init__(daemon=True)
        self.seen = {}
        self.proc = subprocess.Popen(shlex.split(cmd), stdout=subprocess.PIPE)

    def run(self):
        for line in self.proc.stdout:
            now = time.time_ns()
            try:
                m = json.loads(line)
                uid = int(str(m.get("key", "")).rsplit("/", 1)[1])
            except (ValueError, IndexError):
                continue
            self.seen.setdefault((m.get("type"), uid), now)


def pct(sorted_ms, p):
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imap-port", type=int, required=True, help="plain IMAP, for APPEND")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--folder-a", default="INBOX")
    ap.add_argument("--folder-b", default="Peer")
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--agent-password-file", required=True)
    ap.add_argument("--bare-a", required=True, help="idle-bare.py output for folder A")
    ap.add_argument("--bare-b", required=True, help="idle-bare.py output for folder B")
    ap.add_argument("--mda-dir", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tap", help="a postroom-tap command: time postroom's stages")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    msgs = load_messages(a.corpus, a.count)
    with open(a.password_file) as f:
        imap_pw = f.readline().rstrip("\r\n")
    with open(a.agent_password_file) as f:
        agent_pw = f.readline().rstrip("\r\n")

    api = Api(a.http_port)
    st, body = api.call("POST", "/api/login", {"agent": a.agent, "password": agent_pw})
    if st != 200:
        sys.exit("mailbox-push: login: HTTP %d %s" % (st, body))
    api.token = body["token"]
    sse = Sse(a.http_port, api.token)
    sse.start()
    st, body = api.call("POST", "/api/state", {"state": "ready"})
    if st != 200:
        sys.exit("mailbox-push: ready: HTTP %d %s" % (st, body))

    tap = None
    if a.tap:
        tap = Tap(a.tap)
        atexit.register(tap.proc.terminate)
        tap.start()
        time.sleep(0.5)     # subscribed before the first message
    appended = {}       # i -> ns of APPEND's completion in folder A
    imap = imaplib.IMAP4("127.0.0.1", a.imap_port)
    imap.login(a.user, imap_pw)
    bare_a, bare_b, mda = Lines(a.bare_a), Lines(a.bare_b), Mda(a.mda_dir)
    lat = {"postroom": [], "bare-a": [], "fetchmail": [], "bare-b": []}
    raw = open(a.raw, "w", buffering=1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # atexit stops the tap
    pending = {}        # subject number -> (ns, conversation) seen on the stream

    def drain_sse():
        while True:
            try:
                ns, ev, data = sse.q.get_nowait()
            except queue.Empty:
                return
            if ev == "assigned" and data:
                subj = str(data.get("subject", ""))
                if subj.startswith("push "):
                    pending.setdefault(int(subj.split()[1]), (ns, data.get("conversation")))
                elif isinstance(data.get("conversation"), int):
                    # not ours (left in the store): out of the way
                    print("mailbox-push: disposing of conversation %d (%r), not a push message"
                          % (data["conversation"], subj), file=sys.stderr)
                    api.call("POST", "/api/conversations/%d/disposition" % data["conversation"],
                             {"disposition": "DONE"})

    def record(i, who, t0, t1):
        ms = None if t1 is None else (t1 - t0) / 1e6
        lat[who].append(ms)
        if len(lat[who]) >= 5 and all(x is None for x in lat[who][-5:]):
            sys.exit("mailbox-push: %s saw none of the last 5 messages: giving up" % who)
        raw.write("%d %s %s\n" % (i, who, "missed" if ms is None else "%.3f" % ms))

    for i in range(a.count):
        for folder, who, bare, n in ((a.folder_a, "postroom", bare_a, i + 1),
                                     (a.folder_b, "fetchmail", bare_b, i + 1)):
            typ, _ = imap.append(folder, None, None, msgs[i])
            t0 = time.time_ns()
            if typ != "OK":
                sys.exit("mailbox-push: APPEND to %s: %s" % (folder, typ))
            deadline = time.monotonic() + TIMEOUT
            got = None
            while time.monotonic() < deadline:
                bare.poll()
                if who == "postroom":
                    drain_sse()
                    got = pending.get(i)
                else:
                    mda.poll()
                    got = mda.seen.get(i)
                if got is not None and n in bare.seen:
                    break
                time.sleep(0.002)
            if who == "postroom":
                appended[i] = t0
            t1 = got[0] if who == "postroom" and got else got
            record(i, who, t0, t1)
            record(i, "bare-a" if who == "postroom" else "bare-b", t0, bare.seen.get(n))
            if who == "postroom" and got:
                st, body = api.call("POST", "/api/conversations/%d/disposition" % got[1],
                                    {"disposition": "DONE"})
                if st != 200:
                    print("mailbox-push: disposition of %d: HTTP %d %s" % (got[1], st, body),
                          file=sys.stderr)
            time.sleep(rng.uniform(0.2, 0.6))
    raw.close()
    imap.logout()

    for who in ("bare-a", "postroom", "bare-b", "fetchmail"):
        v = lat[who]
        missed = sum(1 for x in v if x is None)
        s = sorted(TIMEOUT * 1000 if x is None else x for x in v)
        print("%s n=%d missed=%d p50=%.1f p99=%.1f max=%.1f" % (
            who, len(v), missed, pct(s, 50), pct(s, 99), s[-1]))
    # the same message, watcher minus the floor of its folder
    for who, floor in (("postroom", "bare-a"), ("fetchmail", "bare-b")):
        d = sorted(w - f for w, f in zip(lat[who], lat[floor]) if w is not None and f is not None)
        if d:
            print("delta %s n=%d p50=%.1f p99=%.1f max=%.1f" % (who, len(d), pct(d, 50),
                                                               pct(d, 99), d[-1]))
    if tap is None:
        return
    tap.proc.terminate()
    # folder A was empty: message i has uid i + 1
    bare = dict((i, bare_a.seen.get(i + 1)) for i in appended)
    points = [("APPEND", lambda i: appended[i]), ("EXISTS", lambda i: bare[i]),
              ("raw.1", lambda i: tap.seen.get(("raw.1", i + 1))),
              ("parsed.1", lambda i: tap.seen.get(("parsed.1", i + 1))),
              ("ack.1", lambda i: tap.seen.get(("ack.1", i + 1))),
              ("assigned", lambda i: pending.get(i, (None,))[0])]
    for (na, fa), (nb, fb) in zip(points, points[1:]):
        d = sorted((fb(i) - fa(i)) / 1e6 for i in appended if fa(i) and fb(i))
        if d:
            print("stage %s->%s n=%d p50=%.1f p99=%.1f max=%.1f" % (
                na, nb, len(d), pct(d, 50), pct(d, 99), d[-1]))


if __name__ == "__main__":
    main()
