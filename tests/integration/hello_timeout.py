#!/usr/bin/python3
"""hello_timeout.py — a guest whose agent does not say hello within
agent_hello_timeout is failed with a reason that says so and points at its
console log, its domain is stopped (not left spinning), and it can be
deleted. The timeout is set shorter than a TCG boot so the real agent is late."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Hostd, check, done, import_golden, test_ssh_key, virsh  # noqa: E402

h = Hostd("agent_hello_timeout = 10s\n", name="hello").start()
_, pub = test_ssh_key(tempfile.mkdtemp(prefix="hostd-hello-"))
try:
    r = import_golden(h)
    check(r is not None and r.status == 201, "the golden image is imported", r)
    r = h.request("POST", "/v1/workspaces", {"name": "silent", "image": "debian12", "ssh_keys": [pub]})
    ws_id = (r.json or {}).get("id", "?")
    check(r.status == 202, "a create is accepted", r)
    state, cur, secs = h.wait_state("silent", ("failed", "ready"), 300)
    reason = (cur or {}).get("reason") or ""
    check(state == "failed" and "did not say hello within 10 s" in reason and ".console.log" in reason,
          f"a guest that never says hello in time is failed with the reason ({secs:.0f} s)", cur)
    rc, out = virsh("domstate", ws_id)
    check(out.strip() == "shut off", "its domain is stopped, not left running", out)
    check("did not say hello" in h.log(), "hostd logs it", h.log()[-1500:])
    r = h.request("DELETE", "/v1/workspaces/silent")
    state, cur, _ = h.wait_state("silent", ("gone",), 120)
    check(r.status == 202 and state == "gone", "the failed workspace is deleted cleanly", cur)
finally:
    h.cleanup()
done()
