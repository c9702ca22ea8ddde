"""The set-up every benchmark script shares, done on import: offline model loading, no tokenizer
thread pool, and the project root and benchmarks/ importable (`python benchmarks/x.py` puts only
benchmarks/ on the path). Import it before anything from the project. Also the percentile the
tables print."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "benchmarks", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def pct(values: list[float], q: float) -> float:
    """The `q`th percentile by nearest rank (no interpolation: a value that was measured)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]
