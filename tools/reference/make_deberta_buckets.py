#!/usr/bin/python3
"""Writes tests/golden/deberta_buckets.json: transformers' make_log_bucket_position (float32
torch ops) for every relative distance -512..512 at the bucket settings of DeBERTa-v3's configs
and a few odd ones, for the C++ table to match exactly."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deberta_reference import make_log_bucket_position  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETTINGS = [(256, 512), (256, 1024), (256, 2048), (128, 512), (64, 256), (8, 24), (6, 7), (32, 100), (10, 513)]

distances = torch.arange(-512, 513)
out = {"distances": [-512, 512], "tables": []}
for buckets, max_position in SETTINGS:
    table = make_log_bucket_position(distances, buckets, max_position).to(torch.long).tolist()
    out["tables"].append({"position_buckets": buckets, "max_relative_positions": max_position, "buckets": table})
with open(os.path.join(ROOT, "tests", "golden", "deberta_buckets.json"), "w") as f:
    json.dump(out, f)
    f.write("\n")
