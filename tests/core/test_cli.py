"""Settings from the environment and the `serve` command, run as an operator would."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
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


def _serve(var_dir: dict[str, str], port: int, processes: str) -> subprocess.Popen:
    env = {**os.environ, **var_dir, "WEB_CONCURRENCY": processes, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        preexec_fn=default_signals,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class _Output:
    """A server's output, read as it comes (a pipe nobody reads fills up and blocks it)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self._reader.is_alive(), f"exited before saying {text!r}:\n{self.text}"
            assert time.monotonic() < deadline, f"{text!r} not said in {timeout} s:\n{self.text}"
            time.sleep(0.01)
        return self.text

    def closed(self, timeout: float) -> str:
        """All of it, once every process writing it has exited."""
        self._reader.join(timeout)
        assert not self._reader.is_alive(), f"still running {timeout} s later:\n{self.text}"
        return self.text

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _kill_all(proc: subprocess.Popen) -> None:
    """After a failure: the server and every process it started (its session), so that
    nothing outlives the test."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


@pytest.mark.parametrize(
    ("stop_signal", "processes"),
    [(signal.SIGINT, "1"), (signal.SIGTERM, "1"), (signal.SIGTERM, "2")],
    ids=["ctrl-c", "sigterm", "sigterm-two-processes"],
)
def test_serve_runs_web_and_scheduler_and_a_signal_stops_both(var_dir, stop_signal, processes):
    port = _free_port()
    proc = _serve(var_dir, port, processes)
    try:
        output = _Output(proc)
        # Start-up gets a minute (a loaded machine imports slowly); the stop, 20 s.
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.read() == b'{"status": "ok"}'
                break
            except OSError:
                assert proc.poll() is None, output.text
                assert time.monotonic() < deadline, f"no answer in 60 s:\n{output.text}"
                time.sleep(0.1)
        proc.send_signal(stop_signal)
        text = output.closed(timeout=20)
        proc.wait(5)
    finally:
        _kill_all(proc)
    assert proc.returncode == 0, text
    assert "Embedded scheduler started." in text
    assert "Embedded scheduler stopped." in text


@pytest.mark.parametrize(
    ("stop_signal", "processes", "moment"),
    [
        (signal.SIGTERM, "1", "Batchwatch is serving"),
        (signal.SIGTERM, "2", "server processes,"),
        (signal.SIGINT, "2", "server processes,"),
    ],
    ids=["sigterm", "sigterm-two-processes", "ctrl-c-two-processes"],
)
def test_serve_stops_on_a_signal_that_comes_during_start_up(
    var_dir, stop_signal, processes, moment
):
    """The signal comes as the server starts (with two processes: as it forks them), before
    it answers. It used to raise KeyboardInterrupt wherever the main thread was, and in the
    logging module's after-fork hook Python printed it and dropped it: the server then
    ignored SIGTERM and served on. It must stop, all its processes with it (the output
    ends only when every process holding it has exited)."""
    proc = _serve(var_dir, _free_port(), processes)
    try:
        output = _Output(proc)
        output.wait_for(moment)
        proc.send_signal(stop_signal)
        text = output.closed(timeout=20)
        proc.wait(5)
    finally:
        _kill_all(proc)
    assert proc.returncode == 0, text
    assert "Embedded scheduler started." in text
    assert "Embedded scheduler stopped." in text
    assert "Exception ignored" not in text


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
def test_serve_restarts_a_process_that_dies_and_still_stops_cleanly(var_dir):
    port = _free_port()
    proc = _serve(var_dir, port, "2")
    try:
        output = _Output(proc)
        output.wait_for("Embedded scheduler started.")
        children = _children(proc.pid)
        assert len(children) == 3  # two server processes and the scheduler's
        os.kill(children[0], signal.SIGKILL)
        assert f"process {children[0]} exited" in output.wait_for("starting another")
        deadline = time.monotonic() + 20
        while len(set(_children(proc.pid)) - set(children)) < 1:
            assert time.monotonic() < deadline, "no process replaced the one that died"
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.read() == b'{"status": "ok"}'
        proc.send_signal(signal.SIGTERM)
        text = output.closed(timeout=20)
        proc.wait(5)
    finally:
        _kill_all(proc)
    assert proc.returncode == 0, text
    assert "SIGTERM: stopping 3 processes" in text
    assert "Embedded scheduler stopped." in text


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
