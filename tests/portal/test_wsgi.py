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
