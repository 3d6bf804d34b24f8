from unittest import mock

import pytest
from django.db import OperationalError


def test_healthz_answers_without_touching_the_database(client):
    # No `db` fixture: pytest-django makes any database access here an error.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_unreachable(client):
    with mock.patch(
        "batchwatch.core.views.connection.cursor", side_effect=OperationalError("refused")
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable: OperationalError"}


def test_probes_refuse_other_methods(client):
    assert client.post("/healthz").status_code == 405
