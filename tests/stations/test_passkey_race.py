"""Parallel wrong passkeys cannot beat the lockout: at most the limit is ever checked."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from stations import services
from stations.models import PasskeyFailure, Receiver
from tests.factories import DealerFactory, ReceiverFactory
from tests.threads import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers: runs on PostgreSQL (CI sets DATABASE_URL)",
    ),
]

GUESSES = 16


def test_sixteen_parallel_wrong_guesses_get_at_most_the_limit_checked(monkeypatch):
    dealer = DealerFactory()
    receiver = ReceiverFactory()
    checked = []
    lock = threading.Lock()
    real_check = Receiver.check_passkey

    def slow_check(self, raw: str) -> bool:
        # A real passkey hash takes a while to check; that is the window a race needs.
        with lock:
            checked.append(raw)
        time.sleep(0.05)
        return real_check(self, raw)

    monkeypatch.setattr(Receiver, "check_passkey", slow_check)
    barrier = threading.Barrier(GUESSES, timeout=20)

    def guess(i: int) -> str:
        barrier.wait()
        try:
            services.passkey_verify(dealer=dealer, receiver=receiver, passkey=f"guess-{i}")
        except ValidationError as exc:
            return exc.code
        return "accepted"

    outcomes = at_once(guess, GUESSES, timeout=60)

    assert len(checked) <= services.PASSKEY_FAILURE_LIMIT, f"{len(checked)} passkeys checked"
    assert outcomes.count("passkey_wrong") == len(checked)
    assert outcomes.count("passkey_locked") == GUESSES - len(checked)
    assert PasskeyFailure.objects.filter(dealer=dealer).count() == len(checked)
