"""A runbook rendered for an incident (``/runbooks/<slug>/?incident=N``) fills in the
incident's values (its job, run, failure) only for whoever may see the incident; anyone else
signed in gets the plain runbook, as if no incident were named."""

from __future__ import annotations

import pytest

from batchwatch.runbooks.selectors import incident_runbook
from batchwatch.runbooks.services import runbooks_sync
from tests.runbooks.test_links import NOW, REPO_RUNBOOKS, _incident_for

# (the runbook itself names the exception: the run's own reason carries a detail of its own)
REASON = "java.lang.OutOfMemoryError: Java heap space on executor 17 of node-b42"


@pytest.fixture
def failed(db, team_a, route_tree):
    runbooks_sync(now=NOW, directory=REPO_RUNBOOKS)
    incident, run, job = _incident_for("failed", team_a)
    run.failure_reason = REASON
    run.save(update_fields=["failure_reason"])
    return incident, run, job


@pytest.fixture
def persona(request, admin, owner, teammate, outsider):
    return {"staff": admin, "owner": owner, "member": teammate, "outsider": outsider}[request.param]


@pytest.mark.parametrize("persona", ["staff", "owner", "member", "outsider"], indirect=True)
def test_the_incidents_values_only_for_who_may_see_it(client, persona, outsider, failed):
    incident, run, job = failed
    runbook = incident_runbook(incident)
    client.force_login(persona)
    response = client.get(f"/runbooks/{runbook.slug}/?incident={incident.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert runbook.title in page  # the runbook itself is everyone's
    values = (job.key, REASON, run.external_id, f"/incidents/{incident.pk}/", incident.title)
    if persona == outsider:
        assert not [v for v in values if v in page]
        assert "links from an incident fill them in" in page  # the plain runbook's hint
    else:
        assert job.key in page and f"/incidents/{incident.pk}/" in page and REASON in page


@pytest.mark.parametrize("persona", ["staff", "owner", "member", "outsider"], indirect=True)
def test_the_stable_link_picks_the_runbook_only_for_who_may_see_it(
    client, persona, outsider, failed
):
    incident, _, _ = failed
    client.force_login(persona)
    response = client.get(f"/runbooks/for/?incident={incident.pk}")
    assert response.status_code == 302
    if persona == outsider:  # which runbook fits says what failed: the list instead
        assert response["Location"] == "/runbooks/"
    else:
        assert response["Location"] == (
            f"/runbooks/{incident_runbook(incident).slug}/?incident={incident.pk}"
        )
