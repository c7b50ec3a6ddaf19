"""hostdtest.py — shared pieces of hostd's Python integration tests.

TAP output (ok / not ok lines that tests/run adds up), a real hostd started
on a temporary state directory and socket, an HTTP client for its unix
socket and one for its HTTPS listener, and a test CA (the openssl CLI) that
signs server certificates for that listener or any other test server. The
tests run inside the harness (tests/lib/harness.sh), which
provides libvirtd, the test network and the golden image through the
environment.
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("HOSTD_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("B", os.path.join(TOP, "build"))

_count = 0
_failed = 0


def check(cond, what, detail=""):
    """One TAP line; returns cond so callers can stop early."""
    global _count, _failed
    _count += 1
    if cond:
        print(f"ok {_count} - {what}", flush=True)
    else:
        _failed += 1
        print(f"not ok {_count} - {what}", flush=True)
        for line in str(detail).splitlines()[:20]:
            print(f"#   {line}", flush=True)
    return cond


def note(msg):
    print(f"# {msg}", flush=True)


def done():
    print(f"1..{_count}", flush=True)
    sys.exit(1 if _failed else 0)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, body, headers=None):
        self.status = status
        self.raw = body
        self.headers = headers or {}
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def error_message(self):
        try:
            return self.json["error"]["message"]
        except (TypeError, KeyError):
            return ""

    def error_code(self):
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return ""

    def __repr__(self):
        return f"HTTP {self.status} {self.raw[:500]!r}"


def exchange(conn, method, path, body=None, raw=None, headers=None, stream=False):
    """One request on conn (closed after): body is sent as JSON, raw as is;
    with stream, a 200 answer's body (an event stream that never ends) is
    not read."""
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) and close before the whole body
            # is sent, as HTTP allows: read the answer it left.
            r = http.client.HTTPResponse(conn.sock, method=method)
            r.begin()
        if stream and r.status == 200:
            return Response(r.status, "", dict(r.getheaders()))
        return Response(r.status, r.read().decode("utf-8", "replace"), dict(r.getheaders()))
    finally:
        conn.close()


def https_request(port, method, path, body=None, headers=None, context=None, timeout=60, raw=None, stream=False):
    """One request to 127.0.0.1:port over TLS, verified with context (an
    ssl.SSLContext: TestCA.context()), on a new connection."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=timeout)
    return exchange(conn, method, path, body, raw, headers, stream)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def https_config(port, cert, key):
    """hostd.conf lines that serve HTTPS on 127.0.0.1:port with this pair."""
    return f"listen = 127.0.0.1:{port}\ntls_cert = {cert}\ntls_key = {key}\n"


class TestCA:
    """A certificate authority made for one test with the openssl CLI (EC
    P-256, valid 2 days): NAME.pem and NAME.key in directory. It signs
    server certificates; context() trusts it alone."""

    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.pem = os.path.join(directory, f"{name}.pem")
        self.key = os.path.join(directory, f"{name}.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                      "-keyout", self.key, "-out", self.pem, "-days", "2", "-subj", f"/CN=hostd test {name}",
                      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        os.chmod(self.key, 0o600)

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")

    def server_cert(self, name, san="DNS:localhost,IP:127.0.0.1", serial=None):
        """A server certificate (CN=name, subjectAltName san, serverAuth)
        signed by this CA, as NAME.pem and NAME.key (mode 0600) in the CA's
        directory; made again when called again with the same name. serial:
        the certificate's serial number (default: random). Returns (cert, key)."""
        cert, key = (os.path.join(self.dir, f"{name}.{suffix}") for suffix in ("pem", "key"))
        csr, ext = (os.path.join(self.dir, f"{name}.{suffix}") for suffix in ("csr", "ext"))
        with open(ext, "w") as f:
            f.write(f"subjectAltName = {san}\nextendedKeyUsage = serverAuth\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc", "-keyout", key,
                      "-out", csr, "-subj", f"/CN={name}")
        os.chmod(key, 0o600)
        if serial is None:
            serial = secrets.randbelow(2**63 - 1) + 1
        self._openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key, "-set_serial", str(serial),
                      "-days", "2", "-extfile", ext, "-out", cert)
        os.remove(csr)
        os.remove(ext)
        return cert, key

    def context(self):
        """A client TLS context that trusts this CA only (and checks host names)."""
        return ssl.create_default_context(cafile=self.pem)

    def https_listener(self, name="hostd"):
        """A port and the hostd.conf lines for an HTTPS listener on
        127.0.0.1 with a new certificate for localhost and 127.0.0.1."""
        port = free_port()
        return port, https_config(port, *self.server_cert(name))


class Hostd:
    """A hostd process on its own state directory and socket."""

    def __init__(self, extra_config="", name="hostd"):
        self.dir = tempfile.mkdtemp(prefix=f"hostd-test-{name}-")
        os.chmod(self.dir, 0o711)
        self.socket = os.path.join(self.dir, "hostd.sock")
        self.config = os.path.join(self.dir, "hostd.conf")
        self.log_path = os.path.join(self.dir, "hostd.log")
        self.proc = None
        base = f"""state_dir = {self.dir}/state
run_dir = {self.dir}/run
log_dir = {self.dir}/log
socket = {self.socket}
socket_group = root
audit_file = {self.dir}/audit.jsonl
libvirt_uri = {os.environ.get("HOSTD_TEST_LIBVIRT_URI", "qemu:///system")}
virt_type = {os.environ.get("HOSTD_VIRT_TYPE", "qemu")}
network = {os.environ.get("HOSTD_TEST_NETWORK", "hostd-test")}
agent_binary = {BUILD}/hostd-agent
log_level = debug
default_memory = 1G
default_disk = 4G
vcpu_overcommit = 32
"""
        # vcpu_overcommit: the build hosts have 2 CPUs, and tests ask for more
        # vCPUs than 8 (the default 4 per CPU) at once without booting them all.
        # Keys in extra_config replace the base ones (hostd refuses a key set twice).
        extra_keys = {line.split("=")[0].strip() for line in extra_config.splitlines() if "=" in line}
        lines = [line for line in base.splitlines() if line.split("=")[0].strip() not in extra_keys]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + extra_config)

    def start(self, wait=True):
        logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([f"{BUILD}/hostd", "-f", self.config], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        if wait:
            deadline = time.time() + 60
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"hostd exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if self.request("GET", "/v1/health").status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.2)
            raise RuntimeError(f"hostd did not answer within 60 s:\n{self.log()}")
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def request(self, method, path, body=None, raw=None, headers=None, timeout=60, stream=False):
        """One request over the unix socket; see exchange()."""
        return exchange(UnixHTTPConnection(self.socket, timeout=timeout), method, path, body, raw, headers, stream)

    def wait_state(self, ref, states, timeout):
        """Poll until the workspace is in one of states; returns (state, json, seconds)."""
        start = time.time()
        last = None
        while time.time() - start < timeout:
            r = self.request("GET", f"/v1/workspaces/{ref}")
            if r.status == 404:
                last = ("gone", None)
                if "gone" in states:
                    return "gone", None, time.time() - start
            elif r.status == 200:
                last = (r.json["state"], r.json)
                if r.json["state"] in states:
                    return r.json["state"], r.json, time.time() - start
            time.sleep(1)
        return (last[0] if last else None), (last[1] if last else None), time.time() - start

    def delete_if_present(self, ref, timeout=180):
        """Delete a workspace the test left behind (cleanup after a failure)."""
        if not self.proc or self.proc.poll() is not None:
            return
        if self.request("GET", f"/v1/workspaces/{ref}").status == 200:
            self.request("DELETE", f"/v1/workspaces/{ref}")
            self.wait_state(ref, ("gone",), timeout)

    def cleanup(self, keep_on_failure=True):
        self.stop()
        if keep_on_failure and _failed:
            note(f"kept {self.dir} for inspection (hostd log: {self.log_path})")
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def virsh(*args):
    uri = os.environ.get("HOSTD_TEST_LIBVIRT_URI", "qemu:///system")
    r = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def import_golden(h, name="debian12"):
    golden = os.environ.get("HOSTD_TEST_GOLDEN")
    if not golden:
        return None
    return h.request("POST", "/v1/images", {"name": name, "path": golden, "format": "qcow2"}, timeout=600)


def test_ssh_key(directory):
    """An ed25519 key pair made for the test; returns (private path, public text)."""
    key = os.path.join(directory, "id_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key, "-C", "hostd-test"], check=True)
    with open(key + ".pub") as f:
        return key, f.read().strip()


class Developer:
    """A developer at a terminal: a HOME of their own with an SSH key, wsctl
    pointed at a Hostd, and ssh run inside the test namespace (the only place
    the guest network exists)."""

    def __init__(self, h, name):
        self.home = tempfile.mkdtemp(prefix=f"hostd-{name}-home-")
        os.makedirs(os.path.join(self.home, ".ssh"), mode=0o700)
        self.key, self.pub = test_ssh_key(os.path.join(self.home, ".ssh"))
        netns = os.environ.get("HOSTD_TEST_NETNS", "hostd-lab")
        self.env = dict(os.environ, HOME=self.home, HOSTD_SOCKET=h.socket, WSCTL_SSH_WRAPPER=f"ip netns exec {netns}")

    def wsctl(self, *args, timeout=900):
        r = subprocess.run([f"{BUILD}/wsctl", *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def ssh(self, workspace, command, timeout=60):
        """Run command in the workspace through `wsctl ssh` with this key (ssh
        reads ~/.ssh of the passwd entry, not $HOME; BatchMode: never prompt)."""
        try:
            rc, out, err = self.wsctl("ssh", workspace, "--", "-i", self.key, "-o", "BatchMode=yes", "-o",
                                      "ConnectTimeout=10", command, timeout=timeout)
            return rc, out.strip(), err.strip()
        except subprocess.TimeoutExpired:
            return 124, "", "timed out"

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)
