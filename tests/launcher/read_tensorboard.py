#!/usr/bin/env python3
"""Reads a TensorBoard log dir with TensorBoard's own EventAccumulator and prints its scalars as
JSON: {"tag": [[step, value], ...], ...}. Exit 77 when the tensorboard package is not importable
(tools/observe/fetch_tensorboard.sh installs it)."""
import json
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as e:
    print(f"tensorboard is not importable ({e}): run tools/observe/fetch_tensorboard.sh", file=sys.stderr)
    sys.exit(77)

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)]
                  for tag in acc.Tags()["scalars"]}))
