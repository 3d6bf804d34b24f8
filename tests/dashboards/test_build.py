"""Generated dashboards: valid panels (ids, 24-column grid without overlap, a datasource, PromQL
that promtool accepts) and deterministic files with a provisioning provider."""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from batchwatch.dashboards.builder import Board, Query, panel_id
from batchwatch.dashboards.selectors import catalog_snapshot
from batchwatch.dashboards.sources import SourceError, build_all
from tests.conftest import require_tool
from tests.dashboards.conftest import SOURCES


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=StringIO())


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])  # collapsed rows hold their panels
    return found


def test_every_panel_is_well_formed(demo):
    dashboards = build_all(SOURCES, catalog_snapshot())
    assert len(dashboards) > 20
    kinds = {d.uid.split("-")[1] for d in dashboards}
    assert {"team", "job", "slo", "platform", "custom"} <= kinds
    for dashboard in dashboards:
        data = dashboard.json
        assert len(data["uid"]) <= 40 and data["uid"].startswith("bw-")
        assert "managed-by:batchwatch" in data["tags"]
        panels = _panels(data)
        ids = [p.get("id") for p in panels]
        assert all(isinstance(i, int) for i in ids), data["uid"]
        assert len(set(ids)) == len(ids), f"duplicate panel ids in {data['uid']}"
        cells = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] >= 1 and grid["x"] + grid["w"] <= 24, panel
            mine = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & mine, f"{data['uid']}: panel {panel['title']!r} overlaps"
            cells |= mine
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            for target in panel.get("targets", []):
                assert target["datasource"] == panel["datasource"]
                assert target["expr"].strip()


def test_every_query_is_valid_promql(demo, tmp_path):
    """promtool parses each query as the expression of a recording rule."""
    promtool = require_tool("promtool")
    rules = []
    for dashboard in build_all(SOURCES, catalog_snapshot()):
        for panel in _panels(dashboard.json):
            for target in panel.get("targets", []):
                rules.append({"record": f"bw:check:{len(rules)}", "expr": target["expr"]})
    assert len(rules) > 100
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_is_deterministic_and_provisionable(demo, tmp_path):
    out = StringIO()
    call_command("dashboards", "build", "--out", str(tmp_path / "a"), stdout=out)
    assert "Built" in out.getvalue()
    call_command("dashboards", "build", "--out", str(tmp_path / "b"), stdout=StringIO())
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json"))
    assert files_a == files_b and len(files_a) > 20
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    assert (tmp_path / "a" / "Ledger").is_dir()  # a folder per team (foldersFromFilesStructure)
    provider = yaml.safe_load((tmp_path / "a" / "provisioning.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["foldersFromFilesStructure"]


def test_a_rebuild_removes_dashboards_no_longer_built(demo, tmp_path):
    from batchwatch.catalog.models import Job

    call_command("dashboards", "build", "--out", str(tmp_path), stdout=StringIO())
    job = Job.objects.filter(is_active=True).first()
    before = {p.name for p in tmp_path.rglob("*.json")}
    job.is_active = False
    job.save()
    out = StringIO()
    call_command("dashboards", "build", "--out", str(tmp_path), stdout=out)
    after = {p.name for p in tmp_path.rglob("*.json")}
    assert len(before - after) == 1 and "1 removed" in out.getvalue()


def test_panel_ids_are_stable_when_panels_are_added():
    first = Board(uid="bw-x", title="X")
    first.timeseries("a", "A", Query("up"))
    second = Board(uid="bw-x", title="X")
    second.row("new", "A new row first")
    second.timeseries("a", "A", Query("up"))
    id_of = {p["title"]: p["id"] for p in second.build()["panels"]}
    assert first.build()["panels"][0]["id"] == id_of["A"] == panel_id("bw-x", "a")


def test_bad_sources_are_reported_with_their_file(tmp_path, db):
    (tmp_path / "broken.dashboard.py").write_text("raise RuntimeError('oops')\n")
    with pytest.raises(SourceError, match=r"broken\.dashboard\.py: RuntimeError: oops"):
        build_all(tmp_path, catalog_snapshot())
    (tmp_path / "broken.dashboard.py").write_text("x = 1\n")
    with pytest.raises(SourceError, match="neither 'dashboard' nor"):
        build_all(tmp_path, catalog_snapshot())
    (tmp_path / "broken.dashboard.py").write_text(
        "from batchwatch.dashboards.builder import Board\n"
        "dashboard = Board(uid='bw-' + 'x' * 40, title='Too long')\n"
    )
    with pytest.raises(SourceError, match="longer than Grafana's 40"):
        build_all(tmp_path, catalog_snapshot())


def test_a_team_can_write_plain_grafanalib(tmp_path, db):
    (tmp_path / "plain.dashboard.py").write_text(
        "from grafanalib.core import Dashboard\n"
        "dashboard = Dashboard(title='Plain', uid='bw-plain')\n"
    )
    [built] = build_all(tmp_path, catalog_snapshot())
    assert built.uid == "bw-plain" and "managed-by:batchwatch" in built.json["tags"]


def test_repository_sources_exist():
    assert (SOURCES / "catalog.dashboard.py").exists()
    assert Path(SOURCES / "ledger-close.dashboard.py").exists()
