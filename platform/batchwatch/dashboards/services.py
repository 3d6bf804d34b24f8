"""Build, diff and deploy dashboards; every deployment is recorded.

Per dashboard, against what is on the server and the version we last wrote there:

* **new** — not on the server: created (``overwrite: false``);
* **unchanged** — the server's normalised JSON equals ours: nothing is written;
* **changed** — ours differs and the server still has the version we wrote: updated with that
  version (``overwrite: false``), so a UI edit racing with us answers 412 and becomes drift;
* **drifted** — the server's differs and was saved since our last write (someone edited it in
  the UI), or was never written by us: ``--on-drift block`` (default: report, write nothing,
  fail), ``overwrite`` (ours wins) or ``adopt`` (theirs is kept and remembered as ours);
* **orphaned** — on the server with our tag and uid prefix, no longer built: ``--prune``
  deletes it; nothing else is ever deleted.

Normalising drops ``id``, ``version`` and ``iteration`` (the server fills them).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from django.conf import settings

from batchwatch.dashboards.builder import MANAGED_TAG, render_json
from batchwatch.dashboards.grafana import Grafana, GrafanaError
from batchwatch.dashboards.models import DeployedDashboard, Deployment
from batchwatch.dashboards.sources import BuiltDashboard

logger = logging.getLogger("batchwatch.dashboards")

DRIFT_POLICIES = ("block", "overwrite", "adopt")
SERVER_FIELDS = ("id", "version", "iteration")
MAX_DIFF_LINES = 120
MANIFEST = ".batchwatch-dashboards.json"


def normalise(dashboard: dict) -> dict:
    return {k: v for k, v in dashboard.items() if k not in SERVER_FIELDS}


def content_hash(dashboard: dict) -> str:
    return hashlib.sha256(render_json(normalise(dashboard)).encode()).hexdigest()


def _readable_diff(current: dict, desired: dict, *, uid: str) -> str:
    lines = list(
        difflib.unified_diff(
            render_json(normalise(current)).splitlines(),
            render_json(normalise(desired)).splitlines(),
            fromfile=f"grafana/{uid}",
            tofile=f"batchwatch/{uid}",
            n=2,
            lineterm="",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return "\n".join(lines)


# --- build -----------------------------------------------------------------------------------


def provisioning_yaml(path: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "batchwatch",
                    "type": "file",
                    "disableDeletion": False,
                    "allowUiUpdates": False,
                    "updateIntervalSeconds": 60,
                    "options": {"path": path, "foldersFromFilesStructure": True},
                }
            ],
        },
        sort_keys=False,
    )


def _folder_dir(title: str) -> str:
    return "".join(c if c.isalnum() or c in " -_." else "_" for c in title).strip() or "General"


def dashboards_write(built: list[BuiltDashboard], *, out: Path, provisioning_path: str) -> dict:
    """Write ``<folder>/<uid>.json`` per dashboard (byte-identical on rebuild), the file
    provisioning provider, and remove what an earlier build wrote that is no longer built."""
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    previous = []
    if manifest_path.exists():
        try:
            previous = yaml.safe_load(manifest_path.read_text()) or []
        except yaml.YAMLError:
            previous = []
    written, unchanged = [], 0
    for dashboard in built:
        relative = f"{_folder_dir(dashboard.folder_title)}/{dashboard.uid}.json"
        target = out / relative
        text = render_json(dashboard.json)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            unchanged += 1
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        written.append(relative)
    removed = [p for p in previous if p not in written and (out / p).is_file()]
    for relative in removed:
        (out / relative).unlink()
    for directory in {(out / p).parent for p in removed}:
        if directory.is_dir() and not any(directory.iterdir()):
            shutil.rmtree(directory)
    manifest_path.write_text(render_json(sorted(written)))
    (out / "provisioning.yaml").write_text(provisioning_yaml(provisioning_path))
    return {"dashboards": len(written), "unchanged": unchanged, "removed": len(removed)}


# --- diff and deploy ------------------------------------------------------------------------


@dataclass
class Outcome:
    uid: str
    title: str
    status: str  # new | changed | unchanged | drifted | orphaned
    action: str = ""
    folder_uid: str = ""
    version: int | None = None
    diff: str = ""
    message: str = ""


@dataclass
class DeployReport:
    outcomes: list[Outcome] = field(default_factory=list)
    folders_created: list[str] = field(default_factory=list)
    writes: int = 0
    reads: int = 0
    ok: bool = True
    deployment_id: int | None = None

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.action or outcome.status] = (
                counts.get(outcome.action or outcome.status, 0) + 1
            )
        return dict(sorted(counts.items()))


def _remote_version(remote: dict) -> int:
    return int((remote.get("meta") or {}).get("version") or remote["dashboard"].get("version") or 0)


def plan(
    built: list[BuiltDashboard],
    *,
    client: Grafana,
    progress: Callable[[list[BuiltDashboard]], Iterable[BuiltDashboard]] | None = None,
) -> list[Outcome]:
    """What a deploy would find, per dashboard (reads only). ``progress`` wraps the loop
    (the command passes a progress bar)."""
    remembered = {d.uid: d for d in DeployedDashboard.objects.filter(grafana_url=client.url)}
    outcomes = []
    for dashboard in progress(built) if progress else built:
        remote = client.dashboard(dashboard.uid)
        outcome = Outcome(dashboard.uid, dashboard.title, "new", folder_uid=dashboard.folder_uid)
        if remote is not None:
            current = remote["dashboard"]
            outcome.version = _remote_version(remote)
            mine = remembered.get(dashboard.uid)
            if normalise(current) == normalise(dashboard.json):
                outcome.status = "unchanged"
            else:
                outcome.diff = _readable_diff(current, dashboard.json, uid=dashboard.uid)
                adopted = (
                    mine is not None
                    and mine.content_hash == content_hash(current)
                    and mine.source_hash == content_hash(dashboard.json)
                )
                if mine is not None and mine.version == outcome.version and adopted:
                    outcome.status = "unchanged"
                    outcome.message = "the adopted UI edit is kept until the source changes"
                elif mine is not None and mine.version == outcome.version:
                    outcome.status = "changed"
                else:
                    outcome.status = "drifted"
                    outcome.message = (
                        f"edited in Grafana since our version {mine.version} "
                        f"(now {outcome.version})"
                        if mine
                        else "on the server but not written by this Batchwatch"
                    )
        outcomes.append(outcome)
    built_uids = {d.uid for d in built}
    prefix = settings.BATCHWATCH_DASHBOARD_UID_PREFIX
    for hit in client.search(tag=MANAGED_TAG):
        uid = hit.get("uid", "")
        if uid and uid not in built_uids and uid.startswith(prefix):
            outcomes.append(
                Outcome(uid, hit.get("title", ""), "orphaned", folder_uid=hit.get("folderUid", ""))
            )
    return outcomes


def source_revision() -> str:
    """The source revision named in every version's commit message."""
    if settings.BATCHWATCH_REVISION:
        return settings.BATCHWATCH_REVISION
    try:
        answer = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=settings.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return "unknown"
    return answer.stdout.strip() if answer.returncode == 0 else "unknown"


def _remember(
    client, dashboard: BuiltDashboard, version: int, digest: str, now, deployment, source=None
):
    DeployedDashboard.objects.update_or_create(
        grafana_url=client.url,
        uid=dashboard.uid,
        defaults={
            "title": dashboard.title,
            "folder_uid": dashboard.folder_uid,
            "version": version,
            "content_hash": digest,
            "source_hash": source or digest,
            "deployed_at": now,
            "deployment": deployment,
        },
    )


def dashboards_deploy(
    built: list[BuiltDashboard],
    *,
    client: Grafana,
    now: datetime,
    dry_run: bool = False,
    prune: bool = False,
    on_drift: str = "block",
    revision: str | None = None,
    progress: Callable[[list[BuiltDashboard]], Iterable[BuiltDashboard]] | None = None,
) -> DeployReport:
    if on_drift not in DRIFT_POLICIES:
        raise ValueError(f"--on-drift must be one of {', '.join(DRIFT_POLICIES)}")
    revision = revision or source_revision()
    deployment = Deployment.objects.create(
        started_at=now,
        grafana_url=client.url,
        revision=revision,
        dry_run=dry_run,
        prune=prune,
        on_drift=on_drift,
    )
    report = DeployReport(deployment_id=deployment.pk)
    by_uid = {d.uid: d for d in built}
    for folder_uid, title in sorted({(d.folder_uid, d.folder_title) for d in built}):
        if not client.folder_exists(folder_uid):
            report.folders_created.append(folder_uid)
            if not dry_run:
                client.folder_create(folder_uid, title)
    for outcome in plan(built, client=client, progress=progress):
        dashboard = by_uid.get(outcome.uid)
        try:
            _apply(
                client,
                outcome,
                dashboard,
                report,
                now,
                deployment,
                dry_run,
                prune,
                on_drift,
                revision,
            )
        except GrafanaError as exc:
            outcome.action, outcome.message = "error", exc.message
            report.ok = False
        report.outcomes.append(outcome)
    report.writes, report.reads = client.writes, client.reads
    deployment.finished_at = now
    deployment.ok = report.ok
    deployment.writes = report.writes
    deployment.summary = report.summary()
    deployment.report = [
        {k: v for k, v in asdict(o).items() if k != "diff" or v} for o in report.outcomes
    ]
    deployment.save()
    logger.info(
        "dashboards.deployed",
        extra={
            "dry_run": dry_run,
            "writes": report.writes,
            "outcomes": ", ".join(f"{k}={v}" for k, v in report.summary().items()),
        },
    )
    return report


def _apply(client, outcome, dashboard, report, now, deployment, dry_run, prune, on_drift, revision):
    message = f"Batchwatch deploy of {revision}"
    if outcome.status == "orphaned":
        if not prune:
            outcome.action = "kept (not pruned)"
        elif dry_run:
            outcome.action = "would delete"
        else:
            client.delete(outcome.uid)
            DeployedDashboard.objects.filter(grafana_url=client.url, uid=outcome.uid).delete()
            outcome.action = "deleted"
        return
    digest = content_hash(dashboard.json)
    payload = normalise(dashboard.json)

    def write(action: str, dashboard_json: dict, *, overwrite: bool, note: str = "") -> None:
        saved = client.save(
            dashboard_json,
            folder_uid=dashboard.folder_uid,  # always: without it Grafana moves it to the root
            message=message + note,
            overwrite=overwrite,
        )
        outcome.action, outcome.version = action, saved.get("version")
        _remember(client, dashboard, outcome.version, digest, now, deployment)

    if outcome.status == "unchanged":
        outcome.action = "unchanged"
        if not dry_run and not outcome.message:  # (an adopted edit stays remembered as is)
            mine = DeployedDashboard.objects.filter(grafana_url=client.url, uid=outcome.uid).first()
            if mine is None or mine.version != outcome.version or mine.content_hash != digest:
                _remember(client, dashboard, outcome.version, digest, now, deployment)
        return
    if outcome.status == "new":
        if dry_run:
            outcome.action = "would create"
        else:
            write("created", {**payload, "id": None}, overwrite=False)
        return
    if outcome.status == "changed":
        if dry_run:
            outcome.action = "would update"
            return
        try:
            write("updated", {**payload, "version": outcome.version}, overwrite=False)
            return
        except GrafanaError as exc:
            if exc.status != 412 or exc.body.get("status") != "version-mismatch":
                raise
            # Edited in the UI between our read and our write: it is drift after all.
            outcome.status = "drifted"
            outcome.message = "edited in Grafana while we deployed (412 version-mismatch)"
            remote = client.dashboard(outcome.uid)
            outcome.version = _remote_version(remote) if remote else outcome.version
    # drifted
    if on_drift == "block":
        outcome.action = "blocked (drift)"
        report.ok = False
    elif dry_run:
        outcome.action = "would overwrite" if on_drift == "overwrite" else "would adopt"
    elif on_drift == "overwrite":
        write("overwritten", payload, overwrite=True, note=" (overwrote a UI edit)")
    else:  # adopt: keep the server's, remember its version as ours; the source should follow
        remote = client.dashboard(outcome.uid)
        theirs = content_hash(remote["dashboard"])
        _remember(client, dashboard, outcome.version, theirs, now, deployment, source=digest)
        outcome.action = "adopted (update the source to match)"
