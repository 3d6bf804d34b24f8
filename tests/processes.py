"""Real processes for the reliability and fault tests: Batchwatch's own commands on the test
database, a Redis of the test's own, a webhook receiver that counts what it is sent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
LOGS = Path(tempfile.gettempdir()) / "batchwatch-reliability-logs"


def default_signals() -> None:
    """A child's ``preexec_fn``: Ctrl-C (SIGINT) as a terminal sends it, whatever the test
    process does with it. A disposition of SIG_IGN is inherited across exec, and Python then
    installs no KeyboardInterrupt handler: a test process that ignores SIGINT (pytest-xdist's
    workers can, after some tests) would start children that Ctrl-C cannot stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def spawn(*args: str, extra_env: dict | None = None) -> subprocess.Popen:
    """Start a command on the test database, its output to a log file under LOGS."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    LOGS.mkdir(exist_ok=True)
    # A file, not a pipe: nobody reads a pipe, and a full one would block the process.
    name = "-".join(a for a in args[1:5] if not a.startswith("-") and "/" not in a)
    log = open(LOGS / f"{name}-{time.time_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def manage(*args: str, **env) -> subprocess.Popen:
    return spawn(sys.executable, "manage.py", *args, extra_env=env)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server(port: int, workdir: Path) -> subprocess.Popen:
    """A Redis of the test's own (never the shared one), keeping nothing on disk."""
    return subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class Hook:
    """A webhook receiver: every POST's Idempotency-Key, JSON body and time, each answered
    after ``delay`` seconds (what has arrived and not been answered is in flight)."""

    def __init__(self, *, delay: float = 0.0):
        self.arrived: list[str] = []  # keys as requests arrive, before the delay
        self.keys: list[str] = []  # keys as they are answered
        self.bodies: list[dict] = []
        self.times: list[float] = []  # time.time() of each arrival
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections, as real receivers

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.arrived.append(self.headers.get("Idempotency-Key"))
                if delay:
                    time.sleep(delay)  # a slow receiver: deliveries are in flight for a while
                hook.times.append(time.time())
                hook.keys.append(self.headers.get("Idempotency-Key"))
                try:
                    hook.bodies.append(json.loads(body or b"{}"))
                except ValueError:
                    hook.bodies.append({})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Web:
    """``manage.py serve`` on a free port (with the embedded scheduler if asked: without
    REDIS_URL it runs the whole registry in the web process), ready once /healthz answers."""

    def __init__(self, *, scheduler: bool = False, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        options = [] if scheduler else ["--no-scheduler"]
        self.process = manage("serve", *options, "--port", str(self.port), "--threads", "4", **env)
        wait_for(self._healthy, timeout=60, what="the web process")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the web process exited ({self.process.returncode})")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def stop(self):
        stop(self.process)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, in a temporary directory, that the test may
    stop and start (never the shared one). Needs the server binaries and the postgres user
    (initdb refuses to run as root)."""

    def __init__(self):
        import glob
        import shutil

        # Under /tmp itself: the postgres user cannot enter pytest's root-only directories.
        workdir = Path(tempfile.mkdtemp(prefix="batchwatch-pg-"))
        shutil.chown(workdir, "postgres")
        self.workdir = workdir

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bin = Path(bins[-1]).parent if bins else None
        self.available = self.bin is not None and shutil.which("runuser") is not None
        self.dir = workdir / "pgdata"
        self.socket_dir = workdir / "pgsock"
        self.port = free_port()
        self.url = self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=check,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        import shutil

        self.socket_dir.mkdir()
        shutil.chown(self.socket_dir, "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U",
                          "postgres", "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -F"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", options, "-w",
                          "-l", str(self.dir.parent / "postgres.log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w",
                          "stop", check=False)  # fmt: skip

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
