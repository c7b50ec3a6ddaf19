#!/usr/bin/python3
"""templates.py — templates against a real hostd: the template directory
loaded at start (all or none), push (same content = same version, changed
content = a new version, a bad template = 400 listing every error with
nothing stored), create from a template with an override inside and outside
its range, show, list, diff, and delete (refused while a workspace uses it)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Hostd, check, done, import_golden, test_ssh_key, virsh  # noqa: E402

work = tempfile.mkdtemp(prefix="hostd-templates-")
_, pubkey = test_ssh_key(work)
tdir = os.path.join(work, "templates")
os.mkdir(tdir)
with open(os.path.join(tdir, "fromdir.json"), "w") as f:
    json.dump({"name": "fromdir", "image": "debian12", "vcpus": 1, "memory": "1G", "disk": "4G"}, f)

h = Hostd(f"templates_dir = {tdir}\n", name="templates").start()


def expect(r, status, code, what, contains=None):
    ok = r.status == status and r.error_code() == code and (contains is None or contains in r.error_message())
    return check(ok, what, f"{r!r}\nwanted {status} {code} {contains or ''}")


try:
    r = h.request("GET", "/v1/templates")
    check(r.status == 200 and [t["name"] for t in r.json["templates"]] == ["fromdir"],
          "the template directory is pushed at start", r)
    r = import_golden(h)
    check(r is not None and r.status == 201, "the golden image is imported", r)
    gib = -(-r.json["virtual_size"] // (1 << 30)) if r and r.status == 201 else 4
    small = {"name": "small", "image": "debian12", "vcpus": 1, "memory": "1G", "disk": f"{gib}G",
             "cloud_config": {"packages": ["htop"]},
             "parameters": {"disk": {"min": f"{gib}G", "max": f"{gib + 4}G"}}}

    # ---- push ------------------------------------------------------------------
    r = h.request("POST", "/v1/templates", small)
    check(r.status == 201 and r.json["created"] and len(r.json["version"]) == 64,
          "a first push is 201 with a new version named by its hash", r)
    v1 = r.json.get("version") if r.status == 201 else None
    r = h.request("POST", "/v1/templates", raw=json.dumps(small, indent=4, sort_keys=True).encode())
    check(r.status == 200 and not r.json["created"] and r.json["version"] == v1,
          "pushing the same content (other spacing and key order) is the same version", r)
    changed = dict(small, vcpus=2)
    r = h.request("POST", "/v1/templates", changed)
    check(r.status == 201 and r.json["version"] != v1, "a changed template is a new version", r)
    v2 = r.json.get("version")
    bad = {"name": "broken", "image": "debian12", "vcpus": 0, "memory": "1X", "disk": "4G", "colour": "red"}
    r = h.request("POST", "/v1/templates", bad)
    details = (r.json or {}).get("error", {}).get("details", [])
    paths = sorted(d["path"] for d in details)
    check(r.status == 400 and r.error_code() == "invalid" and r.error_message() == f"{len(details)} errors"
          and {"vcpus", "memory", "colour"} <= set(paths),
          "a bad template is 400 listing every error with its field", r)
    expect(h.request("GET", "/v1/templates/broken"), 404, "not_found", "a refused template stores nothing")

    # ---- show, list, diff --------------------------------------------------------
    r = h.request("GET", "/v1/templates/small")
    check(r.status == 200 and r.json["version"] == v2 and [v["version"] for v in r.json["versions"]] == [v2, v1],
          "show gives the current version and every version, current first", r)
    r = h.request("GET", "/v1/templates")
    check(r.status == 200 and [t["name"] for t in r.json["templates"]] == ["fromdir", "small"],
          "list shows each template once, by name", r)
    r = h.request("GET", "/v1/templates/small/diff")
    check(r.status == 200 and r.json["from"] == v1 and r.json["to"] == v2 and "vcpus: 1 -> 2" in r.json["diff"],
          "diff defaults to the previous version against the current one", r)
    r = h.request("GET", f"/v1/templates/small/diff?from={v2}&to={v1}")
    check(r.status == 200 and "vcpus: 2 -> 1" in r.json["diff"], "diff takes two versions", r)
    expect(h.request("GET", "/v1/templates/small/diff?from=nope"), 404, "not_found",
           "a diff from an unknown version is 404", "nope")

    # ---- create from a template --------------------------------------------------
    ws = {"name": "tplbox", "template": "small", "ssh_keys": [pubkey]}
    expect(h.request("POST", "/v1/workspaces", dict(ws, disk_gib=gib + 5)), 400, "invalid",
           "a disk above the template's range is refused naming the maximum", "maximum")
    expect(h.request("POST", "/v1/workspaces", dict(ws, vcpus=2)), 400, "invalid",
           "a field the template does not let users set is refused", "vcpus")
    expect(h.request("POST", "/v1/workspaces", dict(ws, image="debian12")), 400, "invalid",
           "an image next to a template is refused", "image")
    expect(h.request("POST", "/v1/workspaces", dict(ws, template="nope")), 404, "not_found",
           "an unknown template is 404", "nope")
    r = h.request("POST", "/v1/workspaces", dict(ws, disk_gib=gib + 1))
    check(r.status == 202 and r.json["template"] == "small" and r.json["template_version"] == v2
          and r.json["image"] == "debian12" and r.json["vcpus"] == 2 and r.json["disk_gib"] == gib + 1,
          "create --template uses the newest version, its image and size, and the override", r)
    if r.status == 202:
        expect(h.request("DELETE", "/v1/templates/small"), 409, "conflict",
               "a template in use by a workspace cannot be deleted", "tplbox")
        r = h.request("DELETE", "/v1/workspaces/tplbox")
        check(r.status == 202, "the workspace is deleted right away", r)
        state, cur, secs = h.wait_state("tplbox", ("gone",), 600)
        check(state == "gone", f"the workspace is gone ({secs:.0f} s)", f"{cur}\n{h.log()[-3000:]}")

    # ---- a template's lifetime parameter and network ------------------------------
    life = dict(small, name="life", max_lifetime="1d", parameters={"lifetime": {"max": "2d"}})
    check(h.request("POST", "/v1/templates", life).status == 201, "a template that lets users pick a lifetime")
    expect(h.request("POST", "/v1/workspaces", {"name": "lifebox", "template": "life", "ssh_keys": [pubkey],
                                                "lifetime": 3 * 86400}),
           400, "invalid", "a lifetime above the template's lifetime parameter is refused, naming its maximum",
           "maximum 2d")
    fixed = {k: v for k, v in small.items() if k != "parameters"}
    nope = dict(fixed, name="nonet", network="hostd-nope")
    check(h.request("POST", "/v1/templates", nope).status == 201, "a template may name any libvirt network")
    expect(h.request("POST", "/v1/workspaces", {"name": "nonetbox", "template": "nonet", "ssh_keys": [pubkey]}),
           400, "invalid", "creating from it on a host without that network is refused, naming the network",
           "hostd-nope")
    names = [w["name"] for w in h.request("GET", "/v1/workspaces").json["workspaces"]]
    check("nonetbox" not in names and "lifebox" not in names, "the refusals left no workspace row", names)
    # A second libvirt network in the test namespace: the workspace's NIC goes there.
    with open(os.path.join(work, "net2.xml"), "w") as f:
        f.write("<network><name>hostd-test2</name><forward mode='nat'/><bridge name='hdtest2'/>"
                "<ip address='192.168.233.1' netmask='255.255.255.0'/></network>")
    rc, out = virsh("net-create", os.path.join(work, "net2.xml"))
    check(rc == 0, "a second libvirt network (transient, in the test namespace)", out)
    try:
        net2 = dict(fixed, name="net2", network="hostd-test2")
        check(h.request("POST", "/v1/templates", net2).status == 201, "a template on that network")
        r = h.request("POST", "/v1/workspaces", {"name": "net2box", "template": "net2", "ssh_keys": [pubkey]})
        check(r.status == 202, "a workspace from it is accepted", r)
        state, cur, _ = h.wait_state("net2box", ("running", "ready", "failed"), 600)
        rc, out = virsh("domiflist", (cur or {}).get("id", "none"))
        check(state in ("running", "ready") and "hostd-test2" in out,
              "its domain's NIC is on the template's network, not hostd's", f"{state} {out}")
        h.request("DELETE", "/v1/workspaces/net2box")
        state, _, _ = h.wait_state("net2box", ("gone",), 600)
        check(state == "gone", "and it is deleted")
    finally:
        virsh("net-destroy", "hostd-test2")

    # ---- delete ------------------------------------------------------------------
    r = h.request("DELETE", "/v1/templates/small")
    check(r.status == 204, "a template no workspace uses is deleted", r)
    expect(h.request("GET", "/v1/templates/small"), 404, "not_found", "every version is gone")
    expect(h.request("DELETE", "/v1/templates/small"), 404, "not_found", "deleting it twice is 404")
    # ---- a restart does not undo a push -------------------------------------------
    r = h.request("POST", "/v1/templates", {"name": "fromdir", "image": "debian12", "vcpus": 2, "memory": "1G",
                                            "disk": "4G"})
    check(r.status == 201, "a newer version of the directory's template is pushed", r)
    newer = r.json.get("version")
    h.stop()
    h.start()
    r = h.request("GET", "/v1/templates/fromdir")
    check(r.status == 200 and r.json["version"] == newer and len(r.json["versions"]) == 2,
          "a restart leaves the pushed version current (the file's content is already stored)", r)
finally:
    h.cleanup()

# ---- a bad file in the directory: none of the directory is loaded -------------
with open(os.path.join(tdir, "other.json"), "w") as f:
    json.dump({"name": "other", "image": "debian12", "vcpus": 0, "memory": "1G", "disk": "4G"}, f)
h2 = Hostd(f"templates_dir = {tdir}\n", name="templates-bad").start()
try:
    r = h2.request("GET", "/v1/templates")
    check(r.status == 200 and r.json["templates"] == [], "a directory with a bad file loads nothing", r)
    log = h2.log()
    check("other.json" in log and "vcpus" in log, "hostd logs the file and field of every error", log[-2000:])
finally:
    h2.cleanup()
done()
