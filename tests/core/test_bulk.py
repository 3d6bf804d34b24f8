"""core.bulk.update_rows: bulk_update's result, in one statement per thousand rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Alert
from batchwatch.core.bulk import update_rows

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_update_rows_writes_each_rows_own_values(db):
    alerts = Alert.objects.bulk_create(
        Alert(
            source="t",
            fingerprint=f"f{i}",
            first_received_at=T0,
            last_received_at=T0,
            starts_at=T0,
            labels={"n": str(i)},
            summary="old",
        )
        for i in range(3)
    )
    alerts = list(Alert.objects.order_by("fingerprint"))
    for i, alert in enumerate(alerts):
        alert.labels = {"n": str(i), "quote": 'it\'s "x"'}
        alert.summary = "é" * 500 if i == 0 else f"new {i}"
        alert.ends_at = None if i == 1 else T0 + timedelta(minutes=i)
        alert.received_count = 10 + i
    with CaptureQueriesContext(connection) as queries:
        assert update_rows(alerts, ["labels", "summary", "ends_at", "received_count"]) == 3
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1
    stored = list(Alert.objects.order_by("fingerprint"))
    assert [a.labels for a in stored] == [{"n": str(i), "quote": 'it\'s "x"'} for i in range(3)]
    assert [a.summary for a in stored] == ["é" * 500, "new 1", "new 2"]
    assert [a.ends_at for a in stored] == [T0, None, T0 + timedelta(minutes=2)]
    assert [a.received_count for a in stored] == [10, 11, 12]
    assert update_rows([], ["summary"]) == 0
