"""Start-up configuration: refuse to run without a secret, and pass the deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_a_secret_key_refuses_to_start():
    result = _manage("check", DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_mode_starts_without_a_secret_key():
    result = _manage("check", DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_deploy_check_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="a-long-random-production-secret-" + "x7Qp9Lm2Vz" * 4,
        DJANGO_ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


FORK_AND_EXIT = """
import os, sys
import django
django.setup()
from django.conf import settings
media = settings.STORAGES["media"]["OPTIONS"]["location"]
print(media)
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a forked child's exit runs the parent's exit handlers too
os.waitpid(pid, 0)
print(os.path.isdir(media))
"""


def test_the_test_settings_remove_their_media_folder_when_the_process_exits():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", FORK_AND_EXIT],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings_test"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    media, still_there_after_the_child = result.stdout.split()[-2:]
    assert Path(media).name.startswith("portal-test-media-"), media
    assert still_there_after_the_child == "True"
    assert not Path(media).exists()
