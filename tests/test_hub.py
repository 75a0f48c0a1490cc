"""Hub cache lookup against huggingface_hub's own, offline; the missing-weights hint (affectproxy.hub)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from affectproxy import hub

_HUB_VARS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE",
             "TRANSFORMERS_OFFLINE", "MODELSCOPE_CACHE")


def _fake_snapshot(cache: Path, repo: str, commit: str, files: dict[str, str]) -> Path:
    base = cache / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, text in files.items():
        (snap / name).write_text(text)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    return snap


def _huggingface_hub_says(repo: str, env: dict[str, str]) -> str:
    """huggingface_hub's own answer, in a fresh process (its constants are read at import)."""
    code = ("import sys\nfrom huggingface_hub import snapshot_download\n"
            "try:\n    print(snapshot_download(sys.argv[1], local_files_only=True))\n"
            "except Exception as e:\n    print('MISSING', type(e).__name__)\n")
    clean = {k: v for k, v in os.environ.items() if k not in _HUB_VARS}
    out = subprocess.run([sys.executable, "-c", code, repo], env={**clean, **env, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("variable", ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"])
def test_cached_snapshot_agrees_with_huggingface_hub(tmp_path: Path, variable: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _HUB_VARS:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "root"
    cache = {"HF_HUB_CACHE": root, "HUGGINGFACE_HUB_CACHE": root, "HF_HOME": root / "hub",
             "XDG_CACHE_HOME": root / "huggingface" / "hub"}[variable]
    snap = _fake_snapshot(cache, "org/model", "0123abc", {"config.json": json.dumps({"a": 1})})
    _fake_snapshot(cache, "org/other", "feed42", {"weights.bin": "x"})
    monkeypatch.setenv(variable, str(root))
    env = {variable: str(root)}
    assert hub.hf_cache_dir() == cache
    assert hub.cached_snapshot("org/model", "hf") == snap
    assert _huggingface_hub_says("org/model", env) == str(snap)
    assert hub.cached_snapshot("org/missing", "hf") is None
    assert _huggingface_hub_says("org/missing", env).startswith("MISSING")
    assert hub.cached_snapshot("org/model", "hf", required=("config.json", "model.safetensors")) is None


def test_modelscope_layouts_and_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    assert hub.cached_snapshot("iic/m", "ms") is None
    (tmp_path / "ms" / "iic" / "m").mkdir(parents=True)  # the older layout
    assert hub.cached_snapshot("iic/m", "ms") == tmp_path / "ms" / "iic" / "m"
    (tmp_path / "ms" / "models" / "iic" / "m").mkdir(parents=True)  # the newer one wins
    assert hub.cached_snapshot("iic/m", "ms") == tmp_path / "ms" / "models" / "iic" / "m"
    with pytest.raises(ValueError, match="hub must be"):
        hub.cache_candidates("a/b", "github")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert hub.offline()
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
        hub.download_snapshot("org/model")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert not hub.offline()


def test_fetch_hint_names_hf_first_and_both_spellings() -> None:
    text = hub.fetch_hint("emotion2vec", "emotion2vec/emotion2vec_plus_large", ms_repo="iic/emotion2vec_plus_large")
    assert "\n" not in text
    hf = text.index("`hf download emotion2vec/emotion2vec_plus_large --local-dir DIR`")
    assert hf < text.index("`modelscope download --model iic/emotion2vec_plus_large --local_dir DIR`")
    assert "huggingface-cli" not in text  # huggingface_hub 1.x and later install only `hf`
    assert '`ap.get_evaluator("emotion2vec", model="DIR")`' in text
    assert '[[evaluators]] entry with type = "emotion2vec": `model = "DIR"`' in text
