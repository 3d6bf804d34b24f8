"""What the benchmarks share: a fresh migrated PostgreSQL database, free ports, waiting for
a server to listen. Imported as ``benchlib`` (the scripts run as ``python bench/<name>.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def fresh_database(name: str) -> str:
    """Drop and recreate database ``name``, apply the migrations; returns its URL."""
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env)
    return url


def serve(env: dict, port: int, *, threads: int, log, processes: int = 1) -> subprocess.Popen:
    """``manage.py serve`` without the scheduler, its stderr to ``log`` (read it on failure)."""
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--no-scheduler",
            "--port",
            str(port),
            "--threads",
            str(threads),
            "--processes",
            str(processes),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def alerts_worker(env: dict, log, timeout: float = 60) -> subprocess.Popen:
    """``manage.py worker`` (queued alerts and run reports, timers, outbox, ticks) in a tight
    loop, its stderr to ``log``; returns once it has started (its start-up, a second or two of
    imports, would otherwise share the CPU with the first requests measured)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.05"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith("worker:"):
            break
        if time.monotonic() > deadline:
            break
    else:
        raise SystemExit(f"the worker exited ({process.wait()}); see {log.name}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # (keep the pipe open)
    return process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    """Return once something listens on ``port``; exit with a sentence after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")
