from django.contrib.auth import views as auth_views
from django.urls import path

from batchwatch.accounts import views as account_views
from batchwatch.audit import views as audit_views
from batchwatch.runbooks import views as runbook_views
from batchwatch.web import (
    action_link_views,
    contact_views,
    grid_views,
    incident_bulk_views,
    incident_views,
    now_views,
    oncall_views,
    rotation_layers,
    run_views,
    silence_views,
    team_views,
    views,
)

app_name = "web"

urlpatterns = [
    path("", grid_views.overview, name="overview"),
    path("board/", grid_views.overview_board, name="overview-board"),
    path("now/", now_views.now_page, name="now"),
    path("now/board/", now_views.now_fragment, name="now-board"),
    path("jobs/<int:job_id>/", views.job_page, name="job"),
    path("teams/<slug:slug>/", grid_views.team_page, name="team"),
    path("teams/<slug:slug>/board/", grid_views.team_board, name="team-board"),
    path("teams/<slug:slug>/settings/", team_views.team_settings_page, name="team-settings"),
    path("runs/<int:run_id>/", run_views.run_view, name="run"),
    path("runs/<int:run_id>/spans/", run_views.waterfall_rows, name="run-spans"),
    path(
        "traces/<str:trace_id>/spans/<str:span_id>/details/",
        run_views.span_details,
        name="span-details",
    ),
    path("incidents/", oncall_views.incidents, name="incidents"),
    path("incidents/bulk", incident_bulk_views.incidents_bulk, name="incidents-bulk"),
    path("incidents/<int:incident_id>/", incident_views.incident_page, name="incident"),
    path("incidents/<int:incident_id>/act", incident_views.incident_act, name="incident-act"),
    path("rotations/", oncall_views.rotations, name="rotations"),
    path("rotations/<slug:slug>/", oncall_views.rotation_page, name="rotation"),
    path("rotations/<slug:slug>/layers/new/", rotation_layers.layer_edit, name="layer-add"),
    path(
        "rotations/<slug:slug>/layers/<int:layer_id>/",
        rotation_layers.layer_edit,
        name="layer-edit",
    ),
    path(
        "rotations/<slug:slug>/layers/<int:layer_id>/delete/",
        rotation_layers.layer_delete,
        name="layer-delete",
    ),
    path("silences/", silence_views.silences, name="silences"),
    path("runbooks/", runbook_views.runbooks, name="runbooks"),
    path("runbooks/for/", runbook_views.runbook_for_subject, name="runbook-for"),
    path("runbooks/<slug:slug>/", runbook_views.runbook_page, name="runbook"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("account/tokens/", account_views.tokens, name="account-tokens"),
    path("account/time-zone/", account_views.time_zone, name="account-time-zone"),
    path("account/notifications/", contact_views.notifications, name="account-notifications"),
    # One-time action links in pages (e-mail, SMS, push): short, as an SMS carries them.
    path("a/<str:token>/", action_link_views.action_link, name="action-link"),
]

# Login and logout live at the top level (settings.LOGIN_URL = "login").
auth_urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
