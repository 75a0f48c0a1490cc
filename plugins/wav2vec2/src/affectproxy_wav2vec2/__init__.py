"""affectproxy plugin: wav2vec 2.0 speech-emotion models through transformers (see docs/evaluators/wav2vec2.md).

Importing this package does not import torch or transformers.
"""

from affectproxy_wav2vec2.checkpoint import DEFAULT_MODEL
from affectproxy_wav2vec2.evaluator import Wav2Vec2Evaluator

__all__ = ["DEFAULT_MODEL", "Wav2Vec2Evaluator"]
