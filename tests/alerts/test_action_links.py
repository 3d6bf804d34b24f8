"""One-time action links (``/a/<token>/``): made for a page, shown by GET without changing
anything, used once by the confirmation page's POST as the link's user, and refused with a
sentence (nothing changed) when unknown, altered, used, expired, opened by someone else signed
in, or no longer applying to the incident."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from batchwatch.alerts import services
from batchwatch.alerts.action_links import ActionLinkRefused, action_token_parse
from batchwatch.alerts.models import ActionLink, Incident, TimelineEntry
from batchwatch.alerts.services.action_link_use import action_link_use
from batchwatch.alerts.services.action_links import action_links_create, action_links_prune
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0, firing, receive, run_until

FAILING = {"alertname": "LedgerCloseFailed", "job": "ledger_close", "team": "ledger"}


def now() -> datetime:
    return datetime.now(UTC)


def open_incident(labels=FAILING) -> Incident:
    result = receive([firing(labels, severity="critical")], T0)
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))  # flush, page step 1
    return Incident.objects.get(pk=result.incidents_opened[0])


def path_of(url: str) -> str:
    return urlsplit(url).path


def entries(incident: Incident, kind: str) -> list[TimelineEntry]:
    return list(TimelineEntry.objects.filter(incident=incident, kind=kind))


def state_of(incident: Incident) -> tuple:
    incident.refresh_from_db()
    return (
        incident.state,
        incident.escalation_token,
        TimelineEntry.objects.filter(incident=incident).count(),
        ActionLink.objects.filter(used_at__isnull=False).count(),
    )


@pytest.fixture
def incident(route_tree, people) -> Incident:
    return open_incident()


@pytest.fixture
def links(incident, people) -> dict[str, str]:
    urls = action_links_create(
        incident=incident, user_id=people["alice"].pk, channel="email", now=now()
    )
    return {action: path_of(url) for action, url in urls.items()}


# --- making links -----------------------------------------------------------------------


def test_links_are_made_in_one_query_and_only_their_hashes_are_stored(
    incident, people, django_assert_num_queries, settings
):
    with django_assert_num_queries(1):
        urls = action_links_create(
            incident=incident, user_id=people["alice"].pk, channel="sms", now=T0
        )
    assert sorted(urls) == ["acknowledge", "resolve", "snooze"]
    assert all(url.startswith(settings.BATCHWATCH_BASE_URL + "/a/") for url in urls.values())
    stored = list(
        ActionLink.objects.filter(channel="sms").values_list(
            "secret_hash", "expires_at", "escalation_token"
        )
    )
    assert len(stored) == 3
    for url in urls.values():
        secret = action_token_parse(url.rstrip("/").rsplit("/", 1)[-1]).secret
        assert all(secret not in row[0] for row in stored)
    assert {row[1] for row in stored} == {T0 + timedelta(hours=24)}
    assert {row[2] for row in stored} == {incident.escalation_token}


def test_no_acknowledge_link_for_an_acknowledged_incident_and_none_for_a_resolved_one(
    incident, people
):
    services.incident_acknowledge(incident, now=T0 + timedelta(minutes=1), actor=people["bob"])
    incident.refresh_from_db()
    made = action_links_create(
        incident=incident, user_id=people["alice"].pk, channel="push", now=T0
    )
    assert sorted(made) == ["resolve", "snooze"]
    services.incident_resolve(incident, now=T0 + timedelta(minutes=2), force=True)
    incident.refresh_from_db()
    assert (
        action_links_create(incident=incident, user_id=people["alice"].pk, channel="push", now=T0)
        == {}
    )


def test_an_e_mail_page_carries_the_links_and_they_act(client, route_tree, people):
    incident = open_incident()  # step 1 e-mails alice, on call
    page = Notification.objects.get(incident=incident, purpose="page")
    assert page.address == "alice@example.com"
    links = page.payload["action_links"]
    assert sorted(links) == ["acknowledge", "resolve", "snooze"]
    assert f"Acknowledge: {links['acknowledge']}" in page.body
    assert ActionLink.objects.filter(user=people["alice"], channel="email").count() == 3
    token = action_token_parse(links["acknowledge"].rstrip("/").rsplit("/", 1)[-1])
    action_link_use(token=token, viewer_id=None, now=T0 + timedelta(minutes=1))
    assert len(entries(incident, TimelineEntry.Kind.ACKNOWLEDGED)) == 1


def test_links_expired_a_week_ago_are_pruned(incident, people):
    action_links_create(incident=incident, user_id=people["alice"].pk, channel="sms", now=T0)
    assert action_links_prune(now=T0 + timedelta(days=8)) == 0  # expire T0 + 1 day: kept
    assert action_links_prune(now=T0 + timedelta(days=8, seconds=31)) == 6
    assert not ActionLink.objects.exists()


# --- GET changes nothing ----------------------------------------------------------------


def test_opening_a_link_shows_what_it_would_do_and_changes_nothing(client, incident, links):
    before = state_of(incident)
    response = client.get(links["acknowledge"])
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Acknowledge incident #{incident.pk}?" in page
    assert incident.title in page and "Opening it changed nothing" in page
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert response["Cache-Control"] == "no-store"
    assert client.head(links["acknowledge"]).status_code == 200
    assert state_of(incident) == before


def test_a_resolve_link_says_how_many_alerts_still_fire(client, incident, links):
    page = client.get(links["resolve"]).content.decode()
    assert "1 of its alert still fires" in page.replace("  ", " ")
    assert 'name="force" value="1"' in page


# --- POST acts once ---------------------------------------------------------------------


def test_the_confirmation_acknowledges_once_as_the_links_user_with_the_channel(
    client, incident, links, people
):
    response = client.post(links["acknowledge"])
    assert response.status_code == 200
    assert f"Incident #{incident.pk} acknowledged" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    assert incident.acknowledged_by == people["alice"]
    [entry] = entries(incident, TimelineEntry.Kind.ACKNOWLEDGED)
    assert entry.actor == people["alice"]
    assert entry.actor_label == "alice (link in e-mail)"
    assert entry.data == {"channel": "email", "via": "link"}
    before = state_of(incident)
    replay = client.post(links["acknowledge"])
    assert replay.status_code == 410
    assert "already used" in replay.content.decode()
    assert state_of(incident) == before
    assert len(entries(incident, TimelineEntry.Kind.ACKNOWLEDGED)) == 1


def test_the_same_user_signed_in_may_use_their_link(client, incident, links, people):
    client.force_login(people["alice"])
    assert client.post(links["snooze"]).status_code == 200
    incident.refresh_from_db()
    assert incident.snoozed_until is not None
    [entry] = entries(incident, TimelineEntry.Kind.SNOOZED)
    assert entry.data == {"channel": "email", "via": "link"}


def test_a_snooze_link_snoozes_for_an_hour(incident, people):
    at = now()
    urls = action_links_create(incident=incident, user_id=people["alice"].pk, channel="sms", now=at)
    token = action_token_parse(urls["snooze"].rstrip("/").rsplit("/", 1)[-1])
    action_link_use(token=token, viewer_id=None, now=at)
    incident.refresh_from_db()
    assert incident.snoozed_until == at + timedelta(hours=1)
    [entry] = entries(incident, TimelineEntry.Kind.SNOOZED)
    assert entry.actor_label == "alice (link in SMS)"


def test_a_resolve_link_resolves_with_its_firing_alerts_once_confirmed(client, incident, links):
    response = client.post(links["resolve"], {"force": "1"})
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED
    assert len(entries(incident, TimelineEntry.Kind.RESOLVED)) == 1


def test_resolving_while_alerts_fire_unconfirmed_changes_nothing_and_keeps_the_link(
    client, incident, links
):
    before = state_of(incident)
    response = client.post(links["resolve"])
    assert response.status_code == 409
    assert "still fire" in response.content.decode()
    assert state_of(incident) == before
    assert client.post(links["resolve"], {"force": "1"}).status_code == 200


def test_the_post_needs_the_confirmation_pages_csrf_token(incident, links):
    strict = Client(enforce_csrf_checks=True)
    before = state_of(incident)
    assert strict.post(links["acknowledge"]).status_code == 403
    assert state_of(incident) == before
    page = strict.get(links["acknowledge"]).content.decode()
    csrf = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    assert strict.post(links["acknowledge"], {"csrfmiddlewaretoken": csrf}).status_code == 200


def test_a_push_link_acts_from_the_apps_button_without_the_page(incident, people):
    """ntfy's action buttons POST from the phone's app: no page, no CSRF cookie."""
    urls = action_links_create(
        incident=incident, user_id=people["alice"].pk, channel="push", now=now()
    )
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(path_of(urls["acknowledge"])).status_code == 200
    [entry] = entries(incident, TimelineEntry.Kind.ACKNOWLEDGED)
    assert entry.actor_label == "alice (link in push)"
    assert strict.post(path_of(urls["snooze"])).status_code == 409  # acknowledged since


# --- refusals: each changes nothing and says why ----------------------------------------


def test_a_forged_or_malformed_token_is_refused(client, incident, links):
    before = state_of(incident)
    forged = f"/a/{incident.pk}-ack-{'x' * 32}/"
    for path in (forged, "/a/not-a-token/", f"/a/{incident.pk}-zzz-{'x' * 32}/"):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 404, path
            assert "This link is not valid" in response.content.decode()
    assert state_of(incident) == before


def test_an_expired_link_is_refused(client, incident, people):
    urls = action_links_create(
        incident=incident,
        user_id=people["alice"].pk,
        channel="email",
        now=now() - timedelta(hours=25),
    )
    before = state_of(incident)
    for method in (client.get, client.post):
        response = method(path_of(urls["acknowledge"]))
        assert response.status_code == 410
        assert "This link expired" in response.content.decode()
    assert state_of(incident) == before


def test_a_secret_behind_another_incidents_number_is_refused(client, incident, links):
    other = open_incident({**FAILING, "job": "ledger_open"})
    secret = links["acknowledge"].rstrip("/").rsplit("-", 1)[-1]
    before, other_before = state_of(incident), state_of(other)
    altered = links["acknowledge"].replace(f"/a/{incident.pk}-", f"/a/{other.pk}-")
    assert secret in altered
    for method in (client.get, client.post):
        response = method(altered)
        assert response.status_code == 400
        assert f"acknowledge incident #{incident.pk}" in response.content.decode()
    as_resolve = links["acknowledge"].replace("-ack-", "-res-")
    assert client.post(as_resolve).status_code == 400
    assert state_of(incident) == before and state_of(other) == other_before


def test_another_person_signed_in_is_told_the_link_is_not_theirs(client, incident, links, people):
    client.force_login(people["bob"])
    before = state_of(incident)
    for method in (client.get, client.post):
        response = method(links["acknowledge"])
        assert response.status_code == 403
        assert "sent to alice" in response.content.decode()
    assert state_of(incident) == before


def test_a_link_of_someone_no_longer_allowed_is_refused(client, incident, people, outsider):
    urls = action_links_create(incident=incident, user_id=outsider.pk, channel="email", now=now())
    before = state_of(incident)
    response = client.post(path_of(urls["acknowledge"]))
    assert response.status_code == 403
    assert "may no longer act" in response.content.decode()
    assert state_of(incident) == before


def test_a_link_is_stale_once_someone_else_acted(client, incident, links, people):
    services.incident_acknowledge(incident, now=now(), actor=people["bob"])
    before = state_of(incident)
    for action in ("acknowledge", "resolve", "snooze"):
        response = client.post(links[action], {"force": "1"})
        assert response.status_code == 409, action
        assert "already acknowledged by bob" in response.content.decode()
    assert state_of(incident) == before
    services.incident_resolve(incident, now=now(), actor=people["bob"], force=True)
    response = client.get(links["snooze"])
    assert response.status_code == 409
    assert "already resolved by bob" in response.content.decode()


# --- two POSTs of one link act once ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_one_link_act_once(route_tree, people):
    incident = open_incident()
    at = now()
    urls = action_links_create(
        incident=incident, user_id=people["alice"].pk, channel="email", now=at
    )
    token = action_token_parse(urls["acknowledge"].rstrip("/").rsplit("/", 1)[-1])
    barrier, outcomes = threading.Barrier(4), []

    def use():
        barrier.wait()
        try:
            action_link_use(token=token, viewer_id=None, now=at)
            outcomes.append("acted")
        except ActionLinkRefused as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes, key=str) == [410, 410, 410, "acted"]
    assert len(entries(incident, TimelineEntry.Kind.ACKNOWLEDGED)) == 1
    assert ActionLink.objects.filter(used_at__isnull=False).count() == 1
