"""Descriptive statistics per series (what a paper's Table 1 reports)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from affectproxy.compare._align import matrix, tidy_frame

DESCRIBE_COLUMNS: list[str] = ["evaluator", "dimension", "n", "n_missing", "mean", "sd", "min", "median", "max"]


def describe(results: Any) -> pd.DataFrame:
    """Mean, SD (n - 1), min, median, max and counts of each series, in order of first appearance.

    Args:
        results: a :class:`~affectproxy.Results` or its tidy DataFrame.

    Returns:
        DataFrame with columns evaluator, dimension, n (values present), n_missing (segments without a value),
        mean, sd, min, median, max.

    Examples:
        >>> import pandas as pd
        >>> tidy = pd.DataFrame({"segment_id": [1, 2, 3], "evaluator": "a", "dimension": "arousal",
        ...                      "value": [0.2, 0.4, None]})
        >>> describe(tidy)[["n", "n_missing", "mean"]].round(3).to_dict("records")
        [{'n': 2, 'n_missing': 1, 'mean': 0.3}]
    """
    values, series, _ = matrix(tidy_frame(results))
    rows = []
    for k, (ev, dim) in enumerate(series):
        v = values[:, k][~np.isnan(values[:, k])]
        if v.size:
            sd = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
            rows.append((ev, dim, v.size, values.shape[0] - v.size, float(v.mean()), sd, float(v.min()),
                         float(np.median(v)), float(v.max())))
        else:
            rows.append((ev, dim, 0, values.shape[0], *([float("nan")] * 5)))
    return pd.DataFrame(rows, columns=DESCRIBE_COLUMNS)


__all__ = ["DESCRIBE_COLUMNS", "describe"]
