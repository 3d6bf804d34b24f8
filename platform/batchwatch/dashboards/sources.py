"""Dashboard sources: ``dashboards/*.dashboard.py`` files (grafanalib's naming convention).

A source defines either ``dashboard`` (one ``Board`` — or a plain grafanalib ``Dashboard``
with a uid) or ``dashboards(catalog)``, a function of the ``CatalogSnapshot`` returning a
list of them. ``dashboards/catalog.dashboard.py`` generates the catalog's dashboards; teams
add hand-written ones beside it with the same helpers (``batchwatch.dashboards.builder``).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from batchwatch.catalog.links import dashboard_uid
from batchwatch.dashboards.builder import MANAGED_TAG, Board
from batchwatch.dashboards.selectors import CatalogSnapshot

SUFFIX = ".dashboard.py"
DEFAULT_TITLE = "Batchwatch"


class SourceError(Exception):
    """A source that cannot be built; the message names the file."""


@dataclass(frozen=True)
class BuiltDashboard:
    uid: str
    title: str
    folder_uid: str
    folder_title: str
    json: dict
    source: str


def _load(path: Path):
    name = "batchwatch_dashboard_source_" + path.name[: -len(SUFFIX)].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a source's own error: report it with its file
        raise SourceError(f"{path}: {type(exc).__name__}: {exc}") from exc
    return module


def _built(item, path: Path) -> BuiltDashboard:
    if isinstance(item, Board):
        return BuiltDashboard(
            item.uid, item.title, item.folder_uid, item.folder_title, item.build(), str(path)
        )
    if isinstance(item, g.Dashboard):
        data = json.loads(json.dumps(item.to_json_data(), cls=DashboardEncoder, sort_keys=True))
        if not data.get("uid"):
            raise SourceError(f"{path}: dashboard {item.title!r} has no uid")
        data["tags"] = sorted({MANAGED_TAG, *(data.get("tags") or [])})
        folder = dashboard_uid("folder", "batchwatch")
        return BuiltDashboard(data["uid"], data["title"], folder, DEFAULT_TITLE, data, str(path))
    raise SourceError(f"{path}: expected a Board or a grafanalib Dashboard, got {type(item)!r}")


def build_all(directory: Path, snapshot: CatalogSnapshot) -> list[BuiltDashboard]:
    """Every dashboard of every source, sorted by uid; uids must be unique."""
    if not directory.is_dir():
        raise SourceError(f"{directory}: no such directory")
    built: dict[str, BuiltDashboard] = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        module = _load(path)
        if hasattr(module, "dashboards") and callable(module.dashboards):
            try:
                items = list(module.dashboards(snapshot))
            except Exception as exc:
                raise SourceError(f"{path}: dashboards(): {type(exc).__name__}: {exc}") from exc
        elif hasattr(module, "dashboard"):
            items = [module.dashboard]
        else:
            raise SourceError(f"{path}: defines neither 'dashboard' nor 'dashboards(catalog)'")
        for item in items:
            try:
                dashboard = _built(item, path)
            except ValueError as exc:
                raise SourceError(f"{path}: {exc}") from exc
            if dashboard.uid in built:
                raise SourceError(
                    f"{path}: uid {dashboard.uid!r} is also built by {built[dashboard.uid].source}"
                )
            built[dashboard.uid] = dashboard
    return [built[uid] for uid in sorted(built)]
