"""What a source tree holds: SHA-256 of each given file. The GPU bundle records it for every
tracked file of the tree it was built from (tools/gpu/bundle.py); the check compares the tree it
runs in (where no .git travels) and refuses another one (tools/gpu/check.py)."""
import hashlib
import os


def file_digests(root, files):
    """{path: hex digest}; a missing file gets None."""
    digests = {}
    for rel in sorted(files):
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digests[rel] = hashlib.sha256(f.read()).hexdigest()
        else:
            digests[rel] = None
    return digests


def differences(recorded, root):
    """The files of `recorded` ({path: digest}) whose content under `root` differs or is
    missing, sorted."""
    here = file_digests(root, recorded)
    return sorted(rel for rel, digest in recorded.items() if here[rel] != digest)
