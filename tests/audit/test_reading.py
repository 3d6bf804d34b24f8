"""Reading the audit log costs the same few queries however many events a page shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event


def _add(n: int, actor, team) -> None:
    for i in range(n):
        record_event(
            AuditEvent.Action.SILENCE_CREATED,
            actor=actor,
            team=team,
            target_repr=f"silence {i}",
            detail={"matchers": [f'job="j{i}"']},
        )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/audit/", "/api/v1/audit/"])
def test_no_query_per_row(url, teammate, team_a, api_as):
    client = Client()
    client.force_login(teammate)
    if url.startswith("/api/"):
        client = api_as(teammate)
    _add(3, teammate, team_a)
    client.get(url)  # (a token's first use of the minute is written once)
    few = _queries(client, url)
    _add(40, teammate, team_a)
    assert _queries(client, url) == few


@pytest.mark.django_db
def test_the_page_pages_and_keeps_its_filters(teammate, team_a):
    _add(120, teammate, team_a)
    client = Client()
    client.force_login(teammate)
    page = client.get("/audit/", {"action": "silence.created"}).content.decode()
    assert "page 1 of 3" in page
    assert "?action=silence.created&amp;page=2" in page
    assert "silence 119" in page and "silence 0<" not in page
    last = client.get("/audit/", {"action": "silence.created", "page": "3"}).content.decode()
    assert "silence 0<" in last
