"""Settings from the environment and the `serve` command, run as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import default_signals

ROOT = Path(__file__).resolve().parents[2]
PROD_KEY = "k" * 20 + "Q9x!vZ-3pL_w8Rt2Ym5Nc7Hb4Jd6Fg1Ks0"
# A Fernet key (32 url-safe base64 bytes) for the encrypted integration secrets.
PROD_SECRET_KEYS = "x8Z4lQm2Vb0Tq7Yc1Rr5Nw3Ks9Hd6Gf2Jp4Le8Ua0Oi="


def manage(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def var_dir(tmp_path) -> dict[str, str]:
    return {"BATCHWATCH_VAR_DIR": str(tmp_path / "var")}


def test_production_mode_requires_a_secret_key(var_dir):
    result = manage("check", env={**var_dir, "BATCHWATCH_ENV": "production", "SECRET_KEY": ""})
    assert result.returncode == 2
    assert "SECRET_KEY must be set in production mode" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_mode_passes_check_deploy(var_dir):
    env = {
        **var_dir,
        "BATCHWATCH_ENV": "production",
        "SECRET_KEY": PROD_KEY,
        "BATCHWATCH_SECRET_KEYS": PROD_SECRET_KEYS,
        "BATCHWATCH_BASE_URL": "https://batchwatch.example.com",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_without_secret_keys_warns(var_dir):
    env = {
        **var_dir,
        "BATCHWATCH_ENV": "production",
        "SECRET_KEY": PROD_KEY,
        "BATCHWATCH_BASE_URL": "https://batchwatch.example.com",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 1
    assert "batchwatch.W001" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "supports sqlite:/// and postgres://"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"BATCHWATCH_ENV": "staging"}, "BATCHWATCH_ENV='staging' is not known"),
        ({"BATCHWATCH_BASE_URL": "batchwatch.local"}, "must be an absolute http(s) URL"),
        ({"BATCHWATCH_DEBUG": "maybe"}, "is not a boolean"),
    ],
)
def test_bad_settings_get_a_sentence_not_a_traceback(var_dir, env, sentence):
    result = manage("check", env={**var_dir, **env})
    assert result.returncode == 2
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr


def test_sqlite_default_uses_wal_and_immediate_transactions(var_dir):
    code = (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]); "
        "print(connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    result = manage("shell", "-c", code, env=var_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["wal", "IMMEDIATE"]
    assert (Path(var_dir["BATCHWATCH_VAR_DIR"]) / "batchwatch.sqlite3").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("stop_signal", "processes"),
    [(signal.SIGINT, "1"), (signal.SIGTERM, "1"), (signal.SIGTERM, "2")],
    ids=["ctrl-c", "sigterm", "sigterm-two-processes"],
)
def test_serve_runs_web_and_scheduler_and_a_signal_stops_both(var_dir, stop_signal, processes):
    port = _free_port()
    env = {**os.environ, **var_dir, "WEB_CONCURRENCY": processes}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b'{"status": "ok"}'
        proc.send_signal(stop_signal)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "Embedded scheduler started." in output
    assert "Embedded scheduler stopped." in output


def test_serve_refuses_a_port_in_use(var_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = manage("serve", "--port", str(port), "--no-scheduler", env=var_dir)
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--processes", "0"], {}, "0 server processes: choose between 1 and 64."),
        ([], {"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY='many' is not a number of processes."),
    ],
)
def test_serve_refuses_a_bad_number_of_processes(var_dir, args, env, message):
    result = manage("serve", "--no-scheduler", *args, env={**var_dir, **env})
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
