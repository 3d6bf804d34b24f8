"""Our small dashboard-building module over grafanalib (kept behind it so it can be swapped).

``Board`` collects panels by a stable key and lays them out left to right on Grafana's
24-column grid (rows start a new line); ``build()`` returns the dashboard JSON as a dict.
Panel ids are derived from the panel's key, so adding a panel never renumbers the others;
every panel and query carries the datasource as ``{type, uid}``.

    board = Board(uid="bw-team-ledger", title="Ledger", tags=["team:ledger"])
    board.row("jobs", "Jobs")
    board.timeseries("runs", "Runs by state", Query('sum by (state) (...)', "{{state}}"))
    dashboard_json = board.build()
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from batchwatch.catalog.links import dashboard_uid

GRID_WIDTH = 24
MANAGED_TAG = "managed-by:batchwatch"
SCHEMA_VERSION = 39  # Grafana 10/11's: provisioned dashboards are never migrated


def datasource() -> dict:
    return {
        "type": settings.BATCHWATCH_GRAFANA_DATASOURCE_TYPE,
        "uid": settings.BATCHWATCH_GRAFANA_DATASOURCE_UID,
    }


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass
class _Panel:
    key: str
    kind: str
    title: str
    queries: tuple[Query, ...] = ()
    width: int = 12
    height: int = 8
    unit: str = ""
    description: str = ""
    content: str = ""
    links: tuple[tuple[str, str], ...] = ()
    thresholds: tuple[tuple[str, float | None], ...] = ()
    options: dict = field(default_factory=dict)


def panel_id(dashboard_uid: str, key: str) -> int:
    """Stable per (dashboard, key): the same panel keeps its id across builds and edits."""
    return zlib.crc32(f"{dashboard_uid}/{key}".encode()) % 1_000_000 + 1


class Board:
    def __init__(
        self,
        *,
        uid: str,
        title: str,
        tags: list[str] | tuple[str, ...] = (),
        description: str = "",
        links: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        tag_links: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        time_from: str = "now-7d",
        folder: tuple[str, str] | None = None,
    ):
        if len(uid) > 40:
            raise ValueError(f"dashboard uid {uid!r} is longer than Grafana's 40 characters")
        self.uid = uid
        self.title = title
        self.tags = sorted({MANAGED_TAG, *tags})
        self.description = description
        self.links = list(links)
        self.tag_links = list(tag_links)
        self.time_from = time_from
        self.folder_uid, self.folder_title = folder or (
            dashboard_uid("folder", "batchwatch"),
            "Batchwatch",
        )
        self._panels: list[_Panel] = []

    # --- panels ---------------------------------------------------------------------------
    def _add(self, panel: _Panel) -> None:
        if any(p.key == panel.key for p in self._panels):
            raise ValueError(f"panel key {panel.key!r} is used twice in {self.uid}")
        if not 1 <= panel.width <= GRID_WIDTH:
            raise ValueError(f"panel {panel.key!r}: width must be 1..24")
        self._panels.append(panel)

    def row(self, key: str, title: str) -> None:
        self._add(_Panel(key, "row", title, width=GRID_WIDTH, height=1))

    def timeseries(
        self, key, title, *queries: Query, w=12, h=8, unit="", description="", **options
    ):
        self._add(
            _Panel(key, "timeseries", title, queries, w, h, unit, description, options=options)
        )

    def stat(
        self,
        key,
        title,
        *queries: Query,
        w=6,
        h=5,
        unit="",
        description="",
        thresholds=(),
        **options,
    ):
        self._add(
            _Panel(
                key,
                "stat",
                title,
                queries,
                w,
                h,
                unit,
                description,
                thresholds=tuple(thresholds),
                options=options,
            )
        )

    def table(self, key, title, *queries: Query, w=24, h=9, unit="", description="", links=()):
        self._add(_Panel(key, "table", title, queries, w, h, unit, description, links=tuple(links)))

    def text(self, key, title, content: str, *, w=12, h=6):
        self._add(_Panel(key, "text", title, (), w, h, content=content))

    # --- output ---------------------------------------------------------------------------
    def _layout(self) -> list[tuple[_Panel, g.GridPos]]:
        placed, x, y, line_height = [], 0, 0, 0
        for panel in self._panels:
            if panel.kind == "row" or x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            placed.append((panel, g.GridPos(h=panel.height, w=panel.width, x=x, y=y)))
            x += panel.width
            line_height = max(line_height, panel.height)
            if panel.kind == "row":
                x, y, line_height = 0, y + panel.height, 0
        return placed

    def _targets(self, panel: _Panel) -> list:
        return [
            g.Target(
                expr=query.expr,
                legendFormat=query.legend,
                refId=chr(ord("A") + index),
                instant=query.instant,
                format="table" if query.table else "time_series",
                datasource=datasource(),
            )
            for index, query in enumerate(panel.queries)
        ]

    def _grafanalib_panel(self, panel: _Panel, grid: g.GridPos):
        common = {
            "title": panel.title,
            "gridPos": grid,
            "id": panel_id(self.uid, panel.key),
            "dataSource": datasource(),
            "description": panel.description or None,
        }
        if panel.kind == "row":
            return g.RowPanel(**common)
        if panel.kind == "text":
            return g.Text(content=panel.content, mode="markdown", **common)
        targets = self._targets(panel)
        if panel.kind == "timeseries":
            return g.TimeSeries(targets=targets, unit=panel.unit, **common, **panel.options)
        if panel.kind == "stat":
            steps = [{"color": color, "value": value} for color, value in panel.thresholds]
            extra = {
                "fieldConfig": {"defaults": {"thresholds": {"mode": "absolute", "steps": steps}}}
            }
            return g.Stat(
                targets=targets,
                format=panel.unit or "none",
                reduceCalc="lastNotNull",
                extraJson=extra if steps else None,
                **common,
                **panel.options,
            )
        links = [{"title": title, "url": url} for title, url in panel.links]
        extra = {"fieldConfig": {"defaults": {"links": links}}} if links else None
        return g.Table(
            targets=targets,
            unit=panel.unit,
            transformations=[{"id": "merge", "options": {}}],
            extraJson=extra,
            **common,
        )

    def build(self) -> dict:
        panels = [self._grafanalib_panel(panel, grid) for panel, grid in self._layout()]
        links = [
            g.DashboardLink(title=title, uri=url, type="link", icon="external link", keepTime=False)
            for title, url in self.links
        ] + [
            g.DashboardLink(title=title, tags=[tag], type="dashboards", asDropdown=True)
            for title, tag in self.tag_links
        ]
        dashboard = g.Dashboard(
            title=self.title,
            uid=self.uid,
            description=self.description,
            tags=self.tags,
            panels=panels,
            links=links,
            time=g.Time(self.time_from, "now"),
            timezone="utc",
            refresh="1m",
            schemaVersion=SCHEMA_VERSION,
            editable=True,
        )
        return json.loads(
            json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, sort_keys=True)
        )


def render_json(dashboard: dict) -> str:
    """Deterministic text: sorted keys, fixed indentation, one trailing newline."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
