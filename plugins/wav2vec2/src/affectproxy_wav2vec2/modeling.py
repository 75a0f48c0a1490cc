"""The audeering regression head, and strict, pickle-free loading of wav2vec2 checkpoints.

Imports torch and transformers: import this module only when weights are needed.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForAudioClassification, Wav2Vec2Config, Wav2Vec2ForSequenceClassification
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Model, Wav2Vec2PreTrainedModel

from affectproxy.errors import AffectProxyError
from affectproxy_wav2vec2.checkpoint import CheckpointInfo

# Keys a checkpoint may lack without changing inference (the SpecAugment mask embedding is used in training only).
_IGNORABLE_MISSING = frozenset({"wav2vec2.masked_spec_embed"})


class RegressionHead(nn.Module):
    """dropout -> dense (hidden -> hidden) -> tanh -> dropout -> out_proj (hidden -> num_labels)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)  # type: ignore[arg-type]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.dropout(features)
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))  # type: ignore[no-any-return]


class Wav2Vec2DimensionalModel(Wav2Vec2PreTrainedModel):
    """Wav2Vec2Model + regression head on the time-mean of the last hidden state (the audeering ``EmotionModel``).

    The state-dict keys match audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim: ``wav2vec2.*``,
    ``classifier.dense.*``, ``classifier.out_proj.*``. Unlike the original, the mean skips padded frames, so a
    padded batch gives what each input gives alone.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.wav2vec2 = Wav2Vec2Model(config)
        self.classifier = RegressionHead(config)
        self.post_init()

    def forward(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (pooled last hidden state (batch, hidden), outputs (batch, num_labels))."""
        hidden = self.wav2vec2(input_values, attention_mask=attention_mask).last_hidden_state
        if attention_mask is None:
            pooled = hidden.mean(dim=1)
        else:
            frames = self._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)  # type: ignore[arg-type]
            frames = frames.to(hidden.dtype)
            pooled = (hidden * frames.unsqueeze(-1)).sum(dim=1) / frames.sum(dim=1, keepdim=True)
        return pooled, self.classifier(pooled)


def _describe(keys: Any, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_model(info: CheckpointInfo) -> Wav2Vec2DimensionalModel | Wav2Vec2ForSequenceClassification:
    """Load a checkpoint strictly: safetensors or ``torch.load(weights_only=True)``, every key accounted for.

    Args:
        info: the checkpoint; ``info.kind`` picks the class (dimensional: :class:`Wav2Vec2DimensionalModel`,
            categorical: ``AutoModelForAudioClassification``).

    Returns:
        The model in eval mode, on the CPU, in float32.

    Raises:
        AffectProxyError: unreadable or unsafe weights (a pickle that needs arbitrary objects), or missing,
            unexpected or mismatched keys (e.g. the audeering checkpoint forced into the stock class, which would
            otherwise run with a random head).
    """
    import transformers

    transformers.utils.logging.disable_progress_bar()
    cls: Any = Wav2Vec2DimensionalModel if info.kind == "dimensional" else AutoModelForAudioClassification
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # transformers 5 prints its load report on stdout
            model, loading = cls.from_pretrained(
                str(info.path),
                local_files_only=True,
                use_safetensors=info.use_safetensors,
                weights_only=True,
                output_loading_info=True,
                dtype=torch.float32,
            )
    except Exception as exc:
        raise AffectProxyError(
            f"wav2vec2 checkpoint {info.model!r} ({info.path}) could not be loaded safely: "
            f"{type(exc).__name__}: {str(exc)[:500]}. Weights load only from safetensors or from a pickle that "
            "torch.load(weights_only=True) accepts; convert other checkpoints to safetensors."
        ) from exc
    finally:
        transformers.utils.logging.set_verbosity(verbosity)
    missing = set(loading.get("missing_keys") or ()) - _IGNORABLE_MISSING
    unexpected = set(loading.get("unexpected_keys") or ())
    mismatched = {str(k[0] if isinstance(k, tuple) else k) for k in loading.get("mismatched_keys") or ()}
    if missing or unexpected or mismatched or loading.get("error_msgs"):
        other = "categorical" if info.kind == "dimensional" else "dimensional"
        hint = (
            f" The checkpoint holds the audeering regression head (classifier.dense, classifier.out_proj) but was "
            f"loaded as kind={info.kind!r}: use kind='auto' or kind='{other}'."
            if any(k.startswith("classifier.dense") for k in unexpected) or any(
                k.startswith("classifier.dense") for k in missing
            )
            else ""
        )
        raise AffectProxyError(
            f"wav2vec2 checkpoint {info.model!r} ({info.path}) does not match the {type(model).__name__} class: "
            f"missing keys [{_describe(missing)}], unexpected keys [{_describe(unexpected)}], mismatched "
            f"[{_describe(mismatched)}]. Refusing to run with randomly initialised weights.{hint}"
        )
    if info.kind == "categorical" and not isinstance(model, Wav2Vec2ForSequenceClassification):
        raise AffectProxyError(
            f"wav2vec2 checkpoint {info.model!r} loaded as {type(model).__name__}; only "
            "Wav2Vec2ForSequenceClassification heads are supported for categorical models."
        )
    return model.eval()  # type: ignore[no-any-return]


__all__ = ["RegressionHead", "Wav2Vec2DimensionalModel", "load_model"]
