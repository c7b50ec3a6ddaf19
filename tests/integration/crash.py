#!/usr/bin/python3
"""crash.py — kill -9 hostd while a create is provisioning, start it again:
the workspace ends failed-and-cleaned (no domain, no overlay, no agent
socket, no leftover libguestfs appliance) with the reason shown, and can be
deleted. Also: an orphan overlay and an orphan hostd domain found at start
are removed, and a workspace that was running when hostd died keeps running."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Hostd, check, done, import_golden, note, test_ssh_key, virsh  # noqa: E402

h = Hostd("stop_timeout = 20s\n", name="crash").start()
work = tempfile.mkdtemp(prefix="hostd-crash-")
_, pub = test_ssh_key(work)


def qemu_using(path):
    r = subprocess.run(["pgrep", "-af", "qemu"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if path in line]


try:
    r = import_golden(h)
    check(r is not None and r.status == 201, "the golden image is imported", r)
    r = h.request("POST", "/v1/workspaces", {"name": "crashbox", "image": "debian12", "ssh_keys": [pub]})
    check(r.status == 202, "a create is accepted", r)
    ws_id = (r.json or {}).get("id", "?")
    state, cur, _ = h.wait_state("crashbox", ("provisioning",), 60)
    check(state == "provisioning", "the workspace reaches provisioning", cur)
    time.sleep(4)  # inside the clone / libguestfs injection
    h.stop(signal.SIGKILL)
    note(f"hostd killed with SIGKILL while {ws_id} was provisioning")
    h.start()
    state, cur, _ = h.wait_state("crashbox", ("failed", "ready", "running"), 60)
    check(state == "failed" and "provisioned" in (cur or {}).get("reason", ""),
          "after the restart the interrupted workspace is failed, with the reason shown", cur)
    check("reconcile:" in h.log() and ws_id in h.log(), "the restart reports what reconciliation did",
          h.log()[-2000:])
    rc, out = virsh("list", "--all", "--name")
    check(ws_id not in out, "no domain of it is left", out)
    disk = os.path.join(h.dir, "state", "disks", f"{ws_id}.qcow2")
    check(not os.path.exists(disk), "no overlay of it is left")
    check(not os.path.exists(os.path.join(h.dir, "run", "agents", f"{ws_id}.sock")), "no agent socket is left")
    deadline = time.time() + 30
    while qemu_using(disk) and time.time() < deadline:
        time.sleep(1)
    check(not qemu_using(disk), "no libguestfs appliance is left running on the overlay", qemu_using(disk))
    r = h.request("DELETE", "/v1/workspaces/crashbox")
    check(r.status == 202, "the failed workspace can be deleted", r)
    state, cur, _ = h.wait_state("crashbox", ("gone",), 60)
    check(state == "gone", "and is then gone", cur)

    # Orphans: an overlay and a domain that no row owns are removed at start.
    r = h.request("POST", "/v1/workspaces", {"name": "keeper", "image": "debian12", "ssh_keys": [pub]})
    keeper = (r.json or {}).get("id", "?")
    state, cur, _ = h.wait_state("keeper", ("running", "ready", "failed"), 300)
    check(state in ("running", "ready"), "a second workspace boots", cur)
    h.stop(signal.SIGKILL)
    orphan_disk = os.path.join(h.dir, "state", "disks", "ws-00000000deadbeef.qcow2")
    shutil.copy(os.path.join(h.dir, "state", "disks", f"{keeper}.qcow2"), orphan_disk)
    check(virsh("domstate", keeper)[1].strip() == "running", "a workspace keeps running after hostd is killed")
    orphan = "ws-00000000deadbeef"
    rc, xml = virsh("dumpxml", keeper)
    xml = "\n".join(line for line in xml.replace(keeper, orphan).splitlines()
                    if "<uuid>" not in line and "<mac " not in line)
    xml_path = os.path.join(work, "orphan.xml")
    with open(xml_path, "w") as f:
        f.write(xml)
    rc, out = virsh("define", xml_path)
    check(rc == 0, "an orphan domain with hostd's metadata is defined behind hostd's back", out)
    h.start()
    check(not os.path.exists(orphan_disk), "an overlay that no workspace owns is removed at start")
    check(virsh("domstate", orphan)[0] != 0, "a hostd domain that no workspace owns is removed at start",
          virsh("domstate", orphan)[1])
    state, cur, _ = h.wait_state("keeper", ("running", "ready"), 30)
    check(state in ("running", "ready"), "the running workspace is still running after the restart", cur)
    h.request("DELETE", "/v1/workspaces/keeper")
    state, cur, _ = h.wait_state("keeper", ("gone",), 120)
    check(state == "gone" and virsh("domstate", keeper)[0] != 0, "deleting it removes its domain", cur)
finally:
    h.cleanup()
    shutil.rmtree(work, ignore_errors=True)
done()
