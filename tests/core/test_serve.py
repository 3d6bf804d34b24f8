"""`manage.py serve` binds its port before it says it serves, and says so when it cannot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError

from batchwatch.core.management.commands.serve import bind

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return {**env, "BATCHWATCH_VAR_DIR": str(tmp_path / "var"), **extra}


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def test_bind_refuses_a_taken_port_in_one_sentence(busy_port):
    with pytest.raises(CommandError) as caught:
        bind("127.0.0.1", busy_port)
    message = str(caught.value)
    assert message.startswith(f"Cannot listen on 127.0.0.1:{busy_port}: port {busy_port} is")
    assert "already in use" in message and f"PORT={busy_port + 1}" in message
    assert ". " not in message and "\n" not in message and message.endswith(".")


def test_bind_port_zero_takes_a_free_port():
    listener = bind("127.0.0.1", 0)
    try:
        assert listener.getsockname()[1] > 0
    finally:
        listener.close()


def test_serve_on_a_taken_port_says_so_and_never_that_it_serves(tmp_path, busy_port):
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(busy_port)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"port {busy_port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing started: no scheduler, no "serving" line.
    assert "serving" not in result.stdout and "scheduler" not in result.stdout


def test_serve_prints_the_url_it_actually_serves(tmp_path):
    """Port 0 (any free port): the URL printed is the one bound, and it answers."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", "0", "--no-scheduler"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        url = ""
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if "is serving at" in line:
                url = line.split("is serving at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0"), url
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_check_port_answers_before_anything_is_loaded(tmp_path, busy_port):
    """`make run` asks first, so a taken port is said before the demo loads."""
    env = _env(tmp_path)
    taken = subprocess.run(
        [sys.executable, "manage.py", "serve", "--check-port", "--port", str(busy_port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert taken.returncode == 1 and "already in use" in taken.stderr
    free = subprocess.run(
        [sys.executable, "manage.py", "serve", "--check-port", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert free.returncode == 0 and free.stdout == "" and free.stderr == ""
