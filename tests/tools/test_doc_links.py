#!/usr/bin/env python3
"""README.md and docs/*.md: every relative link and every file path they name (in backticks)
exists in the repository, every docs page is linked from README's index, and the README stays
a short page."""
import pathlib
import re
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A path of the repository named in backticks, alone or first in a command: it starts with one of
# the tree's top folders (build outputs and data a run makes are not in the tree).
TOP = ("src", "launcher", "tools", "tests", "configs", "cluster", "docs", "cmake", ".ci")
PATH = re.compile(r"`(?:\S+=\S+ )*((?:" + "|".join(re.escape(t) for t in TOP) +
                  r")/[A-Za-z0-9_./+-]*[A-Za-z0-9_+-])")


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


FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
TOKEN = re.compile(r"(?:^|[\s=(\"'])((?:" + "|".join(re.escape(t) for t in TOP) +
                   r")/[A-Za-z0-9_./+-]*[A-Za-z0-9_+-])")


def named_paths(text):
    """Paths in backticks, and every path-looking word of the code blocks (commands)."""
    paths = PATH.findall(text)
    for block in FENCE.findall(text):
        paths += TOKEN.findall(block)
    return paths


def missing_paths(text):
    """Repository paths named in `text` that do not exist (globs and placeholders left out)."""
    missing = []
    for path in named_paths(text):
        if any(c in path for c in "*<>{}"):
            continue
        if not (ROOT / path).exists():
            missing.append(path)
    return missing


class DocLinks(unittest.TestCase):
    def test_every_named_path_exists(self):
        for page in pages():
            with self.subTest(page=page.name):
                self.assertEqual(missing_paths(page.read_text()), [])

    def test_a_missing_path_is_found(self):
        self.assertEqual(missing_paths("`tools/run_tests.sh` and `tools/nowhere.sh --x` and "
                                       "`OMP_NUM_THREADS=1 src/no/File.h`\n```sh\n"
                                       "python3 tools/gone.py --config configs/x.toml\n```\n"),
                         ["tools/nowhere.sh", "src/no/File.h", "tools/gone.py", "configs/x.toml"])

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

    def test_every_page_says_first_what_it_is_for(self):
        for page in sorted((ROOT / "docs").glob("*.md")):
            paragraphs = [p for p in page.read_text().split("\n\n") if p.strip()]
            self.assertTrue(paragraphs[1].startswith("After reading this you"), page.name)

    def test_the_readme_is_short(self):
        self.assertLessEqual(len((ROOT / "README.md").read_text().splitlines()), 200)


if __name__ == "__main__":
    unittest.main()
