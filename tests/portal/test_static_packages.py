"""Front-end packages come from npm (package-lock.json) and are served as static files."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders


def test_hls_js_is_served_from_its_npm_package():
    found = finders.find("hls.js/hls.min.js")
    assert found, "run `make install` (npm ci) so that node_modules/hls.js exists"
    assert Path(found).is_relative_to(settings.BASE_DIR / "node_modules" / "hls.js")
    # The worker is loaded from the portal too (workerPath), so the CSP needs no blob: worker.
    assert finders.find("hls.js/hls.worker.js")


def test_the_lock_file_pins_what_package_json_asks_for():
    package = json.loads((settings.BASE_DIR / "package.json").read_text())
    lock = json.loads((settings.BASE_DIR / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_no_copy_of_hls_js_is_kept_in_the_repository():
    static = settings.BASE_DIR / "static"
    assert not list(static.rglob("hls*.js"))
