"""Runbooks load as the web server starts, through the start-up hook the runbooks app
registers with core (core itself never imports runbooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest

from batchwatch.core import startup
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.startup import sync_runbooks

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_the_runbooks_app_registers_its_start_up_hook():
    assert startup._hooks["runbooks"] is sync_runbooks


@pytest.mark.django_db
def test_the_start_up_hooks_load_the_runbooks_and_say_so(settings):
    settings.BATCHWATCH_RUNBOOKS_DIR = str(REPO_RUNBOOKS)
    out, err = StringIO(), StringIO()
    startup.run_all(now=NOW, stdout=out, stderr=err)
    assert Runbook.objects.count() > 0
    assert out.getvalue() == f"Runbooks loaded: {Runbook.objects.count()}."
    assert err.getvalue() == ""


@pytest.mark.django_db
def test_a_missing_runbooks_directory_is_reported_not_fatal(settings, tmp_path):
    settings.BATCHWATCH_RUNBOOKS_DIR = str(tmp_path / "nowhere")
    out, err = StringIO(), StringIO()
    sync_runbooks(NOW, out, err)
    assert "no such directory" in err.getvalue()
    assert out.getvalue() == "Runbooks loaded: 0."
