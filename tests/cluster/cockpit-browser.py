#!/usr/bin/python3
"""Drives kvmcluster's Cockpit page in headless Chromium (test-cockpit.sh).

    cockpit-browser.py URL VM TARGET WORKDIR

Opens URL (the page, served by cockpit-ws), waits until VM runs, clicks
"Move live" for VM, picks TARGET in the dialog and confirms; waits until
the page shows VM running on TARGET and the move's downtime. Then writes
WORKDIR/moved and waits for WORKDIR/killed (the test kills TARGET), and
waits until the page shows TARGET down and VM running elsewhere after a
failover, each time with its lease held on its new node (the Lease
column). Screenshots go to WORKDIR/*.png. Prints one "RESULT key=value"
line per finding; exits 1 with "FAIL: ..." when the page does not show
what it should in time."""

import os
import re
import sys
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

URL, VM, TARGET, WORK = sys.argv[1:5]
T0 = time.monotonic()


def log(msg):
    print("[browser %6.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


def options():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/lib/chromium/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--disable-gpu", "--window-size=1400,1600",
              "--user-data-dir=" + os.path.join(WORK, "profile"),
              "--no-first-run", "--disable-extensions"):
        o.add_argument(a)
    return o


drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver",
                                       log_path=os.path.join(WORK, "chromedriver.log")),
                       options=options())
shots = []


def shot(name):
    path = os.path.join(WORK, name + ".png")
    drv.save_screenshot(path)
    shots.append(path)
    log("screenshot " + path)


def fail(msg):
    try:
        shot("failed")
        with open(os.path.join(WORK, "failed.html"), "w") as f:
            f.write(drv.page_source)
    except Exception as ex:  # the browser itself may be gone
        log("no screenshot of the failure: %s" % ex)
    print("FAIL: " + msg, flush=True)
    drv.quit()
    sys.exit(1)


def on_exception(kind, value, tb):
    """Anything unexpected is a failure the test reports, with its trace."""
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


def node_field(node, field):
    return text('tr[data-node="%s"] .node-%s' % (node, field))


def click(css, secs=10):
    """Clicks css, found again if the page redrew it meanwhile."""
    end = time.monotonic() + secs
    while True:
        try:
            drv.find_element(By.CSS_SELECTOR, css).click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            if time.monotonic() > end:
                fail("cannot click %s" % css)
            time.sleep(0.1)


def wait(what, secs, cond):
    """Polls cond() every 0.2 s; its last value, or fail after secs."""
    end = time.monotonic() + secs
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            fail("%s not shown within %d s (VM row: state '%s', node '%s', "
                 "lease '%s', activity '%s', last '%s'; error: '%s')" %
                 (what, secs, row("state"), row("node"), row("lease"), row("activity"),
                  row("last"), text("#error")))
        time.sleep(0.2)


drv.get(URL)
wait("the page", 30, lambda: text("h1") == "KVM cluster")
wait("VM %s running" % VM, 30, lambda: row("state") == "running" and row("node"))
src = row("node")
wait("quorum", 10, lambda: text("#quorum").startswith("quorate"))
log("VM %s runs on %s; quorum: %s; coordinator %s" %
    (VM, src, text("#quorum"), text("#coordinator")))
shot("1-overview")

# Move live, target chosen in the dialog, confirmed.
click('tr[data-vm="%s"] button.move-live' % VM)
wait("the move dialog", 5, lambda: drv.find_element(By.ID, "confirm").is_displayed())
Select(drv.find_element(By.ID, "move-target")).select_by_value(TARGET)
if not drv.find_element(By.ID, "move-mode-live").is_selected():
    fail("the move dialog opened from 'Move live' does not preselect live")
shot("2-move-dialog")
t_click = time.monotonic()
click("#confirm-ok")

# During the move: the progress bar (the guest is small: it may be short).
progress_seen = False
while time.monotonic() - t_click < 60:
    if drv.find_elements(By.CSS_SELECTOR, 'tr[data-vm="%s"] progress' % VM):
        progress_seen = True
        shot("3-moving")
        break
    if row("node") == TARGET and "downtime" in row("last"):
        break
    time.sleep(0.05)
last = wait("VM on %s, its lease there, with the downtime" % TARGET, 60,
            lambda: row("node") == TARGET and row("state") == "running"
            and row("lease") == TARGET
            and re.search(r"live move .*downtime (\d+) ms", row("last")) and row("last"))
downtime = re.search(r"downtime (\d+) ms", last).group(1)
log("moved: %s" % last)
# The page's own log line for the action: its result, not raw XML.
done = wait("the move's result in the page's log", 10, lambda: next(
    (li.text for li in drv.find_elements(By.CSS_SELECTOR, "#log li")
     if "move %s" % VM in li.text and "\u2026" not in li.text), None))
if "</" in done or ("on %s" % TARGET) not in done:
    fail("the page's log line for the move is '%s'" % done)
print("RESULT move_log=%s" % done.split(" ", 1)[1])
shot("4-moved")
print("RESULT src=%s" % src)
print("RESULT lease_after_move=%s" % row("lease"))
print("RESULT downtime_ms=%s" % downtime)
print("RESULT progress_seen=%s" % ("yes" if progress_seen else "no"))
print("RESULT move_s=%.1f" % (time.monotonic() - t_click), flush=True)

# The test kills TARGET; the page must show it down and VM elsewhere.
open(os.path.join(WORK, "moved"), "w").close()
end = time.monotonic() + 30
while not os.path.exists(os.path.join(WORK, "killed")):
    if time.monotonic() > end:
        fail("the test did not kill %s" % TARGET)
    time.sleep(0.1)
t_kill = time.monotonic()
wait("%s down" % TARGET, 60, lambda: node_field(TARGET, "online").startswith("no"))
log("page shows %s down after %.1f s" % (TARGET, time.monotonic() - t_kill))
shot("5-node-down")
last = wait("the failover of %s" % VM, 110,
            lambda: row("node") not in ("", TARGET, "\u2014") and row("state") == "running"
            and row("lease") == row("node")
            and re.search(r"failover .* in [0-9.]+ s", row("last")) and row("last"))
log("failover: %s on %s: %s" % (VM, row("node"), last))
shot("6-failover")
m = re.search(r"failover .* in ([0-9.]+) s", last)
# Its three phases (history version 3): detection, lease wait, start.
if not re.search(r"\(detection [0-9.]+ s, lease wait [0-9.]+ s, start [0-9.]+ s\)", last):
    fail("the failover's phases are not on the page: '%s'" % last)
print("RESULT failover_node=%s" % row("node"))
print("RESULT lease_after_failover=%s" % row("lease"))
print("RESULT failover_shown_s=%.1f" % (time.monotonic() - t_kill))
print("RESULT failover_text=%s" % last)
print("RESULT failover_s=%s" % m.group(1))

# The VM's detail: explain and the timeline chart.
click('tr[data-vm="%s"] button.vm-details' % VM)
wait("explain text", 15, lambda: len(text("#explain")) > 10)
bars = wait("timeline bars", 15,
            lambda: len(drv.find_elements(By.CSS_SELECTOR, "#timeline svg rect.bar")))
print("RESULT timeline_bars=%d" % bars)
phases = len(drv.find_elements(By.CSS_SELECTOR, "#timeline svg rect.phase"))
if phases < 3:
    fail("the failover's bar has %d phase segments, not 3" % phases)
shot("7-detail")
print("RESULT screenshots=%s" % " ".join(shots), flush=True)
drv.quit()
