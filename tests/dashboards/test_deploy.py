"""Deploying to a Grafana (the local Grafana HTTP API test server): create, no-op redeploy,
drift per policy, prune only our orphans, dry runs that write nothing, retries."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batchwatch.catalog.models import Job
from batchwatch.dashboards.models import DeployedDashboard, Deployment
from batchwatch.dashboards.selectors import catalog_snapshot
from batchwatch.dashboards.services import dashboards_deploy, plan
from batchwatch.dashboards.sources import build_all
from tests.dashboards.conftest import SOURCES
from tests.dashboards.grafana_server import TOKEN

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def built():
    return build_all(SOURCES, catalog_snapshot())


def deploy(client, **options):
    return dashboards_deploy(built(), client=client, now=NOW, revision="abc1234", **options)


def statuses(report) -> dict[str, str]:
    return {o.uid: o.action for o in report.outcomes}


def test_first_deploy_creates_then_a_second_writes_nothing(grafana, catalog, client_for):
    first = deploy(client_for())
    dashboards = built()
    assert first.ok and set(statuses(first).values()) == {"created"}
    assert set(grafana.dashboards) == {d.uid for d in dashboards}
    assert set(grafana.folders) == {d.folder_uid for d in dashboards}  # a folder per team
    stored = grafana.dashboards["bw-team-ledger"]
    assert stored.folder_uid == "bw-folder-ledger" and stored.version == 1
    assert stored.versions[-1]["message"] == "Batchwatch deploy of abc1234"
    assert "managed-by:batchwatch" in stored.dashboard["tags"]

    grafana.requests.clear()
    second = deploy(client_for())
    assert second.ok and second.writes == 0 and grafana.writes == []
    assert set(statuses(second).values()) == {"unchanged"}
    assert Deployment.objects.count() == 2  # each deployment recorded


def test_dry_run_sends_no_write(grafana, catalog, client_for):
    report = deploy(client_for(), dry_run=True, prune=True)
    assert grafana.writes == [] and grafana.dashboards == {} and grafana.folders == {}
    assert set(statuses(report).values()) == {"would create"}
    assert report.folders_created and Deployment.objects.get().dry_run


def test_a_source_change_updates_only_what_changed(grafana, catalog, client_for, team_b):
    deploy(client_for())
    Job.objects.create(engine="spark", namespace="prod", name="risk_scores", owner_team=team_b)
    grafana.requests.clear()
    report = deploy(client_for())
    actions = {uid: a for uid, a in statuses(report).items() if a != "unchanged"}
    assert actions == {"bw-job-spark-prod-risk_scores": "created", "bw-team-risk": "updated"}
    assert grafana.dashboards["bw-team-risk"].version == 2
    assert len(grafana.writes) == 2


def test_a_ui_edit_is_drift_and_blocks_by_default(grafana, catalog, client_for):
    deploy(client_for())
    grafana.ui_edit("bw-team-ledger", title="Ledger (edited by hand)")
    [drifted] = [o for o in plan(built(), client=client_for()) if o.status == "drifted"]
    assert drifted.uid == "bw-team-ledger"
    assert "edited in Grafana since our version 1 (now 2)" in drifted.message
    assert '-  "title": "Ledger (edited by hand)"' in drifted.diff

    grafana.requests.clear()
    report = deploy(client_for())
    assert not report.ok and statuses(report)["bw-team-ledger"] == "blocked (drift)"
    assert grafana.writes == []
    assert grafana.dashboards["bw-team-ledger"].dashboard["title"] == "Ledger (edited by hand)"


def test_drift_overwrite(grafana, catalog, client_for):
    deploy(client_for())
    grafana.ui_edit("bw-team-ledger", title="Edited")
    report = deploy(client_for(), on_drift="overwrite")
    assert report.ok and statuses(report)["bw-team-ledger"] == "overwritten"
    stored = grafana.dashboards["bw-team-ledger"]
    assert stored.dashboard["title"] == "Ledger — batch overview" and stored.version == 3
    assert deploy(client_for()).writes == 0


def test_drift_adopt_keeps_the_edit_until_the_source_changes(grafana, catalog, client_for, team_a):
    deploy(client_for())
    grafana.ui_edit("bw-team-ledger", title="Edited")
    report = deploy(client_for(), on_drift="adopt")
    assert report.ok and statuses(report)["bw-team-ledger"].startswith("adopted")
    assert grafana.dashboards["bw-team-ledger"].dashboard["title"] == "Edited"
    assert DeployedDashboard.objects.get(uid="bw-team-ledger").version == 2
    again = deploy(client_for())  # the adopted edit is not overwritten by a no-change deploy
    assert again.writes == 0 and again.ok
    Job.objects.create(engine="dbt", namespace="prod", name="gl_marts", owner_team=team_a)
    changed = deploy(client_for())  # a source change wins again, through normal versioning
    assert statuses(changed)["bw-team-ledger"] == "updated"


def test_an_edit_racing_with_the_deploy_is_drift(grafana, catalog, client_for, team_a, monkeypatch):
    deploy(client_for())
    Job.objects.create(engine="dbt", namespace="prod", name="gl_marts", owner_team=team_a)
    client = client_for()
    original = client.save

    def save_after_a_ui_edit(dashboard, **kwargs):
        if dashboard["uid"] == "bw-team-ledger" and not kwargs["overwrite"]:
            grafana.ui_edit("bw-team-ledger", title="Raced")
        return original(dashboard, **kwargs)

    monkeypatch.setattr(client, "save", save_after_a_ui_edit)
    report = dashboards_deploy(built(), client=client, now=NOW, revision="r")
    outcome = next(o for o in report.outcomes if o.uid == "bw-team-ledger")
    assert outcome.status == "drifted" and "412 version-mismatch" in outcome.message
    assert outcome.action == "blocked (drift)"
    assert grafana.dashboards["bw-team-ledger"].dashboard["title"] == "Raced"


def test_prune_removes_only_our_orphans(grafana, catalog, client_for):
    deploy(client_for())
    grafana.folders["theirs"] = "Theirs"
    foreign = {"uid": "their-board", "title": "Theirs", "tags": []}
    lookalike = {"uid": "xx-board", "title": "Tagged", "tags": ["managed-by:batchwatch"]}
    for board in (foreign, lookalike):
        grafana.handle("POST", "/api/dashboards/db", {}, {"dashboard": board}, f"Bearer {TOKEN}")
    Job.objects.filter(name="loan_tape").delete()
    kept = deploy(client_for())
    orphan = "bw-job-spark-prod-emr-loan_tape"
    assert statuses(kept)[orphan] == "kept (not pruned)" and orphan in grafana.dashboards
    dry = deploy(client_for(), prune=True, dry_run=True)
    assert statuses(dry)[orphan] == "would delete" and orphan in grafana.dashboards
    pruned = deploy(client_for(), prune=True)
    assert statuses(pruned)[orphan] == "deleted"
    assert orphan not in grafana.dashboards
    assert {"their-board", "xx-board"} <= set(grafana.dashboards)  # not ours: never touched


def test_retries_with_backoff_on_503(grafana, catalog, client_for):
    grafana.fail_next = [503, 503]
    report = deploy(client_for())
    assert report.ok and len(grafana.dashboards) == len(built())


def test_bad_token_is_a_clear_error(grafana, catalog):
    with pytest.raises(CommandError, match="Grafana 401: Unauthorized"):
        call_command("dashboards", "deploy", "--url", grafana.url, "--token", "wrong")


def test_cli_diff_and_deploy(grafana, catalog):
    out = StringIO()
    args = ["--url", grafana.url, "--token", TOKEN]
    call_command("dashboards", "deploy", *args, "--dry-run", stdout=out)
    assert "would create" in out.getvalue() and "0 write request(s)" in out.getvalue()
    call_command("dashboards", "deploy", *args, stdout=StringIO())
    grafana.ui_edit("bw-team-ledger", title="Edited")
    out = StringIO()
    call_command("dashboards", "diff", *args, stdout=out)
    assert "! bw-team-ledger (drifted)" in out.getvalue()
    assert "1 drifted" in out.getvalue()
    with pytest.raises(CommandError, match="drifted dashboards were blocked"):
        call_command("dashboards", "deploy", *args, stdout=StringIO())


def test_no_grafana_url_is_a_sentence(catalog, settings):
    settings.GRAFANA_URL = ""
    with pytest.raises(CommandError, match="pass --url or set GRAFANA_URL"):
        call_command("dashboards", "diff")
