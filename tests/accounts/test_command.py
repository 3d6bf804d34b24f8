"""``manage.py create_api_token``: the token once on stdout, for bootstrapping scripts."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from batchwatch.accounts.models import ApiToken, hash_token
from batchwatch.audit.models import AuditEvent


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_the_token_alone_and_stores_its_hash(admin):
    raw, note = _run("ada", "--name", "bootstrap")
    token = ApiToken.objects.get()
    assert raw.startswith("bwt_") and hash_token(raw) == token.token_hash
    assert token.prefix in note and "not shown again" in note and raw not in note
    assert timedelta(days=89) < token.expires_at - datetime.now(UTC) < timedelta(days=90)
    assert Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.TOKEN_CREATED)
    assert event.actor is None and event.actor_name == "cli"


def test_lifetime_options(admin):
    _run("ada", "--name", "short", "--expires-in-days", "1")
    _run("ada", "--name", "forever", "--no-expiry")
    assert ApiToken.objects.get(name="forever").expires_at is None
    assert ApiToken.objects.get(name="short").expires_at < datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize(
    "args, message",
    [
        (("ghost", "--name", "x"), "No user 'ghost'"),
        (("ada", "--name", " "), "Give the token a name"),
        (("ada", "--name", "x", "--expires-in-days", "0"), "between 1 and 3650"),
    ],
)
def test_refusals_are_sentences(admin, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert not ApiToken.objects.exists()
