"""A large trace's page holds the attributes, events and resource of its failing span and
first rows only; every other row links to its details fragment (read in by run.js when the
row opens), which anyone signed in reads and which 404s on an unknown span."""

from __future__ import annotations

import pytest

from tests.web.test_run_page import large_trace


def test_only_the_first_rows_and_the_failing_span_carry_their_details(client, teammate, team_a):
    run = large_trace(team_a, spans=300)
    client.force_login(teammate)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert page.count('<summary class="wf-row"') == 200  # a window of rows (run_page.WINDOW)
    assert page.count("<h4>Attributes</h4>") == 21  # the first 20 rows and the failing one
    failing = page.split('<details class="wf-span wf-failing" open>', 1)[1].split("</details>")[0]
    assert "<dt>spark.stage.name</dt><dd>save at compaction.py:150</dd>" in failing
    later = f"/traces/{'cd' * 16}/spans/{190:016x}/details/"
    assert f'<a class="wf-more" href="{later}">' in page
    url = f"/traces/{'cd' * 16}/spans/{200:016x}/details/"
    assert 'title="1 event">◆1</span>' in page  # counted without being read
    fragment = client.get(url).content.decode()
    assert "<h4>Events</h4>" in fragment and "<dd>boom</dd>" in fragment
    assert f"<dt>span</dt><dd><code>{200:016x}</code> · parent <code>{'a' * 16}</code>" in fragment
    assert "<dt>time</dt><dd>2026-11-24 02:10:00.000000 → 02:10:40.000000 UTC (40s)</dd>" in (
        fragment
    )
    assert "<dt>spark.stage.name</dt><dd>save at compaction.py:200</dd>" in fragment


@pytest.mark.parametrize("persona", ["owner", "teammate", "outsider", "admin"])
def test_everyone_signed_in_reads_a_spans_details(client, request, persona, team_a):
    run = large_trace(team_a, spans=3)
    client.force_login(request.getfixturevalue(persona))
    response = client.get(f"/traces/{run.trace_id}/spans/{1:016x}/details/")
    assert response.status_code == 200 and "spark.stage.id" in response.content.decode()


def test_anonymous_is_sent_to_sign_in_and_an_unknown_span_is_404(client, teammate, team_a):
    run = large_trace(team_a, spans=3)
    url = f"/traces/{run.trace_id}/spans/{9:016x}/details/"
    assert client.get(url).status_code == 302
    client.force_login(teammate)
    assert client.get(url).status_code == 404
