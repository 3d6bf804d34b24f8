"""The Prometheus scrape endpoint."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from batchwatch.slo.metrics import exposition


@require_GET
def metrics(request):
    token = settings.BATCHWATCH_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            response = HttpResponse(
                "Send 'Authorization: Bearer <BATCHWATCH_METRICS_TOKEN>' to scrape.\n",
                status=401,
                content_type="text/plain",
            )
            response["WWW-Authenticate"] = "Bearer"
            return response
    # The 0.0.4 text format: what every Prometheus 2.x and 3.x scrapes.
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
