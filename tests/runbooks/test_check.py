"""`runbooks check`: passes on the repository, fails with file, line and reason on bad ones."""

from __future__ import annotations

from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batchwatch.runbooks.check import check
from batchwatch.runbooks.source import KINDS, parse

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "fixtures" / "broken"
pytestmark = pytest.mark.django_db
SLOS = REPO / "platform/batchwatch/slo/fixtures/demo_slos.yaml"


def run_check(*args, today="2026-11-22") -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("runbooks", "check", *args, stdout=out, today=today)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_the_repositorys_runbooks_pass():
    code, output = run_check(str(REPO / "runbooks"), "--slos", str(SLOS))
    assert code == 0, output
    assert "0 error(s)" in output


def test_a_broken_directory_fails_with_file_line_and_reason():
    code, output = run_check(str(BROKEN))
    assert code == 1
    assert "missing-field.md:1: error: missing required field 'owner'" in output
    assert "duplicate-b.md:2: error: duplicate id 'twin'" in output
    assert "dead-link.md:11: error: dead link 'no-such-runbook.md': no such runbook file" in output
    assert (
        "dead-link.md:13: error: dead link '/runbooks/nope/': no runbook with id 'nope'" in output
    )
    assert "unknown-kind.md:4: error: unknown alert kind 'exploded'" in output
    assert "unknown-kind.md:11: error: unknown template variable '{{ jobb }}'" in output
    assert "no runbook for alert kind 'slo'" in output


def test_every_alert_kind_and_slo_needs_a_runbook(tmp_path):
    only = (REPO / "runbooks" / "job-failed.md").read_text()
    (tmp_path / "job-failed.md").write_text(only)
    _, problems = check(tmp_path, today=date(2026, 11, 22), slo_slugs=["x"])
    missing = {
        p.message.split("'")[1] for p in problems if "no runbook for alert kind" in p.message
    }
    assert missing == set(KINDS) - {"failed"}
    assert any("no runbook applies to SLO 'x'" in p.message for p in problems)


def test_stale_runbooks_are_warnings_not_errors(tmp_path):
    for path in (REPO / "runbooks").glob("*.md"):
        (tmp_path / path.name).write_text(path.read_text())
    code, output = run_check(str(tmp_path), "--review-days", "0", today="2027-06-01")
    assert code == 0
    assert "warning: not reviewed for 191 days (more than 0)" in output


@pytest.mark.parametrize(
    "text, message",
    [
        ("no front matter", "no front matter"),
        ("---\nid: x\n", "not closed"),
        ("---\nid: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "must be a mapping"),
        (
            "---\nid: ok-id\ntitle: t\napplies_to: {kinds: [failed], failure_reasons: ['(']}\n"
            "owner: o\nseverity: loud\nlast_reviewed: soon\nextra: 1\n---\n",
            "severity 'loud' is not one of",
        ),
    ],
)
def test_parse_errors_are_sentences(text, message):
    runbook, problems = parse("x.md", text)
    assert runbook is None
    assert any(message in p.message for p in problems), problems


def test_every_problem_of_a_bad_front_matter_is_reported():
    text = (
        "---\nid: Bad_ID\ntitle: t\napplies_to: {kinds: [failed], failure_reasons: ['(']}\n"
        "owner: o\nseverity: loud\nlast_reviewed: soon\nextra: 1\n---\n## Symptoms\n"
    )
    _, problems = parse("x.md", text)
    messages = " | ".join(str(p) for p in problems)
    for expected in (
        "x.md:2: error: id 'Bad_ID' must be lowercase",
        "x.md:4: error: failure reason pattern '(' is not a regex",
        "x.md:6: error: severity 'loud'",
        "x.md:7: error: last_reviewed 'soon' is not a date",
        "x.md:8: error: unknown field 'extra'",
        "missing section '## Escalation'",
    ):
        assert expected in messages
