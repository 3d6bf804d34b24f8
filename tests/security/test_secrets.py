"""Integration secrets at rest: encrypted in the database, never shown back, keys rotate.

The Slack bot token and signing secret set in admin are stored as Fernet ciphertext under
BATCHWATCH_SECRET_KEYS (or a key derived from SECRET_KEY); what the database holds is read
here with raw SQL, around the model.
"""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from batchwatch.audit.models import AuditEvent
from batchwatch.core import crypto
from batchwatch.slack import config
from batchwatch.slack.models import SlackWorkspace

TOKEN = "xoxb-1111-2222-secretbottoken"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"


def stored(pk: int) -> tuple[str, str]:
    """The columns as the database holds them (no model field in between)."""
    table = connection.ops.quote_name(SlackWorkspace._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT bot_token, signing_secret FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def write_raw(pk: int, bot_token: str, signing_secret: str = "") -> None:
    table = connection.ops.quote_name(SlackWorkspace._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET bot_token = %s, signing_secret = %s WHERE id = %s",  # noqa: S608
            [bot_token, signing_secret, pk],
        )


@pytest.fixture
def keys(settings):
    """Two fresh Fernet keys; the test chooses which are configured."""
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BATCHWATCH_SECRET_KEYS = [first]
    return settings, first, second


@pytest.fixture
def workspace(db, settings):
    settings.SLACK_BOT_TOKEN = settings.SLACK_SIGNING_SECRET = ""  # admin's values count
    return SlackWorkspace.objects.create(name="Acme", bot_token=TOKEN, signing_secret=SIGNING)


def test_the_database_holds_ciphertext_and_the_model_reads_plain_text(keys, workspace):
    bot_token, signing_secret = stored(workspace.pk)
    for column, secret in ((bot_token, TOKEN), (signing_secret, SIGNING)):
        assert column.startswith("bwenc:v1:") and secret not in column
    again = SlackWorkspace.objects.get(pk=workspace.pk)
    assert (again.bot_token, again.signing_secret) == (TOKEN, SIGNING)
    assert config.bot_token() == TOKEN and config.signing_secret() == SIGNING
    # Randomised: the same secret is stored differently each time it is written.
    again.save()
    assert stored(workspace.pk)[0] != bot_token


def test_without_configured_keys_a_key_derived_from_secret_key_is_used(settings, workspace):
    settings.BATCHWATCH_SECRET_KEYS = []
    workspace.save()
    column = stored(workspace.pk)[0]
    assert column.startswith("bwenc:v1:") and TOKEN not in column
    derived = Fernet(crypto.derived_key(settings.SECRET_KEY))
    assert derived.decrypt(column.removeprefix("bwenc:v1:").encode()).decode() == TOKEN
    assert crypto.derived_key(settings.SECRET_KEY).decode() != settings.SECRET_KEY


def test_legacy_plain_text_rows_read_and_are_encrypted_when_saved(keys, workspace):
    write_raw(workspace.pk, TOKEN, SIGNING)  # as rows were before encryption
    legacy = SlackWorkspace.objects.get(pk=workspace.pk)
    assert (legacy.bot_token, legacy.signing_secret) == (TOKEN, SIGNING)
    legacy.save()
    assert all(column.startswith("bwenc:v1:") for column in stored(workspace.pk))


def test_the_migration_encrypts_existing_rows(keys, workspace):
    from importlib import import_module

    from django.apps import apps

    write_raw(workspace.pk, TOKEN, SIGNING)
    migration = import_module("batchwatch.slack.migrations.0002_encrypt_secrets")
    migration.encrypt_existing(apps, None)
    assert all(column.startswith("bwenc:v1:") for column in stored(workspace.pk))
    assert SlackWorkspace.objects.get(pk=workspace.pk).bot_token == TOKEN


def test_rotation_with_two_keys(keys, workspace):
    settings, old, new = keys
    before = stored(workspace.pk)[0]
    # The new key goes first; the old one still decrypts what it wrote.
    settings.BATCHWATCH_SECRET_KEYS = [new, old]
    assert SlackWorkspace.objects.get(pk=workspace.pk).bot_token == TOKEN
    out = StringIO()
    call_command("rotate_secret_keys", stdout=out)
    assert "slack.SlackWorkspace.bot_token: 1 re-encrypted" in out.getvalue()
    assert "Re-encrypted 2 secret(s)" in out.getvalue()
    after = stored(workspace.pk)[0]
    assert after != before
    assert Fernet(new).decrypt(after.removeprefix("bwenc:v1:").encode()).decode() == TOKEN
    # The old key can go now.
    settings.BATCHWATCH_SECRET_KEYS = [new]
    assert SlackWorkspace.objects.get(pk=workspace.pk).bot_token == TOKEN


def test_a_secret_no_key_decrypts_reads_as_unset_and_is_kept(keys, workspace):
    settings, old, new = keys
    before = stored(workspace.pk)
    settings.BATCHWATCH_SECRET_KEYS = [new]  # the old key dropped too early
    unreadable = SlackWorkspace.objects.get(pk=workspace.pk)
    assert unreadable.bot_token == "" and config.bot_token() == ""
    unreadable.name = "Renamed"
    unreadable.save()
    assert stored(workspace.pk) == before  # restoring the old key recovers it
    with pytest.raises(CommandError, match="2 secret\\(s\\) cannot be decrypted") as failed:
        call_command("rotate_secret_keys", stdout=StringIO())
    assert failed.value.returncode == 1
    settings.BATCHWATCH_SECRET_KEYS = [new, old]
    assert SlackWorkspace.objects.get(pk=workspace.pk).bot_token == TOKEN


def test_encrypted_fields_refuse_lookups(workspace):
    with pytest.raises(FieldError, match="Unsupported lookup"):
        SlackWorkspace.objects.filter(bot_token=TOKEN).exists()
    assert SlackWorkspace.objects.filter(bot_token__isnull=False).count() == 1


def test_repr_and_str_never_show_a_secret(workspace):
    for text in (repr(workspace), str(workspace)):
        assert TOKEN not in text and SIGNING not in text
    assert "token set" in repr(workspace)


# --- Admin ---------------------------------------------------------------------------------


def test_admin_never_renders_a_secret(client, admin, workspace):
    client.force_login(admin)
    for url in (
        reverse("admin:slack_slackworkspace_changelist"),
        reverse("admin:slack_slackworkspace_change", args=[workspace.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert TOKEN not in html and SIGNING not in html
        assert "bwenc:" not in html
    assert "Currently set." in html


def test_admin_saving_a_secret_records_which_one_and_blank_keeps(client, admin, workspace):
    client.force_login(admin)
    url = reverse("admin:slack_slackworkspace_change", args=[workspace.pk])
    new_token = "xoxb-9999-new-token"
    answer = client.post(url, {"name": "Acme", "bot_token": new_token, "signing_secret": ""})
    assert answer.status_code == 302
    workspace.refresh_from_db()
    assert workspace.bot_token == new_token and workspace.signing_secret == SIGNING
    events = list(AuditEvent.objects.filter(action="secret.changed"))
    assert len(events) == 1
    event = events[0]
    assert event.actor == admin and event.detail == {"field": "slack.bot_token"}
    assert event.target_type == "slack.SlackWorkspace" and event.target_id == str(workspace.pk)
    assert new_token not in repr(event.__dict__) and TOKEN not in repr(event.__dict__)
    # Saving with both inputs blank keeps both secrets and records nothing.
    client.post(url, {"name": "Acme Corp", "bot_token": "", "signing_secret": ""})
    workspace.refresh_from_db()
    assert (workspace.name, workspace.bot_token, workspace.signing_secret) == (
        "Acme Corp",
        new_token,
        SIGNING,
    )
    assert AuditEvent.objects.filter(action="secret.changed").count() == 1


def test_admin_form_with_an_error_does_not_echo_the_secret(client, admin, workspace):
    client.force_login(admin)
    url = reverse("admin:slack_slackworkspace_change", args=[workspace.pk])
    page = client.post(url, {"name": "", "bot_token": "xoxb-typed-just-now", "signing_secret": ""})
    assert page.status_code == 200  # the form again, with the error
    assert "xoxb-typed-just-now" not in page.content.decode()
    assert not AuditEvent.objects.filter(action="secret.changed").exists()


def test_check_deploy_warns_without_keys_of_its_own(settings):
    from batchwatch.core.checks import secret_keys_set

    settings.BATCHWATCH_SECRET_KEYS = []
    (warning,) = secret_keys_set(None)
    assert warning.id == "batchwatch.W001" and "BATCHWATCH_SECRET_KEYS" in warning.msg
    settings.BATCHWATCH_SECRET_KEYS = [Fernet.generate_key().decode()]
    assert secret_keys_set(None) == []


def test_moving_from_the_derived_key_to_keys_of_its_own(settings, workspace):
    settings.BATCHWATCH_SECRET_KEYS = []
    workspace.save()  # under the key derived from SECRET_KEY
    own = Fernet.generate_key().decode()
    settings.BATCHWATCH_SECRET_KEYS = [own]
    assert SlackWorkspace.objects.get(pk=workspace.pk).bot_token == TOKEN
    call_command("rotate_secret_keys", stdout=StringIO())
    column = stored(workspace.pk)[0]
    assert Fernet(own).decrypt(column.removeprefix("bwenc:v1:").encode()).decode() == TOKEN


def test_admin_adding_the_workspace_records_both_secrets(client, admin, settings):
    client.force_login(admin)
    answer = client.post(
        reverse("admin:slack_slackworkspace_add"),
        {"name": "Acme", "bot_token": TOKEN, "signing_secret": SIGNING},
    )
    assert answer.status_code == 302
    workspace = SlackWorkspace.objects.get()
    assert all(column.startswith("bwenc:v1:") for column in stored(workspace.pk))
    fields = sorted(e.detail["field"] for e in AuditEvent.objects.filter(action="secret.changed"))
    assert fields == ["slack.bot_token", "slack.signing_secret"]
    page = client.get(reverse("admin:slack_slackworkspace_change", args=[workspace.pk]))
    assert TOKEN not in page.content.decode() and SIGNING not in page.content.decode()
