"""The reader: a cache of open decoders (LRU, safe to share between threads), span reads, whole-recording reads."""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import numpy as np

from affectproxy.audio._decoders import (
    END_TOLERANCE,
    AudioInfo,
    _convert_hint,
    _open,
    _secs,
    _ShortFile,
    _Source,
    _where,
)
from affectproxy.errors import AudioError

RESAMPLE_MARGIN = 0.05
"""Seconds decoded either side of a span before resampling, then trimmed. soxr's HQ filter is ~2-3 ms long at
8-48 kHz, so 50 ms leaves reads equal to slices of a whole-file read to ~1e-6."""


def _key(path: str | os.PathLike[str]) -> str:
    """The cache key of ``path``: its absolute path, so ``a.wav`` and ``./a.wav`` share one handle."""
    return os.path.abspath(os.fspath(path))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Handle:
    """One open decoder, the lock that serialises its reads, and whether it has been closed."""

    __slots__ = ("closed", "key", "lock", "source")

    def __init__(self, key: str, source: _Source) -> None:
        self.key = key
        self.source = source
        self.lock = threading.Lock()
        self.closed = False


class AudioReader:
    """Reads segments of audio files as float32 mono at a requested rate, keeping decoders open per file.

    One reader may be shared by threads. A decoder has one position, so reads of the same file take turns (a
    lock per open file); reads of different files run at the same time. The cache of open files has its own
    lock, which is never held while waiting for a file's lock. A file closed to make room (``max_open``) waits
    for the read in progress on it to finish. Use as a context manager, or call :meth:`close`.

    Args:
        max_open: how many files to keep open at once (least recently used are closed first); a corpus of
            one-utterance files never runs out of file handles.

    Attributes:
        files_opened: how many times a file was opened (a file read 50 times counts once while it stays open).
        frames_decoded: source samples (per channel) decoded so far, margins and skipped samples included
            (exact whenever no read is in progress).
        open_files: paths of the files open now, least recently used first.

    Examples:
        >>> import tempfile, numpy as np, soundfile as sf
        >>> path = tempfile.mkdtemp() + "/tone.wav"
        >>> sf.write(path, np.zeros((48000, 2), np.float32), 48000)     # 1 s of stereo at 48 kHz
        >>> with AudioReader() as reader:
        ...     reader.info(path).channels, reader.read(path, 0.25, 0.75, 16000, segment_id="s1").shape
        (2, (8000,))
    """

    def __init__(self, *, max_open: int = 16) -> None:
        if max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {max_open}.")
        self.max_open = max_open
        self.files_opened = 0
        self._lock = threading.Lock()  # guards _handles, files_opened and _decoded_closed
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._decoded_closed = 0

    @property
    def frames_decoded(self) -> int:
        with self._lock:
            return self._decoded_closed + sum(h.source.decoded for h in self._handles.values())

    @property
    def open_files(self) -> tuple[str, ...]:
        """Paths of the files open now, least recently used first (at most ``max_open``)."""
        with self._lock:
            return tuple(self._handles)

    @contextmanager
    def _checked_out(self, path: str | os.PathLike[str], label: str | None) -> Iterator[_Handle]:
        """``path``'s open handle (opened if need be), its lock held until the block ends."""
        key = _key(path)
        while True:
            evicted: list[_Handle] = []
            with self._lock:
                handle = self._handles.get(key)
                if handle is None:
                    handle = _Handle(key, _open(key, label))
                    self.files_opened += 1
                    self._handles[key] = handle
                    while len(self._handles) > self.max_open:
                        evicted.append(self._handles.popitem(last=False)[1])
                else:
                    self._handles.move_to_end(key)
            for old in evicted:  # outside the cache lock: closing waits for a read in progress on that file
                self._retire(old)
            handle.lock.acquire()
            if not handle.closed:
                break
            handle.lock.release()  # closed by another thread between the lookup and the lock: look again
        try:
            yield handle
        finally:
            handle.lock.release()

    def _drop(self, handle: _Handle) -> None:
        """Close ``handle`` and remove it from the cache; the caller holds ``handle.lock``."""
        if handle.closed:
            return
        handle.closed = True
        decoded = handle.source.decoded
        try:
            handle.source.close()
        finally:
            with self._lock:
                if self._handles.get(handle.key) is handle:
                    del self._handles[handle.key]
                self._decoded_closed += decoded

    def _retire(self, handle: _Handle) -> None:
        with handle.lock:
            self._drop(handle)

    def _forget(self, path: str | os.PathLike[str]) -> None:
        """Close ``path``'s decoder (after a failure), so that the next read starts from a fresh state."""
        with self._lock:
            handle = self._handles.get(_key(path))
        if handle is not None:
            self._retire(handle)

    def info(self, path: str | os.PathLike[str], *, segment_id: str | None = None) -> AudioInfo:
        """Sample rate, channels, length and format of ``path`` (opens it, or reuses the open handle).

        Args:
            path: an audio or video file.
            segment_id: named in error messages.

        Returns:
            The file's :class:`AudioInfo`.

        Raises:
            AudioError: the file is missing, or neither libsndfile nor FFmpeg can decode it.
        """
        with self._checked_out(path, f"segment {segment_id}" if segment_id else None) as handle:
            return handle.source.info

    def read(self, path: str | os.PathLike[str], start: float, end: float, sample_rate: int, *,
             segment_id: str | None = None) -> np.ndarray:
        """Decode ``start``..``end`` seconds of ``path`` as float32 mono at ``sample_rate``.

        Args:
            path: an audio or video file.
            start: start in seconds (>= 0, before the end of the audio).
            end: end in seconds (> start; at most :data:`END_TOLERANCE` past the end of the audio).
            sample_rate: output rate in Hz.
            segment_id: named in error messages.

        Returns:
            A C-contiguous float32 array of ``floor((end - start) * sample_rate + 0.5)`` samples.

        Raises:
            AudioError: missing or undecodable file, times outside the audio, or a bad ``sample_rate``.

        Examples:
            >>> import tempfile, numpy as np, soundfile as sf
            >>> path = tempfile.mkdtemp() + "/speech.wav"
            >>> sf.write(path, np.zeros(16000, np.float32), 16000)    # 1.0 s
            >>> AudioReader().read(path, 0.5, 1.02, 16000).shape    # 20 ms past the end: zero-padded
            (8320,)
        """
        return self._span(path, start, end, sample_rate, f"segment {segment_id}" if segment_id else None)

    def read_recording(self, path: str | os.PathLike[str], sample_rate: int, *,
                       recording_id: str | None = None) -> np.ndarray:
        """Decode all of ``path`` as float32 mono at ``sample_rate``: for evaluators that take a whole recording.

        The result equals ``read(path, 0, info(path).duration, sample_rate)``: ``round(duration * sample_rate)``
        samples, time 0 as in every read, so ``read_recording(p, sr)[floor(a*sr + 0.5):][:n]`` is the segment
        ``read(p, a, b, sr)``.

        Args:
            path: an audio or video file.
            sample_rate: output rate in Hz.
            recording_id: named in error messages.

        Returns:
            A C-contiguous 1-D float32 array.

        Raises:
            AudioError: missing, empty, truncated or undecodable file, or a bad ``sample_rate``.

        Examples:
            >>> import tempfile, numpy as np, soundfile as sf
            >>> path = tempfile.mkdtemp() + "/talk.wav"
            >>> sf.write(path, np.zeros((24000, 2), np.float32), 48000)     # 0.5 s of stereo at 48 kHz
            >>> with AudioReader() as reader:
            ...     reader.read_recording(path, 16000, recording_id="talk").shape
            (8000,)
        """
        label = f"recording {recording_id}" if recording_id else "the whole recording"
        with self._checked_out(path, label) as handle:
            info = handle.source.info
        if info.frames < 1:
            raise AudioError(f"Audio file {info.path}{_where(label)} holds no samples (its header says 0 frames). "
                             "Fetch or export it again, or drop its segments.")
        return self._span(path, 0.0, info.duration, sample_rate, label)

    def _span(self, path: str | os.PathLike[str], start: float, end: float, sample_rate: int,
              label: str | None) -> np.ndarray:
        who = label or "segment ?"
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}{_where(label)}.")
        start, end = float(start), float(end)
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise AudioError(f"{_cap(label or 'segment')} of {os.fspath(path)} has times {start}-{end} s; "
                             "they must be finite with 0 <= start < end. Fix the segment table.")
        with self._checked_out(path, label) as handle:
            info = handle.source.info
            if start >= info.duration:
                raise AudioError(f"{_cap(who)} ({_secs(start)}-{_secs(end)} s) starts at or after the end "
                                 f"of {info.path} ({_secs(info.duration)} s). Fix the segment table or point it at "
                                 "the right audio.")
            if end > info.duration + END_TOLERANCE:
                raise AudioError(f"{_cap(who)} ({_secs(start)}-{_secs(end)} s) ends past the end of "
                                 f"{info.path} ({_secs(info.duration)} s). Fix the segment table or point it at the "
                                 "right audio.")
            n_out = math.floor((end - start) * sample_rate + 0.5)
            if n_out < 1:
                raise AudioError(f"{_cap(who)} of {info.path} ({_secs(start)}-{_secs(end)} s) is shorter "
                                 f"than one sample at {sample_rate} Hz. Drop it or merge it with a neighbour.")
            try:
                return self._read(handle.source, start, end, int(sample_rate), n_out)
            except AudioError:
                raise
            except _ShortFile as exc:
                self._drop(handle)
                ends = exc.available / info.sample_rate
                where = "at" if exc.exact else "before"
                raise AudioError(
                    f"Audio file {info.path} ends {where} {_secs(ends)} s although its header says "
                    f"{_secs(info.duration)} s, so {who} ({_secs(start)}-{_secs(end)} s) cannot be read: the file "
                    f"is truncated. Fetch or export it again, or drop the segments after {_secs(ends)} s."
                ) from None
            except Exception as exc:  # a decoder failing mid-file: corrupt or truncated data
                self._drop(handle)
                reason = str(exc).strip().rstrip(".") or type(exc).__name__
                raise AudioError(f"Cannot decode audio file {info.path}{_where(label)} at {_secs(start)} s: "
                                 f"{reason}; the file is corrupt or truncated. {_convert_hint(info.path)}") from exc

    @staticmethod
    def _read(src: _Source, start: float, end: float, rate: int, n_out: int) -> np.ndarray:
        rate_in = src.info.sample_rate
        if rate_in == rate:
            s0 = math.floor(start * rate + 0.5)
            return np.ascontiguousarray(src.read(s0, s0 + n_out))
        import soxr

        # Start the decoded span on a sample both rates share (every rate_in/gcd source samples), so the
        # resampled span lies on the same output grid as a whole-file read and slices of it agree.
        common = math.gcd(rate_in, rate)
        step = rate_in // common
        margin = math.ceil(RESAMPLE_MARGIN * rate_in)
        r0 = max(0, math.floor(start * rate_in) - margin) // step * step
        r1 = min(src.info.frames, math.ceil(end * rate_in) + margin)
        x = src.read(r0, max(r1, r0 + 1))
        y = soxr.resample(x, rate_in, rate, quality="HQ")
        off = math.floor(start * rate + 0.5) - r0 // step * (rate // common)
        out = np.zeros(n_out, np.float32)
        piece = y[off: off + n_out]
        out[: len(piece)] = piece
        return out

    def close(self) -> None:
        """Close every open file (waiting for reads in progress); the reader stays usable and reopens files."""
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for handle in handles:
            self._retire(handle)

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_recording(path: str | os.PathLike[str], sample_rate: int, *, recording_id: str | None = None) -> np.ndarray:
    """All of ``path`` as float32 mono at ``sample_rate``, read with a reader of its own.

    Same as :meth:`AudioReader.read_recording`; inside a run, call the run's reader instead, which shares its
    open files.

    Args:
        path: an audio or video file.
        sample_rate: output rate in Hz.
        recording_id: named in error messages.

    Returns:
        A C-contiguous 1-D float32 array.

    Raises:
        AudioError: missing, empty, truncated or undecodable file, or a bad ``sample_rate``.
    """
    with AudioReader(max_open=1) as reader:
        return reader.read_recording(path, sample_rate, recording_id=recording_id)
