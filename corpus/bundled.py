"""The sample roundups shipped inside the package: a new user gets answers with no set-up."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_dir() -> Path:
    return Path(str(files("corpus") / "data"))


def bundled_roundups() -> int:
    """How many sample roundups ship (a `.jsonl` line each, one per other file): what a first run
    says it is indexing, counted without reading the articles."""
    from .readers import iter_source_files

    total = 0
    for path in iter_source_files(bundled_dir()):
        if path.suffix == ".jsonl":
            total += sum(1 for line in path.read_text("utf-8").splitlines() if line.strip())
        else:
            total += 1
    return total
