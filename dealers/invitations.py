"""The kinds of invitation the portal knows, and finding one from its link's token.

Each concrete ``dealers.models.Invitation`` registers an ``InvitationKind`` (the dealer's team
here, in ``DealersConfig.ready``; a station's staff in the stations app's): what accepting
creates, whether a user already belongs, and where the new member goes next. The accept page
(``dealers.views.InvitationAcceptView``) and the services (``dealers.services.invitation_*``)
work for every registered kind, so a higher app adds invitations without a page of its own
for accepting them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import models
from django.http import HttpRequest

from dealers.models import Invitation


@dataclass(frozen=True)
class InvitationKind:
    model: type[Invitation]
    # (invitation, user, actor) -> the membership; runs inside the accepting transaction and
    # raises ValidationError when it cannot be (e.g. the user already belongs).
    grant: Callable[[Any, Any, Any], models.Model]
    # (invitation, user) -> whether the user already belongs to the invitation's target.
    is_member: Callable[[Any, Any], bool]
    # (request, invitation) -> where the user goes once they have joined.
    next_url: Callable[[HttpRequest, Any], str]


_KINDS: dict[str, InvitationKind] = {}


def register(kind: InvitationKind) -> None:
    _KINDS[kind.model._meta.label_lower] = kind


def kind_of(invitation: Invitation) -> InvitationKind:
    return _KINDS[invitation._meta.label_lower]


def from_token(token: str) -> Invitation | None:
    """The invitation a link's token names, or None for a token that is not one of ours.

    Whether it may still be accepted is the invitation's ``state``.
    """
    try:
        label, code = signing.loads(token, salt=Invitation.TOKEN_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    kind = _KINDS.get(label)
    if kind is None:
        return None
    manager = kind.model.objects
    return manager.select_related(kind.model.target_field).filter(code=code).first()
