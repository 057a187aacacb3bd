"""The skip rule of the browser tests: skip with a reason, or fail when they are required."""

from __future__ import annotations

import pytest

from tests.browser import conftest as browser


def test_missing_chromium_is_reported(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    assert "Chromium" in (browser.missing() or "")


def test_missing_axe_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "AXE", tmp_path / "node_modules" / "axe-core" / "axe.min.js")
    monkeypatch.setattr(browser, "ROOT", tmp_path)
    if browser.chromium_path() is None:
        pytest.skip("Chromium is missing here: the axe message cannot be reached")
    assert "npm ci" in (browser.missing() or "")


def test_skip_unless_required(monkeypatch):
    monkeypatch.delenv(browser.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        browser.skip_or_fail("no Chromium")
    monkeypatch.setenv(browser.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="RESOURCE_CENTRE_REQUIRE_BROWSER=1"):
        browser.skip_or_fail("no Chromium")
