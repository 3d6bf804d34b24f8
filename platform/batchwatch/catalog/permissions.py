"""Who may change what in the catalog.

* Everyone signed in may read the whole catalog: on-call work crosses team lines.
* A team's **members** manage its jobs; its **owners** also manage the team and its members.
* Staff (admins) may do anything.
* A job nobody owns yet can be claimed or changed by staff only.
"""

from __future__ import annotations

from rest_framework import permissions

from batchwatch.catalog.models import Job, Membership, Team
from batchwatch.core.permissions import is_admin


def can_manage_team(user, team: Team) -> bool:
    if is_admin(user):
        return True
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(team=team, user=user, role=Membership.Role.OWNER).exists()


def can_manage_jobs_of(user, team: Team | None) -> bool:
    if is_admin(user):
        return True
    if team is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(team=team, user=user).exists()


class TeamPermission(permissions.BasePermission):
    message = "Only the team's owners or an admin may change this team."

    def has_permission(self, request, view) -> bool:
        if request.method == "POST":
            self.message = "Only admins may create teams."
            return is_admin(request.user)
        return True

    def has_object_permission(self, request, view, obj: Team) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_manage_team(request.user, obj)


class JobPermission(permissions.BasePermission):
    message = "Only members of the job's owning team (or an admin) may change this job."

    def has_object_permission(self, request, view, obj: Job) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_manage_jobs_of(request.user, obj.owner_team)
