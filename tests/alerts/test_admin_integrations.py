"""Admin: a new integration's token is shown once, with the intake URL it is sent to."""

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse

from batchwatch.alerts.models import Integration


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "where"),
    [
        ("alertmanager", "https://bw.example.com/api/v1/integrations/alertmanager/"),
        ("webhook", "https://bw.example.com/api/v1/integrations/webhook/"),
        ("pagerduty", "https://bw.example.com/v2/enqueue (as routing_key)"),
    ],
)
@override_settings(BATCHWATCH_BASE_URL="https://bw.example.com")
def test_created_integration_names_its_intake_url(client, admin, kind, where):
    client.force_login(admin)
    response = client.post(
        reverse("admin:alerts_integration_add"),
        {"name": f"{kind} prod", "kind": kind, "labels": "{}"},
    )
    assert response.status_code == 302, response.content[:2000]
    integration = Integration.objects.get(name=f"{kind} prod")
    [message] = [
        str(m) for m in get_messages(response.wsgi_request) if "Copy its token now" in str(m)
    ]
    assert f"send it to {where} as" in message
    assert integration.token_prefix in message
