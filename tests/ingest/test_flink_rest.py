"""poll_flink against a local stand-in for Flink's REST API (the captured responses)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from batchwatch.runs.models import Run
from tests.ingest.helpers import SAMPLES

CAPTURED = json.loads((SAMPLES / "flink" / "flink_rest.json").read_text())
FAILED_JID = "a" * 32
TRACE = (
    "org.apache.flink.runtime.JobException: Recovery is suppressed\n"
    "\tat org.apache.flink...\n"
    "Caused by: java.lang.OutOfMemoryError: Java heap space"
)


def routes() -> dict[str, object]:
    overview = json.loads(json.dumps(CAPTURED["/jobs/overview"]["body"]))
    overview["jobs"].append(
        {
            "jid": FAILED_JID,
            "name": "ledger stream",
            "state": "FAILED",
            "start-time": 1795317000000,
            "end-time": 1795317600000,
            "jobType": "STREAMING",
        }
    )
    return {
        "/jobs/overview": overview,
        f"/jobs/{FAILED_JID}/checkpoints": {"counts": {"completed": 40, "failed": 3}},
        f"/jobs/{FAILED_JID}/checkpoints/config": {"mode": "exactly_once", "interval": 60000},
        f"/jobs/{FAILED_JID}/metrics?get=numRestarts": [{"id": "numRestarts", "value": "4"}],
        f"/jobs/{FAILED_JID}/exceptions": {
            "root-exception": TRACE,
            "exceptionHistory": {"entries": [{"stacktrace": TRACE}] * 4},
        },
    }


@pytest.fixture
def flink_api():
    table = routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = table.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"errors": ["Not found"]}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.django_db
def test_poll_records_running_and_failed_jobs(flink_api, capsys):
    call_command("poll_flink", "--url", flink_api, "--namespace", "streaming")
    runs = {r.external_id: r for r in Run.objects.select_related("job")}
    running = runs["7cbd8fb6e17f3f076e8e1ba1d7bc552a"]
    assert running.job.key == "flink:streaming/realclients-flink-groupby"
    assert running.state == "running" and running.ended_at is None
    failed = runs[FAILED_JID]
    assert failed.state == "failed"
    assert failed.failure_reason == "java.lang.OutOfMemoryError: Java heap space"
    assert failed.attributes["restarts"] == 4
    assert failed.attributes["checkpoints_failed"] == 3
    assert failed.duration_seconds == 600
    assert "Recorded 2 Flink job(s)" in capsys.readouterr().out
    call_command("poll_flink", "--url", flink_api, "--namespace", "streaming")
    assert Run.objects.count() == 2  # polling again converges


@pytest.mark.django_db
def test_unreachable_cluster_is_a_sentence():
    with pytest.raises(CommandError, match="Flink poll failed: cannot reach"):
        call_command("poll_flink", "--url", "http://127.0.0.1:9", "--timeout", "1")


@pytest.mark.django_db
def test_not_flink_is_a_sentence(flink_api):
    with pytest.raises(CommandError, match="answered HTTP 404"):
        call_command("poll_flink", "--url", flink_api + "/nope")


def test_bad_url_is_exit_2():
    with pytest.raises(CommandError) as err:
        call_command("poll_flink", "--url", "flink:8081")
    assert err.value.returncode == 2
