"""A person's words for a session's browser: "Firefox on Windows", not a raw user agent."""

from __future__ import annotations

UNKNOWN_BROWSER = "Unknown browser"

# Order matters: each browser's user agent also names the ones it imitates (Edge says Chrome and
# Safari, Chrome says Safari), so the most specific token is looked for first.
_BROWSERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Edge", ("Edg/", "EdgA/", "EdgiOS/", "Edge/")),
    ("Firefox", ("Firefox/", "FxiOS/")),
    ("Chromium", ("Chromium/",)),
    ("Chrome", ("Chrome/", "CriOS/")),
    ("Safari", ("Safari/",)),
)
# iPads and iPhones say "like Mac OS X", Android says Linux: those are looked for first.
_SYSTEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("iOS", ("iPhone", "iPad", "iPod")),
    ("Android", ("Android",)),
    ("Windows", ("Windows",)),
    ("ChromeOS", ("CrOS",)),
    ("macOS", ("Macintosh", "Mac OS X")),
    ("Linux", ("Linux", "X11")),
)


def _first_named(user_agent: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    for name, tokens in table:
        if any(token in user_agent for token in tokens):
            return name
    return ""


def device_label(user_agent: str | None) -> str:
    """ "Chrome on macOS", "Safari on iOS", "Firefox" when the system is not named, and
    "Unknown browser" for anything that names no browser we know (scripts, bots, blanks)."""
    user_agent = user_agent or ""
    browser = _first_named(user_agent, _BROWSERS)
    if not browser or (browser == "Safari" and "Version/" not in user_agent):
        return UNKNOWN_BROWSER
    system = _first_named(user_agent, _SYSTEMS)
    return f"{browser} on {system}" if system else browser
