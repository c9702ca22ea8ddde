"""One settings object: defaults, then an optional TOML file, then ROUNDUP_* environment variables.

Retrieval, fetching and the encoder each keep their defaults in their own config dataclass
(`SearchConfig`, `FetchConfig`, `EncoderConfig`), held here as nested parts. The flat names
people set (ROUNDUP_DENSE_WEIGHT, `relevance_floor = 0.3` in TOML) map onto them through
`NESTED`, so every default is written once and the keys stay as they always were.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.setting_rules import RULES, first_problem
from corpus.errors import InputError
from corpus.fetch import FetchConfig
from embeddings.encoder import EncoderConfig
from embeddings.search import SearchConfig

ENV_PREFIX = "ROUNDUP_"

PARTS = {"search": SearchConfig, "fetch": FetchConfig, "encoder": EncoderConfig}

# Flat setting name (env ROUNDUP_<NAME>, TOML key) -> (nested part, field of that part).
NESTED: dict[str, tuple[str, str]] = {
    "model": ("encoder", "model"),
    "encoder_threads": ("encoder", "threads"),
    "encoder_backend": ("encoder", "backend"),
    "retrieval": ("search", "mode"),
    "fusion": ("search", "fusion"),
    "dense_weight": ("search", "dense_weight"),
    "rrf_k": ("search", "rrf_k"),
    "relevance_floor": ("search", "floor"),
    "dense_floor": ("search", "dense_floor"),
    "bm25_floor": ("search", "bm25_floor"),
    "candidate_pool": ("search", "pool"),
    "mmr_lambda": ("search", "mmr_lambda"),
    "distinct_top": ("search", "distinct_top"),
    "same_story": ("search", "same_story"),
    "period_slack_days": ("search", "period_slack_days"),
    "expansion_weight": ("search", "expansion_weight"),
    "parent_weight": ("search", "parent_weight"),
    "recency_boost": ("search", "recency_boost"),
    "secondary_floor": ("search", "secondary_floor"),
    "sentence_weight": ("search", "sentence_weight"),
    "answer_kind_weight": ("search", "answer_kind_weight"),
    "restate_penalty": ("search", "restate_penalty"),
    "support_rerank_weight": ("search", "support_rerank_weight"),
    "support_max_tokens": ("search", "support_max_tokens"),
    "parallel_retrieval": ("search", "parallel"),
    "answerability": ("search", "answerability"),
    "answerability_model": ("search", "answerability_model"),
    "query_prompt": ("encoder", "query_prompt"),
    "passage_prompt": ("encoder", "passage_prompt"),
    "user_agent": ("fetch", "user_agent"),
    "max_body_bytes": ("fetch", "max_body_bytes"),
    "fetch_timeout": ("fetch", "total_timeout"),
    "fetch_connect_timeout": ("fetch", "connect_timeout"),
    "fetch_retries": ("fetch", "retries"),
    "fetch_backoff": ("fetch", "backoff"),
    "fetch_backoff_max": ("fetch", "backoff_max"),
    "fetch_retry_after_max": ("fetch", "retry_after_max"),
    "fetch_concurrency": ("fetch", "concurrency"),
    "fetch_per_host": ("fetch", "per_host"),
    "fetch_keepalive": ("fetch", "keepalive"),
    "fetch_url_deadline": ("fetch", "url_deadline"),
    "fetch_source_deadline": ("fetch", "source_deadline"),
    "fetch_refresh_deadline": ("fetch", "refresh_deadline"),
    "feed_max_entries": ("fetch", "feed_max_entries"),
    "allow_private_urls": ("fetch", "allow_private"),
    "allowed_private_hosts": ("fetch", "allowed_hosts"),
}


class SettingsError(InputError, ValueError):
    """A setting that cannot be used: one line naming the key, the value and what is accepted (exit code 2)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    # flat | hnsw32 | auto (flat up to hnsw_threshold passages, HNSW above: embeddings/index.py)
    index_type: str = "auto"
    hnsw_threshold: int = 50_000
    # Sentence vectors for the bold sentence: one-pass (from the passage's token embeddings) or
    # separate (each sentence encoded again); see README, "Performance".
    sentence_vectors: str = "one-pass"
    # Passages' token vectors for the support re-ranking, kept at ingest (embeddings/token_index.py):
    # this many one-byte product-quantiser codes per token (0: int8 rows, ~6x the disk). See README, "Performance".
    token_codes: int = 64
    # Retrieval: see embeddings/search.py's SearchConfig and README, "Retrieval quality".
    search: SearchConfig = field(default_factory=SearchConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    alias_file: Path | None = None  # default: corpus/aliases.toml
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    top_k: int = 5
    index_save_every: int = 1024  # passages embedded between saves of the vectors in a long sync
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
    # Data at rest (README, "Personal data"): the data directory 0700 and its files 0600, and how
    # long member data (questions, votes, member ids) is kept before the daily job deletes it.
    private_files: bool = True
    retention_days: int = 90  # 0 keeps it forever
    # Discord
    token_file: Path | None = None
    dev_guild: int | None = None
    cooldown_rate: int = 3
    cooldown_per: float = 10.0
    max_concurrent_retrievals: int = 2
    # Web sources: the fetcher's own settings are corpus/fetch.py's FetchConfig
    feeds: tuple[str, ...] = ()
    refresh_hours: float = 6.0
    fetch: FetchConfig = field(default_factory=FetchConfig)
    # Archive backfill (ingest --crawl, /feeds backfill): seconds between requests to one host
    # (robots.txt may ask for more) and listing/sitemap pages per run.
    crawl_delay: float = 1.0
    crawl_max_pages: int = 50
    backfill_status_seconds: float = 5.0  # /feeds backfill edits its status message at most this often
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        """The flat names still read (`settings.model`, `settings.relevance_floor`): one source, the part."""
        if name in NESTED:
            part, attr = NESTED[name]
            return getattr(getattr(self, part), attr)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def store_path(self) -> Path:
        return self.data_dir / "roundup.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir

    def replace(self, **changes) -> "Settings":
        """A copy with some settings changed; flat names (`relevance_floor=...`) reach their part."""
        own, nested = _split(changes)
        for part, values in nested.items():
            own[part] = dataclasses.replace(own.get(part, getattr(self, part)), **values)
        return dataclasses.replace(self, **own)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, config: Path | None = None, **overrides) -> "Settings":
        """Defaults < TOML file (ROUNDUP_CONFIG or ./roundup.toml) < environment < explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        labels: dict[str, str] = {}  # each key as the user set it, for error messages
        path = _config_path(env, config)
        for key, value in _read_toml(path).items():
            labels[key] = f"{key} in {path}"
            values[key] = _coerce(key, value, label=labels[key])
        for key in _hints():
            name = f"{ENV_PREFIX}{key.upper()}"
            if env.get(name, "") != "":
                labels[key] = name
                values[key] = _coerce(key, env[name], label=name)
        for key, value in overrides.items():
            if value is not None:
                labels[key] = key
                values[key] = _coerce(key, value, label=key)
        own, nested = _split(values)
        for part, kind in PARTS.items():
            own[part] = kind(**nested.get(part, {}))
        settings = cls(**own)
        problem = first_problem(lambda key: getattr(settings, key), lambda key: labels.get(key, key))
        if problem:
            raise SettingsError(problem)
        return settings


def _config_path(env: Mapping[str, str], config: Path | None) -> Path | None:
    config = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if config is None and Path("roundup.toml").is_file():
        config = Path("roundup.toml")
    return config


def _read_toml(config: Path | None) -> dict:
    if config is None:
        return {}
    try:
        return tomllib.loads(Path(config).read_text("utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {config}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {config} is not valid TOML: {exc}") from None


def _split(values: Mapping[str, object]) -> tuple[dict[str, object], dict[str, dict[str, object]]]:
    """Flat names sorted into Settings' own fields and {part: {field: value}} for the nested parts."""
    own: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for key, value in values.items():
        if key in NESTED:
            part, attr = NESTED[key]
            nested.setdefault(part, {})[attr] = value
        else:
            own[key] = value
    return own, nested


_HINTS: dict[str, object] | None = None


def _hints() -> dict[str, object]:
    """Every settable flat name and its type: Settings' own fields, then the parts' fields by their flat names."""
    global _HINTS
    if _HINTS is None:
        hints = {k: v for k, v in typing.get_type_hints(Settings).items() if k not in PARTS and k != "extra"}
        part_hints = {part: typing.get_type_hints(kind) for part, kind in PARTS.items()}
        for key, (part, attr) in NESTED.items():
            hints[key] = part_hints[part][attr]
        _HINTS = hints
    return _HINTS


def _coerce(key: str, value: object, *, label: str | None = None) -> object:
    """`value` as the setting's type; SettingsError names the key as the user set it (`label`)."""
    hints = _hints()
    if key not in hints:
        raise SettingsError(f"unknown setting {key!r}")
    hint = hints[key]
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args and origin not in (tuple, frozenset) else hint
    try:
        if origin in (tuple, frozenset):
            if isinstance(value, str):
                return origin(v.strip() for v in value.replace("\n", ",").split(",") if v.strip())
            return origin(str(v) for v in value)  # type: ignore[union-attr]
        if base is bool:
            return _boolean(value)
        if base is Path:
            return Path(os.path.expanduser(str(value)))
        if base is int:
            return _whole(value)
        if base is float:
            return _number(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        rule = RULES.get(key)
        raise SettingsError(f"bad value for {label or key}: {exc}" + (f"; {rule.accepts}" if rule else "")) from None
    return value


def _whole(value: object) -> int:
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    try:
        return int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")
