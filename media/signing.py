"""Short-lived, signed, scoped portal URLs for media: the only way a browser gets a snapshot, a
clip or a camera's live stream.

A URL carries a token signed with the portal's secret (``django.core.signing``, a timestamped
HMAC) that names what it opens, the site it belongs to and the user it was made for. The view
that serves it checks, on every request:

1. the signature and the expiry it signs (``MEDIA_URL_MAX_AGE_SECONDS`` after it was made; live
   streams ``MEDIA_LIVE_URL_MAX_AGE_SECONDS``), so a tampered or expired URL is refused;
2. that the signed-in user is the one the URL was made for, so a URL copied to someone else
   opens nothing;
3. that this user may still see the site now: a member of the site's dealer, or an operator of
   an active station that monitors it (has an account for it). An operator removed from the
   station, or a station whose account was moved away, loses access at once, however fresh
   the URL.

Nothing else is trusted: the token is opaque to the browser and carries no storage path, camera
address or credential; those stay on the server.

Helpers for templates and views: ``media_url(item, user=...)`` for a snapshot or clip and
``live_url(camera, user=...)`` for a camera's live stream; ``MediaUrls(user)`` for a page that
makes many.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.urls import get_script_prefix, reverse
from django.utils.encoding import force_bytes

from customers.models import Camera, Customer

SALT = "media.signed-url.v1"

# What a token may open.
ITEM = "item"  # a MediaItem (snapshot or clip), by code
LIVE = "live"  # a camera's live stream (HLS): a playlist or segment under its relay path


class MediaUrlError(Exception):
    """A token the portal will not serve; ``status`` and ``reason`` go to the browser."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: ``kind`` of ``code`` at site ``customer_id``."""

    kind: str
    code: str
    customer_id: int
    user_id: int
    path: str = ""  # LIVE only: the playlist or segment, relative to the camera's stream


def _max_age(kind: str) -> int:
    if kind == LIVE:
        return settings.MEDIA_LIVE_URL_MAX_AGE_SECONDS
    return settings.MEDIA_URL_MAX_AGE_SECONDS


def sign(
    *,
    kind: str,
    code: Any,
    customer_id: int,
    user,
    path: str = "",
    expires_in: float | None = None,
) -> str:
    """The token for one thing at one site, for one user, good for ``expires_in`` seconds
    (the kind's setting by default)."""
    return MediaUrls(user, expires_in=expires_in).token(kind, code, customer_id, path=path)


class MediaUrls:
    """Signed URLs for one user, made together: an operator's site page makes two dozen, and
    what they share (the signer with its key, the URL around a token, the expiry) is worked out
    once here rather than per URL. Make one per page or response: the URLs' lifetime counts
    from when it is made.

    The tokens are what ``signing.dumps(payload, salt=SALT)`` makes, so ``signing.loads``
    reads them, but not compressed: a payload this small never shrinks, and zlib still costs
    its time.
    """

    def __init__(self, user, *, expires_in: float | None = None) -> None:
        self._user_id = user.pk
        self._signer = _signer(settings.SECRET_KEY)
        # reverse() uses the script prefix in force when the URLs are made.
        prefix = get_script_prefix()
        self._around = {
            ITEM: _url_around_token("media:item", prefix),
            LIVE: _url_around_token("media:live", prefix),
        }
        now = time.time()
        # Rounded up: a URL is good for at least its lifetime, never less.
        self._expires = {
            kind: math.ceil(now + (_max_age(kind) if expires_in is None else expires_in))
            for kind in (ITEM, LIVE)
        }

    def token(self, kind: str, code: Any, customer_id: int, *, path: str = "") -> str:
        payload = {
            "k": kind,
            "c": str(code),
            "s": customer_id,
            "u": self._user_id,
            "e": self._expires[kind],
        }
        if path:
            payload["p"] = path
        return self._signer.sign_object(payload, serializer=_CompactJSON)

    def item(self, code: Any, customer_id: int) -> str:
        """The URL of a snapshot or clip, by its code and site."""
        head, tail = self._around[ITEM]
        return f"{head}{self.token(ITEM, code, customer_id)}{tail}"

    def live(self, camera: Camera, *, path: str = "") -> str:
        """The URL of a camera's live HLS playlist (or, with ``path``, of a playlist or segment
        the relay named)."""
        head, tail = self._around[LIVE]
        token = self.token(LIVE, camera.code, camera.bridge.customer_id, path=path)
        return f"{head}{token}{tail}"


# Django's JSONSerializer's encoding, with the encoder made once: ``json.dumps`` with
# ``separators`` makes an encoder per call, a third of a token's cost.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class _CompactJSON(signing.JSONSerializer):
    def dumps(self, obj: Any) -> bytes:
        return _ENCODER.encode(obj).encode("latin-1")


class _Signer(signing.TimestampSigner):
    """Django's ``TimestampSigner``, its HMAC key derived once rather than for every token.

    ``Signer.signature`` derives the key from the salt and the secret (``salted_hmac``: one
    hash) and sets up an HMAC with it for each value; here that HMAC is set up once and copied
    per value. The signatures are the same; verifying goes through Django's own code
    (``verify``), fallback keys included.
    """

    def __init__(self, *, key: str, salt: str) -> None:
        super().__init__(key=key, salt=salt)
        hasher = getattr(hashlib, self.algorithm)
        derived = hasher(force_bytes(self.salt + "signer") + force_bytes(self.key)).digest()
        self._hmac = hmac.new(derived, digestmod=hasher)

    def signature(self, value: str, key: str | None = None) -> str:
        if key is not None:
            return super().signature(value, key)
        mac = self._hmac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


@functools.lru_cache(maxsize=4)
def _signer(secret: str) -> _Signer:
    return _Signer(key=secret, salt=SALT)


def media_url(item, *, user, expires_in: float | None = None) -> str:
    """The signed portal URL of a snapshot or clip (``media.MediaItem``), for ``user``."""
    return MediaUrls(user, expires_in=expires_in).item(item.code, item.customer_id)


def live_url(camera: Camera, *, user, path: str = "", expires_in: float | None = None) -> str:
    """The signed portal URL of a camera's live HLS playlist (or, with ``path``, of a playlist
    or segment the relay named), for ``user``."""
    return MediaUrls(user, expires_in=expires_in).live(camera, path=path)


# Where the token goes in a URL; any token's characters (base64url and ":") stand in a path
# as they are, so the URL around it is the same for every token.
_TOKEN_MARK = "TOKEN"


@functools.lru_cache(maxsize=32)
def _url_around_token(name: str, script_prefix: str) -> tuple[str, str]:
    # reverse() uses the script prefix in force; it is part of the key. The token is the
    # URL's last segment: split at the mark's last place (a prefix may hold the mark too).
    head, _, tail = reverse(name, args=[_TOKEN_MARK]).rpartition(_TOKEN_MARK)
    return head, tail


def verify(token: str, *, kind: str, user) -> Grant:
    """The grant of a token, or ``MediaUrlError`` (a 4xx: never a server error)."""
    try:
        payload = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise MediaUrlError(403, "This media link is not valid.") from None
    try:
        grant = Grant(
            kind=str(payload["k"]),
            code=str(payload["c"]),
            customer_id=int(payload["s"]),
            user_id=int(payload["u"]),
            path=str(payload.get("p", "")),
        )
        expires = float(payload["e"])
    except (KeyError, TypeError, ValueError):
        raise MediaUrlError(403, "This media link is not valid.") from None
    if grant.kind != kind:
        raise MediaUrlError(403, "This media link is not valid.")
    if time.time() >= expires:
        raise MediaUrlError(410, "This media link has expired. Reload the page for a new one.")
    if not user.is_authenticated or user.pk != grant.user_id:
        raise MediaUrlError(403, "This media link was made for someone else. Sign in as them.")
    if not may_see_site(user, grant.customer_id):
        raise MediaUrlError(403, "You may not see this site's media.")
    return grant


def may_see_site(user, customer_id: int) -> bool:
    """Whether ``user`` may see this site's media now: its dealer's people (any role), and
    operators of an active station that monitors the (active) site. One query."""
    if not user.is_authenticated:
        return False
    dealer_member = Q(dealer__memberships__user=user, dealer__is_active=True)
    operator = Q(
        status=Customer.Status.ACTIVE,
        accounts__station__memberships__user=user,
        accounts__station__is_active=True,
    )
    return Customer.objects.filter(Q(pk=customer_id) & (dealer_member | operator)).exists()
