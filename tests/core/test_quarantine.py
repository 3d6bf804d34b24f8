"""The quarantine: kept aside with a reason, listed in admin and by ``manage.py quarantine``,
counted on ``/metrics``, retried through the kind's handler or discarded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from batchwatch.core import quarantine
from batchwatch.core.models import QuarantinedItem
from batchwatch.core.quarantine import (
    quarantine_add,
    quarantine_counts,
    quarantine_discard,
    quarantine_retry,
)

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
KIND = "test_item"


@pytest.fixture
def processed(monkeypatch):
    """A retry handler for KIND: records payloads, fails those that say so."""
    seen = []

    def handler(payload, received_at, now):
        if payload.get("fail"):
            raise ValueError(f"still bad: {payload['fail']}")
        seen.append((payload["n"], received_at, now))

    monkeypatch.setitem(quarantine._retry_handlers, KIND, handler)
    return seen


def add(
    n: int, *, kind: str = KIND, reason: str = "invalid_label", fail: str = ""
) -> QuarantinedItem:
    payload = {"n": n, "fail": fail} if fail else {"n": n}
    return quarantine_add(
        kind=kind,
        reason=reason,
        detail=f"item {n} is bad",
        payload=payload,
        received_at=T0,
        now=T0 + timedelta(seconds=n),
        origin=f"RunReportBatch {n}",
    )


@pytest.mark.django_db
def test_an_item_is_kept_with_its_reason_and_what_a_retry_needs():
    item = quarantine_add(
        kind=KIND,
        reason="invalid_name",
        detail="job name 'a\x00b' contains a NUL character \ud800",
        payload={"record": {"job_name": "a\x00b"}},
        received_at=T0,
        now=T0 + timedelta(seconds=1),
        origin="RunReportBatch\x00 7",
    )
    item.refresh_from_db()
    assert (item.kind, item.reason, item.state) == (KIND, "invalid_name", "quarantined")
    assert item.detail == "job name 'ab' contains a NUL character \\ud800"
    assert item.origin == "RunReportBatch 7"
    assert item.payload == '{"record":{"job_name":"a\\u0000b"}}'
    assert (item.received_at, item.quarantined_at) == (T0, T0 + timedelta(seconds=1))


@pytest.mark.django_db
def test_retry_processes_through_the_kinds_handler_and_keeps_what_still_fails(processed):
    ok, bad, orphan = add(1), add(2, fail="no job"), add(3, kind="nobody_handles_this")
    assert quarantine_retry([ok, bad, orphan], now=T0 + timedelta(hours=1)) == (1, 2)
    assert processed == [(1, T0, T0 + timedelta(hours=1))]
    states = dict(QuarantinedItem.objects.values_list("pk", "state"))
    assert states == {ok.pk: "retried", bad.pk: "quarantined", orphan.pk: "quarantined"}
    bad.refresh_from_db()
    assert bad.detail == "ValueError: still bad: no job"
    ok.refresh_from_db()
    assert ok.handled_at == T0 + timedelta(hours=1)
    # A retried item is not processed twice.
    assert quarantine_retry([ok], now=T0 + timedelta(hours=2)) == (0, 1)
    assert len(processed) == 1


@pytest.mark.django_db
def test_discard_marks_items_handled_and_counts_stay():
    first, second = add(1), add(2, reason="invalid_time")
    assert quarantine_discard([first], now=T0 + timedelta(hours=1)) == 1
    assert quarantine_discard([first], now=T0 + timedelta(hours=2)) == 0
    first.refresh_from_db()
    assert (first.state, first.handled_at) == ("discarded", T0 + timedelta(hours=1))
    assert quarantine_counts() == {(KIND, "invalid_label"): 1, (KIND, "invalid_time"): 1}
    second.refresh_from_db()
    assert second.state == "quarantined"


# --- Admin ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_lists_filters_and_shows_items(client, admin):
    add(1), add(2, reason="invalid_time"), add(3, kind="run_observation")
    client.force_login(admin)
    page = client.get("/admin/core/quarantineditem/")
    assert page.status_code == 200
    text = page.content.decode()
    for column in ("Kind", "Reason", "Origin", "Received at", "Quarantined at", "State"):
        assert column in text
    assert "RunReportBatch 2" in text and "Retry the selected items" in text
    filtered = client.get("/admin/core/quarantineditem/?reason=invalid_time")
    assert filtered.context["cl"].result_count == 1
    filtered = client.get("/admin/core/quarantineditem/?kind=run_observation&state=quarantined")
    assert filtered.context["cl"].result_count == 1
    item = QuarantinedItem.objects.get(reason="invalid_time")
    assert client.get(f"/admin/core/quarantineditem/{item.pk}/change/").status_code == 200
    assert client.get("/admin/core/quarantineditem/add/").status_code == 403


@pytest.mark.django_db
def test_admin_actions_retry_and_discard(client, admin, processed):
    ok, bad, other = add(1), add(2, fail="no job"), add(3)
    client.force_login(admin)
    changelist = "/admin/core/quarantineditem/"
    response = client.post(
        changelist, {"action": "retry", "_selected_action": [ok.pk, bad.pk]}, follow=True
    )
    text = response.content.decode()
    assert "1 item(s) retried and processed; 1 still failing (their detail says why)." in text
    assert [n for n, *_ in processed] == [1]
    response = client.post(
        changelist, {"action": "discard", "_selected_action": [bad.pk, other.pk]}, follow=True
    )
    assert "2 item(s) discarded." in response.content.decode()
    states = dict(QuarantinedItem.objects.values_list("pk", "state"))
    assert states == {ok.pk: "retried", bad.pk: "discarded", other.pk: "discarded"}


@pytest.mark.django_db
def test_staff_who_may_only_look_get_no_actions(client, make_user):
    from django.contrib.auth.models import Permission

    viewer = make_user("vera", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_quarantineditem"))
    add(1)
    client.force_login(viewer)
    page = client.get("/admin/core/quarantineditem/")
    assert page.status_code == 200
    assert "Retry the selected items" not in page.content.decode()


# --- The command ------------------------------------------------------------------------------
def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("quarantine", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_command_lists_items(processed):
    assert run("list") == ("No items.\n", "")
    first, second = add(1), add(2, kind="run_observation", reason="invalid_time")
    out, _ = run("list")
    assert out.count("\n#") + out.startswith("#") == 2
    assert f"#{second.pk}  run_observation  invalid_time  quarantined" in out
    assert "RunReportBatch 1" in out and "item 2 is bad" in out
    out, _ = run("list", "--kind", "run_observation")
    assert f"#{first.pk} " not in out and f"#{second.pk} " in out
    quarantine_discard([first], now=T0)
    assert f"#{first.pk} " not in run("list")[0]
    assert f"#{first.pk} " in run("list", "--state", "all")[0]


@pytest.mark.django_db
def test_command_retries_by_id_kind_or_all_with_exit_codes(processed):
    ok, bad = add(1), add(2, fail="no job")
    out, err = run("retry", str(ok.pk))
    assert out == "1 item(s) retried and processed; 0 still failing.\n" and err == ""
    with pytest.raises(CommandError) as failing:
        run("retry", "--kind", KIND)
    assert failing.value.returncode == 1
    assert str(failing.value) == "Some items are still failing."
    with pytest.raises(CommandError) as unknown:
        run("retry", str(ok.pk))  # retried already: not quarantined any more
    assert unknown.value.returncode == 2
    assert f"No quarantined item with id {ok.pk}" in str(unknown.value)
    with pytest.raises(CommandError) as nothing:
        run("retry")
    assert nothing.value.returncode == 2
    assert str(nothing.value) == "Name the items: ids, --kind KIND or --all."
    with pytest.raises(CommandError) as both:
        run("retry", str(bad.pk), "--all")
    assert both.value.returncode == 2
    assert [n for n, *_ in processed] == [1]


@pytest.mark.django_db
def test_command_discards_and_says_when_nothing_matches():
    add(1), add(2), add(3, kind="other_kind")
    assert run("discard", "--kind", KIND) == ("2 item(s) discarded.\n", "")
    with pytest.raises(CommandError) as none:
        run("discard", "--kind", KIND)
    assert none.value.returncode == 2 and str(none.value) == "No quarantined items match."
    assert run("discard", "--all") == ("1 item(s) discarded.\n", "")
    assert not QuarantinedItem.objects.filter(state="quarantined").exists()


@pytest.mark.django_db
def test_command_names_kinds_without_a_handler():
    item = add(1, kind="nobody_handles_this")
    err = StringIO()
    with pytest.raises(CommandError) as failing:
        call_command("quarantine", "retry", str(item.pk), stdout=StringIO(), stderr=err)
    assert failing.value.returncode == 1
    assert err.getvalue() == (
        "No retry handler is registered for kind 'nobody_handles_this'.\n"
        f"  #{item.pk} nobody_handles_this: item 1 is bad\n"
    )


@pytest.mark.django_db
def test_the_ingest_handlers_are_registered_for_the_command():
    assert quarantine.has_retry("run_observation") and quarantine.has_retry("run_report")


# --- /metrics ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_metrics_count_items_by_kind_and_reason_in_one_query():
    from batchwatch.slo.metrics import _quarantine

    for n in range(3):
        add(n, kind="run_observation", reason="invalid_label")
    quarantine_discard([add(9, kind="run_observation", reason="invalid_time")], now=T0)
    add(10, kind="alert_intake", reason="processing_error")
    with CaptureQueriesContext(connection) as queries:
        families = list(_quarantine())
    assert len(queries) == 1
    assert [f.name for f in families] == [
        "batchwatch_quarantined",
        "batchwatch_quarantine_waiting_items",
    ]
    text = Client().get("/metrics").content.decode()
    expected = [
        'batchwatch_quarantined_total{kind="alert_intake",reason="processing_error"} 1.0',
        'batchwatch_quarantined_total{kind="run_observation",reason="invalid_label"} 3.0',
        'batchwatch_quarantined_total{kind="run_observation",reason="invalid_time"} 1.0',
        'batchwatch_quarantine_waiting_items{kind="alert_intake"} 1.0',
        'batchwatch_quarantine_waiting_items{kind="run_observation"} 3.0',
    ]
    lines = [line for line in text.splitlines() if line.startswith("batchwatch_quarantine")]
    assert lines == expected


@pytest.mark.django_db
def test_command_says_when_the_database_is_unavailable(monkeypatch):
    from django.db import OperationalError

    from batchwatch.core.management.commands import quarantine as command

    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(command.Command, "_list", unavailable)
    with pytest.raises(CommandError) as down:
        run("list")
    assert down.value.returncode == 3
    assert str(down.value) == "The database is unavailable: connection refused"
