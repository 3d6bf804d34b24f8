"""A runbook file: YAML front matter and a Markdown body, parsed into a typed object.

Pure (no Django): used by ``runbooks check`` in CI and by ``runbooks sync``. Every problem
carries the file and the line it is about.

    ---
    id: spark-executor-oom
    title: Spark executor out of memory
    applies_to:
      kinds: [failed]            # alert kinds (see KINDS), required
      engines: [spark]           # optional: narrows to these engines
      failure_reasons: ["OutOfMemoryError", "exit code 137"]   # optional: regexes
      alertnames: []             # optional: external alerts by alertname
      labels: {tier: "1"}        # optional: label equality
    owner: platform              # team slug
    severity: critical           # critical | warning | info
    last_reviewed: 2026-11-01
    ---
    ## Symptoms ... ## Impact ... ## Diagnosis ... ## Mitigation ... ## Escalation ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

# Alert kinds: the ledger's and SLOs' signal kinds, plus lineage's "waiting on upstream".
KINDS = (
    "missed",
    "late_start",
    "overran",
    "too_fast",
    "failed",
    "retried",
    "slo",
    "predicted_miss",
    "upstream_late",
)
SEVERITIES = ("critical", "warning", "info")
SECTIONS = ("Symptoms", "Impact", "Diagnosis", "Mitigation", "Escalation")
# Template variables a runbook may use as {{ name }}; rendered per incident, run or job.
VARIABLES = (
    "job",
    "job_url",
    "run",
    "run_url",
    "trace_url",
    "dashboard_url",
    "team",
    "incident",
    "incident_url",
    "alertname",
    "kind",
    "engine",
    "severity",
    "failure_reason",
    "slo",
    "base_url",
)
REQUIRED = ("id", "title", "applies_to", "owner", "severity", "last_reviewed")
ALLOWED = {*REQUIRED}
APPLIES_TO = ("kinds", "engines", "failure_reasons", "alertnames", "labels")
ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
VARIABLE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str
    level: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


@dataclass
class AppliesTo:
    kinds: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    failure_reasons: list[str] = field(default_factory=list)
    alertnames: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "kinds": self.kinds,
            "engines": self.engines,
            "failure_reasons": self.failure_reasons,
            "alertnames": self.alertnames,
            "labels": self.labels,
        }

    @property
    def is_generic(self) -> bool:
        """Applies to every alert of its kinds (no narrowing): a fallback."""
        return not (self.engines or self.failure_reasons or self.alertnames or self.labels)


@dataclass
class RunbookSource:
    path: str
    id: str
    title: str
    applies_to: AppliesTo
    owner: str
    severity: str
    last_reviewed: date
    body: str
    body_line: int  # line number of the body's first line in the file
    lines: dict[str, int] = field(default_factory=dict)  # front-matter key → line

    def links(self) -> list[tuple[int, str]]:
        """(line, target) of every Markdown link in the body."""
        return [
            (self.body_line + number, match.group(1))
            for number, text in enumerate(self.body.splitlines())
            for match in LINK.finditer(text)
        ]


def _key_lines(front: str, first_line: int) -> dict[str, int]:
    try:
        node = yaml.compose(front)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: first_line + k.start_mark.line for k, _ in node.value}


def _strings(value, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        problems.append(f"{where} must be a list of strings")
        return []
    return [str(v) for v in value]


# A sink for problems: (line, message), with an optional level.
Report = Callable[..., None]


def parse(path: str, text: str) -> tuple[RunbookSource | None, list[Problem]]:
    problems: list[Problem] = []

    def error(line: int, message: str, level: str = "error") -> None:
        problems.append(Problem(path, line, message, level))

    lines = text.splitlines()
    end = _front_matter_end(lines, error)
    if end is None:
        return None, problems
    front = "\n".join(lines[1:end])
    meta = _load_front_matter(front, error)
    if meta is None:
        return None, problems
    key_lines = _key_lines(front, 2)

    def line_of(key: str) -> int:
        return key_lines.get(key, 1)

    runbook_id, severity, reviewed = _check_fields(meta, line_of, error)
    applies = _check_applies_to(meta.get("applies_to"), line_of("applies_to"), error)
    body = "\n".join(lines[end + 1 :])
    body_line = end + 2
    _check_body(body, body_line, error)
    if any(p.level == "error" for p in problems):
        return None, problems
    return (
        RunbookSource(
            path=path,
            id=runbook_id,
            title=str(meta["title"]),
            applies_to=applies,
            owner=str(meta["owner"]),
            severity=severity,
            last_reviewed=reviewed,
            body=body,
            body_line=body_line,
            lines=key_lines,
        ),
        problems,
    )


def _front_matter_end(lines: list[str], error: Report) -> int | None:
    """Index of the line closing the front matter, or None (reported) if there is none."""
    if not lines or lines[0].strip() != "---":
        error(1, "no front matter: the file must start with a line '---'")
        return None
    try:
        return next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        error(1, "front matter is not closed by a second '---' line")
        return None


def _load_front_matter(front: str, error: Report) -> dict | None:
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        error(2 + (mark.line if mark else 0), f"front matter is not valid YAML: {exc}")
        return None
    if not isinstance(meta, dict):
        error(2, "front matter must be a mapping of fields")
        return None
    return meta


def _check_fields(
    meta: dict, line_of: Callable[[str], int], error: Report
) -> tuple[str, str, date | None]:
    """Required and unknown fields, id, severity and last_reviewed: (id, severity, reviewed)."""
    for name in REQUIRED:
        if name not in meta or meta[name] in (None, "", [], {}):
            error(1, f"missing required field '{name}'")
    for name in meta:
        if name not in ALLOWED:
            error(line_of(str(name)), f"unknown field '{name}' (allowed: {', '.join(REQUIRED)})")
    runbook_id = str(meta.get("id") or "")
    if runbook_id and not ID.match(runbook_id):
        error(line_of("id"), f"id '{runbook_id}' must be lowercase letters, digits and '-'")
    severity = str(meta.get("severity") or "")
    if severity and severity not in SEVERITIES:
        error(line_of("severity"), f"severity '{severity}' is not one of {', '.join(SEVERITIES)}")
    reviewed = meta.get("last_reviewed")
    if reviewed is not None and not isinstance(reviewed, date):
        error(line_of("last_reviewed"), f"last_reviewed '{reviewed}' is not a date (YYYY-MM-DD)")
        reviewed = None
    return runbook_id, severity, reviewed


def _check_applies_to(raw, line: int, error: Report) -> AppliesTo:
    if raw is not None and not isinstance(raw, dict):
        error(line, "applies_to must be a mapping (kinds, engines, ...)")
        return AppliesTo()
    if not raw:
        return AppliesTo()
    applies, issues = _applies_to(raw)
    for issue in issues:
        error(line, issue)
    return applies


def _applies_to(raw: dict) -> tuple[AppliesTo, list[str]]:
    """The applies_to mapping, and what is wrong with it (all reported on its line)."""
    issues: list[str] = []
    for name in raw:
        if name not in APPLIES_TO:
            issues.append(f"unknown applies_to field '{name}' (allowed: {', '.join(APPLIES_TO)})")
    applies = AppliesTo()
    applies.kinds = _strings(raw.get("kinds"), "applies_to.kinds", issues)
    applies.engines = _strings(raw.get("engines"), "applies_to.engines", issues)
    applies.failure_reasons = _strings(
        raw.get("failure_reasons"), "applies_to.failure_reasons", issues
    )
    applies.alertnames = _strings(raw.get("alertnames"), "applies_to.alertnames", issues)
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict):
        issues.append("applies_to.labels must be a mapping of label to value")
    else:
        applies.labels = {str(k): str(v) for k, v in labels.items()}
    if not applies.kinds and not applies.alertnames:
        issues.append("applies_to needs kinds (or alertnames, for external alerts)")
    for kind in applies.kinds:
        if kind not in KINDS:
            issues.append(f"unknown alert kind '{kind}' (known: {', '.join(KINDS)})")
    for pattern in applies.failure_reasons:
        try:
            re.compile(pattern)
        except re.error as exc:
            issues.append(f"failure reason pattern {pattern!r} is not a regex: {exc}")
    return applies, issues


def _check_body(body: str, body_line: int, error: Report) -> None:
    """Every section is there, and only known template variables are used."""
    headings = {}
    for number, line in enumerate(body.splitlines()):
        match = HEADING.match(line)
        if match:
            headings.setdefault(match.group(1).strip(), body_line + number)
    for section in SECTIONS:
        if section not in headings:
            error(body_line, f"missing section '## {section}'")
    for number, line in enumerate(body.splitlines()):
        for match in VARIABLE.finditer(line):
            if match.group(1) not in VARIABLES:
                error(
                    body_line + number,
                    f"unknown template variable '{{{{ {match.group(1)} }}}}' "
                    f"(known: {', '.join(VARIABLES)})",
                )


def parse_directory(directory: Path) -> tuple[list[RunbookSource], list[Problem]]:
    runbooks, problems = [], []
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        runbook, found = parse(_display(path), path.read_text(encoding="utf-8"))
        problems += found
        if runbook is not None:
            runbooks.append(runbook)
    return runbooks, problems


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
