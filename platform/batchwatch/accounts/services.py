"""Writes of personal credentials, preferences, contact methods and notification rules. Each
runs in one transaction with its audit event (display preferences are not audited)."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest

from batchwatch.accounts.models import (
    CODE_ATTEMPTS,
    CODE_DIGITS,
    CODE_LIFETIME,
    DEFAULT_LIFETIME,
    PREFIX_LENGTH,
    SEND_INTERVAL,
    ApiToken,
    ContactMethod,
    FeedSecret,
    NotificationRule,
    Profile,
    generate_push_topic,
    generate_token,
    hash_code,
    hash_token,
)
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.core.annotations import Actor

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Marks "no expiry given": the default lifetime applies (None means "never expires").
DEFAULT = object()
# Writing last_used_at on every request would make each API call a write; once a minute is
# precise enough to tell a token in use from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)
NAME_MAX: int = ApiToken._meta.get_field("name").max_length or 100


def create_token(
    user: User,
    *,
    name: str,
    expires_at: datetime | object | None = DEFAULT,
    by: Actor = None,
    actor_name: str = "",
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns ``(token, raw)``. Only the hash is stored: show
    ``raw`` once. ``expires_at`` defaults to 90 days from now; ``None`` never expires.
    ``by`` is who created it (default: the user himself); ``actor_name`` names an actor that
    is no user (``"cli"``)."""
    now = datetime.now(UTC)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name that says what uses it."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"A name has at most {NAME_MAX} characters."})
    expiry = (
        now + DEFAULT_LIFETIME if expires_at is DEFAULT else cast("datetime | None", expires_at)
    )
    if expiry is not None and expiry <= now:
        raise ValidationError({"expires_at": "An expiry must be in the future."})
    raw = generate_token()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            token_hash=hash_token(raw),
            expires_at=expiry,
        )
        record_event(
            AuditEvent.Action.TOKEN_CREATED,
            actor=by if by is not None else (None if actor_name else user),
            actor_name=actor_name,
            target=token,
            detail={
                "user": user.get_username(),
                "prefix": token.prefix,
                "expires_at": expiry.isoformat() if expiry else None,
            },
            request=request,
        )
    return token, raw


def revoke_token(
    token: ApiToken,
    *,
    by: Actor = None,
    actor_name: str = "",
    request: HttpRequest | None = None,
) -> ApiToken:
    """Revoke ``token`` (soft: the row stays, for the audit log and the owner's list). Revoking
    a revoked token changes nothing and records nothing. Callers check permission first
    (``accounts.permissions.can_revoke_token``)."""
    now = datetime.now(UTC)
    with transaction.atomic():
        # Only the first of two concurrent revocations writes and records.
        if not ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now):
            token.refresh_from_db(fields=["revoked_at"])
            return token
        token.revoked_at = now
        record_event(
            AuditEvent.Action.TOKEN_REVOKED,
            actor=by,
            actor_name=actor_name,
            target=token,
            detail={"user": token.user.get_username(), "prefix": token.prefix},
            request=request,
        )
    return token


def touch_token(token: ApiToken, *, now: datetime) -> None:
    """Note that ``token`` was used, at most once per ``TOUCH_EVERY``."""
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def rotate_feed_secret(user: User, *, request: HttpRequest | None = None) -> FeedSecret:
    """A new secret for ``user``'s personal calendar feed: every earlier link stops working."""
    now = datetime.now(UTC)
    with transaction.atomic():
        feed, _ = FeedSecret.objects.update_or_create(
            user=user, defaults={"secret": secrets.token_urlsafe(24), "rotated_at": now}
        )
        record_event(
            AuditEvent.Action.FEED_TOKEN_ROTATED,
            actor=user,
            target=user,
            target_repr=f"calendar feed of {user.get_username()}",
            detail={"feed": "person"},
            request=request,
        )
    return feed


def profile_time_zone_set(user: User, *, time_zone: str) -> Profile:
    """Set the zone ``user``'s pages show times in (``""``: their browser's). Only their own:
    callers pass the signed-in person. A display preference, so not audited."""
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.time_zone = (time_zone or "").strip()
        profile.full_clean()
        profile.save(update_fields=["time_zone", "updated_at"])
    return profile


# Contact methods -----------------------------------------------------------------------------

# Kinds that do not wake anyone: a new person's first such method also takes low urgency.
QUIET_KINDS = frozenset(
    {
        ContactMethod.Kind.EMAIL,
        ContactMethod.Kind.SLACK_DM,
        ContactMethod.Kind.TEAMS,
        ContactMethod.Kind.WEBHOOK,
    }
)


class SendTooSoon(Exception):
    """A code or a test page was sent to this method less than ``SEND_INTERVAL`` ago."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        self.message = (
            f"A message went to this contact method moments ago; try again in {retry_after} s."
        )
        super().__init__(self.message)


def _method_event(
    method: ContactMethod, change: str, *, by: Actor, request: HttpRequest | None
) -> None:
    # The address is personal data, not needed to follow who changed what: kind and label.
    record_event(
        AuditEvent.Action.CONTACT_METHOD_CHANGED,
        actor=by,
        target=method,
        target_repr=f"{method.get_kind_display()} of {method.user.get_username()}",
        detail={"change": change, "kind": method.kind, "label": method.label},
        request=request,
    )


def contact_method_create(
    user: User,
    *,
    kind: str,
    address: str = "",
    label: str = "",
    by: Actor = None,
    request: HttpRequest | None = None,
) -> ContactMethod:
    """A new, unverified contact method of ``user``. The address is checked and normalised
    for its kind (E.164 for phones); an empty push topic becomes a random one."""
    address = (address or "").strip()
    if kind == ContactMethod.Kind.PUSH and not address:
        address = generate_push_topic()
    method = ContactMethod(user=user, kind=kind, address=address, label=(label or "").strip())
    with transaction.atomic():
        method.full_clean()
        method.save()
        _method_event(method, "created", by=by, request=request)
    return method


def contact_method_update(
    method: ContactMethod,
    *,
    label: str | None = None,
    address: str | None = None,
    by: Actor = None,
    request: HttpRequest | None = None,
) -> ContactMethod:
    """Change a method's label or address (its kind stays: add another method instead). A new
    address is unverified until a code sent there comes back; its rules wait until then."""
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().select_related("user").get(pk=method.pk)
        before = method.address
        if label is not None:
            method.label = label.strip()
        if address is not None:
            method.address = address.strip()
        method.full_clean()
        if method.address != before:
            method.verified_at = None
            method.code_hash, method.code_expires_at, method.code_attempts_left = "", None, 0
        method.save()
        _method_event(method, "updated", by=by, request=request)
    return method


def contact_method_delete(
    method: ContactMethod, *, by: Actor = None, request: HttpRequest | None = None
) -> None:
    """Remove a method and the rules that used it."""
    with transaction.atomic():
        _method_event(method, "deleted", by=by, request=request)
        method.delete()


def contact_method_mark_sent(method: ContactMethod, *, now: datetime) -> None:
    """Note that a message goes to ``method`` now; raises ``SendTooSoon`` when one went less
    than ``SEND_INTERVAL`` ago. Call in the transaction that enqueues the message: the
    conditional UPDATE lets one of two concurrent requests through."""
    allowed = ContactMethod.objects.filter(pk=method.pk).exclude(
        last_sent_at__gt=now - SEND_INTERVAL
    )
    if not allowed.update(last_sent_at=now):
        last = ContactMethod.objects.filter(pk=method.pk).values_list("last_sent_at", flat=True)
        sent = last.first() or now
        raise SendTooSoon(max(1, int((sent + SEND_INTERVAL - now).total_seconds()) + 1))
    method.last_sent_at = now


def contact_method_verification_start(method: ContactMethod, *, now: datetime) -> str:
    """A new code for ``method`` (the previous one stops working); returns it for the caller
    to send, in this transaction, through the outbox (``notify.services_contact``). Only its
    keyed hash is stored. Raises ``SendTooSoon`` (see ``contact_method_mark_sent``)."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        contact_method_mark_sent(method, now=now)
        method.code_hash = hash_code(method.pk, code)
        method.code_expires_at = now + CODE_LIFETIME
        method.code_attempts_left = CODE_ATTEMPTS
        method.save(update_fields=["code_hash", "code_expires_at", "code_attempts_left"])
    return code


def _code_problem(method: ContactMethod, code: str, now: datetime) -> str:
    """Why ``code`` does not verify ``method`` ('' when it does); spends a try when wrong."""
    if not method.code_hash or method.code_attempts_left <= 0:
        return "No code is waiting for this method (or it was tried too often): send a new one."
    if method.code_expires_at is None or method.code_expires_at <= now:
        return "This code has expired: send a new one."
    if not hmac.compare_digest(method.code_hash, hash_code(method.pk, code.strip())):
        method.code_attempts_left -= 1
        method.save(update_fields=["code_attempts_left"])
        if method.code_attempts_left <= 0:
            return "Wrong code, and that was the last try: send a new one."
        return f"Wrong code; {method.code_attempts_left} tries left."
    return ""


def contact_method_verify(
    method: ContactMethod,
    *,
    code: str,
    now: datetime,
    by: Actor = None,
    request: HttpRequest | None = None,
) -> ContactMethod:
    """Verify ``method`` with the code sent to it, or raise a ValidationError on ``code``
    that says why not (wrong, with the tries left; expired; none waiting). A wrong try is
    counted even though the call fails. The first verified method of a person gets default
    rules (``_rules_default``). Verifying a verified method changes nothing."""
    with transaction.atomic():
        method = ContactMethod.objects.select_for_update().select_related("user").get(pk=method.pk)
        if method.verified_at is not None:
            return method
        problem = _code_problem(method, code or "", now)
        if not problem:
            method.verified_at = now
            method.code_hash, method.code_expires_at, method.code_attempts_left = "", None, 0
            # The code came back: a test page right after it is no flood.
            method.last_sent_at = None
            method.save(
                update_fields=[
                    "verified_at",
                    "code_hash",
                    "code_expires_at",
                    "code_attempts_left",
                    "last_sent_at",
                ]
            )
            _method_event(method, "verified", by=by, request=request)
            _rules_default(method)
    # Raised after the commit: the try a wrong code spent must stay spent.
    if problem:
        raise ValidationError({"code": problem})
    return method


def _rules_default(method: ContactMethod) -> None:
    """Defaults for a person's urgencies that have no rule yet, written when a method of
    theirs is verified (so at their first verified method, and for low urgency at their first
    quiet one): high urgency reaches this method at once; low urgency too when the method
    does not wake anyone (e-mail, Slack, Teams, webhook). Until then a person is paged at
    their account e-mail. Called in the verification's transaction."""
    taken = set(
        NotificationRule.objects.filter(user_id=method.user_id).values_list("urgency", flat=True)
    )
    wanted = [NotificationRule.Urgency.HIGH]
    if method.kind in QUIET_KINDS:
        wanted.append(NotificationRule.Urgency.LOW)
    NotificationRule.objects.bulk_create(
        NotificationRule(user_id=method.user_id, urgency=urgency, contact_method=method)
        for urgency in wanted
        if urgency not in taken
    )


# Notification rules and quiet hours ----------------------------------------------------------


def _rule_event(
    rule: NotificationRule, change: str, *, by: Actor, request: HttpRequest | None
) -> None:
    record_event(
        AuditEvent.Action.NOTIFICATION_RULE_CHANGED,
        actor=by,
        target=rule,
        target_repr=f"{rule.urgency}-urgency rule of {rule.user.get_username()}",
        detail={
            "change": change,
            "urgency": rule.urgency,
            "kind": rule.contact_method.kind,
            "delay_minutes": rule.delay_minutes,
        },
        request=request,
    )


def notification_rule_create(
    user: User,
    *,
    urgency: str,
    contact_method: ContactMethod,
    delay_minutes: int = 0,
    position: int | None = None,
    by: Actor = None,
    request: HttpRequest | None = None,
) -> NotificationRule:
    """A rule of ``user``'s: reach them by ``contact_method`` (theirs, verified)
    ``delay_minutes`` after a page of ``urgency`` began; last among its urgency's rules unless
    ``position`` says."""
    with transaction.atomic():
        if position is None:
            top = NotificationRule.objects.filter(user=user, urgency=urgency).aggregate(
                top=Max("position")
            )["top"]
            position = 0 if top is None else top + 1
        rule = NotificationRule(
            user=user,
            urgency=urgency,
            contact_method=contact_method,
            delay_minutes=delay_minutes,
            position=position,
        )
        rule.full_clean()
        rule.save()
        _rule_event(rule, "created", by=by, request=request)
    return rule


def notification_rule_update(
    rule: NotificationRule,
    *,
    urgency: str | None = None,
    contact_method: ContactMethod | None = None,
    delay_minutes: int | None = None,
    position: int | None = None,
    by: Actor = None,
    request: HttpRequest | None = None,
) -> NotificationRule:
    """Change what is given of a rule; checked as a new one is."""
    with transaction.atomic():
        if urgency is not None:
            rule.urgency = urgency
        if contact_method is not None:
            rule.contact_method = contact_method
        if delay_minutes is not None:
            rule.delay_minutes = delay_minutes
        if position is not None:
            rule.position = position
        rule.full_clean()
        rule.save()
        _rule_event(rule, "updated", by=by, request=request)
    return rule


def notification_rule_delete(
    rule: NotificationRule, *, by: Actor = None, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        _rule_event(rule, "deleted", by=by, request=request)
        rule.delete()


def profile_quiet_hours_set(
    user: User,
    *,
    start: time | None,
    end: time | None,
    by: Actor = None,
    request: HttpRequest | None = None,
) -> Profile:
    """Set ``user``'s quiet hours (both None: none), on the wall clock of their profile's
    zone. Audited: it decides when low-urgency pages reach them."""
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.quiet_start, profile.quiet_end = start, end
        profile.full_clean()
        profile.save(update_fields=["quiet_start", "quiet_end", "updated_at"])
        record_event(
            AuditEvent.Action.NOTIFICATION_RULE_CHANGED,
            actor=by,
            target=profile,
            target_repr=f"quiet hours of {user.get_username()}",
            detail={
                "change": "quiet_hours",
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
            },
            request=request,
        )
    return profile
