from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from batchwatch.accounts.api import ApiTokenViewSet
from batchwatch.alerts import twilio_views
from batchwatch.alerts import views as alert_views
from batchwatch.alerts.api import AlertViewSet, IncidentViewSet, MaintenanceViewSet, SilenceViewSet
from batchwatch.alerts.api_integrations import IntegrationViewSet
from batchwatch.alerts.api_team_routes import TeamRouteViewSet
from batchwatch.alerts.silence_preview_api import SilencePreviewView
from batchwatch.audit.api import AuditEventViewSet
from batchwatch.catalog.api import JobViewSet, TeamViewSet
from batchwatch.catalog.api_members import TeamMemberViewSet
from batchwatch.core import views as core_views
from batchwatch.core.api import api_not_found
from batchwatch.demo.api import DemoInboxView
from batchwatch.ingest import views as ingest_views
from batchwatch.ingest.api import IngestKeyViewSet
from batchwatch.notify.api_contact import ContactMethodViewSet, NotificationRuleViewSet
from batchwatch.oncall.api import RotationViewSet, person_ical, rotation_ical
from batchwatch.oncall.api_layers import RotationLayerViewSet
from batchwatch.oncall.api_overrides import RotationOverrideViewSet
from batchwatch.oncall.api_policies import EscalationPolicyViewSet
from batchwatch.oncall.api_swaps import ShiftSwapViewSet
from batchwatch.runs.api import RunViewSet, TraceView
from batchwatch.slack import views as slack_views
from batchwatch.slo.api import SLOViewSet
from batchwatch.slo.views import metrics
from batchwatch.web.api import NowView
from batchwatch.web.incident_api import IncidentHubView
from batchwatch.web.urls import auth_urlpatterns

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register(r"teams/(?P<slug>[^/.]+)/members", TeamMemberViewSet, basename="team-member")
router.register("jobs", JobViewSet, basename="job")
router.register("runs", RunViewSet, basename="run")
router.register("slos", SLOViewSet, basename="slo")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("alerts", AlertViewSet, basename="alert")
router.register("silences", SilenceViewSet, basename="silence")
router.register("maintenance-windows", MaintenanceViewSet, basename="maintenance")
router.register("rotations", RotationViewSet, basename="rotation")
router.register("rotation-overrides", RotationOverrideViewSet, basename="rotation-override")
router.register("rotation-layers", RotationLayerViewSet, basename="rotation-layer")
router.register("ingest-keys", IngestKeyViewSet, basename="ingest-key")
router.register("alert-integrations", IntegrationViewSet, basename="alert-integration")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalation-policy")
router.register("team-routes", TeamRouteViewSet, basename="team-route")
router.register("shift-swaps", ShiftSwapViewSet, basename="shift-swap")
router.register("audit", AuditEventViewSet, basename="audit-event")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("me/contact-methods", ContactMethodViewSet, basename="me-contact-method")
router.register("me/notification-rules", NotificationRuleViewSet, basename="me-notification-rule")

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("v1/traces", ingest_views.otlp_traces, name="otlp-traces"),
    path("v1/logs", ingest_views.otlp_logs, name="otlp-logs"),
    path("v1/metrics", ingest_views.otlp_metrics, name="otlp-metrics"),
    path("v1/", ingest_views.otlp_unknown),
    path("v1/<path:rest>", ingest_views.otlp_unknown, name="otlp-unknown"),
    path("api/v1/lineage", ingest_views.lineage, name="openlineage"),
    path("api/v1/integrations/alertmanager/", alert_views.alertmanager, name="intake-am"),
    path(
        "api/v1/integrations/alertmanager/<str:token>/",
        alert_views.alertmanager,
        name="intake-am-token",
    ),
    path("api/v1/integrations/webhook/", alert_views.webhook, name="intake-webhook"),
    path(
        "api/v1/integrations/webhook/<str:token>/", alert_views.webhook, name="intake-webhook-token"
    ),
    path("ical/rotations/<slug:slug>.ics", rotation_ical, name="rotation-ical"),
    path("ical/people/<str:username>.ics", person_ical, name="person-ical"),
    path("slack/interactions/", slack_views.interactions, name="slack-interactions"),
    path("slack/commands/", slack_views.commands, name="slack-commands"),
    path("slack/events/", slack_views.events, name="slack-events"),
    # Twilio: SMS replies, keypresses on a page's call, delivery status (signed by Twilio).
    path("integrations/twilio/sms/", twilio_views.sms, name="twilio-sms"),
    path("integrations/twilio/voice/", twilio_views.voice, name="twilio-voice"),
    path("integrations/twilio/status/", twilio_views.status, name="twilio-status"),
    path("v2/enqueue", alert_views.pagerduty_enqueue, name="intake-pagerduty"),
    path("api/v1/traces/<str:trace_id>/", TraceView.as_view(), name="trace"),
    path("api/v1/now/", NowView.as_view(), name="now"),
    path("api/v1/demo/inbox/", DemoInboxView.as_view(), name="demo-inbox-api"),
    # Before the router, whose silences/<id>/ would take "preview" for an id.
    path("api/v1/silences/preview/", SilencePreviewView.as_view(), name="silence-preview"),
    path("api/v1/incidents/<str:pk>/hub/", IncidentHubView.as_view(), name="incident-hub"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="web/api_docs.html"),
        name="api-docs",
    ),
    # After every API route: the rest is a JSON 404 (without the slash, APPEND_SLASH's turn).
    re_path(r"^api/.*/\Z", api_not_found),
    path("admin/", admin.site.urls),
    *auth_urlpatterns,
    path("", include("batchwatch.demo.urls")),
    path("", include("batchwatch.web.urls")),
]

handler404 = "batchwatch.web.views.not_found"
handler500 = "batchwatch.web.views.server_error"
