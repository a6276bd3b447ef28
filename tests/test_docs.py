"""The README and docs/: every relative link and image resolves to a file in the repository, and
the README stays short enough to read from the top."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Markdown links and images, [text](target) and ![alt](target), and HTML src="target" / href="target".
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=\"([^\"]+)\"")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in relative_links(page):
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_the_checker_sees_links_and_images():
    readme = relative_links(ROOT / "README.md")
    assert "docs/training.md" in readme and "docs/demo-translations.png" in readme
    assert all(link in relative_links(ROOT / "docs" / "development.md") for link in ["layout.md"])


def test_the_readme_starts_where_users_start():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    headings = [line for line in lines if line.startswith("## ")]
    assert headings.index("## Install") < headings.index("## Commands")
    assert "pip install -e \".[dev]\"" in lines and "pytest" in lines  # what CI runs (.ci/run)
