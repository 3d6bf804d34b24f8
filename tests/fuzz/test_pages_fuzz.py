"""Bounded fuzz of the pages: every page of ``batchwatch.web.urls`` (found from its URL
patterns, so a new page is fuzzed without a change here), read with bad ids and hostile
query parameters, and posted to with hostile forms, by an admin and by a member; none
answers a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwatch.web.urls import urlpatterns
from tests.alerts.conftest import firing, receive

from .strategies import HOSTILE_TEXT, query_values

EXAMPLES = 50

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PAGES = sorted("/" + str(pattern.pattern) for pattern in urlpatterns)
CONVERTER = re.compile(r"<(\w+):(\w+)>")
QUERY_NAMES = ["q", "team", "engine", "state", "page", "job", "incident", "run", "at", "x"]


def _segment(kind: str):
    if kind == "int":
        return st.sampled_from(["1", "2", "0", str(2**63), str(2**64), "99999999999999999999"])
    return st.one_of(
        st.sampled_from(["ledger", "ledger-primary", "x", "a" * 300, "-", "_"]),
        st.from_regex(r"[-a-zA-Z0-9_]{1,20}", fullmatch=True),
    )


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("page", PAGES)
def test_no_page_answers_500(page, admin, teammate, route_tree, ledger_job):
    receive(
        [firing({"alertname": "Late", "job": "ledger", "team": "ledger"})],
        datetime(2026, 11, 22, 3, 0, tzinfo=UTC),
    )
    clients = []
    for user in (admin, teammate):
        client = Client()
        client.force_login(user)
        clients.append(client)
    sent = []

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        url = CONVERTER.sub(lambda m: data.draw(_segment(m.group(1)), label=m.group(2)), page)
        names = data.draw(st.lists(st.sampled_from(QUERY_NAMES), max_size=4), label="names")
        query = "&".join(f"{n}={data.draw(query_values(), label=n)}" for n in names)
        client = clients[len(sent) % 2]
        target = f"{url}?{query}" if query else url
        if data.draw(st.booleans(), label="post"):
            form = data.draw(
                st.dictionaries(
                    st.sampled_from(["action", "minutes", "user", "until", "comment", "q"]),
                    st.sampled_from(HOSTILE_TEXT).filter(_encodable),
                    max_size=3,
                ),
                label="form",
            )
            response = client.post(target, form)
        else:
            response = client.get(target, HTTP_ACCEPT="text/html")
        sent.append(response.status_code)
        assert response.status_code < 500, (target, response.status_code)

    fuzz()
    assert len(sent) >= EXAMPLES


def test_every_page_is_fuzzed():
    assert len(PAGES) >= 10 and all(quote(p, safe="/<>:_") == p for p in PAGES)
