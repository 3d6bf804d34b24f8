"""API tokens hashed at rest and shown once; expiry, revocation and owner-only management;
throttled guessing that never throttles a valid token; calendar feed links shown only to
whom they belong and rotatable by them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from batchwatch.accounts.models import ApiToken, hash_token
from batchwatch.accounts.services import create_token
from batchwatch.audit.models import AuditEvent
from batchwatch.oncall.ical import person_feed_token

Action = AuditEvent.Action
TOKENS = "/api/v1/tokens/"


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _auth(raw: str, scheme: str = "Token") -> dict:
    return {"HTTP_AUTHORIZATION": f"{scheme} {raw}"}


# --- Hashed at rest, shown once -------------------------------------------------------------


def test_a_created_token_is_in_the_answer_once_and_nowhere_in_the_database(api_as, teammate):
    client = api_as(teammate)
    response = client.post(TOKENS, {"name": "deploy script"}, format="json")
    assert response.status_code == 201, response.content
    raw = response.json()["token"]
    assert raw.startswith("bwt_") and response.json()["prefix"] == raw[:8]
    token = ApiToken.objects.get(pk=response.json()["id"])
    assert token.token_hash == hash_token(raw) and token.prefix == raw[:8]
    # Every table, audit log included: the token is nowhere, only its hash.
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert raw not in dump.getvalue() and raw[8:] not in dump.getvalue()
    assert hash_token(raw) in dump.getvalue()
    # Read back: the prefix, never the token.
    for answer in (client.get(TOKENS), client.get(f"{TOKENS}{token.pk}/")):
        assert answer.status_code == 200
        assert raw not in answer.content.decode() and b'"token"' not in answer.content
    # And it works.
    assert Client().get("/api/v1/teams/", **_auth(raw)).status_code == 200


def test_the_default_expiry_is_90_days_and_null_means_never(api_as, teammate):
    client = api_as(teammate)
    now = datetime.now(UTC)
    default = client.post(TOKENS, {"name": "a"}, format="json").json()
    expires = datetime.fromisoformat(default["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=89) < expires - now < timedelta(days=90, minutes=1)
    never = client.post(TOKENS, {"name": "b", "expires_at": None}, format="json").json()
    assert never["expires_at"] is None and never["state"] == "active"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "a", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "a", "expires_at": "not a time"}, "expires_at"),
    ],
)
def test_bad_creations_are_400_with_a_reason(api_as, teammate, body, field):
    response = api_as(teammate).post(TOKENS, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not ApiToken.objects.filter(name="a").exists()


def test_the_web_page_shows_a_new_token_once(teammate):
    client = _web(teammate)
    empty = client.get("/account/tokens/")
    assert empty.status_code == 200 and "No API tokens yet" in empty.content.decode()
    created = client.post("/account/tokens/", {"name": "laptop", "lifetime": "30"})
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=teammate)
    raw = created.content.decode().split('readonly value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("bwt_") and hash_token(raw) == token.token_hash
    assert "not shown again" in created.content.decode()
    assert timedelta(days=29) < token.expires_at - datetime.now(UTC) < timedelta(days=30)
    again = client.get("/account/tokens/").content.decode()
    assert raw not in again and token.prefix in again and "laptop" in again


def test_the_web_page_refuses_a_nameless_token_with_a_sentence(teammate):
    response = _web(teammate).post("/account/tokens/", {"name": " ", "lifetime": "90"}, follow=True)
    assert "Give the token a name" in response.content.decode()
    response = _web(teammate).post(
        "/account/tokens/", {"name": "x", "lifetime": "forever"}, follow=True
    )
    assert "Choose how long" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_lists_tokens_without_hash_and_shows_a_new_one_once(admin, teammate):
    token, raw = create_token(teammate, name="ci")
    client = _web(admin)
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert "ci" in listing and token.prefix in listing
    assert token.token_hash not in listing and raw not in listing
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert token.token_hash not in detail and raw not in detail
    response = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": teammate.pk, "name": "from admin", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    made = ApiToken.objects.get(name="from admin")
    shown = response.content.decode()
    assert "not shown again" in shown and made.prefix in shown
    new_raw = shown.split("not shown again: ", 1)[1].split()[0]
    assert hash_token(new_raw) == made.token_hash
    assert made.token_hash not in client.get("/admin/accounts/apitoken/").content.decode()
    # The revoke action.
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


# --- Expiry and revocation ------------------------------------------------------------------


def test_an_expired_token_is_401_saying_so(teammate):
    token, raw = create_token(
        teammate, name="old", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=datetime.now(UTC) - timedelta(1))
    response = Client().get("/api/v1/teams/", **_auth(raw))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"] and token.prefix in response.json()["detail"]


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_a_revoked_token_is_401_saying_so(api_as, teammate, scheme):
    token, raw = create_token(teammate, name="laptop")
    client = Client()
    assert client.get("/api/v1/teams/", **_auth(raw, scheme)).status_code == 200
    response = api_as(teammate).delete(f"{TOKENS}{token.pk}/")
    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None  # soft: the row stays
    response = client.get("/api/v1/teams/", **_auth(raw, scheme))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    # Revoking again changes nothing and records nothing more.
    assert api_as(teammate).delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).count() == 1


def test_creation_and_revocation_are_audited_without_the_token(api_as, teammate):
    raw = api_as(teammate).post(TOKENS, {"name": "ci"}, format="json").json()["token"]
    token = ApiToken.objects.get(name="ci")
    api_as(teammate).delete(f"{TOKENS}{token.pk}/")
    created = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    revoked = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    for event in (created, revoked):
        assert event.actor == teammate and event.target_id == str(token.pk)
        assert event.detail["prefix"] == token.prefix and raw not in str(event.detail)


def test_last_use_is_recorded_at_most_once_a_minute(teammate):
    token, raw = create_token(teammate, name="ci")
    assert token.last_used_at is None
    Client().get("/api/v1/teams/", **_auth(raw))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    Client().get("/api/v1/teams/", **_auth(raw))
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    Client().get("/api/v1/teams/", **_auth(raw))
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=1)


# --- Owners only (personas) -----------------------------------------------------------------


def test_people_list_and_revoke_only_their_own_tokens(api_as, owner, teammate, outsider):
    mine, _ = create_token(teammate, name="mine")
    theirs, theirs_raw = create_token(owner, name="theirs")
    listed = api_as(teammate).get(TOKENS).json()
    names = {row["name"] for row in listed["results"]} if "results" in listed else set()
    names = names or {row["name"] for row in listed}
    assert "mine" in names and "theirs" not in names
    for persona in (teammate, outsider):
        assert api_as(persona).get(f"{TOKENS}{theirs.pk}/").status_code == 404
        assert api_as(persona).delete(f"{TOKENS}{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert Client().get("/api/v1/teams/", **_auth(theirs_raw)).status_code == 200
    # The web page neither lists nor revokes someone else's.
    client = _web(teammate)
    assert "theirs" not in client.get("/account/tokens/").content.decode()
    refused = client.post("/account/tokens/", {"action": "revoke", "token": theirs.pk}, follow=True)
    assert "No such token of yours" in refused.content.decode()
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    done = client.post("/account/tokens/", {"action": "revoke", "token": mine.pk}, follow=True)
    assert "revoked" in done.content.decode()
    mine.refresh_from_db()
    assert mine.revoked_at is not None


def test_staff_may_revoke_anyones_token(api_as, admin, owner):
    token, raw = create_token(owner, name="leaked")
    assert api_as(admin).get(f"{TOKENS}{token.pk}/").json()["user"] == owner.username
    assert api_as(admin).delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert Client().get("/api/v1/teams/", **_auth(raw)).status_code == 401
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert event.actor == admin and event.detail["user"] == owner.username


def test_anonymous_callers_get_401(db):
    assert Client().get(TOKENS).status_code == 401
    assert Client().post(TOKENS, {"name": "x"}).status_code == 401


# --- Guessing is throttled; a valid token never is ------------------------------------------


def test_bad_tokens_are_429_with_retry_after_while_a_valid_token_still_works(settings, teammate):
    settings.BATCHWATCH_BAD_CREDENTIAL_LIMIT = 3
    settings.BATCHWATCH_BAD_CREDENTIAL_WINDOW_SECONDS = 60
    _, raw = create_token(teammate, name="ci")
    client = Client(REMOTE_ADDR="203.0.113.7")
    for attempt in range(3):
        response = client.get("/api/v1/teams/", **_auth(f"bwt_guess{attempt}"))
        assert response.status_code == 401, attempt
    for scheme in ("Token", "Bearer"):
        response = client.get("/api/v1/teams/", **_auth("bwt_guess-again", scheme))
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "wrong credential" in response.json()["detail"]
    # The same address with a valid token: answered, never counted.
    for _ in range(5):
        assert client.get("/api/v1/teams/", **_auth(raw)).status_code == 200
    # Another address is not affected.
    other = Client(REMOTE_ADDR="198.51.100.9")
    assert other.get("/api/v1/teams/", **_auth("bwt_nope")).status_code == 401


# --- Calendar feeds -------------------------------------------------------------------------


def _rotation_feed(rotation) -> str:
    return f"/ical/rotations/{rotation.slug}.ics?token={rotation.feed_token}"


def test_a_rotations_feed_link_is_shown_only_to_its_team_and_staff(
    rotation, teammate, owner, outsider, admin
):
    for persona in (teammate, owner, admin):
        page = _web(persona).get(f"/rotations/{rotation.slug}/").content.decode()
        assert rotation.feed_token in page and "Replace the link" in page, persona
    page = _web(outsider).get(f"/rotations/{rotation.slug}/")
    assert page.status_code == 200 and "cal-bar" in page.content.decode()  # the schedule
    assert rotation.feed_token not in page.content.decode()
    assert "/ical/rotations/" not in page.content.decode()


def test_the_team_rotates_a_rotations_feed_and_the_old_link_stops_working(
    rotation, teammate, outsider
):
    old_link, old_token = _rotation_feed(rotation), rotation.feed_token
    assert Client().get(old_link).status_code == 200
    refused = _web(outsider).post(
        f"/rotations/{rotation.slug}/", {"action": "rotate-feed"}, follow=True
    )
    assert "Only members of the rotation" in refused.content.decode()
    rotation.refresh_from_db()
    assert rotation.feed_token == old_token
    done = _web(teammate).post(
        f"/rotations/{rotation.slug}/", {"action": "rotate-feed"}, follow=True
    )
    assert "old one no longer works" in done.content.decode()
    rotation.refresh_from_db()
    assert rotation.feed_token != old_token and rotation.feed_token in done.content.decode()
    assert Client().get(old_link).status_code == 404
    assert Client().get(_rotation_feed(rotation)).status_code == 200
    event = AuditEvent.objects.get(action=Action.FEED_TOKEN_ROTATED)
    assert event.actor == teammate and event.team == rotation.team
    assert rotation.feed_token not in str(event.detail)


def test_a_person_rotates_their_own_feed_and_old_links_stop_working(rotation, teammate, owner):
    old_token = person_feed_token(teammate)
    old_link = f"/ical/people/{teammate.username}.ics?token={old_token}"
    assert Client().get(old_link).status_code == 200  # links from before secrets still work
    page = _web(teammate).get("/rotations/").content.decode()
    assert old_token in page and f"/ical/people/{teammate.username}.ics" in page
    assert f"/ical/people/{owner.username}.ics" not in page  # one's own link only
    done = _web(teammate).post("/rotations/", {"action": "rotate-feed"}, follow=True)
    assert "old one no longer works" in done.content.decode()
    new_token = person_feed_token(teammate)
    assert new_token != old_token and new_token in done.content.decode()
    assert Client().get(old_link).status_code == 404
    new_link = f"/ical/people/{teammate.username}.ics?token={new_token}"
    assert Client().get(new_link).status_code == 200
    # Another person's link is untouched, and cannot be had with this one's token.
    assert (
        Client()
        .get(f"/ical/people/{owner.username}.ics?token={person_feed_token(owner)}")
        .status_code
        == 200
    )
    assert Client().get(f"/ical/people/{owner.username}.ics?token={new_token}").status_code == 404
    event = AuditEvent.objects.get(action=Action.FEED_TOKEN_ROTATED)
    assert event.actor == teammate and event.detail == {"feed": "person"}
