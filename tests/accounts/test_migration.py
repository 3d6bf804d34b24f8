"""DRF authtoken keys from before personal tokens keep working, hashed; their clear copies
are deleted."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from django.apps import apps
from django.db import connection
from django.test import Client

from batchwatch.accounts.models import ApiToken, hash_token

migration = importlib.import_module("batchwatch.accounts.migrations.0002_migrate_authtoken")

OLD_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"


def _authtoken_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp with time zone NOT NULL)"
            if connection.vendor == "postgresql"
            else "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created datetime NOT NULL)"
        )


def test_authtoken_rows_become_hashed_tokens_that_still_work(teammate):
    _authtoken_table()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, %s)",
            [OLD_KEY, teammate.pk, "2025-03-01 10:00:00"],
        )
    schema_editor = SimpleNamespace(connection=connection)
    migration.migrate_authtoken_tokens(apps, schema_editor)
    token = ApiToken.objects.get()
    assert token.user == teammate and token.name == "migrated"
    assert token.token_hash == hash_token(OLD_KEY) and token.prefix == OLD_KEY[:8]
    assert token.expires_at is None and token.created_at.year == 2025
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no key left in clear
    response = Client().get("/api/v1/teams/", HTTP_AUTHORIZATION=f"Token {OLD_KEY}")
    assert response.status_code == 200
    # Run again (after a rollback of the app's migrations, say): nothing doubles.
    migration.migrate_authtoken_tokens(apps, schema_editor)
    assert ApiToken.objects.count() == 1


def test_without_an_authtoken_table_there_is_nothing_to_do(db):
    migration.migrate_authtoken_tokens(apps, SimpleNamespace(connection=connection))
    assert not ApiToken.objects.exists()
