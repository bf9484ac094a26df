#!/usr/bin/env python3
"""README.md and docs/*.md: every relative link names a file of the repository, every docs page
is linked from README's index, and the README stays a short page."""
import pathlib
import re
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def pages():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def broken_links(page, text):
    """Relative link targets in `text` (of `page`) that do not exist."""
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, mailto: ...
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    return missing


class DocLinks(unittest.TestCase):
    def test_every_relative_link_resolves(self):
        for page in pages():
            with self.subTest(page=page.name):
                self.assertEqual(broken_links(page, page.read_text()), [])

    def test_a_broken_link_is_found(self):
        page = ROOT / "docs" / "example.md"
        self.assertEqual(broken_links(page, "[a](shards.md) [b](nowhere.md) [c](https://x.org)"),
                         ["nowhere.md"])

    def test_the_readme_indexes_every_docs_page(self):
        readme = (ROOT / "README.md").read_text()
        linked = {t for t in LINK.findall(readme) if t.startswith("docs/")}
        for page in sorted((ROOT / "docs").glob("*.md")):
            self.assertIn(f"docs/{page.name}", linked)

    def test_the_readme_is_short(self):
        self.assertLessEqual(len((ROOT / "README.md").read_text().splitlines()), 200)


if __name__ == "__main__":
    unittest.main()
