"""An example affectproxy plugin: the ``loudness`` evaluator (see docs/writing-a-plugin.md)."""

from affectproxy_example.loudness import LoudnessEvaluator

__all__ = ["LoudnessEvaluator"]
