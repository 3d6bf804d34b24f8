"""Who nothing but their account e-mail would page at high urgency: the selectors, the team
settings page's "no pager" mark and the Now page's notice (the person; owners: their teams)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchwatch.accounts import services
from batchwatch.accounts.selectors import (
    lacking_high_urgency_method,
    users_without_high_urgency_method,
)
from batchwatch.catalog.models import Membership

pytestmark = pytest.mark.django_db


def _pager(user, address="+14155550100"):
    method = services.contact_method_create(user, kind="sms", address=address)
    now = datetime.now(UTC)
    code = services.contact_method_verification_start(method, now=now)
    return services.contact_method_verify(method, code=code, now=now)


def test_a_verified_high_urgency_rule_is_what_counts(owner, teammate, outsider):
    ids = [owner.pk, teammate.pk, outsider.pk]
    assert [u.username for u in users_without_high_urgency_method(ids)] == [
        "olivia",
        "oscar",
        "tom",
    ]
    services.contact_method_create(teammate, kind="voice", address="+14155550101")  # unverified
    phone = _pager(owner)
    assert [u.username for u in users_without_high_urgency_method(ids)] == ["oscar", "tom"]
    services.contact_method_update(phone, address="+14155550102")  # unverified again
    assert owner in users_without_high_urgency_method(ids)


def test_a_teams_memberships_narrowed_in_one_query(
    owner, teammate, team_a, django_assert_num_queries
):
    _pager(teammate)
    with django_assert_num_queries(1):
        rows = list(
            lacking_high_urgency_method(Membership.objects.filter(team=team_a)).values_list(
                "user__username", flat=True
            )
        )
    assert rows == ["olivia"]


def test_the_team_settings_page_marks_who_has_no_pager(client, owner, teammate, team_a):
    _pager(owner)
    client.force_login(owner)
    page = client.get(f"/teams/{team_a.slug}/settings/").content.decode()
    assert page.count("no pager</span>") == 1  # tom's
    assert "How you are paged" in page


def test_now_tells_a_person_and_an_owner_who_would_not_wake(client, owner, teammate):
    client.force_login(teammate)
    page = client.get("/now/").content.decode()
    assert "Who a page would not wake" in page and "<strong>your</strong>" in page
    assert (
        "olivia" not in page.split('aria-labelledby="now-reach"')[1].split("</section>")[0]
    )  # not an owner
    _pager(teammate)
    assert "Who a page would not wake" not in client.get("/now/").content.decode()

    client.force_login(owner)
    notice = (
        client.get("/now/")
        .content.decode()
        .split('aria-labelledby="now-reach"')[1]
        .split("</section>")[0]
    )
    assert "<strong>your</strong>" in notice and "olivia" in notice and "tom" not in notice
