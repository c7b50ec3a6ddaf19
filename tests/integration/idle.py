#!/usr/bin/python3
"""idle.py — what the running daemon does by itself, on one real guest at a
time (each boot costs about 90 s under TCG, so one guest carries several
stories):

1. The startup script. A workspace made with `wsctl create --template
   idlebox --idle-timeout 2m --lifetime 1d`; its template's startup script
   prints lines and writes a file. The API and wsctl show it succeeded
   (exit 0) with its output; SSH finds the file.
2. Idle auto-stop and the silent agent. SSH in once (starting a service in
   the guest that stops its agent 3 min later and starts it again 2 min
   after that), then nobody uses it. `wsctl extend` moves the idle deadline; once
   the guest has been idle longer than its timeout its agent stops: hostd
   flags it silent, and when the extension ends it does NOT stop it (silence
   is not idleness). When the agent comes back hostd stops it within a few
   sweeps, with "idle since …": the silence was not counted as activity
   either (that would have meant another 120 s).
3. The hard lifetime, on a second workspace booted only once the first is
   stopped: a template with max_lifetime 90s and lifetime_action delete,
   and hostd.conf's lifetime_warning = 45s. The warning event comes before
   the end, and at the end hostd deletes it with the reason in the log.

Delete leaves nothing. Prints FIGURES of when things happened."""
import datetime
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Developer, Hostd, check, done, import_golden, note, virsh  # noqa: E402

GOLDEN = os.environ.get("HOSTD_TEST_GOLDEN", "")
NAME = "idlebox"
SHORT = "shortbox"
IDLE = 120          # the workspace's idle timeout (the 2 minutes)
EXTEND = 250        # the extension, from 12 s after the SSH session
AGENT_STOP = 180    # the guest stops its agent this long after the SSH session ...
SILENCE = 120       # ... and starts it again this much later
LIFETIME = 90       # the second workspace's lifetime ...
WARNING = 45        # ... and the warning before its end (hostd.conf)
SCRIPT = """#!/bin/sh
echo "startup: hello from $HOSTD_WORKSPACE_ID"
echo "startup: to stderr" >&2
echo "made by the startup script" > /var/lib/startup-proof
echo "startup: done"
"""

check(GOLDEN != "", "HOSTD_TEST_GOLDEN names the golden image (tests/run sets it)")
# An idle TCG guest shows a load of 0.1-0.15 on its 2 vCPUs, around the
# default idle_cpu_percent of 5, and up to 0.4 while its agent starts: one
# busy heartbeat restarts the idle clock. 50 % (a load under 1) is what a
# site with such guests would set.
h = Hostd(f"stop_timeout = 60s\nlifetime_warning = {WARNING}s\nidle_cpu_percent = 50\n", name="idle").start()
dev = Developer(h, "idle")
pub, wsctl = dev.pub, dev.wsctl


def iso(t):
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def view(name=NAME):
    return h.request("GET", f"/v1/workspaces/{name}").json or {}


def sleep_until(t):
    if t > time.time():
        time.sleep(t - time.time())


def db_rows(sql, *args):
    db = sqlite3.connect(os.path.join(h.dir, "state", "hostd.db"))
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def events(ws_id, kind=None):
    rows = db_rows("SELECT time, kind, to_state, reason FROM events WHERE workspace_id = ? ORDER BY id", ws_id)
    return [r for r in rows if kind is None or r[1] == kind]


def policy_state(ws_id):
    """The idle engine's state as hostd stored it (a white-box look, to
    check this test's premise rather than hostd's behaviour)."""
    rows = db_rows("SELECT policy_state FROM workspaces WHERE id = ?", ws_id)
    text = rows[0][0] if rows and rows[0][0] else "v1"
    return dict(kv.split("=", 1) for kv in text.split()[1:])


def wait_for(what, timeout, interval=2):
    end = time.time() + timeout
    while time.time() < end:
        got = what()
        if got:
            return got
        time.sleep(interval)
    return what()


try:
    r = import_golden(h)
    check(r is not None and r.status == 201, "the golden image is imported", r)
    gib = -(-r.json["virtual_size"] // (1 << 30)) if r and r.status == 201 else 4
    base = {"image": "debian12", "vcpus": 2, "memory": "1G", "disk": f"{gib}G"}
    r = h.request("POST", "/v1/templates", dict(base, name="idlebox", startup_script=SCRIPT, startup_timeout="10m"))
    check(r.status == 201, "a template with a startup script is pushed", r)
    r = h.request("POST", "/v1/templates", dict(base, name="shortlived", max_lifetime=f"{LIFETIME}s",
                                                lifetime_action="delete"))
    check(r.status == 201, "a template whose workspaces are deleted 90 s after creation is pushed", r)

    # ---- 1. the startup script ---------------------------------------------------
    rc, out, err = wsctl("create", "--template", "idlebox", "--idle-timeout", "30s", NAME)
    check(rc == 1 and "at least 60" in err, "wsctl create --idle-timeout 30s is refused by hostd", out + err)
    rc, out, err = wsctl("--json", "create", "--template", "idlebox", "--idle-timeout", "2m", "--lifetime", "1d", NAME)
    created = json.loads(out) if rc == 0 else {}
    check(rc == 0 and created.get("state") == "pending", "wsctl create --idle-timeout 2m --lifetime 1d is accepted",
          out + err)
    life = created.get("lifetime") or {}
    check(life.get("action") == "stop" and life.get("ends_at")
          and abs(iso(life["ends_at"]) - iso(created["created_at"]) - 86400) <= 1,
          "the view shows the lifetime's end (a day after creation) and its action", created)
    check((created.get("startup") or {}).get("status") == "pending",
          "before the guest runs, its startup script is pending", created.get("startup"))
    state, ws, secs = h.wait_state(NAME, ("ready", "failed"), 900)
    check(state == "ready", f"it becomes ready ({secs:.0f} s)", ws)
    ws = ws or {}
    ws_id = ws.get("id", "none")
    idle = ws.get("idle") or {}
    check(idle.get("timeout_s") == IDLE and idle.get("silent") is False and idle.get("deadline"),
          f"the view shows the idle timeout of {IDLE} s and a deadline", ws.get("idle"))

    def finished_startup():
        s = view().get("startup") or {}
        return s if s.get("status") in ("succeeded", "failed", "timed_out") else None

    su = wait_for(finished_startup, 120) or {}
    check(su.get("status") == "succeeded" and su.get("exit_status") == 0 and su.get("signal") is None,
          "the startup script succeeded with exit status 0", su)
    check(su.get("started_at") and su.get("finished_at") and iso(su["finished_at"]) >= iso(su["started_at"])
          and su.get("timeout_s") == 600 and su.get("output_truncated") is False,
          "its start and end times and its 10 min time limit are shown", su)
    r = h.request("GET", f"/v1/workspaces/{NAME}/startup-log")
    want = f"startup: hello from {ws_id}\nstartup: to stderr\nstartup: done\n"
    check(r.status == 200 and (r.json or {}).get("output") == want,
          "GET …/startup-log gives its stdout and stderr, with the workspace id it was given", r)
    rc, out, err = wsctl("startup-log", NAME)
    check(rc == 0 and out == want and "startup script succeeded (exit 0)" in err,
          "wsctl startup-log prints the output, and the status on stderr", out + err)
    rc, out, err = wsctl("show", NAME)
    check(rc == 0 and "\nstartup:" in out and "succeeded (exit 0)" in out, "wsctl show prints the startup line", out)
    note(f"startup: {su.get('description')}")

    # ---- 2. idle auto-stop and the silent agent -----------------------------------
    start = time.time()
    rc, why = 255, ""
    while time.time() - start < 300:
        rc, _, why = dev.ssh(NAME, "true", timeout=40)
        if rc == 0:
            break
        time.sleep(3)
    check(rc == 0, "SSH through wsctl ssh works", why)
    # A transient service that sleeps, not a timer: systemd fires timers up to
    # a minute late (AccuracySec).
    rc, out, why = dev.ssh(NAME, "cat /var/lib/startup-proof && sudo systemd-run --quiet --unit=hostd-test-silence"
                           f" /bin/sh -c 'sleep {AGENT_STOP}; systemctl stop hostd-agent.service;"
                           f" sleep {SILENCE}; systemctl start hostd-agent.service'", timeout=60)
    t_ssh = time.time()
    check(rc == 0 and out == "made by the startup script",
          "the file the startup script wrote is there (and the agent's stop and start are armed)", f"{rc} {out} {why}")
    t_back = t_ssh + AGENT_STOP + SILENCE

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

    # The premise: by the time its agent stops, the guest has been idle for
    # longer than its idle timeout, so only the extension keeps it running.
    sleep_until(t_ssh + AGENT_STOP - 8)
    ps = policy_state(ws_id)
    elapsed = time.time() - int(ps.get("active", "0")) - int(ps.get("unwitnessed", "0"))
    check(ps.get("verdict") == "idle" and elapsed >= IDLE,
          f"before its agent stops, the guest has been idle for {elapsed:.0f} s (more than {IDLE} s)",
          f"{ps}\n{h.log()[-2000:]}")

    silent = wait_for(lambda: (view().get("idle") or {}).get("silent"), AGENT_STOP + 100 - (time.time() - t_ssh))
    t_silent = time.time()
    idle = view().get("idle") or {}
    check(silent and "agent silent since" in idle.get("description", ""),
          f"once its agent stops reporting the view flags it silent ({t_silent - t_ssh - AGENT_STOP:.0f} s after "
          "the agent stopped)", idle)
    sleep_until(t_ext + EXTEND + 20)
    ws = view()
    check(time.time() < t_back and ws.get("state") == "ready" and (ws.get("idle") or {}).get("silent"),
          "the extension has ended, the guest was idle past its timeout, but a silent workspace is not stopped "
          "as idle", f"{ws.get('state')} {ws.get('idle')} {time.time() - t_back:.0f}")

    state, ws, _ = h.wait_state(NAME, ("stopping", "stopped", "failed"), t_back + 120 - time.time())
    t_stop = time.time()
    ws = ws or {}
    check(state in ("stopping", "stopped") and t_back - 5 <= t_stop <= t_back + 60,
          f"when its agent is back, hostd stops it as idle within a minute ({t_stop - t_back:.0f} s): the silence "
          f"counted neither as idleness nor as activity (that would be {IDLE} s more)",
          f"{state} at {t_stop - t_back:.0f} s after the agent's return\n{h.log()[-3000:]}")
    reason = ws.get("reason") or ""
    check(reason.startswith("idle since") and "not counting" in reason and "agent was silent" in reason,
          "the reason says since when it was idle and that the silence was not counted", reason)
    note(f"reason: {reason}")
    state, ws, _ = h.wait_state(NAME, ("stopped", "failed"), 120)
    check(state == "stopped", "the graceful stop completes", ws)
    kinds = [e[1] for e in events(ws_id)]
    check("agent_silent" in kinds and "agent_back" in kinds and kinds.index("agent_silent") < kinds.index("agent_back"),
          "the event log has agent_silent, then agent_back", kinds)
    note(f"FIGURES startup script {su.get('description')}; silent flagged {t_silent - t_ssh - AGENT_STOP:.0f} s after "
         f"the agent stopped; idle stop {t_stop - t_back:.0f} s after it came back (idle_timeout {IDLE} s, sweep "
         "every 15 s)")
    rc, out = virsh("domstate", ws_id)
    check("shut off" in out, "the domain is shut off", out)
    check((view().get("idle") or {}).get("deadline") is None, "a stopped workspace has no idle deadline", view())

    # ---- 3. a hard lifetime, on a second guest -------------------------------------
    r = h.request("POST", "/v1/workspaces", {"name": SHORT, "template": "shortlived", "ssh_keys": [pub]})
    t_made = time.time()
    short = r.json or {}
    life = short.get("lifetime") or {}
    check(r.status == 202 and life.get("action") == "delete"
          and abs(iso(life.get("ends_at", "1970-01-01T00:00:00Z")) - iso(short["created_at"]) - LIFETIME) <= 1
          and short.get("startup") is None,
          "a workspace from the short-lived template shows its end 90 s after creation, then deleted "
          "(and no startup script)", r)
    short_id = short.get("id", "none")
    state, _, secs = h.wait_state(SHORT, ("gone",), LIFETIME + 150)
    check(state == "gone", f"hostd deletes it by itself at the end of its lifetime ({secs:.0f} s after creation)",
          f"{view(SHORT)}\n{h.log()[-3000:]}")
    ev = events(short_id)
    warn = [e for e in ev if e[1] == "lifetime_warning"]
    deleting = [e for e in ev if e[1] == "state" and e[2] == "deleting"]
    end = iso(short["created_at"]) + LIFETIME if short.get("created_at") else 0
    check(len(warn) == 1 and end - WARNING <= warn[0][0] < end and "will then be deleted" in warn[0][3],
          f"a lifetime_warning event came {WARNING} s or less before the end, saying what will happen", ev)
    check(len(deleting) == 1 and deleting[0][0] >= end and "lifetime of 1 min ended at" in deleting[0][3]
          and deleting[0][3].endswith(": deleted"),
          "at the end it was deleted with the lifetime as the reason, in the event log", ev)
    check(f"workspace {SHORT} ({short_id}): lifetime-delete: lifetime of" in h.log(), "and in hostd's log")
    note(f"FIGURES lifetime warning at {warn[0][0] - end if warn else 0:+.0f} s, deleted at "
         f"{deleting[0][0] - end if deleting else 0:+.0f} s from the end (sweep every 15 s); "
         f"gone {time.time() - t_made:.0f} s after the create request")

    r = h.request("DELETE", f"/v1/workspaces/{NAME}")
    state, _, _ = h.wait_state(NAME, ("gone",), 180)
    check(r.status == 202 and state == "gone", "delete removes the first workspace", r)
    rc, out = virsh("domstate", ws_id)
    check(rc != 0, "no domain is left", out)
    check(os.listdir(os.path.join(h.dir, "state", "disks")) == [], "no overlay is left")
    rows = db_rows("SELECT id FROM workspaces")
    check(rows == [], "no workspace row is left", rows)
    rows = db_rows("SELECT workspace_id FROM workspace_startup")
    check(rows == [], "no startup row is left", rows)
    ext = [e[3] for e in events(ws_id, "extended")]
    check(len(ext) == 1 and ext[0].startswith("no idle stop for 4 min, until "),
          "the extension is in the event log, saying for how long", ext)
    su_ev = [e[3] for e in events(ws_id, "startup")]
    check(len(su_ev) == 1 and su_ev[0].startswith("succeeded (exit 0)"),
          "the startup script's result is in the event log once", su_ev)
finally:
    h.delete_if_present(SHORT, 180)
    h.delete_if_present(NAME, 180)
    h.cleanup()
    dev.cleanup()
done()
