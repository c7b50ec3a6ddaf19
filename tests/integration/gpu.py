#!/usr/bin/python3
"""gpu.py — GPU workspaces through the real hostd and libvirtd, with the
host's PCI devices read from fixture sysfs trees (no GPU or IOMMU here):
the inventory and its reasons, admission (503 with the exact shortfall, no
row left), 100 concurrent requests for 8 GPUs (exactly 8 granted, none
shared), release when a workspace fails, is deleted, or hostd dies while it
provisions. Starting a VM with a passed-through GPU cannot happen here: the
start fails at libvirt's device preparation, which the test relies on."""
import os
import signal
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import TOP, Hostd, Response, check, done, import_golden, note, test_ssh_key, virsh  # noqa: E402

FIX = os.path.join(TOP, "tests", "fixtures", "gpu")


def gpu_config(machine):
    base = os.path.join(FIX, machine)
    return (f"virt_type = kvm\ngpu_sysfs_root = {base}/sys\ngpu_pci_ids = {FIX}/pci.ids\n"
            f"gpu_kernel_cmdline = {base}/proc/cmdline\nworkers = 2\n")


def gpus(h):
    r = h.request("GET", "/v1/gpus")
    return r.json if r.status == 200 else {"gpus": [], "error": r.raw}


def states(h):
    return sorted(g["state"] for g in gpus(h)["gpus"])


_, pub = test_ssh_key(tempfile.mkdtemp(prefix="hostd-gpu-"))

# ---- reasons: a machine whose GPU shares its IOMMU group with a NIC ---------
h = Hostd(gpu_config("shared-nic"), name="gpu-nic").start()
try:
    inv = gpus(h)
    bad = [g for g in inv["gpus"] if g["state"] == "unusable"]
    check(bad and "Ethernet controller" in (bad[0].get("reason") or ""),
          "a GPU sharing its IOMMU group with a NIC is unusable, and says so", inv)
finally:
    h.cleanup()

h = Hostd(gpu_config("acs-override"), name="gpu-acs").start()
try:
    import_golden(h)
    inv = gpus(h)
    check("ACS" in (inv.get("host_problem") or "") or "acs" in (inv.get("host_problem") or ""),
          "an ACS override on the kernel command line refuses passthrough for the host", inv)
    r = h.request("POST", "/v1/workspaces", {"name": "acs", "image": "debian12", "ssh_keys": [pub], "gpus": 1})
    check(r.status == 503 and r.error_message() == inv.get("host_problem"),
          "a GPU workspace on such a host is refused with that message", r)
finally:
    h.cleanup()

# ---- the HGX board: 8 x H100 ----------------------------------------------------
h = Hostd(gpu_config("hgx-8xh100"), name="gpu-hgx").start()
try:
    check(import_golden(h).status == 201, "the golden image is imported")
    inv = gpus(h)
    check(len(inv["gpus"]) == 8 and states(h) == ["free"] * 8 and inv.get("host_problem") is None,
          "the HGX board shows 8 free GPUs (NVSwitches are not GPUs)", inv)
    check(all("H100" in g["model"] for g in inv["gpus"]), "their model names come from pci.ids", inv)

    r = h.request("POST", "/v1/workspaces", {"name": "big", "image": "debian12", "ssh_keys": [pub], "gpus": 8,
                                             "gpu_model": "H100"})
    check(r.status == 202 and len(r.json["gpus"]["held"]) == 8, "a workspace with 8 H100 is admitted holding 8", r)
    big = (r.json or {}).get("id")
    check(states(h) == ["assigned"] * 8, "all 8 GPUs show as assigned to it", gpus(h))
    r = h.request("POST", "/v1/workspaces", {"name": "late", "image": "debian12", "ssh_keys": [pub], "gpus": 1,
                                             "gpu_model": "H100"})
    check(r.status == 503 and "no free H100: 0 of 8 free" in r.error_message(),
          "the next request is refused with the shortfall", r)
    check(h.request("GET", "/v1/workspaces/late").status == 404, "and leaves no workspace row behind")
    state, cur, secs = h.wait_state("big", ("failed", "running", "ready"), 300)
    note(f"big ended {state} after {secs:.0f} s: {(cur or {}).get('reason')}")
    check(state == "failed", "without real GPUs its start fails (libvirt cannot prepare the devices)", cur)
    check(states(h) == ["free"] * 8, "a failed workspace releases its GPUs", gpus(h))
    check((cur or {}).get("gpus", {}).get("held") == [], "and shows none held", cur)
    h.request("DELETE", "/v1/workspaces/big")
    h.wait_state("big", ("gone",), 120)

    # 100 concurrent one-GPU requests for 8 GPUs.
    results = []
    lock = threading.Lock()

    def ask(i):
        try:
            r = h.request("POST", "/v1/workspaces",
                          {"name": f"c{i}", "image": "debian12", "ssh_keys": [pub], "gpus": 1}, timeout=120)
        except OSError as e:  # e.g. the socket's backlog full: an answer nobody got
            r = Response(0, repr(e))
        with lock:
            results.append(r)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [r for r in results if r.status == 202]
    refused = [r for r in results if r.status == 503]
    held = [a for r in granted for a in r.json["gpus"]["held"]]
    check(len(granted) == 8 and len(refused) == 92, "100 concurrent requests for 8 GPUs: exactly 8 granted",
          f"{len(granted)} granted, {len(refused)} refused, others: {[r for r in results if r.status not in (202, 503)][:3]}")
    check(len(held) == 8 and len(set(held)) == 8, "no GPU is given to two workspaces", held)
    names = [r.json["name"] for r in granted]

    # Crash while they provision: the restart fails and cleans them, GPUs come back.
    h.stop(signal.SIGKILL)
    h.start()
    for n in names:
        h.wait_state(n, ("failed",), 300)
    check(states(h) == ["free"] * 8, "after hostd is killed mid-provisioning every GPU is free again", gpus(h))
    for n in names:
        h.request("DELETE", f"/v1/workspaces/{n}")
    for n in names:
        h.wait_state(n, ("gone",), 120)
    rc, out = virsh("list", "--all", "--name")
    ids = [r.json["id"] for r in granted]
    check(not any(i in out.split() for i in ids), "no GPU domain is left defined", out)
    r = h.request("POST", "/v1/gpus/0000:99:00.0/clear")
    check(r.status == 404, "clearing an unknown GPU is 404", r)
finally:
    h.cleanup()
done()
