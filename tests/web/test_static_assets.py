"""Static assets as production serves them (whitenoise, after `collectstatic`): every page's
stylesheets, scripts, icons and favicon under names with a hash of their content, cached by
browsers for a year at least; and in development (no collectstatic) the plain names."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings

PAGE_ASSETS = (
    "batchwatch/app.css",
    "batchwatch/theme.css",
    "batchwatch/layout.css",
    "batchwatch/theme.js",
    "batchwatch/icons.svg",
    "batchwatch/favicon.svg",
)
HASHED = re.compile(r"/static/batchwatch/[\w-]+\.[0-9a-f]{12}\.(css|js|svg)")


@pytest.fixture
def production_static(tmp_path):
    """The production storage (hashed names), collected into a fresh folder."""
    with override_settings(
        STATIC_ROOT=tmp_path,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            # Compression is whitenoise's too; only the names and headers matter here.
            "staticfiles": {"BACKEND": "whitenoise.storage.ManifestStaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


def test_pages_link_hashed_assets_served_for_a_year(production_static, client, teammate):
    client.force_login(teammate)
    page = client.get("/incidents/").content.decode()
    linked = {m.group(0) for m in HASHED.finditer(page)}
    assert len(linked) >= len(PAGE_ASSETS), page[:2000]
    for url in linked:
        response = Client().get(url)
        assert response.status_code == 200, url
        cache = response["Cache-Control"]
        assert "immutable" in cache, (url, cache)
        max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
        assert max_age >= 365 * 24 * 3600, (url, cache)


def test_in_development_the_plain_names_are_served(client, teammate):
    client.force_login(teammate)
    page = client.get("/incidents/").content.decode()
    for name in PAGE_ASSETS:
        assert f"/static/{name}" in page
    assert Client().get("/static/batchwatch/theme.css").status_code == 200
