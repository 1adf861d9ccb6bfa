#!/usr/bin/env python3
"""Drives a running Firefox through Marionette, its own remote protocol.

The wire format is length-prefixed JSON on a local TCP port: the server greets with
`LEN:{"applicationType":"gecko",...}`, a command is `LEN:[0,id,"Name",{params}]`, the
reply `LEN:[1,id,error,result]`. No external driver and no package are needed.

Every command opens one session in the chrome context (Firefox must run with
--marionette --remote-allow-system-access), prints one JSON object on standard output
and exits 0; a protocol or timeout failure exits 1 with a message on standard error.

PIN dialogs are never bypassed: `login` and `fetch` install an observer on
`common-dialog-loaded` that, for each dialog Firefox opens, records its text, types
the next PIN of --pins into the dialog's password field and presses OK (or Cancel
when the list is used up). Marionette drops a script's return value when a modal
dialog opens during the script, so the chrome code reports through a preference
that the client polls.
"""

import argparse
import json
import os
import socket
import sys
import time
import uuid


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, port, timeout=120.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.next_id = 0
        hello = self._recv()
        if not isinstance(hello, dict) or hello.get("applicationType") != "gecko":
            raise MarionetteError(f"not a Marionette server: {hello!r}")

    def _recv(self):
        while b":" not in self.buf:
            self._fill()
        length, rest = self.buf.split(b":", 1)
        size = int(length)
        self.buf = rest
        while len(self.buf) < size:
            self._fill()
        body, self.buf = self.buf[:size], self.buf[size:]
        return json.loads(body)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise MarionetteError("connection closed by Firefox")
        self.buf += chunk

    def call(self, name, params=None):
        self.next_id += 1
        data = json.dumps([0, self.next_id, name, params or {}]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self._recv()
            if isinstance(msg, list) and msg[0] == 1 and msg[1] == self.next_id:
                break
        if msg[2]:
            err = msg[2]
            raise MarionetteError(f"{name}: {err.get('error')}: {err.get('message')}")
        return msg[3]

    def start_session(self):
        # "ignore": Marionette must neither dismiss nor accept the PIN dialog; the
        # observer answers it as a person would.
        self.call("WebDriver:NewSession",
                  {"capabilities": {"alwaysMatch": {"unhandledPromptBehavior": "ignore"}}})
        self.call("WebDriver:SetTimeouts", {"script": 300000, "pageLoad": 300000})
        self.context("chrome")

    def context(self, name):
        self.call("Marionette:SetContext", {"value": name})

    def run(self, script, *args):
        # An async body, so scripts may await; Marionette waits for the promise.
        body = "return (async () => {\n%s\n})();" % script
        return self.call("WebDriver:ExecuteScript",
                         {"script": body, "args": list(args)}).get("value")

    def close(self):
        try:
            self.call("WebDriver:DeleteSession")
        except (MarionetteError, OSError):
            pass
        self.sock.close()


# Chrome-context helpers, prepended to every script.
PRELUDE = r"""
const moduleDB = Cc["@mozilla.org/security/pkcs11moduledb;1"].getService(Ci.nsIPKCS11ModuleDB);
async function listTokens() {
  const out = [];
  for (const mod of await moduleDB.listModules()) {
    for (const slot of mod.slots) {
      const present = slot.status != Ci.nsIPKCS11Slot.SLOT_NOT_PRESENT &&
                      slot.status != Ci.nsIPKCS11Slot.SLOT_DISABLED;
      let token = null, loggedIn = null;
      if (present) {
        try { const t = slot.getToken(); token = t.tokenName; loggedIn = isLoggedIn(t); } catch (e) {}
      }
      out.push({ module: mod.name, lib: mod.libName, slot: slot.name, status: slot.status,
                 token, loggedIn });
    }
  }
  return out;
}
// An attribute in Firefox 153, a method in older releases.
function isLoggedIn(t) { return typeof t.isLoggedIn == "function" ? t.isLoggedIn() : t.isLoggedIn; }
async function findToken(name) {
  for (const mod of await moduleDB.listModules()) {
    for (const slot of mod.slots) {
      if (slot.status == Ci.nsIPKCS11Slot.SLOT_NOT_PRESENT) continue;
      try { const t = slot.getToken(); if (t.tokenName == name) return t; } catch (e) {}
    }
  }
  throw new Error("no token " + name);
}
// Answers every common dialog: records what it showed, types the next PIN into its
// password field and presses OK; Cancel when no PIN is left. Reports into pref KEY.
function installAnswerer(key, pins) {
  const state = { dialogs: [], done: false };
  const save = () => Services.prefs.setStringPref(key, JSON.stringify(state));
  const observer = {
    observe(win) {
      const doc = win.document;
      const field = doc.getElementById("password1Textbox");
      const entry = {
        text: doc.getElementById("infoBody")?.textContent ?? null,
        passwordField: !!field && !doc.getElementById("password1Container")?.hidden,
      };
      state.dialogs.push(entry);
      save();
      // After the dialog's own load handling has returned, as a person would.
      Services.tm.dispatchToMainThread(() => {
        const dialog = doc.getElementById("commonDialog");
        if (pins.length && entry.passwordField) {
          field.focus();
          field.value = pins.shift();
          entry.answer = "ok";
          save();
          dialog.acceptDialog();
        } else {
          entry.answer = "cancel";
          save();
          dialog.cancelDialog();
        }
      });
    },
  };
  Services.obs.addObserver(observer, "common-dialog-loaded");
  save();
  return {
    state, save,
    remove() { Services.obs.removeObserver(observer, "common-dialog-loaded"); },
  };
}
"""


def connect(args):
    port = args.port
    if port is None:
        with open(os.path.join(args.profile, "MarionetteActivePort")) as f:
            port = int(f.read().strip())
    m = Marionette(port)
    m.start_session()
    return m


def run_with_dialogs(m, action, action_args, pins, timeout):
    """Runs the chrome-context ACTION (an async function body taking `a`) with the
    dialog answerer installed; returns the state (dialogs, result/error)."""
    key = "eimza.test." + uuid.uuid4().hex
    script = PRELUDE + r"""
    const [key, pins, a] = arguments;
    const answerer = installAnswerer(key, pins);
    const action = async (a) => { %s };
    Services.tm.dispatchToMainThread(async () => {
      try { answerer.state.result = await action(a); }
      catch (e) { answerer.state.error = String(e); }
      answerer.remove();
      answerer.state.done = true;
      answerer.save();
    });
    return true;
    """ % action
    try:
        m.run(script, key, list(pins), action_args)
    except MarionetteError as e:
        # A dialog opened while the script ran: the reply may be an error or empty.
        print(f"ff.py: (during the action: {e})", file=sys.stderr)
    return poll_state(m, key, timeout, lambda s: s.get("done"))


def poll_state(m, key, timeout, finished):
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        try:
            raw = m.run("""
              const k = arguments[0];
              return Services.prefs.prefHasUserValue(k) ? Services.prefs.getStringPref(k) : null;
            """, key)
        except MarionetteError:
            raw = None  # a dialog is being answered; ask again
        if raw:
            state = json.loads(raw)
            if finished(state):
                m.run("Services.prefs.clearUserPref(arguments[0]);", key)
                return state
        time.sleep(0.05)
    raise MarionetteError(f"timed out after {timeout} s; last state: {state}")


def cmd_tokens(m, args):
    return {"tokens": m.run(PRELUDE + "return await listTokens();")}


def cmd_wait_token(m, args):
    """Polls until the token is present (or absent)."""
    deadline = time.monotonic() + args.timeout
    want = args.state == "present"
    while True:
        tokens = m.run(PRELUDE + "return await listTokens();")
        hit = [t for t in tokens if t["token"] == args.token]
        if bool(hit) == want:
            return {"tokens": tokens, "token": hit[0] if hit else None}
        if time.monotonic() > deadline:
            raise MarionetteError(f"token {args.token} not {args.state} after {args.timeout} s: {tokens}")
        time.sleep(0.05)


def cmd_login(m, args):
    state = run_with_dialogs(m, """
      const t = await findToken(a.token);
      let thrown = null;
      // login(false): authenticate when not logged in, as Security Devices -> Log In.
      try { t.login(false); } catch (e) { thrown = String(e); }
      return { thrown, loggedIn: isLoggedIn(t) };
    """, {"token": args.token}, split_pins(args.pins), args.timeout)
    return state


def cmd_logout(m, args):
    return {"loggedIn": m.run(PRELUDE + """
      const t = await findToken(arguments[0]);
      t.logout();
      return isLoggedIn(t);
    """, args.token)}


def cmd_change_password(m, args):
    # What Security Devices -> Change Password calls (changepassword.js setPassword).
    return run_with_dialogs(m, """
      const t = await findToken(a.token);
      let thrown = null;
      try { t.changePassword(a.old, a.new); } catch (e) { thrown = String(e); }
      return { thrown, loggedIn: isLoggedIn(t) };
    """, {"token": args.token, "old": args.old, "new": args.new}, [], args.timeout)


def cmd_fetch(m, args):
    """Loads URL in the browser tab, answering PIN dialogs, until the page holds
    --until or Firefox shows an error page."""
    key = "eimza.test." + uuid.uuid4().hex
    m.run(PRELUDE + """
      const [key, pins] = arguments;
      const w = Services.wm.getMostRecentWindow("navigator:browser");
      w.eimzaAnswerer = installAnswerer(key, pins);
      return true;
    """, key, split_pins(args.pins))
    m.context("content")
    # A blank page first, so the previous page cannot be taken for this one.
    m.call("WebDriver:Navigate", {"url": "about:blank"})
    started = time.monotonic()
    try:
        m.call("WebDriver:Navigate", {"url": args.url})
    except (MarionetteError, socket.timeout) as e:
        # Returns early (or with an error) when the PIN dialog opens in the handshake.
        print(f"ff.py: (navigate: {e})", file=sys.stderr)
    page = None
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        try:
            page = m.run("""return { url: document.documentURI,
                                     text: document.body ? document.body.textContent : "" };""")
        except MarionetteError:
            page = None  # dialog open or page in transition
        if page and (page["url"] == args.url and args.until in page["text"]
                     or page["url"].startswith(("about:neterror", "about:certerror"))):
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    m.context("chrome")
    raw = m.run("""
      const w = Services.wm.getMostRecentWindow("navigator:browser");
      const a = w.eimzaAnswerer; delete w.eimzaAnswerer;
      a.remove();
      const k = arguments[0];
      const s = Services.prefs.getStringPref(k); Services.prefs.clearUserPref(k);
      return s;
    """, key)
    state = json.loads(raw)
    return {"dialogs": state["dialogs"], "page": page, "seconds": round(elapsed, 3),
            "complete": bool(page and page["url"] == args.url and args.until in page["text"])}


def cmd_set_pref(m, args):
    m.run("Services.prefs.setStringPref(arguments[0], arguments[1]);", args.name, args.value)
    return {"ok": True}


def cmd_eval(m, args):
    """Runs a chrome-context script (with the helpers above) and prints its value."""
    return {"value": m.run(PRELUDE + args.script)}


def cmd_quit(m, args):
    try:
        m.call("Marionette:Quit", {"flags": ["eForceQuit"]})
    except (MarionetteError, OSError):
        pass
    return {"ok": True}


def cmd_wait_start(args):
    """Firefox was launched at --since (epoch ns): waits for Marionette, then for the
    token; prints the milliseconds from launch to each."""
    since = args.since / 1e9
    deadline = time.monotonic() + args.timeout
    port_file = os.path.join(args.profile, "MarionetteActivePort")
    m = None
    while m is None:
        try:
            with open(port_file) as f:
                port = int(f.read().strip())
            m = Marionette(port)
            m.start_session()
        except (OSError, ValueError, MarionetteError):
            m = None
            if time.monotonic() > deadline:
                raise MarionetteError(f"Marionette not up after {args.timeout} s")
            time.sleep(0.05)
    marionette_ms = (time.time() - since) * 1000
    result = {"marionette_ms": round(marionette_ms)}
    if args.token:
        args.state = "present"
        args.timeout = max(1.0, deadline - time.monotonic())
        found = cmd_wait_token(m, args)
        result["token_ms"] = round((time.time() - since) * 1000)
        result["token"] = found["token"]
    m.close()
    return result


def split_pins(text):
    return [p for p in (text or "").split(",") if p]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", required=True, help="profile folder (MarionetteActivePort)")
    p.add_argument("--port", type=int)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("wait-start")
    s.add_argument("--since", type=int, required=True, help="launch time, ns since the epoch")
    s.add_argument("--token")
    s.add_argument("--timeout", type=float, default=120)
    sub.add_parser("tokens")
    s = sub.add_parser("wait-token")
    s.add_argument("token")
    s.add_argument("--state", choices=["present", "absent"], default="present")
    s.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("login")
    s.add_argument("token")
    s.add_argument("--pins", default="", help="comma-separated answers, one per dialog")
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("logout")
    s.add_argument("token")
    s = sub.add_parser("change-password")
    s.add_argument("token")
    s.add_argument("old")
    s.add_argument("new")
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("fetch")
    s.add_argument("url")
    s.add_argument("--pins", default="")
    s.add_argument("--until", default="-----END CERTIFICATE-----")
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("set-pref")
    s.add_argument("name")
    s.add_argument("value")
    s = sub.add_parser("eval")
    s.add_argument("script")
    sub.add_parser("quit")
    args = p.parse_args()

    try:
        if args.cmd == "wait-start":
            out = cmd_wait_start(args)
        else:
            m = connect(args)
            try:
                out = globals()["cmd_" + args.cmd.replace("-", "_")](m, args)
            finally:
                if args.cmd != "quit":
                    m.close()
    except (MarionetteError, OSError) as e:
        print(f"ff.py {args.cmd}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
