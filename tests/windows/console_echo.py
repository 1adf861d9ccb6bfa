#!/usr/bin/env python3
"""eimza.exe's PIN prompt on a Wine console: the typed PINs are not echoed, the change
reaches the card, and the console echoes again once eimza.exe has ended.

Usage: console_echo.py EIMZA_EXE CARD   (CARD: a software card file, PIN 123456)

Wine gives a program started on a pty a console in tty mode that echoes what is typed
(checked first with cmd's `set /p`, so the test cannot pass because nothing is ever
shown). Exit status 0 only when every check holds; each check prints ok/FAIL."""
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time

EIMZA, CARD = sys.argv[1], sys.argv[2]
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def windows_path(path):
    return "Z:" + os.path.abspath(path).replace("/", "\\")


class Console:
    """`wine cmd /c COMMAND` on a fresh pty; everything it prints is kept."""

    def __init__(self, command, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe("wine", ["wine", "cmd", "/c", command], env)
        self.raw = b""

    def text(self):
        # Wine's tty console draws with escape sequences (cursor moves, erase line).
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.raw.decode("utf-8", "replace"))

    def pump(self, seconds, until=None):
        end = time.time() + seconds
        while time.time() < end:
            if until is not None and until in self.text():
                return True
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.raw += data
        return until is not None and until in self.text()

    def type(self, line):
        # Wine's console reads the tty raw once it waits for input; before that the
        # tty would echo (and turn Enter into a line feed) by itself.
        end = time.time() + 30
        while termios.tcgetattr(self.fd)[3] & (termios.ICANON | termios.ECHO):
            if time.time() > end:
                raise SystemExit("FAIL the Wine console never took the tty over")
            self.pump(0.05)
        os.write(self.fd, line.encode() + b"\r")

    def finish(self):
        self.pump(20)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


env = dict(os.environ, EIMZA_VIRTUAL_CARD=windows_path(CARD), LANG="C", LC_ALL="C")

# The control: a plain console read echoes.
control = Console("set /p X=control: & echo got %X%", env)
control.pump(30, "control:")
control.type("marker-4711")
control.finish()
check(control.text().count("marker-4711") >= 2, "the Wine console echoes a plain read (set /p)")

# The PIN change, then a plain read in the same console.
session = Console(f"{windows_path(EIMZA)} pin change & set /p X=after: & echo got %X%", env)
for prompt, answer in [("Current PIN:", "123456"), ("New PIN:", "654321"), ("New PIN again:", "654321")]:
    seen = session.pump(60, prompt)
    check(seen, f"prompt '{prompt}' shown")
    if not seen:
        break
    # Only what follows the latest prompt counts for the next one.
    session.type(answer)
    session.pump(1)
session.pump(60, "after:")
session.type("marker-2718")
session.finish()
text = session.text()
check("Your PIN has been changed." in text, "eimza.exe reports the change")
check("123456" not in text and "654321" not in text, "no PIN appears on the console")
check(text.count("marker-2718") >= 2, "the console echoes again after eimza.exe")

# The card has the new PIN: changing it back with the old value as current PIN works.
back = subprocess.run(["wine", EIMZA, "pin", "change", "--stdin"], input=b"654321\n123456\n123456\n",
                      env=env, capture_output=True, timeout=120)
check(back.returncode == 0, f"the card took the new PIN (change back: exit {back.returncode})")

print(f"{failures} failures")
sys.exit(1 if failures else 0)
