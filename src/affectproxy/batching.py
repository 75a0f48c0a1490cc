"""Splitting audio into windows and grouping items into padded batches: what every acoustic evaluator shares.

Three names keep three meanings apart:

* ``batch_size`` (an evaluator attribute): segments per ``evaluate()`` call, read by the core;
* ``max_batch_seconds`` (an acoustic evaluator option): padded audio per forward pass of the model, i.e. items x
  longest item, in seconds; see :func:`length_buckets`;
* ``max_window`` (seconds): the longest piece of one segment the model sees at once; longer segments are split
  into near-equal pieces by :func:`even_pieces`, which bounds the memory that attention needs.

Time-resolved tracks (``arrays["<name>_track"]`` with ``arrays["<name>_track_times"]``) give their times in
seconds from the start of the recording (the same origin as ``Segment.start``), at the centre of each window:
:func:`window_times`. Windows follow one rule in every evaluator: :func:`sliding_windows`.

Nothing here imports torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np


def even_pieces(n: int, max_len: int) -> list[tuple[int, int]]:
    """Split ``n`` samples into the fewest near-equal pieces of at most ``max_len`` samples.

    Args:
        n: the number of samples (>= 0).
        max_len: the longest piece (> 0).

    Returns:
        ``(start, end)`` pairs covering ``0..n`` in order, with no gaps or overlaps; ``[(0, n)]`` when it fits.

    Examples:
        >>> even_pieces(10, 4)
        [(0, 3), (3, 7), (7, 10)]
        >>> even_pieces(4, 4)
        [(0, 4)]
        >>> even_pieces(64000, 24000)
        [(0, 21333), (21333, 42667), (42667, 64000)]
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}.")
    count = max(1, math.ceil(n / max_len))
    edges = [round(i * n / count) for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def sliding_windows(n: int, size: int, hop: int, *, min_tail: int | None = None) -> list[tuple[int, int]]:
    """Windows of ``size`` samples every ``hop`` samples over ``n`` samples; the rule every track follows.

    A stretch no longer than one window is one window over all of it. Otherwise windows start at 0, hop, 2 hop, ...
    while they fit; when the last one ends before ``n`` and the next start leaves at least ``min_tail`` samples
    (default: half a window), one shorter window from that start to ``n`` covers the tail.

    Args:
        n: samples in the segment.
        size: window length in samples (> 0).
        hop: samples between window starts (> 0).
        min_tail: the shortest tail window kept; default ``size // 2``.

    Returns:
        ``(start, end)`` sample ranges, in order.

    Examples:
        >>> sliding_windows(10, 4, 2)
        [(0, 4), (2, 6), (4, 8), (6, 10)]
        >>> sliding_windows(11, 4, 4)
        [(0, 4), (4, 8), (8, 11)]
        >>> sliding_windows(9, 4, 4)
        [(0, 4), (4, 8)]
        >>> sliding_windows(3, 4, 2)
        [(0, 3)]
    """
    if size < 1 or hop < 1:
        raise ValueError(f"size and hop must be at least 1 sample, got size={size}, hop={hop}.")
    if n <= size:
        return [(0, n)]
    out = [(s, s + size) for s in range(0, n - size + 1, hop)]
    tail = out[-1][0] + hop
    if out[-1][1] < n and n - tail >= (size // 2 if min_tail is None else min_tail):
        out.append((tail, n))
    return out


def window_times(spans: Sequence[tuple[int, int]], sample_rate: int, start: float = 0.0) -> np.ndarray:
    """Track times: each window's centre in seconds from the start of the recording.

    Args:
        spans: ``(start, end)`` sample ranges within the segment.
        sample_rate: samples per second of those ranges.
        start: the segment's start in the recording (``Segment.start``), seconds.

    Examples:
        >>> window_times([(0, 16000), (8000, 24000)], 16000, start=10.0).tolist()
        [10.5, 11.0]
    """
    centres = np.array([(a + b) / 2 for a, b in spans], dtype=np.float64).reshape(-1)
    return start + centres / sample_rate


def length_buckets(
    lengths: Sequence[int], max_padded: int, *, max_items: int | None = None, same_length: bool = False
) -> list[list[int]]:
    """Group item indices into padded batches, longest first, each within a budget of padded samples.

    Items are sorted by length (longest first, ties in input order) and cut into consecutive batches. A batch
    grows while ``items x longest`` stays within ``max_padded`` (padded samples, i.e. audio seconds x sample rate)
    and, if given, within ``max_items``. An item over the budget on its own runs alone, so ``max_padded=0`` runs one
    item at a time. Sorting keeps padding small; longest first makes the largest batch come first, so a batch
    that does not fit in memory fails at once.

    Args:
        lengths: samples per item.
        max_padded: the most padded samples per batch.
        max_items: the most items per batch (None: no limit).
        same_length: batch only items of equal length (for models whose front end cannot be padded exactly).

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.

    Examples:
        >>> length_buckets([5, 1, 4, 2, 3], 8)
        [[0], [2, 4], [3, 1]]
        >>> length_buckets([5, 1, 4, 2, 3], 0)
        [[0], [2], [4], [3], [1]]
        >>> length_buckets([2, 2, 3, 2], 100, same_length=True)
        [[2], [0, 1, 3]]
    """
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}.")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        if batch and (
            (max_items is not None and len(batch) >= max_items)
            or (len(batch) + 1) * lengths[batch[0]] > max_padded
            or (same_length and lengths[i] != lengths[batch[0]])
        ):
            out.append(batch)
            batch = []
        batch.append(i)
    if batch:
        out.append(batch)
    return out


__all__ = ["even_pieces", "length_buckets", "sliding_windows", "window_times"]
