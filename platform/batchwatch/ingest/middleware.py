"""OTLP exports sent to the wrong URL get an OTLP ``Status``, not the web app's HTML.

An exporter given Batchwatch's base URL where it wants the full one (flink-metrics-otel's
``exporter.endpoint``, a Collector's ``otlphttp`` ``traces_endpoint``) posts to ``/``, or to a
path such as ``/otlp/v1/traces``; the web app would answer a CSRF 403 or an HTML 404 that the
exporter logs as noise. This answers them, before CSRF and routing, with what the exporter's
log should say: where to send what. (Unknown paths under ``/v1/`` are routed to
``ingest.views.otlp_unknown`` itself.)
"""

from __future__ import annotations

from django.urls import Resolver404, resolve

from batchwatch.ingest.views import otlp_not_found

# What OTLP/HTTP exporters send (protobuf by default, JSON when configured).
OTLP_MEDIA_TYPES = ("application/x-protobuf", "application/json")
# An exporter's own endpoints, whatever prefix a misconfigured base URL put before them.
OTLP_SUFFIXES = ("/v1/traces", "/v1/logs", "/v1/metrics")


def misdirected_otlp(request) -> bool:
    """A POST of an OTLP media type to ``/`` (the web app never takes one there) or to an
    unknown path that ends as an OTLP endpoint does."""
    if request.method != "POST":
        return False
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media not in OTLP_MEDIA_TYPES:
        return False
    path = request.path_info
    if path == "/":
        return True
    if not path.rstrip("/").endswith(OTLP_SUFFIXES):
        return False
    try:
        resolve(path)
    except Resolver404:
        return True
    return False  # (a real endpoint answers for itself)


class OtlpMisdirectedMiddleware:
    """Placed before CSRF: a misdirected OTLP export is answered 404 with a Status (JSON)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if misdirected_otlp(request):
            return otlp_not_found(request.path_info)
        return self.get_response(request)
