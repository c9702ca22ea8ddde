"""One settings object: defaults, then an optional TOML file, then ROUNDUP_* environment variables."""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import RoundupError
from embeddings.encoder import DEFAULT_MODEL

ENV_PREFIX = "ROUNDUP_"


class SettingsError(RoundupError, ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    model: str = DEFAULT_MODEL
    index_type: str = "flat"
    encoder_threads: int = 1  # torch threads; 0 = torch's default (all cores)
    # Retrieval (see README, "Retrieval quality", for how each default was chosen on the eval set).
    retrieval: str = "hybrid"  # dense | bm25 | hybrid
    fusion: str = "weighted"  # weighted (sum of cosine and BM25 coverage) | rrf (reciprocal rank fusion)
    dense_weight: float = 0.5  # weighted fusion: the cosine's share
    rrf_k: int = 60
    # Relevance floors under which a question is "not in the roundups", one per retrieval mode.
    relevance_floor: float = 0.294  # hybrid
    dense_floor: float = 0.444
    bm25_floor: float = 0.196
    candidate_pool: int = 50
    mmr_lambda: float = 1.0  # MMR trade-off; 1 = relevance only (see README)
    distinct_top: int = 3  # at most one passage per roundup among the first this-many results
    same_story: float = 0.85  # cosine at which two passages are one story (a republished copy); 0 = off
    period_slack_days: int = 10  # "in June 2014" also takes digests published up to this many days later
    expansion_weight: float = 1.0
    parent_weight: float = 0.5
    recency_boost: float = 0.05  # "latest ...": how much the newest roundup gains over the oldest
    secondary_floor: float = 0.8  # once answering, further passages need this share of the floor
    alias_file: Path | None = None  # default: corpus/aliases.toml
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    top_k: int = 5
    auto_ingest_bundled: bool = True
    # The bundled sample roundups: off hides them everywhere, so answers come only from real
    # roundups (and an empty data directory stays empty).
    sample: bool = True
    # Digests: items by default, and the cosine a passage needs to count as about a topic the
    # corpus never names (0.35 keeps "electric cars" -> Evergrande's carmaker, drops chance hits).
    digest_items: int = 5
    digest_topic_floor: float = 0.35
    digest_post_hour: int = 9
    # Topic alerts: only roundups published this many days back or newer are posted (never
    # backfilled history), checked every alert_minutes.
    alert_recent_days: float = 4.0
    alert_minutes: float = 10.0  # UTC hour of scheduled weekly digests when /digest schedule gives none
    log_level: str = "WARNING"
    # Discord
    token_file: Path | None = None
    dev_guild: int | None = None
    cooldown_rate: int = 3
    cooldown_per: float = 10.0
    max_concurrent_retrievals: int = 2
    # Web sources
    feeds: tuple[str, ...] = ()
    refresh_hours: float = 6.0
    allow_private_urls: bool = False
    max_body_bytes: int = 5 * 1024 * 1024
    fetch_timeout: float = 20.0
    user_agent: str = "RoundupBot/0.1 (+https://github.com/roundup-bot; China tech roundup reader)"
    fetch_connect_timeout: float = 10.0
    fetch_retries: int = 3  # further attempts on 408/429/5xx, timeouts and dropped connections
    fetch_backoff: float = 1.0  # first retry after about this many seconds, doubling, with jitter
    fetch_backoff_max: float = 30.0
    fetch_retry_after_max: float = 120.0  # a longer Retry-After gives up on the URL rather than wait
    fetch_concurrency: int = 8
    fetch_per_host: int = 2
    fetch_keepalive: float = 15.0  # seconds an idle connection is kept for the next request; 0 closes each
    # "host" or "host:port" fetched even when private (a self-hosted RSSHub on the LAN), unlike
    # allow_private_urls, which opens every private address
    allowed_private_hosts: tuple[str, ...] = ()
    # Archive backfill (ingest --crawl, /feeds backfill): seconds between requests to one host
    # (robots.txt may ask for more) and listing/sitemap pages per run.
    crawl_delay: float = 1.0
    crawl_max_pages: int = 50
    backfill_status_seconds: float = 5.0  # /feeds backfill edits its status message at most this often
    extra: dict = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "roundup.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, config: Path | None = None, **overrides) -> "Settings":
        """Defaults < TOML file (ROUNDUP_CONFIG or ./roundup.toml) < environment < explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        config = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
        if config is None and Path("roundup.toml").is_file():
            config = Path("roundup.toml")
        if config is not None:
            try:
                raw = tomllib.loads(Path(config).read_text("utf-8"))
            except FileNotFoundError:
                raise SettingsError(f"config file not found: {config}") from None
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {config} is not valid TOML: {exc}") from None
            for key, value in raw.items():
                values[key] = _coerce(key, value)
        for f in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{f.name.upper()}"
            if f.name != "extra" and env.get(name, "") != "":
                values[f.name] = _coerce(f.name, env[name], from_env=True)
        for key, value in overrides.items():
            if value is not None:
                values[key] = _coerce(key, value)
        return cls(**values)


_HINTS: dict[str, object] | None = None


def _coerce(key: str, value: object, *, from_env: bool = False) -> object:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Settings)
    if key not in _HINTS or key == "extra":
        raise SettingsError(f"unknown setting {key!r}")
    hint = _HINTS[key]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args and typing.get_origin(hint) is not tuple else hint
    try:
        if typing.get_origin(hint) is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.replace("\n", ",").split(",") if v.strip())
            return tuple(str(v) for v in value)  # type: ignore[union-attr]
        if base is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"expected true/false, got {value!r}")
        if base is Path:
            return Path(os.path.expanduser(str(value)))
        if base in (int, float, str):
            return base(value)  # type: ignore[operator]
    except (TypeError, ValueError) as exc:
        source = f"{ENV_PREFIX}{key.upper()}" if from_env else key
        raise SettingsError(f"bad value for {source}: {exc}") from None
    return value
