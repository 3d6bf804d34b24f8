"""Two owners demoting each other at the same moment (PostgreSQL: row locks): one of them
stays an owner, and neither transaction fails on a deadlock."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from batchwatch.catalog.memberships import member_role_change
from batchwatch.catalog.models import Membership


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_leave_one_owner(team_a, owner, teammate):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    member_role_change(team_a.memberships.get(user=teammate), role="owner")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(user_id: int) -> None:
        try:
            membership = Membership.objects.select_related("team", "user").get(user_id=user_id)
            start.wait()
            member_role_change(membership, role="member")
            outcomes.append("demoted")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=demote, args=(u.pk,)) for u in (owner, teammate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert team_a.memberships.filter(role="owner").count() == 1
