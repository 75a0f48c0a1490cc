"""Compare evaluators: correlation tables with autocorrelation-robust inference, agreement, figures.

Imported lazily as ``affectproxy.compare`` (``import affectproxy`` stays cheap).

Examples:
    >>> import numpy as np, pandas as pd
    >>> from affectproxy import compare
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(40)
    >>> tidy = pd.DataFrame({"segment_id": np.tile(np.arange(40), 2), "evaluator": np.repeat(["a", "b"], 40),
    ...                      "dimension": "valence", "value": np.r_[x, x + rng.standard_normal(40)]})
    >>> list(compare.correlate(tidy).columns[:4])
    ['x_evaluator', 'x_dimension', 'y_evaluator', 'y_dimension']
"""

from __future__ import annotations

from affectproxy.compare._align import CorrelationInputError, LowEffectiveNWarning
from affectproxy.compare.agreement import agreement, ccc, declared_ranges, icc, krippendorff_alpha_interval
from affectproxy.compare.correlate import COLUMNS, correlate
from affectproxy.compare.dependent import compare_correlations, overlap_correlation, williams_t, zou_interval
from affectproxy.compare.describe import describe
from affectproxy.compare.inference import (
    autocorrelation,
    effective_n,
    fisher_interval,
    neff_from_acf,
    p_value_t,
)
from affectproxy.compare.padjust import adjust_pvalues
from affectproxy.compare.routing import routing_curve, routing_plot
from affectproxy.compare.surrogates import phase_randomised, recording_surrogates, surrogate_test

__all__ = [
    "COLUMNS",
    "CorrelationInputError",
    "LowEffectiveNWarning",
    "adjust_pvalues",
    "agreement",
    "autocorrelation",
    "ccc",
    "compare_correlations",
    "correlate",
    "declared_ranges",
    "describe",
    "effective_n",
    "fisher_interval",
    "icc",
    "krippendorff_alpha_interval",
    "neff_from_acf",
    "overlap_correlation",
    "p_value_t",
    "phase_randomised",
    "recording_surrogates",
    "routing_curve",
    "routing_plot",
    "surrogate_test",
    "williams_t",
    "zou_interval",
]
