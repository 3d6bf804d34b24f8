"""The filters of the audit log, shared by its API and its page: ``action``, ``team`` (a slug),
``since`` and ``until`` (ISO 8601). A bad value is refused with a sentence, never ignored."""

from __future__ import annotations

from django import forms
from django_filters import rest_framework as filters

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.selectors import team_model
from batchwatch.core.api import UtcDateTimeFilter


class AuditFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "until must be later than since.")
        slug = (data.get("team") or "").strip()
        if slug and not team_model().objects.filter(slug=slug).exists():
            # A parameter, not an f-string: django-filter formats the message with its params,
            # and a slug with a '%' in it would otherwise break that formatting (a 500).
            self.add_error(
                "team",
                forms.ValidationError("There is no team %(team)s.", params={"team": repr(slug)}),
            )
        return data


class AuditFilter(filters.FilterSet):
    action = filters.ChoiceFilter(
        choices=AuditEvent.Action.choices, help_text="Only events of this action."
    )
    team = filters.CharFilter(
        field_name="team__slug", help_text="Slug of a team: only the events of its objects."
    )
    since = UtcDateTimeFilter(
        field_name="at", lookup_expr="gte", help_text="Events at or after this time (ISO 8601)."
    )
    until = UtcDateTimeFilter(
        field_name="at", lookup_expr="lt", help_text="Events before this time (ISO 8601)."
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "team", "since", "until"]
        form = AuditFilterForm
