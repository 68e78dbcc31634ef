"""The WSGI entry point as gunicorn loads it, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_application_freezes_what_startup_made():
    """A full garbage collection walks only what requests made (portal/wsgi.py)."""
    probe = "import gc, portal.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    # Django and the apps: tens of thousands of objects that live as long as the process.
    assert int(out.stdout.split()[-1]) > 50_000


def test_the_application_freezes_again_after_its_first_requests():
    """What the first requests make to last is frozen once they are done (portal/collector.py):
    the objects tracked since start-up are out of the next full collection's walk."""
    probe = (
        "import gc, portal.wsgi\n"
        "from django.core.signals import request_finished\n"
        "from portal import collector\n"
        "kept = [[i] for i in range(20_000)]\n"  # what a worker's first requests leave behind
        "before = gc.get_freeze_count()\n"
        "for _ in range(collector.SETTLE_AFTER_REQUESTS - 1):\n"
        "    request_finished.send(sender=None)\n"
        "almost = gc.get_freeze_count()\n"
        "request_finished.send(sender=None)\n"
        "print(before, almost, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    before, almost, after, tracked = map(int, out.stdout.split()[-4:])
    assert almost == before  # not before the last of the first requests
    assert after >= before + 20_000  # the kept lists are frozen with the rest
    assert tracked < 1_000  # a full collection now walks next to nothing
