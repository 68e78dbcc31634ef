"""Settling the garbage collector after a process's first requests (portal/collector.py)."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.core.signals import request_finished

from portal import collector


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def finish_requests(count: int) -> None:
    for _ in range(count):
        request_finished.send(sender=None)


def test_settles_once_after_the_given_number_of_requests(unfrozen):
    listeners = len(request_finished.receivers)
    collector.settle_after(3)
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


def test_collects_before_freezing(unfrozen):
    """Garbage in a cycle at that moment is collected, not frozen for the process's life."""
    collector.settle_after(1)
    node = Node()
    node.itself = node
    gone = weakref.ref(node)
    del node
    finish_requests(1)
    assert gone() is None


def test_refuses_a_count_below_one():
    with pytest.raises(ValueError):
        collector.settle_after(0)
