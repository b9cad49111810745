"""Copy the screenshots a reader should see into docs/screens/ and list them in docs/screens.md.

The browser test `tests/browser/test_every_page.py` saves a full-page screenshot of every page each
role reaches, at 1440 and 390 px wide, into test-artifacts/browser/screens/; the journeys
(`tests/browser/test_*.py`) save the moments in between (an error shown, an impact before a confirm)
into test-artifacts/browser/. Run the browser tests first, then:

    .venv/bin/python scripts/screens.py

Laptop shots are scaled to half width and every shot is cut to a readable height and reduced to a
256-colour palette (with Pillow; without it they are copied as they are), so the committed PNGs
stay small. A chosen screen that is missing is named and the script exits 1, writing nothing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "browser"
SOURCE = ARTIFACTS / "screens"
TARGET = REPO / "docs" / "screens"
INDEX = REPO / "docs" / "screens.md"
MAX_HEIGHT = 1600  # after scaling: the top of a long page is what a reader looks at

# (screenshot name without .png, what it shows), in the order a reader walks through the program.
CHOSEN: list[tuple[str, str]] = [
    ("visitor-sign-in-390", "Sign-in on a phone, in the site's own layout."),
    ("tester-studio-1440", "The studio: the generation form beside the tester's jobs."),
    ("tester-studio-390", "The studio on a phone: form first, jobs below, the menu collapsed."),
    ("tester-menu-open-390", "The menu opened on a phone: your work, then account, one tap each."),
    ("tester-output-1440", "An approved video: player, parameters, review status, sharing."),
    ("tester-my-work-1440", "My work: review stats, requests to use a video, appeals, deletion."),
    ("tester-my-work-390", "My work on a phone: every table row becomes a labelled card."),
    ("tester-gallery-1440", "The gallery of videos testers chose to show each other."),
    ("tester-shares-390", "The tester's share links on a phone."),
    ("tester-threads-1440", "Feedback and the lab's answers, with each item's status."),
    ("tester-program-1440", "The program: what it offers, what happens to videos, the terms."),
    ("tester-webhook-390", "A webhook endpoint: settings, confirm-in-place rotate and delete."),
    ("tester-security-390", "Two-factor and account security on a phone."),
    ("red-teamer-findings-1440", "Findings: only red-teamers and moderators see this in the menu."),
    ("reviewer-queue-1440", "The review queue a reviewer lands on."),
    ("reviewer-queue-390", "The review queue on a phone."),
    ("reviewer-appeals-1440", "Appeals, each decided by a reviewer other than the first."),
    ("reviewer-stats-1440", "Review statistics."),
    ("admin-invitations-1440", "Invitations: invite testers one by one or in bulk."),
    ("admin-testers-390", "Testers on a phone: each tester a card with their actions."),
    ("admin-containment-1440", "Containment: pause the program or suspend a cohort."),
    ("admin-audit-1440", "The audit log."),
    ("admin-usage-1440", "Usage per tester and cohort."),
    ("admin-holds-390", "Legal holds on a phone: place one, release one."),
    ("admin-trace-1440", "A finished leak trace that found no mark, with fingerprint leads."),
    ("visitor-share-390", "A shared video as an anonymous visitor sees it on a phone."),
]


# Moments of the journeys (test-artifacts/browser/<name>.png): (name, title, what it shows).
JOURNEYS: list[tuple[str, str, str]] = [
    (
        "accounts-invitation-390",
        "Invitation · 390 px",
        "The invitation: who invites you, to what, the terms in short, one button.",
    ),
    (
        "studio-kept-1440",
        "Studio after Generate · 1440 px",
        "Settings kept after Generate, shape chips, the job grid with Reuse settings and Re-run.",
    ),
    (
        "studio-errors-1440",
        "Studio, refused · 1440 px",
        "Every error at once, each next to its field, in words.",
    ),
    (
        "studio-new-version-390",
        "New version · 390 px",
        "A new version prefilled, the reviewer's note beside the prompt.",
    ),
    (
        "output-page-1440",
        "Output page · 1440 px",
        "The large player, Download, Copy share link, parameters, review state.",
    ),
    (
        "review-undo-1440",
        "Queue, decided · 1440 px",
        "A decided item folded away with Undo; tabs with counts; the tester's record.",
    ),
    (
        "review-invalid-filter-1440",
        "Queue, bad filter · 1440 px",
        "An invalid filter value is reported, not ignored.",
    ),
    (
        "staff-revoke-impact-390",
        "Revoke, impact first · 390 px",
        "What revoking a tester will end, before the confirm.",
    ),
    (
        "staff-token-revoke-confirm-1440",
        "Token revoke · 1440 px",
        "Revoking an API token asks first.",
    ),
    (
        "accounts-recovery-codes-390",
        "Recovery codes · 390 px",
        "Recovery codes in the site's layout, ending with Continue.",
    ),
    (
        "accounts-sessions-1440",
        "Sessions · 1440 px",
        "Sessions named by browser and OS, not a raw user agent.",
    ),
]


def shrink(source: Path, target: Path) -> None:
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional: then the screenshot goes in as it is
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        picture = image.convert("RGB")
    if picture.width > 800:
        picture = picture.resize((picture.width // 2, picture.height // 2), Image.LANCZOS)
    picture = picture.crop((0, 0, picture.width, min(picture.height, MAX_HEIGHT)))
    picture.quantize(colors=256).save(target, optimize=True)


ROLES = ("red-teamer", "tester", "reviewer", "admin", "visitor")


def title(name: str) -> str:
    """ "tester-my-work-390" -> "Tester · my work · 390 px"."""
    role = next(role for role in ROLES if name.startswith(f"{role}-"))
    page, _, width = name.removeprefix(f"{role}-").rpartition("-")
    return f"{role.replace('-', ' ').capitalize()} · {page.replace('-', ' ')} · {width} px"


def main() -> int:
    missing = [name for name, _ in CHOSEN if not (SOURCE / f"{name}.png").is_file()]
    missing += [name for name, _, _ in JOURNEYS if not (ARTIFACTS / f"{name}.png").is_file()]
    if missing:
        print(f"Missing in {ARTIFACTS} (run the browser tests first):", *missing)
        return 1
    if TARGET.exists():
        shutil.rmtree(TARGET)
    TARGET.mkdir(parents=True)
    lines = [
        "# Screens",
        "",
        "What each role sees, at 1440 px (laptop, shown at half size) and 390 px (phone). Made by",
        "`tests/browser/test_every_page.py` (every page of every role, in test-artifacts/browser/",
        "screens/) and chosen here by `scripts/screens.py`; re-run both after changing a page.",
        "",
    ]
    for name, caption in CHOSEN:
        shrink(SOURCE / f"{name}.png", TARGET / f"{name}.png")
        lines.append(f"- [{title(name)}](screens/{name}.png): {caption}")
    lines += ["", "## Moments of the journeys", ""]
    for name, heading, caption in JOURNEYS:
        shrink(ARTIFACTS / f"{name}.png", TARGET / f"{name}.png")
        lines.append(f"- [{heading}](screens/{name}.png): {caption}")
    INDEX.write_text("\n".join(lines) + "\n")
    count = len(CHOSEN) + len(JOURNEYS)
    print(f"{count} screens in {TARGET.relative_to(REPO)}, listed in {INDEX.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
