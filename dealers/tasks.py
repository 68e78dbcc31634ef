"""Background work of the dealers app, run by the task engine (django-q2)."""

from __future__ import annotations

import logging

from django.apps import apps

from dealers import services

logger = logging.getLogger(__name__)


def invitation_email(label: str, pk: int) -> bool:
    """E-mail an invitation's link; False when it was withdrawn or used before the task ran."""
    invitation = apps.get_model(label).objects.filter(pk=pk).first()
    if invitation is None or not invitation.is_pending:
        logger.info("Invitation %s %s is no longer open: not e-mailed.", label, pk)
        return False
    services.invitation_email_send(invitation=invitation)
    return True
