"""catalog.memberships: finding people by name or address, and a team that keeps an owner."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from batchwatch.catalog.memberships import (
    member_add,
    member_remove,
    member_role_change,
    person_find,
)
from batchwatch.catalog.models import Membership


def test_people_are_found_by_user_name_or_address(make_user):
    ann = make_user("ann", email="Ann@Example.org")
    assert person_find(" ann ") == ann
    assert person_find("ann@example.ORG") == ann


def test_an_address_several_people_share_asks_for_a_user_name(make_user):
    make_user("bo", email="ops@example.org")
    make_user("cy", email="ops@example.org")
    with pytest.raises(ValidationError, match="give a user name"):
        person_find("ops@example.org")


def test_nobody_and_inactive_people_are_not_found(make_user):
    make_user("gone", is_active=False)
    for reference in ("", "gone", "ghost@example.org"):
        with pytest.raises(ValidationError):
            person_find(reference)


def test_a_team_keeps_an_owner(team_a, owner, teammate):
    last = team_a.memberships.get(user=owner)
    with pytest.raises(ValidationError, match="at least one owner"):
        member_role_change(last, role=Membership.Role.MEMBER)
    with pytest.raises(ValidationError, match="at least one owner"):
        member_remove(last)
    member_role_change(team_a.memberships.get(user=teammate), role=Membership.Role.OWNER)
    member_remove(last)  # another owner now
    assert list(team_a.memberships.values_list("role", flat=True)) == ["owner"]


def test_adding_someone_twice_is_refused(team_a, teammate):
    with pytest.raises(ValidationError, match="already in Ledger"):
        member_add(team_a, user=teammate)
