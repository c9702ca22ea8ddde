"""The ONNX Runtime encoder against sentence-transformers on the real bundled model.

One export per session (fp32 and int8, in a tmp cache); tests that damage a cache work on a copy.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings, SettingsError
from corpus.bundled import bundled_dir
from embeddings.encoder import DEFAULT_MODEL, EncoderError, create_encoder
from embeddings.onnx_encoder import OnnxEncoder
from embeddings.onnx_export import MANIFEST, VARIANTS, check_cache, ensure_onnx, locate_model, sha256

ROOT = Path(__file__).resolve().parent.parent

LONG = " ".join(
    f"In week {i} Huawei, Xiaomi and BYD reported results while regulators in Beijing weighed new rules "
    f"for platform companies such as Alibaba, Tencent and Meituan." for i in range(30))


def _corpus_passages(n: int) -> list[str]:
    """A few real passages of the bundled roundups, the texts the index actually holds."""
    texts = []
    with open(bundled_dir() / "sample_roundups.jsonl", encoding="utf-8") as fh:
        for line in fh:
            for section in json.loads(line).get("sections", []):
                texts += [p for p in section.get("paragraphs", []) if len(p) > 120]
            if len(texts) >= n:
                break
    return texts[:n]


TEXTS = [
    "", " ", "\n\t", "?", "AI", "Tencent", "Who bought Ele.me?",
    "What did the roundup say about TikTok's US data?",
    "阿里巴巴收购了饿了么", "华为发布了新的麒麟芯片，由中芯国际制造。", "字节跳动 ByteDance 的 抖音 Douyin",
    "Xiaomi SU7 🚗⚡ sold 100,000 units — a record!", "https://www.example.com/2023/05/roundup?id=42",
    "ＢＹＤ　全角文字", "  leading and trailing spaces  ", LONG,
] + _corpus_passages(4)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """The bundled model exported once (fp32, then int8 from it) into a session cache."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    ensure_onnx(DEFAULT_MODEL, cache, "int8")
    return cache


@pytest.fixture(scope="session")
def reference(encoder) -> np.ndarray:
    return encoder.encode_queries(TEXTS)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_texts_cover_truncation_and_non_latin(onnx_cache):
    enc = OnnxEncoder(cache_dir=onnx_cache)
    assert enc.max_tokens == 256  # sentence_bert_config.json, not tokenizer.json's 128
    lengths = [len(e.ids) for e in enc.loaded.tokenizer.encode_batch(TEXTS)]
    assert max(lengths) == 256  # LONG was cut to the model's limit
    assert len(TEXTS) >= 20 and len(_corpus_passages(4)) == 4


def test_fp32_matches_sentence_transformers(onnx_cache, reference):
    enc = OnnxEncoder(cache_dir=onnx_cache)
    batch = enc.encode(TEXTS)
    single = np.vstack([enc.encode_query(t) for t in TEXTS])
    assert batch.shape == (len(TEXTS), 384) and batch.dtype == np.float32
    assert enc.encoded == len(TEXTS)
    for name, got in (("batch", batch), ("single", single)):
        cos = _cosines(reference, got)
        bad = [(TEXTS[i][:40], round(float(c), 4)) for i, c in enumerate(cos) if c < 0.99]
        assert not bad, f"{name}: {bad}"
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_int8_stays_close(onnx_cache, reference):
    enc = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    cos = _cosines(reference, enc.encode(TEXTS))
    print(f"\nint8 vs sentence-transformers cosine: mean {cos.mean():.4f}, min {cos.min():.4f}")
    assert cos.min() >= 0.95, [(TEXTS[i][:40], round(float(c), 4)) for i, c in enumerate(cos) if c < 0.95]
    assert cos.mean() >= 0.98


def test_empty_input_gives_an_empty_matrix(onnx_cache):
    assert OnnxEncoder(cache_dir=onnx_cache).encode_queries([]).shape == (0, 384)


def _copy_cache(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return next(p.parent for p in dest.rglob(MANIFEST))


def test_damaged_export_is_rebuilt_once_by_concurrent_loaders(onnx_cache, tmp_path, caplog, reference):
    target = _copy_cache(onnx_cache, tmp_path / "cache")
    onnx_file = target / VARIANTS["fp32"]
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # zero 64 bytes of weights: loads, but wrong
    onnx_file.write_bytes(bytes(data))
    files = locate_model(DEFAULT_MODEL)
    assert check_cache(target, files, "fp32") == "damaged (checksum mismatch)"

    results: list[Path] = []
    caplog.set_level(logging.WARNING, logger="embeddings.onnx_export")
    threads = [threading.Thread(target=lambda: results.append(ensure_onnx(DEFAULT_MODEL, tmp_path / "cache")[1]))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [onnx_file, onnx_file]
    warnings = [r for r in caplog.records if r.name == "embeddings.onnx_export"]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert check_cache(target, files, "fp32") is None
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["files"]["fp32"]["sha256"] == sha256(onnx_file)
    assert "int8" not in manifest["files"]  # derived from the bad file: rebuilt when next asked for
    assert not [p for p in target.iterdir() if p.name.endswith(".tmp.onnx")]
    got = OnnxEncoder(cache_dir=tmp_path / "cache").encode(TEXTS[:8])
    assert _cosines(reference[:8], got).min() >= 0.99


def test_missing_int8_is_requantised_without_a_new_export(onnx_cache, tmp_path, caplog):
    target = _copy_cache(onnx_cache, tmp_path / "cache")
    fp32_mtime = (target / VARIANTS["fp32"]).stat().st_mtime_ns
    (target / VARIANTS["int8"]).unlink()
    caplog.set_level(logging.WARNING, logger="embeddings.onnx_export")
    _, path = ensure_onnx(DEFAULT_MODEL, tmp_path / "cache", "int8")
    assert path.is_file() and check_cache(target, locate_model(DEFAULT_MODEL), "int8") is None
    assert (target / VARIANTS["fp32"]).stat().st_mtime_ns == fp32_mtime
    assert [r.getMessage() for r in caplog.records if "file missing" in r.getMessage()]


def test_stale_or_unreadable_manifest_is_detected(onnx_cache, tmp_path):
    target = _copy_cache(onnx_cache, tmp_path / "cache")
    files = locate_model(DEFAULT_MODEL)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["source"].update(size=1, sha256="0" * 64)  # as if the model's weights had changed
    (target / MANIFEST).write_text(json.dumps(manifest))
    assert check_cache(target, files, "fp32") == "stale (the model's weights changed)"
    manifest["source"]["path"] = "/elsewhere/model"
    (target / MANIFEST).write_text(json.dumps(manifest))
    assert check_cache(target, files, "fp32").startswith("stale")
    (target / MANIFEST).write_text("{not json")
    assert check_cache(target, files, "fp32") == "damaged (unreadable manifest)"
    (target / MANIFEST).unlink()
    assert check_cache(target, files, "fp32") == "missing"


def test_unknown_backend_is_a_one_line_error(tmp_path):
    with pytest.raises(EncoderError, match=r"unknown encoder backend 'tensorflow': choose one of torch, onnx"):
        create_encoder(backend="tensorflow")
    with pytest.raises(SettingsError) as info:  # the setting is refused when Settings load
        Settings.load(env={"ROUNDUP_ENCODER_BACKEND": "onnx-fp8"}, data_dir=tmp_path / "d")
    assert "\n" not in str(info.value) and "ROUNDUP_ENCODER_BACKEND: 'onnx-fp8'" in str(info.value)


def test_factory_shares_one_instance_per_backend(onnx_cache):
    a = create_encoder(backend="onnx", cache_dir=onnx_cache)
    assert create_encoder(backend="onnx", cache_dir=onnx_cache) is a
    b = create_encoder(backend="onnx-int8", cache_dir=onnx_cache)
    assert isinstance(a, OnnxEncoder) and isinstance(b, OnnxEncoder) and b is not a
    assert (a.variant, b.variant) == ("fp32", "int8")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=240)


NO_TORCH = ("heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
            "assert not heavy, heavy\n")


def test_encoding_from_a_cached_export_never_imports_torch(onnx_cache):
    code = ("import sys\nfrom embeddings.encoder import create_encoder\n"
            f"enc = create_encoder(backend='onnx', cache_dir={str(onnx_cache)!r})\n"
            "v = enc.encode_query('Who owns TikTok?')\n"
            "assert v.shape == (1, 384), v.shape\n" + NO_TORCH + "print('ok')\n")
    proc = _run(code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_cli_ask_on_onnx_never_imports_torch(onnx_cache, bundled_copy):
    """`ask` end to end (service, indexes, ranking) with the export already in the data dir."""
    shutil.copytree(onnx_cache, bundled_copy / "models")
    code = ("import sys\nfrom bot.cli import main\n"
            "rc = main(['ask', '--json', 'Where does TikTok say it keeps American users data?'])\n"
            "assert rc == 0, rc\n" + NO_TORCH)
    proc = _run(code, ROUNDUP_DATA_DIR=str(bundled_copy), ROUNDUP_ENCODER_BACKEND="onnx")
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["answered"] and "Singapore" in json.dumps(answer), answer


def test_large_batches_use_the_batch_session_questions_the_query_one(onnx_cache):
    enc = OnnxEncoder(cache_dir=onnx_cache, threads=1, batch_threads=2)
    enc.encode_query("one question")
    enc.encode_queries(["a few", "sentences"])
    assert set(enc._sessions) == {1}
    enc.encode_queries([f"sentence {i}" for i in range(20)])
    assert set(enc._sessions) == {1, 2}
    assert enc._sessions[2].get_session_options().intra_op_num_threads == 2


def test_a_model_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "modules.json").write_text("[]")
    with pytest.raises(EncoderError, match="no Transformer module"):
        OnnxEncoder(str(tmp_path / "broken"), cache_dir=tmp_path / "cache").encode_query("x")
    modules = [{"path": "", "type": "sentence_transformers.models.Transformer"}]
    (tmp_path / "broken" / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EncoderError, match="lacks weights or tokenizer.json"):
        OnnxEncoder(str(tmp_path / "broken"), cache_dir=tmp_path / "cache").encode_query("x")


def test_token_vectors_match_sentence_transformers_and_the_query_vector(onnx_cache, encoder):
    """Late interaction (embeddings/support.py) reads the same tokens on either backend, and the
    question's tokens come from the run that makes its vector."""
    enc = OnnxEncoder(cache_dir=onnx_cache)
    text = "  How much did Tencent spend on R&D in 2019?"
    vec, tokens = enc.encode_query_tokens(text)
    assert np.allclose(vec, enc.encode_query(text), atol=1e-6)
    reference = encoder.encode_tokens([text])[0]
    assert tokens.offsets == reference.offsets  # characters of the caller's text, leading spaces kept
    assert text[slice(*tokens.offsets[0])] == "How"
    assert _cosines(tokens.vectors, reference.vectors).min() > 0.99
    passages = enc.encode_tokens(["Tencent spent $2 billion.", ""], side="passage")
    assert len(passages[0].vectors) >= 5 and len(passages[1].vectors) == 0


def test_token_cap_matches_torch_on_the_text_s_start(onnx_cache, encoder):
    """`encode_tokens(max_tokens=)` on ONNX cuts where torch does and keeps the offsets."""
    enc = OnnxEncoder(cache_dir=onnx_cache)
    text = _corpus_passages(1)[0]
    mine, theirs = enc.encode_tokens([text], side="passage", max_tokens=12)[0], \
        encoder.encode_tokens([text], side="passage", max_tokens=12)[0]
    assert len(mine.vectors) == 12 and mine.offsets == theirs.offsets
    assert _cosines(mine.vectors, theirs.vectors).min() > 0.95
