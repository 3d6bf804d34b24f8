"""Integration secrets encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

A database dump or a read-only SQL account must not be enough to post as our Slack bot or to
forge Slack's signatures. So stored secrets are encrypted with keys that live in the
environment, not in the database: ``BATCHWATCH_SECRET_KEYS``, comma-separated Fernet keys.
The first encrypts; every one decrypts (``MultiFernet``), which is how keys rotate: put a new
key first, keep the old ones, run ``manage.py rotate_secret_keys``, then drop the old ones.

Unset, the key is derived from Django's ``SECRET_KEY``: development and tests need no setup,
and the secrets are still not in the dump. Production should set its own keys (``check
--deploy`` warns), because rotating ``SECRET_KEY`` (sessions, signed links) would otherwise
make the stored secrets unreadable. The derived key also decrypts (last) when keys are set,
so that moving to keys of one's own is one ``rotate_secret_keys``.

Stored values are ``PREFIX`` followed by the Fernet token, so encrypted and legacy
plain-text rows are told apart (legacy rows read as they are until encrypted again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

logger = logging.getLogger("batchwatch.crypto")

PREFIX = "bwenc:v1:"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts (a key was dropped too
    early, or the database came from another installation)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key used when ``BATCHWATCH_SECRET_KEYS`` is unset: an HMAC of SECRET_KEY
    under a purpose of its own, so it is not the key that signs sessions."""
    digest = hmac.new(
        secret_key.encode(), b"batchwatch.core.crypto: secrets at rest", hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    # The derived key always decrypts, last: secrets written before the operator set keys of
    # their own stay readable until ``rotate_secret_keys`` re-encrypts them.
    derived = Fernet(derived_key(secret_key))
    return MultiFernet([*(Fernet(key) for key in keys), derived])


def fernet() -> MultiFernet:
    """The keys configured now (cached per configuration, so tests can change settings)."""
    return _fernet(tuple(settings.BATCHWATCH_SECRET_KEYS), settings.SECRET_KEY)


def is_encrypted(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    """``PREFIX`` + a Fernet token of ``plaintext`` under the first key. Empty stays empty:
    "not set" is no secret, and admin lists it without decrypting anything."""
    if not plaintext:
        return plaintext
    return PREFIX + fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    """The plain text of a stored value; a legacy plain-text value is returned as it is.
    Raises ``SecretUnreadable`` when no configured key decrypts it."""
    if not is_encrypted(stored):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with BATCHWATCH_SECRET_KEYS (was a key "
            "removed before `manage.py rotate_secret_keys` ran?)"
        ) from None


def reencrypt(stored: str) -> str:
    """``stored`` encrypted under the first key (legacy plain text is encrypted too).
    Raises ``SecretUnreadable`` like ``decrypt``."""
    if not stored:
        return stored
    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        token = fernet().rotate(stored[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with BATCHWATCH_SECRET_KEYS"
        ) from None
    return PREFIX + token.decode("ascii")
