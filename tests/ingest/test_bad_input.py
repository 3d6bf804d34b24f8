"""Bad input at every ingest endpoint gets the right 4xx (or 503) and a sentence; never a 500."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from batchwatch.ingest.models import IngestKey, generate_key, hash_key
from batchwatch.runs.models import Run, Span
from tests.ingest.helpers import PROTOBUF, parse, sample

AIRFLOW_OK = "airflow/0001_POST_v1_traces.body"


def status_of(response) -> status_pb2.Status:
    if response["Content-Type"] == PROTOBUF:
        return status_pb2.Status.FromString(response.content)
    body = response.json()
    return status_pb2.Status(code=body.get("code", 0), message=body["message"])


@pytest.mark.django_db
class TestUndecodable:
    def test_truncated_protobuf_is_400_with_a_status(self, client):
        body = sample(AIRFLOW_OK)[:-37]
        response = client.post("/v1/traces", body, content_type=PROTOBUF)
        assert response.status_code == 400
        assert "not a valid OTLP protobuf message" in status_of(response).message
        assert not Run.objects.exists()

    def test_invalid_json_is_400_in_json(self, client):
        response = client.post(
            "/v1/traces", b'{"resourceSpans": [', content_type="application/json"
        )
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert "not valid JSON" in response.json()["message"]

    def test_json_that_is_not_otlp_is_400(self, client):
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]})
        response = client.post("/v1/traces", body, content_type="application/json")
        assert response.status_code == 400
        assert "traceId 'zz' is not hex" in response.json()["message"]

    def test_wrong_content_type_is_415(self, client):
        response = client.post("/v1/traces", b"hello", content_type="text/plain")
        assert response.status_code == 415
        assert "Content-Type 'text/plain' is not supported" in response.json()["message"]

    def test_unknown_content_encoding_is_415(self, client):
        response = client.post(
            "/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF, HTTP_CONTENT_ENCODING="br"
        )
        assert response.status_code == 415

    def test_corrupt_gzip_is_400(self, client):
        response = client.post(
            "/v1/traces", b"\x1f\x8bnot-gzip", content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
        )
        assert response.status_code == 400
        assert "not valid gzip" in status_of(response).message

    def test_get_is_405(self, client):
        assert client.get("/v1/traces").status_code == 405


@pytest.mark.django_db
class TestSizeLimits:
    def test_oversized_body_is_413(self, client, settings):
        settings.BATCHWATCH_INGEST_MAX_BODY_BYTES = 1000
        response = client.post("/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF)
        assert response.status_code == 413
        assert "larger than the 1000 byte limit" in status_of(response).message

    def test_gzip_bomb_is_413(self, client, settings):
        settings.BATCHWATCH_INGEST_MAX_BODY_BYTES = 1024 * 1024
        bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
        assert len(bomb) < 100_000
        response = client.post(
            "/v1/traces", bomb, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip"
        )
        assert response.status_code == 413
        assert "decompresses to more than" in status_of(response).message


@pytest.mark.django_db
class TestKeys:
    @pytest.fixture
    def key(self, team_a):
        raw = generate_key()
        IngestKey.objects.create(
            name="prod airflow", key_hash=hash_key(raw), key_prefix=raw[:8], team=team_a
        )
        return raw

    @pytest.fixture
    def keys_required(self, settings):
        settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False

    def test_missing_key_is_401(self, client, keys_required):
        response = client.post("/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF)
        assert response.status_code == 401
        assert "Missing ingest key" in status_of(response).message

    def test_wrong_key_is_401(self, client, key, keys_required):
        response = client.post(
            "/v1/traces",
            sample(AIRFLOW_OK),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION="Bearer bwi_not-the-key",
        )
        assert response.status_code == 401
        assert "unknown or revoked" in status_of(response).message

    def test_revoked_key_is_401(self, client, key, keys_required):
        IngestKey.objects.update(revoked_at=datetime.now(UTC))
        response = client.post(
            "/v1/traces",
            sample(AIRFLOW_OK),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 401

    def test_basic_auth_instead_of_bearer_is_401(self, client, keys_required):
        response = client.post(
            "/v1/traces",
            sample(AIRFLOW_OK),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz",
        )
        assert response.status_code == 401
        assert "must be 'Bearer <ingest key>'" in status_of(response).message

    def test_a_teams_key_gives_its_team_the_jobs_it_registers(
        self, client, key, team_a, keys_required
    ):
        response = client.post(
            "/v1/traces",
            sample(AIRFLOW_OK),
            content_type=PROTOBUF,
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200
        assert {r.job.owner_team for r in Run.objects.select_related("job__owner_team")} == {team_a}
        assert IngestKey.objects.get().last_used_at is not None


def one_span_request(**span_fields) -> bytes:
    request = parse(sample(AIRFLOW_OK))
    scope = request.resource_spans[0].scope_spans[0]
    for field, value in span_fields.items():
        setattr(scope.spans[0], field, value)
    return request.SerializeToString()


@pytest.mark.django_db
class TestPartialSuccess:
    def test_absurd_timestamps_reject_that_span_and_keep_the_rest(self, client):
        future = int((datetime.now(UTC) + timedelta(days=400)).timestamp() * 1e9)
        body = one_span_request(start_time_unix_nano=future, end_time_unix_nano=future)
        response = client.post("/v1/traces", body, content_type=PROTOBUF)
        assert response.status_code == 200
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(
            response.content
        ).partial_success
        assert partial.rejected_spans == 1
        assert "starts at an absurd time" in partial.error_message
        assert Span.objects.count() == 3

    def test_span_ending_before_it_starts_is_rejected(self, client):
        body = one_span_request(end_time_unix_nano=1)
        response = client.post("/v1/traces", body, content_type=PROTOBUF)
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(
            response.content
        ).partial_success
        assert partial.rejected_spans == 1
        assert "ends before it starts" in partial.error_message

    def test_invalid_ids_are_rejected(self, client):
        body = one_span_request(trace_id=b"\0" * 16)
        response = client.post("/v1/traces", body, content_type=PROTOBUF)
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(
            response.content
        ).partial_success
        assert "invalid trace id" in partial.error_message

    def test_unknown_engine_is_rejected_by_name(self, client):
        now_ns = str(int(datetime.now(UTC).timestamp() * 1e9))
        body = {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": "eee19b7ec3c1b174",
                                    "name": "nightly",
                                    "startTimeUnixNano": now_ns,
                                    "endTimeUnixNano": now_ns,
                                    "attributes": [
                                        {
                                            "key": "batch.job.name",
                                            "value": {"stringValue": "nightly"},
                                        },
                                        {
                                            "key": "batch.job.engine",
                                            "value": {"stringValue": "cobol"},
                                        },
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        response = client.post("/v1/traces", json.dumps(body), content_type="application/json")
        assert response.status_code == 200
        partial = response.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "unknown engine 'cobol'" in partial["errorMessage"]
        assert not Run.objects.exists() and not Span.objects.exists()


@pytest.mark.django_db
class TestBackpressure:
    # (transaction=True: the wait replaces a dead connection only outside a transaction)
    @pytest.mark.django_db(transaction=True)
    def test_database_unavailable_is_503_with_retry_after(self, client, settings):
        settings.BATCHWATCH_INGEST_DB_WAIT_SECONDS = 0.5
        with mock.patch(
            "batchwatch.ingest.views.ingest_spans",
            side_effect=OperationalError("database is locked"),
        ) as ingest:
            response = client.post("/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF)
        assert response.status_code == 503
        # (one second: OTel exporters that honour it try again within their 10 s timeout)
        assert response["Retry-After"] == "1"
        assert "database is unavailable" in status_of(response).message
        assert ingest.call_count == 2  # tried again while the wait lasted

    @pytest.mark.django_db(transaction=True)
    def test_a_database_back_within_the_wait_costs_the_sender_nothing(self, client):
        from batchwatch.ingest.services import ingest_spans

        calls = []

        def restarting(*args, **kwargs):
            calls.append(1)
            if len(calls) < 3:  # a restart: two tries fail, the third finds it back
                raise OperationalError("the database system is starting up")
            return ingest_spans(*args, **kwargs)

        with mock.patch("batchwatch.ingest.views.ingest_spans", side_effect=restarting):
            response = client.post("/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF)
        assert response.status_code == 200
        assert len(calls) == 3
        sent = sum(
            len(s.spans) for r in parse(sample(AIRFLOW_OK)).resource_spans for s in r.scope_spans
        )
        assert Span.objects.count() == sent

    def test_saturated_is_503_with_retry_after(self, client, settings):
        settings.BATCHWATCH_INGEST_QUEUE_SECONDS = 0.01
        from batchwatch.ingest import views

        taken = 0
        while views._slots.acquire(blocking=False):
            taken += 1
        try:
            response = client.post("/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF)
        finally:
            for _ in range(taken):
                views._slots.release()
        assert response.status_code == 503
        assert response["Retry-After"] == "1"
        assert not Run.objects.exists()


@pytest.mark.django_db
class TestLineageBadInput:
    def post(self, client, body, content_type="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return client.post("/api/v1/lineage", raw, content_type=content_type)

    def good_event(self):
        return json.loads(sample("openlineage/0001_POST_api_v1_lineage.json"))

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda e: e.pop("run"), "Missing required field run"),
            (lambda e: e["job"].pop("name"), "Missing required field job.name"),
            (lambda e: e.update(eventType="EXPLODE"), "eventType 'EXPLODE' is not one of"),
            (lambda e: e.update(eventTime="yesterday"), "eventTime must be an ISO 8601"),
            (lambda e: e.update(eventTime="1970-01-01T00:00:00Z"), "is not plausible"),
            (lambda e: e["run"].update(runId=""), "run.runId must be a non-empty string"),
            (lambda e: e.update(inputs="s3://bucket"), "inputs must be a list"),
            (
                lambda e: e.update(outputs=[{"name": "x"}]),
                "Missing required field outputs[0].namespace",
            ),
        ],
    )
    def test_invalid_events_are_400_with_a_sentence(self, client, mutate, message):
        event = self.good_event()
        mutate(event)
        response = self.post(client, event)
        assert response.status_code == 400
        assert message in response.json()["error"]
        assert not Run.objects.exists()

    def test_not_json_is_400(self, client):
        response = self.post(client, b"{not json")
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["error"]

    def test_a_list_is_400(self, client):
        assert self.post(client, [self.good_event()]).status_code == 400

    def test_wrong_content_type_is_415(self, client):
        assert self.post(client, b"x", content_type="text/plain").status_code == 415


def test_admin_creates_a_key_shown_once_and_usable(client, admin, settings):
    settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS = False
    client.force_login(admin)
    response = client.post("/admin/ingest/ingestkey/add/", {"name": "prod airflow"}, follow=True)
    text = response.content.decode()
    raw = text.split("it is not shown again: ")[1].split()[0]
    key = IngestKey.objects.get()
    assert key.key_hash == hash_key(raw) and raw not in key.key_hash
    ok = client.post(
        "/v1/traces", sample(AIRFLOW_OK), content_type=PROTOBUF, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert ok.status_code == 200
