"""Settling the garbage collector after a process's first requests (portal/collector.py)."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.core.signals import request_finished

from portal import collector


@pytest.fixture
def settle_after(db):
    """``collector.settle_after``, its settler gone and the heap unfrozen after the test
    (sending ``request_finished`` runs Django's own receivers too, which look at the
    database connection)."""
    settlers = []

    def install(requests: int):
        settler = collector.settle_after(requests)
        settlers.append(settler)
        return settler

    yield install
    for settler in settlers:
        request_finished.disconnect(settler)
    gc.unfreeze()  # the rest of the test session collects as before


def finish_requests(count: int) -> None:
    for _ in range(count):
        request_finished.send(sender=None)


def test_settles_once_after_the_given_number_of_requests(settle_after):
    listeners = len(request_finished.receivers)
    settle_after(3)
    kept = [[i] for i in range(1_000)]
    before = gc.get_freeze_count()
    finish_requests(2)
    assert gc.get_freeze_count() == before
    finish_requests(1)
    assert gc.get_freeze_count() >= before + len(kept)
    # Once: it is no longer listening, and later objects stay in the collector's sight.
    assert len(request_finished.receivers) == listeners
    settled = gc.get_freeze_count()
    later = [[i] for i in range(1_000)]
    finish_requests(5)
    assert gc.get_freeze_count() == settled
    assert any(item is later[0] for item in gc.get_objects())


class Node:
    pass


def test_collects_before_freezing(settle_after):
    """Garbage in a cycle at that moment is collected, not frozen for the process's life."""
    settle_after(1)
    gc.disable()  # no automatic collection may find the cycle first
    try:
        node = Node()
        node.itself = node
        gone = weakref.ref(node)
        del node
        assert gone() is not None
        finish_requests(1)
        assert gone() is None
    finally:
        gc.enable()


def test_refuses_a_count_below_one():
    with pytest.raises(ValueError):
        collector.settle_after(0)
