"""affectproxy-prosody: openSMILE eGeMAPSv02 prosodic features and a within-speaker arousal index.

Importing this package does not import opensmile; it loads on the first ``evaluate``.
"""

from affectproxy_prosody.evaluator import GroupStats, ProsodyEvaluator
from affectproxy_prosody.features import AROUSAL_CUES, FEATURES

__all__ = ["AROUSAL_CUES", "FEATURES", "GroupStats", "ProsodyEvaluator"]
