#!/usr/bin/python3
"""events.py — GET /v1/events against a real hostd, without booting a guest:
hostd runs with an agent binary that does not exist, so a workspace goes
pending -> provisioning -> failed within a second of its create (the disk is
made, the injection refuses at once), which is what the stream carries.

Checks: those three events in order with the reason; Last-Event-ID and
?since= replay exactly what a client missed; a member (a Unix user made for
the test) sees only its own workspaces; ?workspace= narrows; the heartbeat
comes; requests are answered quickly with 50 streams open, and every stream
gets each event; api_max_event_streams is enforced (503) and a client that
leaves frees its slot; wsctl watch (lines, --json, reconnect after a hostd
restart) and create --wait follow the stream; hostd stops within seconds
with streams open, ending each cleanly."""
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, Developer, Hostd, check, done, note, test_ssh_key  # noqa: E402

MAX_STREAMS = 60
h = Hostd("agent_binary = /nonexistent/hostd-agent\nsocket_mode = 0666\n"
          f"api_max_event_streams = {MAX_STREAMS}\n", name="events").start()
work = h.dir
_, pubkey = test_ssh_key(work)
member = f"hdev{os.getpid() % 100000}"


class EventStream:
    """One GET /v1/events on its own socket: HTTP head, chunked body, SSE
    messages (events, comments) parsed as they come."""

    def __init__(self, query="", headers=None, sock=None):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock or h.socket)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.s.sendall(f"GET /v1/events{query} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
                       f"{extra}\r\n".encode())
        self.raw = b""
        self.body = b""
        self.events, self.comments, self.cur = [], [], {}
        self.closed = self.ended = False
        self.status, self.headers, self.error, self.retry = None, {}, None, None
        self._head()

    def _recv(self, timeout):
        if self.closed:
            return
        self.s.settimeout(max(timeout, 0.01))
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return
        except OSError:
            d = b""
        if not d:
            self.closed = True
        self.raw += d

    def _head(self):
        deadline = time.time() + 10
        while b"\r\n\r\n" not in self.raw and not self.closed and time.time() < deadline:
            self._recv(deadline - time.time())
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n and not self.closed and time.time() < deadline:
                self._recv(deadline - time.time())
            try:
                self.error = json.loads(self.raw[:n])["error"]
            except (ValueError, KeyError):
                self.error = {"raw": self.raw[:n]}
            self.close()

    def _parse(self):
        while not self.ended:
            nl = self.raw.find(b"\r\n")
            if nl < 0:
                break
            size = int(self.raw[:nl], 16)
            if size == 0:
                self.ended = True
                break
            if len(self.raw) < nl + 2 + size + 2:
                break
            self.body += self.raw[nl + 2:nl + 2 + size]
            self.raw = self.raw[nl + 2 + size + 2:]
        while b"\n" in self.body:
            line, _, self.body = self.body.partition(b"\n")
            line = line.decode()
            if line == "":
                if "data" in self.cur:
                    ev = {"id": self.cur.get("id"), "event": self.cur.get("event", "message"),
                          "data": json.loads("\n".join(self.cur["data"]))}
                    self.events.append(ev)
                self.cur = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    self.cur.setdefault("data", []).append(value)
                elif field == "id":
                    self.cur["id"] = int(value)
                elif field == "retry":
                    self.retry = int(value)
                else:
                    self.cur[field] = value

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while True:
            self._parse()
            if pred(self):
                return True
            if self.ended or self.closed or time.time() >= deadline:
                return False
            self._recv(deadline - time.time())

    def states(self, name):
        return [(e["event"], e["data"]["state"]) for e in self.events if e["data"]["name"] == name]

    def ids(self):
        return [e["id"] for e in self.events]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
        self.closed = True


def create(name):
    r = h.request("POST", "/v1/workspaces", {"name": name, "image": "tiny", "ssh_keys": [pubkey]})
    check(r.status == 202, f"workspace {name} is accepted", r)
    return r.json["id"] if r.status == 202 else None


def failed(name):
    return lambda st: ("state", "failed") in st.states(name)


def deleted(name):
    return lambda st: ("state", "deleted") in st.states(name)


def delete(name, watcher):
    h.request("DELETE", f"/v1/workspaces/{name}")
    watcher.wait(deleted(name), 20)


streams = []
watchers = []
dev = None
try:
    raw = os.path.join(work, "tiny.img")
    with open(raw, "wb") as f:
        f.write(b"\0" * 65536)
    r = h.request("POST", "/v1/images", {"name": "tiny", "path": raw, "format": "raw"})
    check(r.status == 201, "a tiny raw image is imported", r)

    idle = EventStream("?workspace=nothing-here")
    idle_opened = time.time()
    every = EventStream()
    check(every.status == 200 and every.headers.get("content-type") == "text/event-stream"
          and every.headers.get("cache-control") == "no-cache",
          "GET /v1/events answers 200 text/event-stream, not cached", every.headers)
    check(every.wait(lambda st: st.retry == 3000, 5), "the stream starts with retry: 3000, before any event")

    # ---- the three events of a failed provisioning, in order -------------------------
    ws1 = create("ev1")
    ok = every.wait(failed("ev1"), 20)
    check(ok and every.states("ev1") == [("created", "pending"), ("state", "provisioning"), ("state", "failed")],
          "a stream sees created (pending), provisioning and failed, in that order", every.events)
    evs = [e for e in every.events if e["data"]["name"] == "ev1"]
    if len(evs) == 3:
        last = evs[2]["data"]
        check(last["workspace_id"] == ws1 and last["owner"] == "root" and last["from_state"] == "provisioning"
              and "agent binary /nonexistent/hostd-agent" in (last["reason"] or "")
              and last["time"].endswith("Z"),
              "the failed event carries the workspace's id, owner, previous state, reason and time", last)
        check(evs[0]["id"] < evs[1]["id"] < evs[2]["id"] and all(e["id"] == e["data"]["id"] for e in evs),
              "ids increase, and the SSE id is the event's id")
        r = h.request("GET", "/v1/workspaces/ev1")
        check(r.status == 200 and r.json["state"] == "failed" and r.json["reason"] == last["reason"],
              "the stream's reason is the workspace's reason", r)

    # ---- ?workspace= ---------------------------------------------------------------------
    only2 = EventStream("?workspace=ev2")
    create("ev3")
    ws2 = create("ev2")
    only2.wait(failed("ev2"), 20)
    every.wait(failed("ev3"), 20)
    check(only2.states("ev2") == [("created", "pending"), ("state", "provisioning"), ("state", "failed")]
          and {e["data"]["name"] for e in only2.events} == {"ev2"},
          "?workspace=NAME carries that workspace's events only", only2.events)
    by_id = EventStream(f"?workspace={ws2}&since=0")
    by_id.wait(failed("ev2"), 10)
    check(by_id.states("ev2") == only2.states("ev2") and {e["data"]["name"] for e in by_id.events} == {"ev2"},
          "?workspace=ID works too (and ?since=0 replays the whole log)", by_id.events)
    only2.close()
    by_id.close()

    # ---- Last-Event-ID replays exactly what was missed, then goes on live --------------
    dropped = EventStream()
    create("ev4")
    dropped.wait(lambda st: len(st.states("ev4")) >= 1, 10)
    seen = dropped.ids()
    dropped.close()  # the client drops after its first event
    every.wait(failed("ev4"), 20)
    create("ev5")
    every.wait(failed("ev5"), 20)
    missed = [i for i in every.ids() if i > seen[-1]] if seen else None
    back = EventStream(headers={"Last-Event-ID": str(seen[-1])} if seen else None)
    back.wait(lambda st: len(st.events) >= len(missed or [1]), 10)
    check(seen and back.ids() == missed,
          "reconnecting with Last-Event-ID replays exactly the events missed, in order",
          f"seen {seen} replayed {back.ids()} expected {missed}")
    delete("ev1", every)
    back.wait(deleted("ev1"), 10)
    check(back.ids() == [i for i in every.ids() if i > seen[-1]],
          "after the replay the stream goes on live, without a gap or a repeat", f"{back.ids()} vs {every.ids()}")
    back.close()
    if seen:
        both = EventStream(f"?since=0&workspace=ev5", headers={"Last-Event-ID": str(every.ids()[-3])})
        both.wait(lambda st: len(st.events) >= 1, 5)
        check(all(e["id"] > every.ids()[-3] for e in both.events),
              "Last-Event-ID wins over ?since= (a reconnecting EventSource keeps its URL)", both.events)
        both.close()
    bad = EventStream("?since=abc")
    check(bad.status == 400 and "since" in bad.error.get("message", ""), "a since that is no event id is 400",
          bad.error)

    # ---- a member sees only its own workspaces --------------------------------------------
    made_user = subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", member],
                               capture_output=True, text=True).returncode == 0
    check(made_user, f"a test user {member} is made")
    client = r"""
import json, socket, sys, time
sock, name, key = sys.argv[1:4]
def req(method, path, body=None):
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    data = json.dumps(body).encode() if body else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    out = b""
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    return out.split(b"\r\n")[0].decode()
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(30)
s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while b"retry:" not in buf:
    buf += s.recv(65536)
print("READY", flush=True)
sys.stdin.readline()
print("CREATE", req("POST", "/v1/workspaces", {"name": name, "image": "tiny", "ssh_keys": [key]}), flush=True)
deadline = time.time() + 20
while b'"state":"failed"' not in buf and time.time() < deadline:
    buf += s.recv(65536)
for line in buf.decode().split("\n"):
    if line.startswith("data: "):
        print(line[6:], flush=True)
"""
    if made_user:
        p = subprocess.Popen(["runuser", "-u", member, "--", "python3", "-c", client, h.socket, "evmine", pubkey],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = p.stdout.readline().strip()
        check(ready == "READY", "the member's stream is open", ready + p.stderr.read() if ready != "READY" else "")
        create("evroot")  # root's, while the member watches
        every.wait(failed("evroot"), 20)
        p.stdin.write("go\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
        lines = out.splitlines()
        got = [json.loads(x) for x in lines[1:] if x.startswith("{")]
        check(lines and "202" in lines[0], "the member creates its own workspace", out + err)
        check([(e["kind"], e["state"]) for e in got] == [("created", "pending"), ("state", "provisioning"),
                                                        ("state", "failed")]
              and all(e["owner"] == member and e["name"] == "evmine" for e in got),
              "the member's stream carries its own workspace's events ...", got)
        check(not any(e["owner"] == "root" for e in got),
              "... and none of root's, though root's changed while it listened", got)
        every.wait(failed("evmine"), 10)
        check(("state", "failed") in every.states("evmine"), "root (admin) sees the member's workspace too")

    # ---- heartbeat ----------------------------------------------------------------------------
    ok = idle.wait(lambda st: "heartbeat" in st.comments, 25 - (time.time() - idle_opened))
    took = time.time() - idle_opened
    check(ok and 14 <= took <= 22 and not idle.events,
          f"a quiet stream gets a heartbeat comment after about 15 s (took {took:.1f} s), and no event",
          f"{idle.comments} {idle.events}")
    idle.close()

    # ---- wsctl watch and create --wait --------------------------------------------------------
    dev = Developer(h, "events")
    watch_lines = subprocess.Popen([f"{BUILD}/wsctl", "watch"], env=dev.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    watch_json = subprocess.Popen([f"{BUILD}/wsctl", "watch", "--json", "evw"], env=dev.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchers += [watch_lines, watch_json]
    time.sleep(1)
    t0 = time.time()
    rc, out, err = dev.wsctl("create", "--image", "tiny", "--ssh-key", os.path.join(work, "id_ed25519.pub"),
                             "--wait", "--timeout", "60s", "evw")
    check(rc == 4 and "workspace evw failed: injecting cloud-init data and the agent" in err,
          "wsctl create --wait exits 4 with the reason when provisioning fails", out + err)
    check([line.split()[1] for line in out.splitlines() if line.strip()] == ["pending", "provisioning", "failed"],
          "create --wait prints every state from the stream, provisioning included (a poll would miss it)", out)
    check(time.time() - t0 < 10, "and returns as soon as the workspace failed")
    every.wait(failed("evw"), 10)
    # A restart of hostd while watch runs: it reconnects with Last-Event-ID.
    h.stop()
    h.start()
    create("evw2")
    time.sleep(4)
    for w in watchers:
        w.send_signal(signal.SIGINT)
    wl_out, wl_err = watch_lines.communicate(timeout=10)
    wj_out, wj_err = watch_json.communicate(timeout=10)
    check(watch_lines.returncode == 0 and watch_json.returncode == 0, "wsctl watch ends with 0 on ^C",
          f"{watch_lines.returncode} {watch_json.returncode} {wl_err} {wj_err}")
    evw = [x for x in wl_out.splitlines() if " evw " in x]
    check(len(evw) == 3 and evw[0].split()[2:4] == ["pending", "created"] and evw[1].split()[2] == "provisioning"
          and evw[2].split()[2] == "failed" and "agent binary" in evw[2],
          "wsctl watch prints one line per event: time, workspace, state, reason", wl_out)
    check(wl_out.splitlines()[0].split()[0].endswith("Z"), "each line starts with the event's time", wl_out)
    evw2 = [x for x in wl_out.splitlines() if " evw2 " in x]
    check([x.split()[2] for x in evw2] == ["pending", "provisioning", "failed"],
          "after hostd restarted, watch reconnected and printed the new events once each", wl_out + wl_err)
    check("reconnect" in wl_err, "watch says on stderr that it lost hostd and reconnected", wl_err)
    jl = [json.loads(x) for x in wj_out.splitlines() if x.strip()]
    check([(e["kind"], e["state"]) for e in jl] == [("created", "pending"), ("state", "provisioning"),
                                                    ("state", "failed")] and all(e["name"] == "evw" for e in jl),
          "wsctl watch --json NAME prints that workspace's raw events, one JSON per line", wj_out + wj_err)

    # ---- 50 streams open: requests stay quick, every stream gets every event ------------------
    every = EventStream()
    streams = [EventStream() for _ in range(50)]
    check(all(st.status == 200 for st in streams), "50 streams open at once", [st.status for st in streams])
    slowest = 0
    for i in range(30):
        t0 = time.time()
        r = h.request("GET", "/v1/workspaces" if i % 2 else "/v1/health")
        slowest = max(slowest, time.time() - t0)
        if r.status != 200:
            break
    check(r.status == 200 and slowest < 0.5,
          f"with 50 streams open, 30 requests are answered, the slowest in {slowest * 1000:.0f} ms", r)
    create("ev50")
    t0 = time.time()
    all_got = all(st.wait(failed("ev50"), 20) for st in streams)
    check(all_got and all(st.states("ev50")[-1] == ("state", "failed") for st in streams),
          f"each of the 50 streams gets the new workspace's events ({time.time() - t0:.2f} s for all)")
    more = [EventStream() for _ in range(MAX_STREAMS - 51)]
    over = EventStream()
    check(all(st.status == 200 for st in more) and over.status == 503
          and "api_max_event_streams" in over.error.get("message", ""),
          f"stream {MAX_STREAMS + 1} is refused with 503 naming api_max_event_streams", over.error)
    r = h.request("GET", "/v1/health")
    check(r.status == 200, "requests are still answered with every stream slot taken", r)
    streams += more
    streams[0].close()
    t0 = time.time()
    again = None
    while time.time() - t0 < 5:
        again = EventStream()
        if again.status == 200:
            break
        time.sleep(0.2)
    check(again is not None and again.status == 200 and time.time() - t0 < 3,
          f"a client that leaves frees its slot within seconds ({time.time() - t0:.1f} s)")
    streams[0] = again

    # ---- hostd stops at once with streams open, each ended cleanly ----------------------------
    streams.append(every)
    t0 = time.time()
    rc = h.stop()
    took = time.time() - t0
    check(rc == 0 and took < 5, f"SIGTERM with {len(streams)} streams open: hostd stops in {took:.1f} s", rc)
    clean = sum(1 for st in streams if st.wait(lambda s: s.ended, 2) and "hostd is stopping" in st.comments)
    check(clean == len(streams), f"every stream ends cleanly with a last comment ({clean} of {len(streams)})")
finally:
    for st in streams:
        st.close()
    for w in watchers:
        if w.poll() is None:
            w.kill()
    if subprocess.run(["id", member], capture_output=True).returncode == 0:
        subprocess.run(["userdel", member], capture_output=True)
    try:
        pwd.getpwnam(member)
        note(f"could not remove user {member}")
    except KeyError:
        pass
    if dev:
        dev.cleanup()
    h.cleanup()

done()
