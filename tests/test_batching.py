"""Window splitting, sliding windows, track times and length buckets (affectproxy.batching)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from affectproxy.batching import even_pieces, length_buckets, sliding_windows, window_times


@pytest.mark.parametrize("seed", range(5))
def test_even_pieces_cover_exactly_with_the_fewest_near_equal_pieces(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n, max_len = int(rng.integers(0, 5000)), int(rng.integers(1, 800))
        pieces = even_pieces(n, max_len)
        assert pieces[0][0] == 0 and pieces[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
        sizes = [b - a for a, b in pieces]
        assert max(sizes) <= max(max_len, n if n <= max_len else 0) and max(sizes) - min(sizes) <= 1
        assert len(pieces) == max(1, math.ceil(n / max_len))
    with pytest.raises(ValueError, match="max_len"):
        even_pieces(10, 0)


def test_sliding_windows_follow_the_rule() -> None:
    # 4 s at 1 s windows every 0.5 s (samples at 16 kHz): 7 windows, no tail (the last ends at the end)
    assert sliding_windows(64000, 16000, 8000) == [(s, s + 16000) for s in range(0, 48001, 8000)]
    # a tail of at least half a window is kept, a shorter one dropped
    assert sliding_windows(2 * 16000 + 8000, 16000, 16000) == [(0, 16000), (16000, 32000), (32000, 40000)]
    assert sliding_windows(2 * 16000 + 7999, 16000, 16000) == [(0, 16000), (16000, 32000)]
    assert sliding_windows(2 * 16000 + 7999, 16000, 16000, min_tail=100)[-1] == (32000, 39999)
    assert sliding_windows(5, 16000, 8000) == [(0, 5)]
    with pytest.raises(ValueError, match="hop"):
        sliding_windows(10, 4, 0)


def test_window_times_are_centres_from_the_recording_start() -> None:
    times = window_times([(0, 16000), (8000, 24000), (16000, 20000)], 16000, start=12.25)
    np.testing.assert_allclose(times, [12.75, 13.25, 13.375])
    assert window_times([], 16000).shape == (0,)


@pytest.mark.parametrize("seed", range(5))
def test_length_buckets_keep_the_budget_and_every_item_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 1000, size=int(rng.integers(1, 60))).tolist()
    budget = int(rng.integers(0, 5000))
    batches = length_buckets(lengths, budget, max_items=7)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)  # longest first, batches consecutive in that order
    for b in batches:
        assert len(b) <= 7
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget
    # greedy: the next batch's first item would not have fitted into the previous batch
    for prev in batches[:-1]:
        assert len(prev) == 7 or (len(prev) + 1) * lengths[prev[0]] > budget


def test_length_buckets_one_at_a_time_and_same_length() -> None:
    assert length_buckets([3, 1, 2], 0) == [[0], [2], [1]]
    assert length_buckets([2, 3, 2, 2, 3], 100, same_length=True) == [[1, 4], [0, 2, 3]]
    assert length_buckets([], 10) == []
    with pytest.raises(ValueError, match="max_items"):
        length_buckets([1], 10, max_items=0)
