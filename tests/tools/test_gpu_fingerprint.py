#!/usr/bin/env python3
"""tools/gpu/fingerprint.py: the GPU check refuses a tree other than the bundle's."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "gpu"))
from fingerprint import differences, file_digests  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as root:
        for name, text in (("a.py", "one"), ("sub/b.toml", "two"), ("c.sh", "three")):
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        recorded = file_digests(root, ["a.py", "sub/b.toml", "c.sh"])
        assert all(recorded.values()), recorded
        assert differences(recorded, root) == [], "the same tree must match"
        with open(os.path.join(root, "sub/b.toml"), "w") as f:
            f.write("two, edited")
        os.remove(os.path.join(root, "c.sh"))
        with open(os.path.join(root, "new.py"), "w") as f:
            f.write("a file the bundle does not know is not its business")
        assert differences(recorded, root) == ["c.sh", "sub/b.toml"], differences(recorded, root)
    print("fingerprint: same tree matches; an edited and a missing file are named")


if __name__ == "__main__":
    main()
