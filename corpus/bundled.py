"""The sample roundups shipped inside the package: a new user gets answers with no set-up."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_dir() -> Path:
    return Path(str(files("corpus") / "data"))
