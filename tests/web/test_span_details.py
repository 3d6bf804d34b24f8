"""The run page's waterfall opens each span on its details: its events (names, times,
attributes), its attributes and the resource attributes kept for triage, escaped."""

from __future__ import annotations

import pytest

from batchwatch.runs.models import Run
from tests.ingest.test_span_events import post, with_events
from tests.ingest.test_span_resource import with_resource


@pytest.mark.django_db
def test_a_span_opens_on_its_events_attributes_and_resource(client, admin):
    body = with_events(
        [
            ("job.finished", {"rows": 1200, "table": "ledger"}),
            ("exception", {"exception.message": "<script>alert(1)</script>"}),
        ]
    )
    post(client, with_resource(body, k8s__pod__name="ledger-7f9c", host__name="node-3"))
    run = Run.objects.get()
    client.force_login(admin)
    page = client.get(f"/runs/{run.pk}/").content.decode()

    assert page.count('<details class="wf-span">') == 1
    details = page.split('<div class="wf-details">', 1)[1].split("</details>", 1)[0]
    assert "<strong>job.finished</strong>" in details
    assert "<dt>rows</dt><dd>1200</dd>" in details and "<dt>table</dt><dd>ledger</dd>" in details
    assert "<dt>batch.job.name</dt><dd>load_ledger</dd>" in details  # the span's attributes
    assert "<dt>k8s.pod.name</dt><dd>ledger-7f9c</dd>" in details  # its resource
    assert "<dt>host.name</dt><dd>node-3</dd>" in details
    assert "<script>alert(1)</script>" not in page  # a sender's text is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in details
