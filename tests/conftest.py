"""Shared fixtures: personas for permission boundaries and API clients that act as them.

Personas (see DEVELOPERS.md): **owner** owns team A, **teammate** is a member of team A,
**outsider** is a member of team B only, **admin** is staff.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection
from rest_framework.test import APIClient

from batchwatch.catalog import services
from batchwatch.catalog.models import Membership

pytest_plugins = ["tests.alerts.fixtures"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(available: bool, what: str) -> None:
    """Skip locally when a tool or service is missing; fail in CI, where it must be present."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available here")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"the '{name}' command")
    return path or ""


@pytest.fixture(autouse=True)
def _postgres_marker(request):
    """Tests marked ``postgres`` run in the PostgreSQL leg (.ci/run sets DATABASE_URL).

    Under SQLite they are skipped everywhere, CI included: .ci/run's second leg runs them, and
    it fails (it never skips) when PostgreSQL is not reachable.
    """
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL leg of .ci/run")


@pytest.fixture(autouse=True)
def _fresh_ledger_memo():
    """The ledger remembers schedules per process; each test has its own database."""
    from batchwatch.runs import ledger

    ledger._NEXT_AFTER.clear()


@pytest.fixture(autouse=True)
def _fresh_credential_counters():
    """Wrong-credential counters (core/ratelimit.py) live in the cache: one test's bad tokens
    must not throttle the next test's."""
    from django.core.cache import cache

    from batchwatch.core import cache as fallback

    cache.clear()
    fallback._fallback.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.2 s per user by design; tests create many users and test no hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(
            username=username, password="correct horse battery", **extra
        )

    return make


@pytest.fixture
def team_a(db):
    return services.team_create(slug="ledger", name="Ledger", slack_channel="#ledger-oncall")


@pytest.fixture
def team_b(db):
    return services.team_create(slug="risk", name="Credit Risk")


@pytest.fixture
def owner(make_user, team_a):
    user = make_user("olivia")
    services.membership_set(team=team_a, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def teammate(make_user, team_a):
    user = make_user("tom")
    services.membership_set(team=team_a, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsider(make_user, team_b):
    user = make_user("oscar")
    services.membership_set(team=team_b, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_staff=True, is_superuser=True)


def api_token_for(user, name: str = "tests") -> str:
    """A new raw API token of ``user``'s, stored as ``accounts.services.create_token`` stores
    it (hashed, with its prefix) but without its audit event: tests count audit events."""
    from batchwatch.accounts.models import PREFIX_LENGTH, ApiToken, generate_token, hash_token

    raw = generate_token()
    ApiToken.objects.create(
        user=user, name=name, prefix=raw[:PREFIX_LENGTH], token_hash=hash_token(raw)
    )
    return raw


@pytest.fixture
def api_as():
    """``api_as(user)``: an API client authenticated with a new API token of the user's (or
    anonymous); ``client.token`` is the raw token."""

    def client_for(user=None, scheme: str = "Token") -> APIClient:
        client = APIClient()
        client.token = None
        if user is not None:
            client.token = api_token_for(user)
            client.credentials(HTTP_AUTHORIZATION=f"{scheme} {client.token}")
        return client

    return client_for


@pytest.fixture
def ledger_job(team_a):
    return services.job_create(
        engine="airflow",
        namespace="prod-airflow",
        name="ledger_nightly_close",
        owner_team=team_a,
        tier=1,
        schedule_cron="0 2 * * *",
        schedule_timezone="America/New_York",
        labels={"domain": "ledger"},
    )
