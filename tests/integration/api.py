#!/usr/bin/python3
"""api.py — the workspace API against a real hostd on a temporary socket and
store: every route, every error class, a body over the limit, 50 malformed
requests, concurrent creates with the same name (exactly one wins)."""
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Hostd, check, done, import_golden, test_ssh_key, virsh  # noqa: E402

h = Hostd("api_max_body = 4K\nmax_vcpus = 8\nstop_timeout = 20s\nmax_memory = 1T\n", name="api").start()
work = tempfile.mkdtemp(prefix="hostd-api-")
_, pubkey = test_ssh_key(work)


def expect(r, status, code, what, contains=None):
    ok = r.status == status and r.error_code() == code and (contains is None or contains in r.error_message())
    return check(ok, what, f"{r!r}\nwanted {status} {code} {contains or ''}")


# Domains of other users of this libvirtd (a quickstart demo, say) are not ours.
_, before = virsh("list", "--all", "--name")
domains_before = set(before.split())

try:
    # ---- health and routing -------------------------------------------------
    r = h.request("GET", "/v1/health")
    check(r.status == 200 and r.json["status"] == "ok" and r.json["virt_type"] in ("kvm", "qemu"),
          "GET /v1/health says ok, with the virtualization type", r)
    expect(h.request("GET", "/v1/nothing"), 404, "not_found", "an unknown path is 404")
    expect(h.request("PUT", "/v1/workspaces"), 405, "method_not_allowed", "a wrong method is 405")
    expect(h.request("GET", "/v1/workspaces/x/start"), 405, "method_not_allowed", "GET on an action is 405")

    # ---- images -----------------------------------------------------------------
    r = h.request("GET", "/v1/images")
    check(r.status == 200 and r.json == {"images": []}, "GET /v1/images starts empty", r)
    bad = os.path.join(work, "raw.img")
    with open(bad, "wb") as f:
        f.write(b"\0" * 65536)
    expect(h.request("POST", "/v1/images", {"name": "bad", "path": bad, "format": "qcow2"}), 422,
           "unusable_image", "a raw file claimed as qcow2 is refused with 422")
    expect(h.request("POST", "/v1/images", {"name": "bad", "path": "relative.qcow2", "format": "qcow2"}), 400,
           "invalid", "a relative image path is refused", "absolute")
    expect(h.request("POST", "/v1/images", {"name": "bad", "path": bad}), 400, "invalid",
           "an import without a format is refused (never probed)", "format")
    expect(h.request("POST", "/v1/images", {"name": "../x", "path": bad, "format": "raw"}), 400, "invalid",
           "an image name with ../ is refused")
    expect(h.request("POST", "/v1/images", {"name": "gone", "path": "/nonexistent.qcow2", "format": "qcow2"}),
           404, "not_found", "a missing source file is 404")
    r = import_golden(h)
    check(r is not None and r.status == 201 and len(r.json["sha256"]) == 64,
          "POST /v1/images imports the golden image with its SHA-256", r)
    expect(import_golden(h), 409, "conflict", "importing the same name again is 409")
    r = h.request("GET", "/v1/images/debian12")
    check(r.status == 200 and r.json["format"] == "qcow2" and r.json["virtual_size"] > 0,
          "GET /v1/images/{name} shows format and size", r)
    expect(h.request("GET", "/v1/images/nope"), 404, "not_found", "an unknown image is 404")
    r = h.request("POST", "/v1/images", {"name": "scratch", "path": bad, "format": "raw"})
    check(r.status == 201, "a raw image imports with format raw", r)
    r = h.request("DELETE", "/v1/images/scratch")
    check(r.status == 204, "DELETE /v1/images/{name} removes an unused image", r)
    expect(h.request("DELETE", "/v1/images/scratch"), 404, "not_found", "deleting it twice is 404")

    # ---- workspace requests refused before anything is made -----------------
    good = {"name": "apibox", "image": "debian12", "ssh_keys": [pubkey]}
    expect(h.request("POST", "/v1/workspaces", dict(good, image="nope")), 422, "unusable_image",
           "a workspace of an unknown image is 422", "nope")
    expect(h.request("POST", "/v1/workspaces", dict(good, name="Bad_Name")), 400, "invalid",
           "an invalid workspace name is refused", "name")
    expect(h.request("POST", "/v1/workspaces", dict(good, ssh_keys=["ssh-ed25519 AAAAnotbase64!"])), 400,
           "invalid", "an invalid SSH key is refused", "ssh key 1")
    expect(h.request("POST", "/v1/workspaces", dict(good, vcpus=9)), 400, "invalid",
           "vcpus above max_vcpus is refused", "vcpus")
    expect(h.request("POST", "/v1/workspaces", dict(good, memory_mib=512 * 1024)), 503, "no_resources",
           "memory beyond the host's capacity is 503", "memory")
    expect(h.request("POST", "/v1/workspaces", raw=b"x" * 8192), 413, "too_large",
           "a body over api_max_body is 413")
    rc, out = virsh("list", "--all", "--name")
    check(rc == 0 and set(out.split()) <= domains_before, "refused requests left no domain behind", out)
    check(h.request("GET", "/v1/workspaces").json == {"workspaces": []}, "refused requests left no row behind")

    # ---- 50 malformed requests ----------------------------------------------
    malformed = [
        b"", b"{", b"}", b"[]", b"null", b"42", b'"text"', b"{\"name\":}", b"{'name':'x'}",
        b'{"name":"a","name":"b","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"extra":1}',
        b'{"name":1,"image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","image":2,"ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":"k"}',
        b'{"name":"a","image":"debian12","ssh_keys":[1]}',
        b'{"name":"a","image":"debian12","ssh_keys":[]}',
        b'{"name":"a","image":"debian12","ssh_keys":[null]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":"2"}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":2.5}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":-1}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":0}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":99999999999999999999}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"memory_mib":1}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"memory_mib":true}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"disk_gib":0}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"disk_gib":{}}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"user":""}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"user":"root"}',
        b'{"name":"","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a\\u0000b","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"' + b"a" * 100 + b'","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12"}',
        b'{"image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"]} trailing',
        b'{"name":"a","image":"debian12","ssh_keys":["k"]}{}',
        b'\xff\xfe{"name":"a"}',
        b'{"name":"a","image":"debian12","ssh_keys":[["k"]]}',
        b'{"name":null,"image":"debian12","ssh_keys":["k"]}',
        b'{"name":"-a","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a.b","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a b","image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["ssh-rsa"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["ssh-ed25519 AAAA\\nssh-rsa AAAA"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":null}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"user":"a:b"}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"user":"Bad"}',
        b'{"nested":{"name":"a"}}',
        b'{"name":["a"],"image":"debian12","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":1e3}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"disk_gib":-5}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"memory_mib":"lots"}',
        b'{"name":"a","image":"","ssh_keys":["k"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["' + b"k" * 3000 + b'"]}',
        b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":[2]}',
    ]
    check(len(malformed) >= 50, f"{len(malformed)} malformed bodies prepared")
    wrong = []
    for body in malformed:
        r = h.request("POST", "/v1/workspaces", raw=body)
        if not (r.status in (400, 413, 422) and r.error_code() and r.error_message()):
            wrong.append(f"{body[:80]!r} -> {r!r}")
    check(not wrong, "every malformed body is refused with a 4xx error and a message", "\n".join(wrong))
    r = h.request("POST", "/v1/workspaces", raw=b'{"name":"a","image":"debian12","ssh_keys":["k"],"colour":1}')
    check("colour" in r.error_message(), "an unknown field is named in the message", r)
    r = h.request("POST", "/v1/workspaces", raw=b'{"name":"a","image":"debian12","ssh_keys":["k"],"vcpus":"2"}')
    check("vcpus" in r.error_message(), "a field of the wrong type is named in the message", r)
    check(h.request("GET", "/v1/health").status == 200, "hostd is still healthy after malformed requests")

    # ---- concurrent creates with one name: exactly one wins ------------------
    results = []

    def create():
        results.append(h.request("POST", "/v1/workspaces", good))

    threads = [threading.Thread(target=create) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if r.status == 202]
    conflicts = [r for r in results if r.status == 409 and r.error_code() == "conflict"]
    check(len(wins) == 1 and len(conflicts) == 9, "10 concurrent creates of one name: exactly one wins",
          "\n".join(map(repr, results)))
    ws = wins[0].json if wins else {}
    check(ws.get("state") == "pending" and ws.get("id", "").startswith("ws-") and ws.get("owner"),
          "a create answers 202 with id, owner and state pending", ws)

    # ---- the workspace routes --------------------------------------------------
    r = h.request("GET", "/v1/workspaces")
    check(r.status == 200 and [w["name"] for w in r.json["workspaces"]] == ["apibox"], "GET /v1/workspaces lists it", r)
    r1, r2 = h.request("GET", "/v1/workspaces/apibox"), h.request("GET", f"/v1/workspaces/{ws.get('id')}")
    check(r1.status == 200 and r2.status == 200 and r1.json["id"] == r2.json["id"],
          "GET /v1/workspaces/{ref} finds it by name and by id", f"{r1!r}\n{r2!r}")
    expect(h.request("GET", "/v1/workspaces/nobox"), 404, "not_found", "an unknown workspace is 404")
    expect(h.request("POST", "/v1/workspaces/apibox/start"), 409, "conflict",
           "starting a workspace that is not stopped is 409", "cannot be starting")
    expect(h.request("POST", "/v1/workspaces/apibox/stop?force=maybe"), 400, "invalid",
           "stop with a bad force value is 400", "force")
    expect(h.request("POST", "/v1/workspaces/nobox/stop"), 404, "not_found", "stopping an unknown workspace is 404")
    expect(h.request("POST", "/v1/workspaces/nobox/restart"), 404, "not_found",
           "restarting an unknown workspace is 404")
    expect(h.request("DELETE", "/v1/images/debian12"), 409, "conflict", "an image in use cannot be deleted")
    state, cur, secs = h.wait_state("apibox", ("running", "ready", "failed"), 300)
    check(state in ("running", "ready"), f"the workspace is provisioned and boots ({secs:.0f} s to {state})",
          f"{cur}\n{h.log()[-3000:]}")
    if state in ("running", "ready"):
        r = h.request("POST", "/v1/workspaces/apibox/stop?force=true")
        check(r.status == 202 and r.json["state"] == "stopping", "POST .../stop?force=true answers 202 stopping", r)
        state, cur, _ = h.wait_state("apibox", ("stopped", "failed"), 120)
        check(state == "stopped", "a forced stop ends in stopped", cur)
        r = h.request("POST", "/v1/workspaces/apibox/start")
        check(r.status == 202 and r.json["state"] == "starting", "POST .../start answers 202 starting", r)
        state, cur, _ = h.wait_state("apibox", ("running", "ready", "failed"), 120)
        check(state in ("running", "ready"), "start brings it back to running", cur)
        r = h.request("POST", "/v1/workspaces/apibox/restart")
        check(r.status == 202 and r.json["state"] == "stopping", "POST .../restart answers 202 stopping", r)
    r = h.request("DELETE", "/v1/workspaces/apibox")
    check(r.status == 202 and r.json["state"] == "deleting", "DELETE /v1/workspaces/{ref} answers 202 deleting", r)
    state, cur, secs = h.wait_state("apibox", ("gone",), 300)
    check(state == "gone", f"the deleted workspace is gone ({secs:.0f} s)", cur)
    rc, out = virsh("list", "--all", "--name")
    check(ws.get("id", "?") not in out, "its domain is undefined", out)
    disks = os.listdir(os.path.join(h.dir, "state", "disks"))
    check(disks == [], "its overlay is removed", disks)
    r = h.request("DELETE", "/v1/images/debian12")
    check(r.status == 204, "the image can be deleted once no workspace uses it", r)
finally:
    h.cleanup()
done()
