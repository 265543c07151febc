#!/usr/bin/python3
"""webdriver.py - a small W3C WebDriver client for postroom's page tests.

    /usr/bin/python3 tests/lib/webdriver.py COMMAND [ARGS...]

Standard library only (urllib, json): it drives a chromedriver that the
caller started on loopback.  Each run is one command; the session lives
between runs, named by a file:

    WEBDRIVER_URL      the driver, e.g. http://127.0.0.1:9515 (required)
    WEBDRIVER_SESSION  the file holding the session id (required)

Commands (SEL is a CSS selector, or "xpath:EXPR"; SECS defaults to 20):

    status                      the driver is ready (exit 0) or not (1)
    start [ARG...]              a new Chromium session with these command-line
                                arguments; writes its id to WEBDRIVER_SESSION
    quit                        end the session (closes the browser)
    size WIDTH HEIGHT           set the window's size
    open URL                    load URL and wait for the page's load event
    click SEL                   click the element
    type SEL TEXT               clear the field, then type TEXT into it
    text SEL                    the element's rendered (visible) text
    prop SEL NAME               a DOM property of the element, as JSON unless
                                it is a string (textContent, value, hidden...)
    count SEL                   how many elements match (0 is fine)
    displayed SEL               "true" or "false"
    wait-displayed SEL [SECS]   until the element exists and is displayed
    wait-hidden SEL [SECS]      until no element matches, or it is not displayed
    wait-text SEL TEXT [SECS]   until the element's rendered text contains TEXT
    js SCRIPT [ARG...]          run SCRIPT (a function body; ARGs are its
                                `arguments`, as strings); print what it returns
                                as JSON
    screenshot FILE             the viewport as a PNG

Waiting polls every 0.1 s until the deadline; a wait that times out says
what it last saw.  Errors go to stderr as "webdriver: CMD: error: ..." and
exit 1; a wrong command line exits 64.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

# the W3C key under which an element reference travels
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    """An error answer from the driver, or no answer at all."""

    def __init__(self, error, message):
        super().__init__("%s: %s" % (error, message))
        self.error = error


class Usage(Exception):
    """A wrong command line."""


class Session:
    """One WebDriver session on one driver."""

    def __init__(self, url, sid=None):
        self.url = url.rstrip("/")
        self.sid = sid

    def call(self, method, path, body=None, timeout=60, top=False):
        """Send one command (PATH under the session's, or the driver's own
        when top); return its "value" or raise WebDriverError."""
        if top:
            full = self.url + path
        else:
            if not self.sid:
                raise WebDriverError("no session", "run `start` first")
            full = "%s/session/%s%s" % (self.url, self.sid, path)
        data = None
        if body is not None or method == "POST":
            data = json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request(full, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                answer = json.load(e)
            except ValueError:
                raise WebDriverError("http %d" % e.code, e.reason) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise WebDriverError("no answer", "%s: %s" % (full, e)) from None
        value = answer.get("value") if isinstance(answer, dict) else None
        if isinstance(value, dict) and "error" in value:
            msg = str(value.get("message", "")).split("\n")[0]
            raise WebDriverError(value["error"], msg)
        return value

    def status(self):
        return self.call("GET", "/status", top=True)

    def start(self, args, binary=None):
        opts = {"args": list(args)}
        if binary:
            opts["binary"] = binary
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "unhandledPromptBehavior": "dismiss",
            "timeouts": {"implicit": 0, "pageLoad": 30000, "script": 30000},
            "goog:chromeOptions": opts,
        }}}
        value = self.call("POST", "/session", caps, timeout=90, top=True)
        self.sid = value["sessionId"]
        return self.sid

    def quit(self):
        self.call("DELETE", "/session/%s" % self.sid, top=True)

    def size(self, width, height):
        self.call("POST", "/window/rect", {"width": width, "height": height})

    def open(self, url):
        self.call("POST", "/url", {"url": url})

    def find_all(self, sel):
        """Element ids matching SEL (CSS, or xpath:EXPR)."""
        if sel.startswith("xpath:"):
            how, what = "xpath", sel[len("xpath:"):]
        else:
            how, what = "css selector", sel
        return [e[ELEMENT] for e in self.call("POST", "/elements", {"using": how, "value": what})]

    def find(self, sel):
        found = self.find_all(sel)
        if not found:
            raise WebDriverError("no such element", sel)
        return found[0]

    def click(self, sel):
        self.call("POST", "/element/%s/click" % self.find(sel))

    def type(self, sel, text):
        e = self.find(sel)
        self.call("POST", "/element/%s/clear" % e)
        self.call("POST", "/element/%s/value" % e, {"text": text})

    def text(self, sel):
        return self.call("GET", "/element/%s/text" % self.find(sel))

    def prop(self, sel, name):
        return self.call("GET", "/element/%s/property/%s" % (self.find(sel), name))

    def displayed(self, sel):
        found = self.find_all(sel)
        return bool(found) and bool(self.call("GET", "/element/%s/displayed" % found[0]))

    def js(self, script, args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", "/screenshot"))
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(png)
        os.rename(tmp, path)
        return len(png)


def wait(what, secs, probe):
    """Call probe() every 0.1 s until it answers (ok, seen) with ok true.
    A vanished element or a page being replaced counts as not yet."""
    deadline = time.monotonic() + secs
    seen = None
    while True:
        try:
            ok, seen = probe()
            if ok:
                return seen
        except WebDriverError as e:
            if e.error not in ("no such element", "stale element reference"):
                raise
            seen = str(e)
        if time.monotonic() >= deadline:
            raise WebDriverError("timeout", "%s: not after %gs (last seen: %r)" % (what, secs, seen))
        time.sleep(0.1)


def secs_arg(argv, i):
    try:
        return float(argv[i]) if len(argv) > i else 20.0
    except ValueError:
        raise Usage() from None


def run(cmd, argv, s, session_file):
    """Run one command; return what to print (None for nothing)."""
    if cmd == "status":
        v = s.status()
        if not (isinstance(v, dict) and v.get("ready")):
            raise WebDriverError("not ready", json.dumps(v))
        return None
    if cmd == "start":
        sid = s.start(argv, binary=os.environ.get("WEBDRIVER_BINARY"))
        with open(session_file + ".tmp", "w") as f:
            f.write(sid + "\n")
        os.rename(session_file + ".tmp", session_file)
        return sid
    if cmd == "quit":
        s.quit()
        os.unlink(session_file)
        return None
    if cmd == "size" and len(argv) == 2 and argv[0].isdigit() and argv[1].isdigit():
        s.size(int(argv[0]), int(argv[1]))
        return None
    if cmd == "open" and len(argv) == 1:
        s.open(argv[0])
        return None
    if cmd == "click" and len(argv) == 1:
        s.click(argv[0])
        return None
    if cmd == "type" and len(argv) == 2:
        s.type(argv[0], argv[1])
        return None
    if cmd == "text" and len(argv) == 1:
        return s.text(argv[0])
    if cmd == "prop" and len(argv) == 2:
        v = s.prop(argv[0], argv[1])
        return v if isinstance(v, str) else json.dumps(v)
    if cmd == "count" and len(argv) == 1:
        return str(len(s.find_all(argv[0])))
    if cmd == "displayed" and len(argv) == 1:
        return "true" if s.displayed(argv[0]) else "false"
    if cmd == "wait-displayed" and len(argv) in (1, 2):
        wait("%s displayed" % argv[0], secs_arg(argv, 1),
             lambda: (s.displayed(argv[0]), "hidden or absent"))
        return None
    if cmd == "wait-hidden" and len(argv) in (1, 2):
        wait("%s hidden" % argv[0], secs_arg(argv, 1),
             lambda: (not s.displayed(argv[0]), "displayed"))
        return None
    if cmd == "wait-text" and len(argv) in (2, 3):
        def probe():
            t = s.text(argv[0])
            return argv[1] in t, t
        wait("%s containing %r" % (argv[0], argv[1]), secs_arg(argv, 2), probe)
        return None
    if cmd == "js" and len(argv) >= 1:
        return json.dumps(s.js(argv[0], argv[1:]), ensure_ascii=False)
    if cmd == "screenshot" and len(argv) == 1:
        s.screenshot(argv[0])
        return None
    raise Usage()


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 64
    cmd, argv = sys.argv[1], sys.argv[2:]
    url = os.environ.get("WEBDRIVER_URL")
    session_file = os.environ.get("WEBDRIVER_SESSION")
    if not url or not session_file:
        sys.stderr.write("webdriver: %s: WEBDRIVER_URL and WEBDRIVER_SESSION must be set\n" % cmd)
        return 64
    sid = None
    if cmd not in ("status", "start"):
        try:
            with open(session_file) as f:
                sid = f.readline().strip()
        except OSError as e:
            sys.stderr.write("webdriver: %s: error: no session: %s\n" % (cmd, e))
            return 1
    s = Session(url, sid)
    try:
        out = run(cmd, argv, s, session_file)
    except Usage:
        sys.stderr.write("webdriver: %s: wrong arguments (see --help)\n" % cmd)
        return 64
    except WebDriverError as e:
        sys.stderr.write("webdriver: %s: error: %s\n" % (cmd, e))
        return 1
    if out is not None:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
