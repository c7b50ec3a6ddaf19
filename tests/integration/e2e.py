#!/usr/bin/python3
"""e2e.py — the product's main job, end to end, as a developer does it:
wsctl create --wait from the mkgolden image, the agent reports ready, SSH in
with the injected key (inside the test namespace, the only place the guest
network exists) and run commands as the workspace user; hostd restarts while
the workspace runs and it keeps running; stop, start (SSH works again and the
data written before the stop is there), delete — then no domain, overlay,
agent socket or row is left. Prints create-to-running, -to-ready and
-to-first-SSH figures."""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Developer, Hostd, check, done, note, virsh  # noqa: E402

NETNS = os.environ.get("HOSTD_TEST_NETNS", "hostd-lab")
GOLDEN = os.environ.get("HOSTD_TEST_GOLDEN", "")

h = Hostd("stop_timeout = 60s\n", name="e2e").start()
dev = Developer(h, "e2e")
key, wsctl = dev.key, dev.wsctl


def ssh(command, timeout=60):
    return dev.ssh("e2ebox", command, timeout)


def wait_ssh(limit):
    start = time.time()
    while time.time() - start < limit:
        rc, out, err = ssh("true", timeout=30)
        if rc == 0:
            return time.time() - start, ""
        time.sleep(3)
    return None, err


def domstate(ws_id):
    rc, out = virsh("domstate", ws_id)
    return out.strip() if rc == 0 else "absent"


try:
    rc, out, err = wsctl("images", "import", "--format", "qcow2", "debian12", GOLDEN)
    check(rc == 0, "wsctl images import brings in the mkgolden image", out + err)

    t0 = time.time()
    rc, out, err = wsctl("create", "--image", "debian12", "--ssh-key", key + ".pub", "--wait", "--timeout", "15m",
                         "e2ebox")
    t_ready = time.time() - t0
    note("wsctl create --wait output:\n# " + out.replace("\n", "\n# "))
    check(rc == 0, "wsctl create --wait ends with the workspace ready", out + err + h.log()[-4000:])
    times = {m.group(2): float(m.group(1)) for m in re.finditer(r"([0-9.]+)s\s+(\w+)", out)}
    check("provisioning" in times and "running" in times and "ready" in times,
          "create --wait showed provisioning, running and ready as they happened", out)
    ws = h.request("GET", "/v1/workspaces/e2ebox").json or {}
    check(ws.get("state") == "ready" and ws.get("ssh") and ws["ssh"]["user"] == "dev" and ws.get("addresses"),
          "the workspace shows its address and an ssh object once ready", ws)
    check((ws.get("agent") or {}).get("last_heartbeat_at") is not None, "the agent's heartbeat is recorded", ws)

    t_ssh_wait, why = wait_ssh(300)
    check(t_ssh_wait is not None, "SSH into the workspace with the injected key works", why)
    t_ssh = t_ready + (t_ssh_wait or 0)
    note(f"FIGURES create->running {times.get('running', -1):.1f} s, create->ready {times.get('ready', t_ready):.1f} s,"
         f" create->first SSH {t_ssh:.1f} s (virt_type {os.environ.get('HOSTD_VIRT_TYPE', '?')})")

    rc, out, err = ssh("id -un; sudo -n true && echo sudo-ok; hostname")
    check(rc == 0 and out.split() == ["dev", "sudo-ok", "e2ebox"],
          "commands run as the workspace user, with passwordless sudo, on hostname e2ebox", out + err)
    rc, out, err = ssh("echo kept-across-stop > ~/data.txt && sync && cat ~/data.txt")
    check(rc == 0 and out == "kept-across-stop", "data is written in the workspace", out + err)
    rc, out, err = wsctl("ssh-config", "e2ebox")
    check(rc == 0 and "Host e2ebox" in out and "User dev" in out, "wsctl ssh-config prints a Host block", out + err)
    rc, out, err = wsctl("list")
    check(rc == 0 and re.search(r"e2ebox\s+ready", out) is not None, "wsctl list shows it ready", out + err)

    # hostd restarts while the workspace runs: the workspace does not notice.
    hb_before = ws.get("agent", {}).get("last_heartbeat_at")
    check(h.stop() == 0, "hostd exits cleanly on SIGTERM")
    check(domstate(ws["id"]) == "running", "the workspace keeps running while hostd is down", domstate(ws["id"]))
    h.start()
    state, cur, _ = h.wait_state("e2ebox", ("ready",), 30)
    check(state == "ready", "after a hostd restart the workspace is still ready", cur)
    time.sleep(12)
    hb_after = h.request("GET", "/v1/workspaces/e2ebox").json.get("agent", {}).get("last_heartbeat_at")
    check(hb_after is not None and hb_after != hb_before, "the agent reconnects and reports again after the restart",
          f"{hb_before} -> {hb_after}")

    rc, out, err = wsctl("stop", "e2ebox")
    check(rc == 0, "wsctl stop is accepted", out + err)
    state, cur, secs = h.wait_state("e2ebox", ("stopped", "failed"), 180)
    check(state == "stopped" and domstate(ws["id"]) == "shut off",
          f"the workspace stops gracefully ({secs:.0f} s)", cur)
    rc, out, err = wsctl("start", "--wait", "--timeout", "10m", "e2ebox")
    check(rc == 0, "wsctl start --wait brings it back to ready", out + err)
    t_ssh_wait, why = wait_ssh(300)
    check(t_ssh_wait is not None, "SSH works again after start", why)
    rc, out, err = ssh("cat ~/data.txt")
    check(rc == 0 and out == "kept-across-stop", "data written before the stop is still there", out + err)

    rc, out, err = wsctl("delete", "--wait", "e2ebox")
    check(rc == 0, "wsctl delete --wait returns once it is gone", out + err)
    check(domstate(ws["id"]) == "absent", "no domain is left", domstate(ws["id"]))
    disks = os.listdir(os.path.join(h.dir, "state", "disks"))
    check(disks == [], "no overlay is left", disks)
    agents = os.listdir(os.path.join(h.dir, "run", "agents"))
    check(agents == [], "no agent socket is left", agents)
    db = sqlite3.connect(os.path.join(h.dir, "state", "hostd.db"))
    rows = db.execute("SELECT id, state FROM workspaces").fetchall()
    db.close()
    check(rows == [], "no workspace row is left", rows)
    check(h.request("GET", "/v1/workspaces/e2ebox").status == 404, "the API answers 404 for it")
finally:
    h.delete_if_present("e2ebox", 120)
    h.cleanup()
    dev.cleanup()
done()
