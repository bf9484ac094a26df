#!/usr/bin/env python3
"""Checks the layout docs/layout.md describes, so that it stays true:

- a module under src/ includes only modules before it in the one-way chain (MODULES), or itself;
- launcher/ includes src/ modules and its own files; no src/ file includes launcher/ or tools/;
- no C++ source or header, and no Python file, in src/, launcher/, tools/ or tests/ is over
  MAX_LINES lines.

Exit 0 when all hold, 1 naming every violation (file:line and why).

  tools/dev/check_layout.py [ROOT]
"""
import os
import re
import sys

MODULES = ["common", "config", "distributed", "video", "data", "model", "checkpoint", "evaluate",
           "observe", "train"]
MAX_LINES = 400
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/')


def sources(root, folder, suffixes=(".cpp", ".h")):
    for base, _, files in os.walk(os.path.join(root, folder)):
        for name in sorted(files):
            if name.endswith(suffixes):
                yield os.path.join(base, name)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    problems = []
    for module in MODULES:
        allowed = set(MODULES[:MODULES.index(module) + 1])
        for path in sources(root, os.path.join("src", module)):
            with open(path) as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) not in allowed:
                        where = os.path.relpath(path, root)
                        later = m.group(1) in MODULES
                        problems.append(f"{where}:{number}: src/{module} includes {m.group(1)}/ "
                                        f"({'later in the chain' if later else 'outside src/'})")
    for folder in ["src", "launcher", "tools", "tests"]:
        for path in sources(root, folder, (".cpp", ".h", ".py")):
            with open(path) as f:
                count = sum(1 for _ in f)
            if count > MAX_LINES:
                problems.append(f"{os.path.relpath(path, root)}: {count} lines, more than "
                                f"{MAX_LINES}: split it where it owns two things")
    for p in problems:
        print(p)
    print(f"check_layout: {len(problems)} problems" if problems else "check_layout: layout holds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
