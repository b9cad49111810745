"""Every page is styled by the design system (static/css/app.css), never by styles of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
OWN_STYLES = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def test_no_template_carries_styles_of_its_own():
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in sorted(TEMPLATES.rglob("*.html"))
        if OWN_STYLES.search(path.read_text())
    ]
    assert not offenders, f"inline styles (use the classes in docs/design.md): {offenders}"


def test_every_page_loads_the_one_stylesheet():
    base = (TEMPLATES / "base.html").read_text()
    assert "{% static 'css/app.css' %}" in base
    standalone = [
        path
        for path in TEMPLATES.rglob("*.html")
        if "<html" in path.read_text() and path.name != "base.html"
    ]
    for path in standalone:
        assert "css/app.css" in path.read_text(), path
