"""The wav2vec2 evaluator against transformers' own code paths, on tiny random checkpoints of the real layouts."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affectproxy as ap
from affectproxy.batching import even_pieces
from affectproxy.errors import AffectProxyError, AudioError
from affectproxy.hashing import file_sha256 as sha256_file
from affectproxy.testing import check_evaluator, synthetic_signal
from affectproxy_wav2vec2 import Wav2Vec2Evaluator

LENGTHS = (0.5, 1.3, 2.0, 0.9, 3.1, 1.31, 0.03)  # seven lengths, one of them at the 25 ms minimum


def _segments(lengths: tuple[float, ...] = LENGTHS) -> list[ap.Segment]:
    rec = ap.Recording("r")
    return [ap.Segment(f"s{i}", rec, 0, s, audio=synthetic_signal(s, 16000, i)) for i, s in enumerate(lengths)]


def _one_by_one(ev: Wav2Vec2Evaluator, segs: list[ap.Segment]) -> list[ap.EmotionEstimate]:
    return [ev.evaluate([s])[0] for s in segs]


# -- contract and registration -------------------------------------------------------------------------------


def test_entry_point_registered_and_plugin_import_is_light() -> None:
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="affectproxy")}
    assert eps["wav2vec2"] == "affectproxy_wav2vec2.plugin"
    code = ("import sys, affectproxy_wav2vec2.plugin, affectproxy_wav2vec2; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("which", ["dim_dir", "cat_layer_dir", "cat_group_dir"])
def test_check_evaluator_passes_through_the_registry(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue(which)
    check_evaluator(ap.get_evaluator("wav2vec2", model=str(folder), max_batch_seconds=6.0), tolerance=1e-5)


def test_construction_does_no_io_and_check_reports_missing_weights(tmp_path: Path) -> None:
    ev = Wav2Vec2Evaluator(model=str(tmp_path / "nowhere"))
    assert ev.name == "wav2vec2" and ev.sample_rate == 16000
    with pytest.raises(AffectProxyError, match="no such directory"):
        ev.fingerprint()
    with pytest.raises(AffectProxyError, match="HF_HUB_OFFLINE"):
        Wav2Vec2Evaluator(model="someone/not-cached-model").fingerprint()
    from affectproxy_wav2vec2.plugin import check

    result = check()  # the test machine has no hub cache of the audeering model
    assert not result.ok and "hf download" in result.reason


def test_instance_check_and_missing_weights_message(dim_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert Wav2Vec2Evaluator(model=str(dim_dir)).check().ok  # model=DIR: the default hub id need not be cached
    assert not Wav2Vec2Evaluator(model=str(tmp_path / "nowhere")).check().ok
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = Wav2Vec2Evaluator(model="someone/not-cached-model").check()
    assert not result.ok and "\n" not in result.reason
    hf = result.reason.index("`hf download someone/not-cached-model --local-dir DIR`")
    assert hf < result.reason.index('`ap.get_evaluator("wav2vec2", model="DIR")`')
    assert '[[evaluators]] entry with type = "wav2vec2": `model = "DIR"`' in result.reason
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert Wav2Vec2Evaluator(model="someone/not-cached-model").check().ok  # downloadable on first use
    # a cached snapshot (the hub cache's own layout) is found without any network access
    snap = tmp_path / "hf" / "models--someone--cached" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (snap / name).write_bytes((dim_dir / name).read_bytes())
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Wav2Vec2Evaluator(model="someone/cached").info.path == snap


def test_batch_size_is_segments_per_call_and_forward_size_is_seconds() -> None:
    ev = Wav2Vec2Evaluator(model="/nowhere", device="cpu")
    assert ev.batch_size == 16 and ev.forward_seconds() == 0.0  # CPU: one window per forward pass
    ev = Wav2Vec2Evaluator(model="/nowhere", device="cpu", batch_size=5, max_batch_seconds=60)
    assert ev.batch_size == 5 and ev.forward_seconds() == 60.0


def test_fingerprint_holds_weight_hashes_and_is_stable(dim_dir: Path, dim_bin_dir: Path) -> None:
    fp = Wav2Vec2Evaluator(model=str(dim_dir)).fingerprint()
    assert fp["weights_sha256"] == {"model.safetensors": sha256_file(dim_dir / "model.safetensors")}
    import hashlib

    assert fp["weights_sha256"]["model.safetensors"] == hashlib.sha256(
        (dim_dir / "model.safetensors").read_bytes()).hexdigest()
    assert fp["kind"] == "dimensional" and json.dumps(fp)
    assert Wav2Vec2Evaluator(model=str(dim_dir), dtype="bfloat16").fingerprint() != fp
    assert "pytorch_model.bin" in Wav2Vec2Evaluator(model=str(dim_bin_dir)).fingerprint()["weights_sha256"]


# -- equality with the reference implementations ---------------------------------------------------------------


def test_dimensional_equals_the_model_card_computation(dim_dir: Path) -> None:
    """The audeering recipe written out independently: processor, Wav2Vec2Model, time mean, dense/tanh/out_proj."""
    import torch
    from safetensors.torch import load_file
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    backbone = Wav2Vec2Model.from_pretrained(dim_dir).eval()
    processor = Wav2Vec2FeatureExtractor.from_pretrained(dim_dir)
    w = load_file(dim_dir / "model.safetensors")
    segs = _segments()
    ours = Wav2Vec2Evaluator(model=str(dim_dir), clip=False, embeddings=True).evaluate(segs)
    for seg, est in zip(segs, ours, strict=True):
        x = processor(seg.audio, sampling_rate=16000, return_tensors="pt")["input_values"]
        with torch.no_grad():
            pooled = backbone(x).last_hidden_state.mean(dim=1)
            h = torch.tanh(pooled @ w["classifier.dense.weight"].T + w["classifier.dense.bias"])
            y = (h @ w["classifier.out_proj.weight"].T + w["classifier.out_proj.bias"])[0].numpy()
        assert est.values == pytest.approx(dict(zip(("arousal", "dominance", "valence"), y.tolist(), strict=True)),
                                           abs=1e-5)
        np.testing.assert_allclose(est.arrays["embedding"], pooled[0].numpy(), atol=1e-5)
    assert [d.name for d in Wav2Vec2Evaluator(model=str(dim_dir)).dimensions] == ["arousal", "dominance", "valence"]
    assert all((d.low, d.high) == (0.0, 1.0) for d in Wav2Vec2Evaluator(model=str(dim_dir)).dimensions)


@pytest.mark.parametrize("which", ["cat_layer_dir", "cat_group_dir"])
def test_categorical_equals_the_transformers_pipeline(which: str, request: pytest.FixtureRequest) -> None:
    from transformers import pipeline

    folder = request.getfixturevalue(which)
    pipe = pipeline("audio-classification", model=str(folder), top_k=None, device="cpu")
    segs = _segments()
    ours = Wav2Vec2Evaluator(model=str(folder), max_batch_seconds=20.0).evaluate(segs)
    for seg, est in zip(segs, ours, strict=True):
        ref = {r["label"]: r["score"] for r in pipe({"raw": seg.audio, "sampling_rate": 16000})}
        assert est.categories == pytest.approx(ref, abs=1e-5)
        a, v = ap.circumplex.project({{"neu": "neutral", "hap": "happy", "ang": "angry"}.get(k, k): p
                                      for k, p in ref.items()})
        assert est.values == pytest.approx({"arousal": a, "valence": v}, abs=1e-5)


def test_legacy_bin_checkpoint_loads_like_safetensors(dim_dir: Path, dim_bin_dir: Path) -> None:
    segs = _segments()[:3]
    a = Wav2Vec2Evaluator(model=str(dim_dir)).evaluate(segs)
    b = Wav2Vec2Evaluator(model=str(dim_bin_dir)).evaluate(segs)
    np.testing.assert_allclose([list(e.values.values()) for e in a], [list(e.values.values()) for e in b], atol=1e-6)


# -- batching --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dim_dir", "cat_layer_dir", "cat_group_dir"])
def test_batched_equals_sequential_on_mixed_lengths(which: str, request: pytest.FixtureRequest) -> None:
    folder = request.getfixturevalue(which)
    segs = _segments((*LENGTHS, 2.0, 0.5))  # repeated lengths let group-norm models batch too
    batched = Wav2Vec2Evaluator(model=str(folder), max_batch_seconds=100.0, clip=False, embeddings=True)
    assert batched.forward_seconds() == 100.0
    single = _one_by_one(Wav2Vec2Evaluator(model=str(folder), max_batch_seconds=0, clip=False, embeddings=True), segs)
    assert single[0].raw["windows"] == 1
    for x, y in zip(batched.evaluate(segs), single, strict=True):
        assert x.segment_id == y.segment_id
        np.testing.assert_allclose(x.arrays["embedding"], y.arrays["embedding"], atol=1e-5)
        assert x.values == pytest.approx(y.values, abs=1e-6)


def test_naive_padding_would_deviate_on_group_norm(cat_group_dir: Path) -> None:
    """The test can tell: padding a group-norm model without care moves its outputs by far more than 1e-3."""
    import torch
    from transformers import AutoModelForAudioClassification, Wav2Vec2FeatureExtractor

    model = AutoModelForAudioClassification.from_pretrained(cat_group_dir).eval()
    processor = Wav2Vec2FeatureExtractor.from_pretrained(cat_group_dir)
    segs = _segments()[:5]
    padded = processor([s.audio for s in segs], sampling_rate=16000, padding=True, return_tensors="pt")
    with torch.no_grad():
        naive = torch.softmax(model(padded["input_values"]).logits, -1).numpy()
    ours = Wav2Vec2Evaluator(model=str(cat_group_dir), max_batch_seconds=100.0).evaluate(segs)
    exact = np.array([list(e.categories.values()) for e in ours])
    assert np.abs(naive - exact).max() > 1e-3


def test_long_segments_are_windowed(dim_dir: Path) -> None:
    assert even_pieces(10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert even_pieces(4, 4) == [(0, 4)]
    segs = _segments((3.5, 1.2, 2.6))
    short = Wav2Vec2Evaluator(model=str(dim_dir), max_window_seconds=1.0, max_batch_seconds=8.0, clip=False)
    est = short.evaluate(segs)
    assert [e.raw["windows"] for e in est] == [4, 2, 3]
    for a, b in zip(est, _one_by_one(short, segs), strict=True):
        assert a.values == pytest.approx(b.values, abs=1e-6)
    whole = Wav2Vec2Evaluator(model=str(dim_dir), clip=False).evaluate(segs)
    assert [e.raw["windows"] for e in whole] == [1, 1, 1]
    gap = max(abs(a.values[k] - b.values[k]) for a, b in zip(est, whole, strict=True) for k in a.values)
    assert 0 < gap < 0.1  # windows see less context, but pool the same frames


def test_bfloat16_stays_close_to_float32(dim_dir: Path) -> None:
    segs = _segments()[:4]
    fp32 = Wav2Vec2Evaluator(model=str(dim_dir), clip=False).evaluate(segs)
    bf16 = Wav2Vec2Evaluator(model=str(dim_dir), clip=False, dtype="bfloat16").evaluate(segs)
    gap = max(abs(a.values[k] - b.values[k]) for a, b in zip(fp32, bf16, strict=True) for k in a.values)
    assert 0 < gap < 0.05


# -- refusing wrong or unsafe checkpoints ----------------------------------------------------------------------


def test_stock_class_on_the_dimensional_checkpoint_is_refused(dim_dir: Path) -> None:
    ev = Wav2Vec2Evaluator(model=str(dim_dir), kind="categorical", aliases={"arousal": "happy", "valence": "sad"})
    with pytest.raises(AffectProxyError, match=r"classifier\.dense\.weight.*kind='auto'") as err:
        ev.evaluate(_segments()[:1])
    assert str(dim_dir) in str(err.value) and "random" in str(err.value)


def test_dimensional_class_on_a_categorical_checkpoint_is_refused(cat_layer_dir: Path) -> None:
    ev = Wav2Vec2Evaluator(model=str(cat_layer_dir), kind="dimensional")
    with pytest.raises(AffectProxyError, match="id2label"):
        ev.evaluate(_segments()[:1])


def test_missing_keys_are_refused(cat_layer_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(cat_layer_dir / "model.safetensors")
    del weights["projector.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_text((cat_layer_dir / name).read_text())
    with pytest.raises(AffectProxyError, match=r"missing keys \[projector\.weight\]"):
        Wav2Vec2Evaluator(model=str(tmp_path)).evaluate(_segments()[:1])


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(_Payload.target),))

    target = Path()


def test_pickle_with_arbitrary_objects_is_not_executed(dim_bin_dir: Path, tmp_path: Path) -> None:
    import torch

    target = tmp_path / "pwned"
    _Payload.target = target
    state = torch.load(dim_bin_dir / "pytorch_model.bin", weights_only=True)
    state["evil"] = _Payload()
    torch.save(state, tmp_path / "pytorch_model.bin")
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_text((dim_bin_dir / name).read_text())
    with pytest.raises(AffectProxyError, match="weights_only"):
        Wav2Vec2Evaluator(model=str(tmp_path)).evaluate(_segments()[:1])
    assert not target.exists()


# -- bad inputs and options ------------------------------------------------------------------------------------


def test_bad_audio_names_the_segment_and_the_fix(dim_dir: Path) -> None:
    ev = Wav2Vec2Evaluator(model=str(dim_dir))
    rec = ap.Recording("speech")
    cases = [
        (None, "no audio"),
        (np.zeros((16000, 2), np.float32), "mono"),
        (np.zeros(100, np.float32), "at least 400"),
        (np.array([0.1, np.nan] * 8000, np.float32), "NaN"),
    ]
    for audio, message in cases:
        seg = ap.Segment("bad-1", rec, 0, 1, audio=audio)
        with pytest.raises(AudioError, match=message) as err:
            ev.evaluate([seg])
        assert "'bad-1'" in str(err.value)
    assert ev.evaluate([]) == []
    # integer PCM is scaled like emotion2vec does (one shared guard in affectproxy.audio.segment_samples)
    tone = (0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    pcm = np.round(tone * 32768).astype(np.int16)
    as_float, as_pcm = ev.evaluate([ap.Segment("f", rec, 0, 1, audio=tone), ap.Segment("i", rec, 0, 1, audio=pcm)])
    assert as_pcm.values == pytest.approx(as_float.values, abs=1e-3)


def test_bad_options_and_unmappable_labels(cat_layer_dir: Path) -> None:
    for options in ({"kind": "regression"}, {"dtype": "int8"}, {"max_batch_seconds": -1}, {"batch_size": 0},
                    {"max_window_seconds": 0.1}):
        with pytest.raises(ValueError):
            Wav2Vec2Evaluator(**options)
    with pytest.raises(AffectProxyError, match="not a torch device"):
        Wav2Vec2Evaluator(model=str(cat_layer_dir), device="tpu9").evaluate(_segments()[:1])
    with pytest.raises(AffectProxyError, match="aliases"):
        _ = Wav2Vec2Evaluator(model=str(cat_layer_dir), circumplex={"bored": (-0.3, -0.5)}).dimensions


def test_outputs_beyond_the_range_are_clipped(dim_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(dim_dir / "model.safetensors")
    weights["classifier.out_proj.bias"] = weights["classifier.out_proj.bias"] + 5.0
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_text((dim_dir / name).read_text())
    est = Wav2Vec2Evaluator(model=str(tmp_path)).evaluate(_segments()[:1])[0]
    assert est.values == {"arousal": 1.0, "dominance": 1.0, "valence": 1.0}
    assert min(est.raw["outputs"].values()) > 1.0
    raw = Wav2Vec2Evaluator(model=str(tmp_path), clip=False)
    assert raw.evaluate(_segments()[:1])[0].values == est.raw["outputs"]
    assert all(d.high == float("inf") for d in raw.dimensions)
