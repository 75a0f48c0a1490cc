"""Finding, building and strictly loading models; the missing-model error; fingerprints; the plugin's check()."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import affectproxy as ap
from affectproxy_emotion2vec.checkpoint import CheckpointError, build_model, min_samples
from affectproxy_emotion2vec.evaluator import Emotion2vecEvaluator
from affectproxy_emotion2vec.locate import ModelNotFoundError, hub_repo, resolve
from affectproxy_emotion2vec.plugin import check
from affectproxy_emotion2vec.testing import model_conf, save_random_model


def test_entry_point_and_listing() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="affectproxy")}
    assert eps["emotion2vec"].value == "affectproxy_emotion2vec.plugin"
    row = {r.name: r for r in ap.list_evaluators()}["emotion2vec"]
    assert row.installed and row.missing == ()


def test_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys, affectproxy_emotion2vec.plugin as p; p.check(); "
            "print(sorted(m for m in ('torch', 'funasr', 'modelscope', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_construction_only_stores_options(tmp_path: Path) -> None:
    assert ap.get_evaluator("emotion2vec", model=str(tmp_path / "not-yet-there")).name == "emotion2vec"
    ev = Emotion2vecEvaluator(str(tmp_path / "not-yet-there"), name="e2v")
    assert ev.name == "e2v" and ev.sample_rate == 16000 and [d.name for d in ev.dimensions] == ["arousal", "valence"]
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ev.fingerprint()


@pytest.mark.parametrize("bad", [{"hub": "github"}, {"dtype": "int8"}, {"window": -1}, {"hop": 0.5},
                                 {"batch_size": 0}, {"window": 40.0, "max_window": 30.0},
                                 {"max_batch_seconds": -1}, {"max_batch_seconds": float("inf")}])
def test_bad_options(bad: dict) -> None:
    with pytest.raises(ValueError):
        Emotion2vecEvaluator("iic/emotion2vec_plus_large", **bad)


def test_missing_local_dir_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve(str(tmp_path / "weights"))
    msg = str(info.value)
    assert str(tmp_path / "weights") in msg and "\n" not in msg
    hf = msg.index("`hf download emotion2vec/emotion2vec_plus_large --local-dir DIR`")  # the CLI that is installed
    assert hf < msg.index("modelscope download --model iic/emotion2vec_plus_large")
    assert "huggingface-cli" not in msg
    assert '`ap.get_evaluator("emotion2vec", model="DIR")`' in msg  # Python spelling
    assert '[[evaluators]] entry with type = "emotion2vec": `model = "DIR"`' in msg  # study-file spelling


def test_instance_check_sees_its_own_options(tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert Emotion2vecEvaluator(str(tiny_dir)).check().ok  # model=DIR: the default hub id need not be cached
    missing = Emotion2vecEvaluator(str(tmp_path / "nowhere")).check()
    assert not missing.ok and "does not exist" in missing.reason and "hf download" in missing.reason
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = Emotion2vecEvaluator("iic/emotion2vec_plus_base").check()
    assert not offline.ok and "HF_HUB_OFFLINE" in offline.reason
    assert not Emotion2vecEvaluator("iic/emotion2vec_plus_base", download=False).check().ok
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert Emotion2vecEvaluator("iic/emotion2vec_plus_base").check().ok  # downloadable on first use
    from affectproxy.registry import check_evaluators

    assert check_evaluators([Emotion2vecEvaluator(str(tiny_dir))]) == []


def test_incomplete_dir_names_missing_files(tmp_path: Path, tiny_dir: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "m")
    (tmp_path / "m" / "tokens.txt").unlink()
    with pytest.raises(ModelNotFoundError, match=r"lacks tokens\.txt"):
        resolve(str(tmp_path / "m"))


def test_hub_id_not_cached_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    with pytest.raises(ModelNotFoundError) as info:
        Emotion2vecEvaluator("iic/emotion2vec_plus_base", download=False).fingerprint()
    msg = str(info.value)
    assert str(tmp_path / "ms" / "models" / "iic" / "emotion2vec_plus_base") in msg
    assert "`hf download emotion2vec/emotion2vec_plus_base --local-dir DIR`" in msg


def test_hub_ids_resolve_from_both_caches(tmp_path: Path, tiny_hub_dir: Path, segments,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert not check().ok and "hf download" in check().reason
    shutil.copytree(tiny_hub_dir, tmp_path / "ms" / "models" / "iic" / "emotion2vec_plus_large")
    repo = tmp_path / "hf" / "models--emotion2vec--emotion2vec_plus_seed"
    shutil.copytree(tiny_hub_dir, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert check().ok
    ms = Emotion2vecEvaluator("iic/emotion2vec_plus_large", download=False, device="cpu")
    hf = Emotion2vecEvaluator("iic/emotion2vec_plus_seed", hub="hf", download=False, device="cpu")
    local = Emotion2vecEvaluator(str(tiny_hub_dir), device="cpu")
    assert hf.files().directory == repo / "snapshots" / "abc123"
    a, b, c = (ev.evaluate(segments[:3]) for ev in (ms, hf, local))
    assert [e.values for e in a] == [e.values for e in b] == [e.values for e in c]
    assert ms.fingerprint()["model"] == "iic/emotion2vec_plus_large" and ms.fingerprint()["hub"] == "ms"
    assert hub_repo("iic/emotion2vec_plus_seed", "hf") == "emotion2vec/emotion2vec_plus_seed"


def _write_config(directory: Path, conf: dict) -> None:
    data = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    data["model_conf"] = conf
    (directory / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_config_mismatch_is_an_error_naming_keys(tmp_path: Path, tiny_dir: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "m")
    _write_config(tmp_path / "m", model_conf(depth=3))  # one block more than the weights have
    with pytest.raises(CheckpointError, match=r"missing keys: blocks\.2\.") as info:
        build_model(resolve(str(tmp_path / "m")))
    assert str(tmp_path / "m" / "model.pt") in str(info.value)


def test_implicit_norm_affine_drops_weights_loudly(tmp_path: Path, tiny_dir: Path) -> None:
    # funasr's own loader would skip these LayerNorm weights with a log line and run with random ones
    shutil.copytree(tiny_dir, tmp_path / "m")
    conf = model_conf()
    del conf["norm_affine"]
    _write_config(tmp_path / "m", conf)
    with pytest.raises(CheckpointError, match=r"unexpected keys: .*norm.*weight.*norm_affine: true"):
        build_model(resolve(str(tmp_path / "m")))


def test_shape_mismatch_is_an_error(tmp_path: Path, tiny_dir: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "m")
    (tmp_path / "m" / "tokens.txt").write_text("a\nb\n<unk>\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"shape mismatches .*proj\.weight \(9, 32\) vs \(3, 32\)"):
        build_model(resolve(str(tmp_path / "m")))


class Payload:
    """Any object a pickle could carry."""


def test_checkpoint_with_objects_is_not_unpickled(tmp_path: Path, tiny_dir: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "m")
    state = torch.load(tiny_dir / "model.pt", weights_only=True)
    torch.save({"model": state["model"], "extra": Payload()}, tmp_path / "m" / "model.pt")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        build_model(resolve(str(tmp_path / "m")))


def test_code_in_conv_spec_is_rejected(tmp_path: Path, tiny_dir: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "m")
    _write_config(tmp_path / "m", model_conf(feature_encoder_spec="__import__('os').getcwd()"))
    with pytest.raises(CheckpointError, match="feature_encoder_spec"):
        build_model(resolve(str(tmp_path / "m")))


def test_loaded_module_matches_checkpoint(tiny_dir: Path) -> None:
    model, conf, tokens = build_model(resolve(str(tiny_dir)))
    state = torch.load(tiny_dir / "model.pt", weights_only=True)["model"]
    assert set(model.state_dict()) == set(state)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert min_samples(conf) == 400 and len(tokens) == 9 and not model.training


def test_fingerprint_hashes_weights(tmp_path: Path, tiny_dir: Path) -> None:
    ev = Emotion2vecEvaluator(str(tiny_dir), circumplex="warriner2013")
    fp = ev.fingerprint()
    assert fp["weights_sha256"] == hashlib.sha256((tiny_dir / "model.pt").read_bytes()).hexdigest()
    assert fp["circumplex"]["name"] == "warriner2013" and fp["output_version"] == 2
    assert fp["labels"][0] == "angry" and fp["labels"][-1] == "unknown"
    other = save_random_model(tmp_path / "other", model_conf(), seed=7)
    assert Emotion2vecEvaluator(str(other)).fingerprint()["weights_sha256"] != fp["weights_sha256"]
    os.utime(tiny_dir / "model.pt")
    assert ev.fingerprint() == fp


def test_unuse_placeholders_are_dropped(tmp_path: Path, segments) -> None:
    tokens = ("生气/angry", "unuse_0", "开心/happy", "<unk>")
    d = save_random_model(tmp_path / "m", model_conf(), tokens=tokens)
    est = Emotion2vecEvaluator(str(d), device="cpu").evaluate(segments[:1])[0]
    assert list(est.categories) == ["angry", "happy", "unknown"]
    assert abs(sum(est.categories.values()) - 1) < 1e-6
    assert np.isfinite(list(est.values.values())).all()
