"""Admin: every catalog model has a working list (with search and filters) and add form."""

import pytest
from django.urls import reverse

from batchwatch.catalog import services
from batchwatch.catalog.models import (
    Job,
    JobDataset,
    JobDependency,
    Membership,
    OwnershipRule,
    Team,
)
from batchwatch.ingest.models import EventLogImport, IngestKey
from batchwatch.runs.models import Run, Span

MODELS = [
    Team,
    Membership,
    Job,
    JobDependency,
    JobDataset,
    OwnershipRule,
    IngestKey,
    EventLogImport,
    Run,
    Span,
]


@pytest.fixture
def admin_client_with_data(client, admin, ledger_job, team_b):
    services.ownership_rule_create(team=team_b, namespace_pattern="risk-*")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_search_and_add(admin_client_with_data, model):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client_with_data.get(changelist).status_code == 200
    assert admin_client_with_data.get(changelist, {"q": "ledger"}).status_code == 200
    add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    assert admin_client_with_data.get(add).status_code == 200


def test_admin_refuses_a_bad_cron_with_a_message(admin_client_with_data, team_a):
    response = admin_client_with_data.post(
        reverse("admin:catalog_job_add"),
        {
            "engine": "spark",
            "namespace": "prod",
            "name": "x",
            "owner_team": team_a.pk,
            "tier": 3,
            "is_active": "on",
            "schedule_cron": "every night",
            "schedule_timezone": "UTC",
            "labels": "{}",
            "upstream_edges-TOTAL_FORMS": "0",
            "upstream_edges-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert b"needs 5 fields" in response.content
    assert not Job.objects.filter(name="x").exists()


def test_apply_rules_action_claims_unowned_jobs(admin_client_with_data):
    from datetime import UTC, datetime

    job = services.job_register_observed(
        engine="prefect", namespace="risk-flows", name="late", seen_at=datetime.now(UTC)
    )
    job.owner_team = None
    job.save()
    rule = OwnershipRule.objects.get()
    response = admin_client_with_data.post(
        reverse("admin:catalog_ownershiprule_changelist"),
        {"action": "apply_to_unowned_jobs", "_selected_action": [rule.pk]},
        follow=True,
    )
    assert b"1 unowned job(s) got an owner." in response.content
    job.refresh_from_db()
    assert job.owner_team.slug == "risk"


def test_non_staff_cannot_open_admin(client, teammate):
    client.force_login(teammate)
    response = client.get(reverse("admin:catalog_job_changelist"))
    assert response.status_code == 302
