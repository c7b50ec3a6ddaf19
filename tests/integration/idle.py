#!/usr/bin/python3
"""idle.py — idle auto-stop against a real hostd and guest: a workspace made
with "idle_timeout": 120 through the API, SSH in once with `wsctl ssh`, then
nobody uses it. The view shows the idle deadline, `wsctl extend` moves it,
and hostd stops the workspace by itself (a graceful stop, reason "idle since
…") once the extension and the idle timeout have passed; delete leaves
nothing. Prints how long after the last SSH session it stopped."""
import datetime
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Developer, Hostd, check, done, import_golden, note, virsh  # noqa: E402

NETNS = os.environ.get("HOSTD_TEST_NETNS", "hostd-lab")
GOLDEN = os.environ.get("HOSTD_TEST_GOLDEN", "")
NAME = "idlebox"
IDLE = 120
EXTEND = 240

check(GOLDEN != "", "HOSTD_TEST_GOLDEN names the golden image (tests/run sets it)")
h = Hostd("stop_timeout = 60s\n", name="idle").start()
dev = Developer(h, "idle")
pub, wsctl = dev.pub, dev.wsctl


def ssh_once():
    rc, _, err = dev.ssh(NAME, "true", timeout=40)
    return rc, err


def iso(t):
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def view():
    return h.request("GET", f"/v1/workspaces/{NAME}").json or {}


try:
    r = import_golden(h)
    check(r is not None and r.status == 201, "the golden image is imported", r)
    r = h.request("POST", "/v1/workspaces", {"name": NAME, "image": "debian12", "ssh_keys": [pub],
                                             "idle_timeout": 30})
    check(r.status == 400 and "at least 60" in r.error_message(), "an idle timeout under a minute is refused", r)
    r = h.request("POST", "/v1/workspaces", {"name": NAME, "image": "debian12", "ssh_keys": [pub],
                                             "idle_timeout": IDLE, "lifetime": 86400})
    check(r.status == 202, "a workspace with idle_timeout 120 and a lifetime of a day is accepted", r)
    life = (r.json or {}).get("lifetime") or {}
    check(life.get("action") == "stop" and life.get("ends_at")
          and abs(iso(life["ends_at"]) - iso(r.json["created_at"]) - 86400) <= 1,
          "the view shows the lifetime's end (a day after creation) and its action", r.json)
    state, ws, secs = h.wait_state(NAME, ("ready", "failed"), 900)
    check(state == "ready", f"it becomes ready ({secs:.0f} s)", ws)
    ws = ws or {}
    idle = ws.get("idle") or {}
    check(idle.get("timeout_s") == IDLE and idle.get("silent") is False and idle.get("deadline"),
          "the view shows the idle timeout and a deadline", ws.get("idle"))

    start = time.time()
    while time.time() - start < 300:
        rc, why = ssh_once()
        if rc == 0:
            break
        time.sleep(3)
    t_ssh = time.time()
    check(rc == 0, "one SSH session through wsctl ssh works", why)

    # Wait until a heartbeat after the session is in, so the deadline counts from it.
    time.sleep(12)
    before = view().get("idle") or {}
    check(before.get("deadline") is not None, "after the session the deadline is shown", before)
    rc, out, err = wsctl("extend", NAME, f"{EXTEND}s")
    t_ext = time.time()
    after = view().get("idle") or {}
    check(rc == 0 and after.get("deadline") is not None and before.get("deadline") is not None
          and iso(after["deadline"]) > iso(before["deadline"]) and iso(after["deadline"]) >= t_ext + EXTEND - 5,
          "wsctl extend moves the deadline to now + the extension", f"{out}{err} {before} -> {after}")
    check("extended until" in after.get("description", ""), "the description says it is extended", after)
    rc, out, err = wsctl("show", NAME)
    check(rc == 0 and "\nidle:" in out, "wsctl show prints the idle line", out + err)
    rc, out, err = wsctl("extend", NAME, "30d")
    check(rc == 1 and "7 d" in err.replace("days", "d"), "an extension beyond the cap is refused, naming it", out + err)

    # Nobody uses it now: hostd must stop it by itself.
    limit = EXTEND + IDLE + 120
    state, ws, _ = h.wait_state(NAME, ("stopped", "failed"), t_ext + limit - time.time())
    t_stop = time.time()
    ws = ws or {}
    check(state == "stopped", f"hostd stopped the idle workspace by itself within {limit} s of the extend",
          f"{ws.get('state')} {ws.get('agent')} {ws.get('idle')}\n{h.log()[-3000:]}")
    check((ws.get("reason") or "").startswith("idle since"), "the reason says since when it was idle",
          ws.get("reason"))
    note(f"reason: {ws.get('reason')}")
    note(f"FIGURES stopped {t_stop - t_ssh:.0f} s after the last SSH session, {t_stop - t_ext:.0f} s after an "
         f"extend of {EXTEND} s (idle_timeout {IDLE} s, sweep every 15 s, graceful stop included)")
    rc, out = virsh("domstate", ws.get("id", "none"))
    check("shut off" in out, "the domain is shut off", out)
    check(ws.get("idle", {}).get("deadline") is None, "a stopped workspace has no idle deadline", ws.get("idle"))

    r = h.request("DELETE", f"/v1/workspaces/{NAME}")
    state, _, _ = h.wait_state(NAME, ("gone",), 180)
    check(r.status == 202 and state == "gone", "delete removes it", r)
    rc, out = virsh("domstate", ws.get("id", "none"))
    check(rc != 0, "no domain is left", out)
    check(os.listdir(os.path.join(h.dir, "state", "disks")) == [], "no overlay is left")
    db = sqlite3.connect(os.path.join(h.dir, "state", "hostd.db"))
    rows = db.execute("SELECT id FROM workspaces").fetchall()
    db.close()
    check(rows == [], "no workspace row is left", rows)
    db = sqlite3.connect(os.path.join(h.dir, "state", "hostd.db"))
    ext = db.execute("SELECT reason FROM events WHERE kind = 'extended'").fetchall()
    db.close()
    check(len(ext) == 1 and ext[0][0].startswith("no idle stop for 4 min, until "),
          "the extension is in the event log, saying for how long", ext)
finally:
    h.delete_if_present(NAME, 180)
    h.cleanup()
    dev.cleanup()
done()
