#!/usr/bin/python3
"""https.py — hostd's HTTPS listener and abuse limits against a real hostd on
loopback: a site CA and server certificates made with openssl at test time
(hostdtest.TestCA); curl and openssl s_client see the certificate, TLS 1.2
but not 1.1, plain HTTP gets no answer; 401 without a token; SIGHUP swaps the certificate for
new connections while open ones go on; hostd refuses to start without a
certificate or with a key others can read; 429 after repeated failed
authentications; oversized headers get 431; the per-address connection
limit; and a slow-connection attack (stalled handshakes and headers dripped
a byte at a time) during which legitimate requests are still answered,
with their latency printed as TAP comments."""
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import (BUILD, Hostd, TestCA, check, done, free_port, https_config, https_request,  # noqa: E402
                       note)

HEADER_TIMEOUT = 8
REQUEST_TIMEOUT = 12
PER_IP = 300
AUTH_FAILURES = 5
STALLED = 200

work = tempfile.mkdtemp(prefix="hostd-https-")


def sh(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def path(name):
    return os.path.join(work, name)


def install(name):
    """Put name's certificate and key where hostd reads them (rename: atomic)."""
    for src, dst in ((f"{name}.pem", "server.pem"), (f"{name}.key", "server.key")):
        shutil.copy(path(src), path(dst + ".new"))
        os.chmod(path(dst + ".new"), 0o600)
        os.rename(path(dst + ".new"), path(dst))


def s_client(port, *args):
    r = sh("openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args,
           stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def served_cert(port):
    """Subject and serial of the certificate a new connection gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ca.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            c = s.getpeercert()
    subject = dict(x[0] for x in c["subject"])
    return subject.get("commonName"), c["serialNumber"]


def get(url, headers=None, ctx=None, timeout=30):
    """GET url on a new HTTPS connection to hostd, verified against the site CA."""
    return https_request(port, "GET", url, headers=headers, context=ctx or ca.context(), timeout=timeout)


def curl(*args):
    r = sh("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", *args)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def refuses_to_start(extra, what, wanted):
    """hostd with this config exits non-zero at start and with -n, saying wanted."""
    h = Hostd(extra, name="https-refuse")
    try:
        n = sh(f"{BUILD}/hostd", "-n", "-f", h.config)
        h.start(wait=False)
        try:
            rc = h.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc not in (0, None) and wanted in h.log(), f"hostd refuses to start: {what}",
              f"exit {rc}\n{h.log()[-2000:]}")
        check(n.returncode != 0 and wanted in n.stderr, f"hostd -n refuses the configuration: {what}",
              f"exit {n.returncode}\n{n.stderr}")
    finally:
        h.cleanup(keep_on_failure=False)


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


try:
    ca = TestCA(work, "site-ca")
    for name, serial in (("hostd-one", 1001), ("hostd-two", 2002), ("hostd-three", 3003)):
        ca.server_cert(name, san="IP:127.0.0.1", serial=serial)
    check(True, "openssl makes a site CA and server certificates signed by it")
except RuntimeError as e:
    check(False, "openssl makes a site CA and server certificates signed by it", e)
    done()
install("hostd-one")
port = free_port()
h = Hostd(https_config(port, path("server.pem"), path("server.key")) + f"""api_max_connections = 1000
api_max_connections_per_ip = {PER_IP}
api_header_timeout = {HEADER_TIMEOUT}s
api_request_timeout = {REQUEST_TIMEOUT}s
api_auth_failures_per_minute = {AUTH_FAILURES}
api_max_header_size = 16K
""", name="https")

try:
    h.start()
    check(f"listening on https://127.0.0.1:{port}: certificate CN=hostd-one" in h.log(),
          "hostd logs the HTTPS address and the certificate it serves", h.log()[-1500:])

    # ---- TLS, and TLS only -------------------------------------------------------
    rc, code, err = curl("--cacert", ca.pem, f"https://127.0.0.1:{port}/v1/health")
    check(rc == 0 and code == "200", "curl --cacert ca.pem https://127.0.0.1:PORT/v1/health answers 200",
          f"rc {rc} code {code} {err}")
    rc, code, err = curl(f"https://127.0.0.1:{port}/v1/health")
    check(rc == 60, "curl without the site CA fails certificate verification", f"rc {rc} code {code} {err}")
    rc, out = s_client(port, "-CAfile", ca.pem, "-tls1_2")
    check(rc == 0 and "Verify return code: 0 (ok)" in out and "TLSv1.2" in out,
          "openssl s_client -tls1_2 completes a verified handshake", out[-1500:])
    rc, out = s_client(port, "-CAfile", ca.pem, "-tls1_3")
    check(rc == 0 and "TLSv1.3" in out, "TLS 1.3 is served too", out[-1500:])
    # SECLEVEL=0 lets the client offer TLS 1.1, so a refusal is the server's.
    rc, out = s_client(port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    check(rc != 0 and "no protocols available" not in out and "BEGIN CERTIFICATE" not in out,
          "a TLS 1.1 handshake is refused by hostd", out[-1500:])

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    check(not answer.startswith(b"HTTP/") and b"status" not in answer,
          "plain HTTP on the TLS port gets no HTTP answer (the connection is closed)", repr(answer[:200]))
    rc, code, err = curl(f"http://127.0.0.1:{port}/v1/health")
    check(rc != 0 and code in ("000", ""), "curl http:// to the TLS port gets no HTTP status", f"rc {rc} code {code}")

    r = get("/v1/workspaces")
    check(r.status == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer") and
          r.error_code() == "unauthenticated",
          "a request without a token to /v1/workspaces over TLS is 401 with WWW-Authenticate: Bearer",
          f"{r} {r.headers}")
    check(h.request("GET", "/v1/workspaces").status == 200,
          "the unix socket still serves its peers without a token")

    r = get("/v1/health", headers={"X-Big": "a" * 20000})
    check(r.status == 431, "a request whose headers exceed api_max_header_size gets 431", r)

    # ---- reload on SIGHUP -----------------------------------------------------------
    kept = http.client.HTTPSConnection("127.0.0.1", port, context=ca.context(), timeout=30)
    kept.request("GET", "/v1/health")
    r = kept.getresponse()
    first = r.status
    r.read()
    install("hostd-two")
    h.proc.send_signal(signal.SIGHUP)
    seen = None
    deadline = time.time() + 10
    while time.time() < deadline:
        seen = served_cert(port)
        if seen[0] == "hostd-two":
            break
        time.sleep(0.2)
    check(seen == ("hostd-two", "07D2"), "after SIGHUP new connections get the new certificate (CN, serial)",
          f"{seen}\n{h.log()[-1500:]}")
    kept.request("GET", "/v1/health")
    r = kept.getresponse()
    check(first == 200 and r.status == 200,
          "a connection opened before the reload goes on working after it (no connection is dropped)")
    r.read()
    kept.close()
    check(h.proc.poll() is None and h.request("GET", "/v1/health").status == 200,
          "hostd and its unix socket go on across the reload")
    check("SIGHUP: new certificate for https://127.0.0.1" in h.log() and "CN=hostd-two" in h.log(),
          "the reload is logged with the new certificate")

    # A broken pair on reload keeps the certificate in use.
    shutil.copy(path("hostd-three.pem"), path("server.pem"))
    h.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    check("keeping the previous HTTPS certificate" in h.log() and served_cert(port)[0] == "hostd-two",
          "a reload with a key that does not match keeps serving the previous certificate", h.log()[-1500:])
    install("hostd-two")

    # ---- per-address connection limit ----------------------------------------------
    held = []
    try:
        for _ in range(PER_IP):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(0.5)
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra.settimeout(3)
        start = time.time()
        try:
            got = extra.recv(1)
        except (ConnectionResetError, socket.timeout) as e:
            got = e
        check(got == b"" or isinstance(got, ConnectionResetError),
              f"connection {PER_IP + 1} from one address is closed at once (api_max_connections_per_ip)",
              f"{got!r} after {time.time() - start:.1f}s")
        extra.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)

    # ---- slow connections (slowloris) -------------------------------------------------
    def timed_requests(n):
        """Latencies (ms) of n GET /v1/health, each on a new TLS connection, and how many got 200."""
        latencies, answered, ctx = [], 0, ca.context()
        for i in range(n):
            start = time.perf_counter()
            try:
                answered += get("/v1/health", ctx=ctx).status == 200
            except OSError as e:
                note(f"request {i}: {e}")
            latencies.append((time.perf_counter() - start) * 1000)
        return latencies, answered

    quiet, _ = timed_requests(200)
    note(f"baseline: p50 {percentile(quiet, 50):.1f} ms, p99 {percentile(quiet, 99):.1f} ms without stalled connections")
    stalled = []          # (socket, opened at)
    dripping = []
    opened = time.time()
    for i in range(STALLED // 2):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)   # stalls in the TLS handshake
        stalled.append((s, time.time()))
    for i in range(STALLED - STALLED // 2):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ca.context().wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finish
        stalled.append((s, time.time()))
        dripping.append(s)
    stop_drip = threading.Event()

    def drip():
        # One byte per second: each one resets libmicrohttpd's idle timeout.
        while not stop_drip.wait(1.0):
            for s in dripping:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    note(f"{len(stalled)} stalled connections opened in {time.time() - opened:.2f}s")

    latencies, answered = timed_requests(200)
    during = time.time() - opened
    note(f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
         f"max {max(latencies):.1f} ms for 200 HTTPS requests (new connection each) with "
         f"{STALLED} stalled connections open")
    note(f"p99 {percentile(latencies, 99):.1f} ms")
    check(answered == 200, f"all 200 legitimate HTTPS requests are answered while {STALLED} connections stall",
          f"{answered} answered")
    check(during < HEADER_TIMEOUT, "the legitimate requests ran while the stalled connections were still open",
          f"{during:.1f}s")

    # Every stalled connection is cut at the header deadline (the dripping
    # ones would outlive libmicrohttpd's idle timeout for ever).
    closed_after = []
    for s, at in stalled:
        s.settimeout(max(0.1, at + HEADER_TIMEOUT + 5 - time.time()))
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    break
            closed_after.append(time.time() - at)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            closed_after.append(time.time() - at)
        except socket.timeout:
            closed_after.append(None)
    stop_drip.set()
    dripper.join()
    for s, _ in stalled:
        s.close()
    cut = [t for t in closed_after if t is not None]
    note(f"stalled connections closed after {min(cut or [0]):.1f}..{max(cut or [0]):.1f}s "
         f"(api_header_timeout = {HEADER_TIMEOUT}s)")
    check(len(cut) == STALLED and all(HEADER_TIMEOUT - 0.5 <= t <= HEADER_TIMEOUT + 2 for t in cut),
          f"all {STALLED} stalled connections (silent handshakes and dripped headers) are closed "
          f"about {HEADER_TIMEOUT}s after they opened",
          f"{len(cut)} closed; times {sorted(t for t in cut)[:3]}..{sorted(cut)[-3:] if cut else []}")
    check(get("/v1/health").status == 200, "hostd answers normally after the attack")

    # ---- failed authentications --------------------------------------------------------
    # One 401 was spent above; the bucket holds AUTH_FAILURES.
    wrong = {"Authorization": "Bearer hdt_wrong"}
    statuses = [get("/v1/workspaces", headers=wrong).status for _ in range(AUTH_FAILURES - 1)]
    r = get("/v1/workspaces", headers=wrong)
    check(statuses == [401] * (AUTH_FAILURES - 1) and r.status == 429,
          f"after {AUTH_FAILURES} failed authentications in a minute the address gets 429", f"{statuses} then {r}")
    retry = r.headers.get("Retry-After", "")
    check(retry.isdigit() and 1 <= int(retry) <= 60 // AUTH_FAILURES,
          "the 429 says when to retry (Retry-After, seconds)", r.headers)
    check(r.error_code() == "rate_limited", "the 429 body names the error: rate_limited", r)
    check(get("/v1/health").status == 200, "public routes stay open to a held-back address")
    check(h.request("GET", "/v1/workspaces").status == 200,
          "the unix socket is not held back by failures over TCP")
    check(h.proc.poll() is None, "hostd is still running")
finally:
    h.cleanup()

# ---- refusals at start -----------------------------------------------------------
refuses_to_start(f"listen = 127.0.0.1:{free_port()}\n", "listen without tls_cert and tls_key",
                 "needs tls_cert and tls_key")
os.chmod(path("hostd-one.key"), 0o644)
refuses_to_start(f"listen = 127.0.0.1:{free_port()}\ntls_cert = {path('hostd-one.pem')}\n"
                 f"tls_key = {path('hostd-one.key')}\n", "a private key readable by others", "chmod 600")
refuses_to_start(f"listen = 127.0.0.1:{free_port()}\ntls_cert = {path('hostd-one.pem')}\n"
                 f"tls_key = {path('hostd-two.key')}\n", "a key that is not the certificate's",
                 "is not the key of the certificate")

shutil.rmtree(work, ignore_errors=True)
done()
