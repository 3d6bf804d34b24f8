"""The banner under the top bar states the database engine and the scheduler that runs."""

import copy

import pytest


@pytest.fixture
def page(client, teammate):
    client.force_login(teammate)

    def render() -> str:
        response = client.get("/")
        assert response.status_code == 200
        return response.content.decode()

    return render


def _engine(settings, engine: str) -> None:
    # Only what the banner reads changes: the test's connection is already open.
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"]["ENGINE"] = engine
    with pytest.warns(UserWarning, match="DATABASES"):
        settings.DATABASES = databases


def test_sqlite_with_the_in_process_scheduler(page, settings):
    _engine(settings, "django.db.backends.sqlite3")
    settings.BATCHWATCH_EMBEDDED = True
    html = page()
    assert "Embedded mode: SQLite and the in-process scheduler." in html
    assert "See docs/operations.md for production." in html


def test_postgresql_with_the_in_process_scheduler(page, settings):
    _engine(settings, "django.db.backends.postgresql")
    settings.BATCHWATCH_EMBEDDED = True
    html = page()
    assert "Embedded mode: PostgreSQL and the in-process scheduler." in html
    assert "SQLite" not in html
    assert "See docs/operations.md for production." in html


def test_postgresql_with_celery_workers(page, settings):
    _engine(settings, "django.db.backends.postgresql")
    settings.BATCHWATCH_EMBEDDED = False
    html = page()
    assert "PostgreSQL and Celery workers on Redis." in html
    assert "Embedded mode" not in html
    assert "in-process scheduler" not in html
    assert "SQLite" not in html
    assert "See docs/operations.md" not in html


def test_sqlite_with_celery_workers_points_to_production(page, settings):
    _engine(settings, "django.db.backends.sqlite3")
    settings.BATCHWATCH_EMBEDDED = False
    html = page()
    assert "SQLite and Celery workers on Redis." in html
    assert "Embedded mode" not in html
    assert "See docs/operations.md for production." in html


def test_no_banner_before_login(client, db):
    assert "modebar" not in client.get("/login/").content.decode()
