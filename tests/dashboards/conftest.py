from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from batchwatch.catalog.models import Job
from batchwatch.slo.models import SLO
from tests.dashboards.grafana_server import TOKEN, FakeGrafana

SOURCES = Path(__file__).resolve().parents[2] / "dashboards"


@pytest.fixture
def grafana():
    server = FakeGrafana()
    yield server
    server.close()


@pytest.fixture
def catalog(team_a, team_b):
    jobs = [
        Job.objects.create(
            engine="airflow",
            namespace="prod-airflow",
            name="ledger_nightly_close",
            owner_team=team_a,
            max_runtime=timedelta(hours=2),
        ),
        Job.objects.create(
            engine="spark", namespace="prod-emr", name="loan_tape", owner_team=team_a
        ),
        Job.objects.create(
            engine="flink", namespace="prod", name="payments_stream", owner_team=team_b
        ),
    ]
    SLO.objects.create(
        slug="ledger-close-by-6",
        name="Ledger closed by 06:00 ET",
        kind="deadline",
        job=jobs[0],
        objective=95,
        window_size=28,
    )
    return jobs


@pytest.fixture
def client_for(grafana):
    from batchwatch.dashboards.grafana import Grafana

    def make(token=TOKEN):
        return Grafana(grafana.url, token, backoff=0.01)

    return make
