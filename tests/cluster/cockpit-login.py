#!/usr/bin/python3
"""Logs in to Cockpit as a user who is no admin, in headless Chromium
(test-cockpit.sh).

    cockpit-login.py BASE USER PASSWORD VM WORKDIR

Opens BASE (cockpit-ws with its own login, password through PAM), fills
the login form and logs in, opens kvmcluster's page, waits until it shows
the cluster (quorum, VM running on a node), then clicks "Move live" for
VM and confirms: the page must show clusterd's refusal (the user is only
in clusterd's read-only-group) and VM must stay where it was. Screenshots
go to WORKDIR/login-*.png. Prints "RESULT key=value" lines; exits 1 with
"FAIL: ..." when the page does not show what it should in time."""

import os
import sys
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BASE, USER, PASSWORD, VM, WORK = sys.argv[1:6]
T0 = time.monotonic()


def log(msg):
    print("[login %6.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


o = webdriver.ChromeOptions()
o.binary_location = "/usr/lib/chromium/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
          "--disable-gpu", "--window-size=1400,1200",
          "--user-data-dir=" + os.path.join(WORK, "login-profile"),
          "--no-first-run", "--disable-extensions"):
    o.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver",
                                       log_path=os.path.join(WORK, "login-chromedriver.log")),
                       options=o)
shots = []


def shot(name):
    path = os.path.join(WORK, "login-" + name + ".png")
    drv.save_screenshot(path)
    shots.append(path)
    log("screenshot " + path)


def fail(msg):
    try:
        shot("failed")
        with open(os.path.join(WORK, "login-failed.html"), "w") as f:
            f.write(drv.page_source)
    except Exception as ex:
        log("no screenshot of the failure: %s" % ex)
    print("FAIL: " + msg, flush=True)
    drv.quit()
    sys.exit(1)


def on_exception(kind, value, tb):
    traceback.print_exception(kind, value, tb)
    fail("%s: %s" % (kind.__name__, str(value).splitlines()[0] if str(value) else ""))


sys.excepthook = on_exception


def text(css):
    try:
        return drv.find_element(By.CSS_SELECTOR, css).text.strip()
    except Exception:
        return ""


def row(field):
    return text('tr[data-vm="%s"] .vm-%s' % (VM, field))


def wait(what, secs, cond):
    end = time.monotonic() + secs
    while True:
        try:
            v = cond()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() > end:
            fail("%s not shown within %d s (VM row: state '%s', node '%s'; "
                 "error: '%s')" % (what, secs, row("state"), row("node"),
                                   text("#error")))
        time.sleep(0.2)


# Cockpit's own login form.
drv.get(BASE + "/")
wait("the login form", 30,
     lambda: drv.find_element(By.ID, "login-user-input").is_displayed())
drv.find_element(By.ID, "login-user-input").send_keys(USER)
drv.find_element(By.ID, "login-password-input").send_keys(PASSWORD)
shot("1-form")
drv.find_element(By.ID, "login-button").click()
# Logged in once the form is gone (the session cookie comes earlier:
# leaving before the page moved on loses the session).
def form_gone():
    f = drv.find_elements(By.ID, "login-user-input")
    return not f or not f[0].is_displayed()


wait("a logged-in session", 30,
     lambda: form_gone() and any(c["name"] == "cockpit" for c in drv.get_cookies()))
log("logged in as %s: '%s'" % (USER, drv.title))
time.sleep(1)

# The plugin, in the session of that user.
drv.get(BASE + "/cockpit/@localhost/kvmcluster/index.html")
wait("the page", 30, lambda: text("h1") == "KVM cluster" or
     (drv.find_elements(By.ID, "login-user-input") and fail("sent back to the login form")))
wait("quorum", 30, lambda: text("#quorum").startswith("quorate"))
where = wait("VM %s running" % VM, 30,
             lambda: row("state") == "running" and row("node"))
log("%s sees VM %s running on %s; quorum %s, coordinator %s" %
    (USER, VM, where, text("#quorum"), text("#coordinator")))
shot("2-overview")
print("RESULT ro_node=%s" % where)
print("RESULT ro_quorum=%s" % text("#quorum"))

# An action: clusterd refuses it, the page says so, nothing moves.
drv.find_element(By.CSS_SELECTOR, 'tr[data-vm="%s"] button.move-live' % VM).click()
wait("the move dialog", 5, lambda: drv.find_element(By.ID, "confirm").is_displayed())
drv.find_element(By.ID, "confirm-ok").click()
refused = wait("the refusal", 30,
               lambda: "permission denied" in text("#error") and text("#error"))
log("refused: %s" % refused)
logged = wait("the refusal in the page's log", 10, lambda: next(
    (li.text for li in drv.find_elements(By.CSS_SELECTOR, "#log li")
     if "failed" in li.text and "permission denied" in li.text), None))
shot("3-refused")
# Still shown after the refresh every action ends with, and the next.
time.sleep(6)
if "permission denied" not in text("#error"):
    fail("the refusal vanished from the page: '%s'" % text("#error"))
if row("node") != where:
    fail("VM %s moved from %s to %s for a read-only user" % (VM, where, row("node")))
print("RESULT refused=%s" % refused.replace("\n", " / "))
print("RESULT refused_log=%s" % logged)
print("RESULT login_screenshots=%s" % " ".join(shots), flush=True)
drv.quit()
