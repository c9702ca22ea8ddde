"""One error base: every project error is a RoundupError with a one-line message and an exit code."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.cli import main
from corpus.errors import InputError, RoundupError

ROOT = Path(__file__).resolve().parents[1]


def _error_classes():
    """(module, class name) for every class named *Error defined in the product's packages."""
    for package in ("corpus", "embeddings", "bot", "digests"):
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else ():
            tree = ast.parse(path.read_text("utf-8"))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                    yield module, node.name


@pytest.mark.parametrize("module, name", list(_error_classes()))
def test_every_error_is_a_roundup_error(module, name):
    import importlib

    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, RoundupError), f"{module}.{name}"


def test_message_is_one_line_and_input_errors_are_usage():
    exc = RoundupError("cannot open\n  the store")
    assert exc.message == "cannot open the store" and exc.exit_code == 1
    assert InputError("bad").exit_code == 2


def test_main_prints_one_line_and_exit_code(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    code = main(["eval", str(tmp_path / "bad.jsonl"), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("roundup-bot: error: ") and "\n" not in err
