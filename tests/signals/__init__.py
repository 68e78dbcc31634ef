"""Tests of the signals app. Helpers shared by its test modules live here."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from signals.codecs.base import Message
from signals.codecs.xml_v1 import Package, Qualifier

EVENT_TIME = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def make_package(**overrides: Any) -> Package:
    """A valid package; keyword arguments replace single fields."""
    values: dict[str, Any] = {
        "reference": "sig-0001",
        "account": "AB1234",
        "qualifier": Qualifier.NEW,
        "code": "130",
        "partition": 1,
        "zone": 17,
        "priority": 3,
        "event_time": EVENT_TIME,
        "site_name": "Main Street Store",
        "zone_description": "Back door",
        "camera_description": "Loading bay",
        "video_url": "https://portal.example/monitoring?act=AB1234&zone=017",
        "receiver_number": "R1",
        "receiver_line": "L2",
    }
    values.update(overrides)
    return Package(**values)


def xml_send(transport: Any, payload: bytes) -> bytes:
    """Send an XML v1 package over a TCP transport (with the protocol's framing) and return the
    reply document."""
    from signals.codecs import xml_v1

    reply = transport.exchange(
        xml_v1.encode_frame(payload), lambda buffer, eof: xml_v1.frame_size(buffer)
    )
    return reply[xml_v1.HEADER.size :]


def make_message(**overrides: Any) -> Message:
    """A valid codec-neutral message; keyword arguments replace single fields."""
    values: dict[str, Any] = {
        "reference": "sig-0001",
        "account": "AB1234",
        "qualifier": Qualifier.NEW,
        "code": "130",
        "partition": 1,
        "zone": 17,
        "priority": 3,
        "event_time": EVENT_TIME,
        "site_name": "Main Street Store",
        "zone_description": "Back door",
        "camera_description": "Loading bay",
        "video_url": "https://portal.example/monitoring?act=AB1234&zone=017",
    }
    values.update(overrides)
    return Message(**values)


@contextmanager
def descriptors_taken(*, limit: int, below: int | None = None) -> Iterator[list[int]]:
    """This process's free file descriptors in use (copies of /dev/null's): those numbered
    below ``below``, or all of them up to ``limit`` (the soft limit meanwhile). Yields the list
    of the copies: a caller that closes one takes it off the list."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, limit), hard), hard))
    taken: list[int] = []
    try:
        with open(os.devnull) as placeholder:
            with suppress(OSError):  # EMFILE: every descriptor is in use
                while below is None or not taken or taken[-1] < below:
                    taken.append(os.dup(placeholder.fileno()))
            yield taken
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
