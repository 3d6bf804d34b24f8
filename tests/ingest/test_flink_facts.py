"""Flink facts that must not depend on which report came first or on what Flink's documents
merely resemble: the failure reason, the engine status, restarts and checkpointing.

The job is the captured one (realclients-flink-groupby, 7cbd8fb6...), reported by the REST
poll (a stand-in answering Flink's documents) and by flink-metrics-otel status events (the
captured push, with its status changed)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest
from django.core.management import call_command

from batchwatch.runs.models import Run
from tests.ingest.helpers import PROTOBUF, SAMPLES
from tests.ingest.otlp_build import flink_status_event
from tests.local_server import LocalServer

CAPTURED = json.loads((SAMPLES / "flink" / "flink_rest.json").read_text())
JID = "7cbd8fb6e17f3f076e8e1ba1d7bc552a"
START_MS = 1795317901149
END_MS = START_MS + 60_000
PYTHON_TRACE = (
    "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy"
    "\n\tat org.apache.flink.runtime.executiongraph.failover...\n"
    "Caused by: org.apache.flink.api.python.PythonException: Error received from SDK harness\n"
    "Caused by: java.lang.RuntimeException: ValueError: negative amount in ledger row 17"
)
SPECIFIC = "java.lang.RuntimeException: ValueError: negative amount in ledger row 17"


class Refusal:
    """A document Flink answers 404 with its reason (``{"errors": [...]}``)."""

    def __init__(self, *errors: str) -> None:
        self.body = {"errors": list(errors)}


class FlinkApi(LocalServer):
    """Flink's REST API answering ``routes`` (path with query → JSON, or a
    :class:`Refusal`); 404 otherwise, with Flink's error body."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = routes.get(self.path)
                if isinstance(body, Refusal):
                    body = None
                    refusal = routes[self.path].body
                else:
                    refusal = {"errors": ["Not found."]}
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body if body is not None else refusal).encode())

            def log_message(self, *args):
                pass

        self._start(Handler)

    def job(self, state: str, **documents) -> None:
        """The captured job in ``state`` (ended for a finished state), with its documents."""
        overview = json.loads(json.dumps(CAPTURED["/jobs/overview"]["body"]))
        [job] = overview["jobs"]
        job["state"] = state
        if state in ("FAILED", "FINISHED", "CANCELED"):
            job["end-time"] = END_MS
        self.routes.clear()
        self.routes["/jobs/overview"] = overview
        for name, body in documents.items():
            self.routes[f"/jobs/{JID}{name}"] = body


@pytest.fixture
def flink_api():
    server = FlinkApi()
    yield server
    server.close()


def poll(api: FlinkApi) -> None:
    call_command("poll_flink", "--url", api.url)


def status_event(client, status: str, *, at_ms: int) -> None:
    body = flink_status_event(status, at_ns=at_ms * 1_000_000)
    response = client.post("/v1/logs", body, content_type=PROTOBUF)
    assert response.status_code == 200, response.content


def the_run() -> Run:
    return Run.objects.get(external_id=JID)


FAILED_DOCUMENTS = {
    "/exceptions": {
        "root-exception": PYTHON_TRACE,
        "exceptionHistory": {"entries": [{"stacktrace": PYTHON_TRACE}]},
    },
    "/checkpoints/config": {"mode": "exactly_once", "interval": 10000},
    "/checkpoints": {"counts": {"completed": 3, "failed": 0}},
    "/metrics?get=numRestarts": [{"id": "numRestarts", "value": "0"}],
}


@pytest.mark.django_db
class TestFailureReasonAndStatus:
    """Defect 2: the specific reason beats the generic one, a finished status is never
    overwritten by a running one, whatever the order."""

    @pytest.mark.parametrize("order", ["poll first", "log first"])
    def test_the_exception_from_the_rest_api_beats_the_status_events_placeholder(
        self, client, flink_api, order
    ):
        flink_api.job("FAILED", **FAILED_DOCUMENTS)
        if order == "poll first":
            poll(flink_api)
            status_event(client, "FAILED", at_ms=END_MS + 5)
        else:
            status_event(client, "FAILED", at_ms=END_MS + 5)
            poll(flink_api)
        run = the_run()
        assert run.state == "failed"
        assert run.failure_reason == SPECIFIC

    @pytest.mark.parametrize("order", ["stale poll last", "stale poll first"])
    def test_a_stale_running_poll_leaves_the_finished_status(self, client, flink_api, order):
        flink_api.job("RUNNING")
        if order == "stale poll last":
            status_event(client, "FAILED", at_ms=END_MS)
            poll(flink_api)
        else:
            poll(flink_api)
            status_event(client, "FAILED", at_ms=END_MS)
        run = the_run()
        assert (run.state, run.attributes["flink_status"]) == ("failed", "FAILED")

    def test_status_events_in_reverse_converge_to_the_last_status(self, client):
        for status, at in reversed([("RUNNING", 1), ("FAILING", 2), ("FAILED", 3)]):
            status_event(client, status, at_ms=START_MS + at * 1000)
        run = the_run()
        assert (run.state, run.attributes["flink_status"]) == ("failed", "FAILED")
        assert run.failure_reason == "job failed"


@pytest.mark.django_db
class TestRestarts:
    """Defect 3: restarts are Flink's restarts (numRestarts, else a RESTARTING transition),
    not the number of exception-history entries."""

    def test_a_job_that_failed_with_restart_deactivated_has_no_restart(self, flink_api):
        flink_api.job("FAILED", **FAILED_DOCUMENTS)
        poll(flink_api)
        assert the_run().attributes["restarts"] == 0

    def test_num_restarts_is_the_count(self, flink_api):
        flink_api.job(
            "RUNNING",
            **{"/metrics?get=numRestarts": [{"id": "numRestarts", "value": "3"}]},
        )
        poll(flink_api)
        assert the_run().attributes["restarts"] == 3

    @pytest.mark.parametrize(("restarting_at", "restarts"), [(0, 0), (START_MS + 500, 1)])
    def test_a_history_server_without_metrics_uses_the_restarting_transition(
        self, flink_api, restarting_at, restarts
    ):
        flink_api.job(
            "FAILED",
            **{
                "": {"jid": JID, "timestamps": {"RUNNING": START_MS, "RESTARTING": restarting_at}},
                "/exceptions": FAILED_DOCUMENTS["/exceptions"],
            },
        )
        poll(flink_api)
        assert the_run().attributes["restarts"] == restarts

    def test_a_replayed_poll_never_adds_restarts(self, flink_api):
        flink_api.job(
            "RUNNING", **{"/metrics?get=numRestarts": [{"id": "numRestarts", "value": "2"}]}
        )
        poll(flink_api)
        poll(flink_api)
        assert the_run().attributes["restarts"] == 2


@pytest.mark.django_db
class TestCheckpointing:
    """Defect 4: a job without checkpointing says so, apart from an enabled job that has
    completed none."""

    def test_a_live_cluster_answers_404_for_the_config_of_a_job_without_checkpointing(
        self, flink_api, admin, client
    ):
        flink_api.job(  # (what Flink answers for a job without checkpointing)
            "RUNNING",
            **{
                "/checkpoints/config": Refusal(
                    f"Checkpointing is not enabled for this job ({JID})."
                ),
                "/checkpoints": Refusal("Checkpointing has not been enabled."),
            },
        )
        poll(flink_api)
        run = the_run()
        assert run.attributes["checkpointing"] == "disabled"
        assert "checkpoints_completed" not in run.attributes
        client.force_login(admin)
        page = client.get(f"/runs/{run.pk}/").content.decode()
        assert "<dt>Checkpointing</dt><dd>disabled</dd>" in page  # (the checkpoints card)

    @pytest.mark.parametrize("checkpoints", [None, {"errors": ["Internal server error."]}])
    def test_a_404_without_flinks_refusal_says_nothing_about_checkpointing(
        self, flink_api, checkpoints
    ):
        """A document missing (from an archive, or a job gone between two requests) is not
        a job without checkpointing: nothing is recorded about it."""
        documents = {"/checkpoints": checkpoints} if checkpoints else {}
        flink_api.job("RUNNING", **documents)  # (no /checkpoints/config: a bare 404)
        poll(flink_api)
        assert "checkpointing" not in the_run().attributes

    def test_a_history_archive_keeps_flinks_refusal(self, flink_api):
        refusal = {"errors": [f"Checkpointing is not enabled for this job ({JID})."]}
        flink_api.job("FINISHED", **{"/checkpoints/config": refusal, "/checkpoints": refusal})
        poll(flink_api)
        assert the_run().attributes["checkpointing"] == "disabled"

    def test_an_enabled_job_without_a_completed_checkpoint_is_zero_of_zero(self, flink_api):
        flink_api.job(
            "RUNNING",
            **{
                "/checkpoints/config": {"mode": "exactly_once", "interval": 60000},
                "/checkpoints": {"counts": {"completed": 0, "failed": 0, "in_progress": 1}},
            },
        )
        poll(flink_api)
        attributes = the_run().attributes
        assert attributes["checkpointing"] == "enabled"
        assert (attributes["checkpoints_completed"], attributes["checkpoints_failed"]) == (0, 0)
