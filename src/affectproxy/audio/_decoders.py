"""Decoders: open a file with soundfile (libsndfile) or PyAV (FFmpeg) and decode sample spans as mono float32.

A source keeps its decoder's position between reads, so one source must not be read from two threads at once;
:class:`~affectproxy.audio.AudioReader` serialises reads per file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np

from affectproxy.audio._convert import _scale
from affectproxy.errors import AudioError

END_TOLERANCE = 0.05
"""Seconds a segment may end past the end of the audio; the missing tail is zero-padded."""

SEEK_PREROLL = 0.2
"""Seconds PyAV decodes before a span after a seek: AAC, Opus and MP3 need a few frames to settle."""

_SKIP_CHUNK = 1 << 16
_FORWARD_ONLY_SF = {"MP3", "OGG"}
_SEEKABLE_AV = {"mov", "mp4", "m4a", "matroska", "webm", "ogg", "flac", "wav", "avi", "asf", "aiff", "caf", "w64"}


@attrs.frozen
class AudioInfo:
    """What a reader knows of an audio (or video) file.

    Attributes:
        path: the path as given.
        sample_rate: native sample rate in Hz.
        channels: number of channels.
        frames: length in samples per channel (from the header or container index).
        duration: length in seconds (``frames / sample_rate``).
        format: container format (``WAV``, ``FLAC``, ``MP3``, ``mov,mp4,m4a,3gp,3g2,mj2``, ...).
        codec: sample encoding or codec (``PCM_16``, ``VORBIS``, ``aac``, ...).
        backend: ``"soundfile"`` or ``"pyav"``.
        seekable: whether reads seek (True) or decode forward from the start (False; MP3 and raw streams).
    """

    path: str
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    codec: str
    backend: str
    seekable: bool


def _where(label: str | None) -> str:
    """`` (segment s1)`` for error messages; ``label`` is ``"segment s1"``, ``"recording r1"`` or None."""
    return f" ({label})" if label else ""


def _convert_hint(path: str) -> str:
    p = Path(path)
    out = p.with_name(p.stem + ".converted.wav") if p.suffix.lower() == ".wav" else p.with_suffix(".wav")
    return f"Convert it, e.g. `ffmpeg -i {path} -ac 1 -ar 16000 {out}`."


def _secs(t: float) -> str:
    return repr(round(float(t), 3))


class _ShortFile(Exception):
    """A decoder ran out of samples well before the length the file's header promises (a truncated file)."""

    def __init__(self, available: int, exact: bool = True) -> None:
        super().__init__(available)
        self.available = available
        self.exact = exact  # False: the data ends somewhere before ``available`` (nothing decoded after a seek)


def _check_complete(available: int, wanted: int, rate: int, exact: bool = True) -> None:
    """Raise :class:`_ShortFile` when data ends more than :data:`END_TOLERANCE` before ``wanted`` (samples).

    Headers of MP3 and some streams estimate the length; a shortfall within the tolerance is padded with zeros.
    """
    if wanted - available > END_TOLERANCE * rate:
        raise _ShortFile(available, exact)


class _Source(Protocol):
    info: AudioInfo
    decoded: int

    def read(self, r0: int, r1: int) -> np.ndarray: ...

    def close(self) -> None: ...


class _SoundFileSource:
    """libsndfile: seeks exactly in wav/flac/aiff; MP3 and Ogg are decoded forward only (their seeks can land wrong)."""

    def __init__(self, path: str) -> None:
        import soundfile as sf

        self._f = sf.SoundFile(path)
        fmt = self._f.format
        self.info = AudioInfo(path, self._f.samplerate, self._f.channels, self._f.frames,
                              self._f.frames / self._f.samplerate, fmt, self._f.subtype, "soundfile",
                              fmt not in _FORWARD_ONLY_SF)
        self.decoded = 0

    def _frames(self, n: int) -> np.ndarray:
        data = self._f.read(n, dtype="float32", always_2d=True)
        self.decoded += len(data)
        return np.asarray(data.mean(axis=1, dtype=np.float32), dtype=np.float32)

    def read(self, r0: int, r1: int) -> np.ndarray:
        out = np.zeros(r1 - r0, np.float32)
        stop = min(r1, self.info.frames)
        if r0 >= stop:
            return out
        if self.info.seekable:
            self._f.seek(r0)
        else:
            if r0 < self._f.tell():
                self._f.seek(0)
            while (gap := r0 - self._f.tell()) > 0:
                if len(self._frames(min(gap, _SKIP_CHUNK))) == 0:
                    _check_complete(self._f.tell(), stop, self.info.sample_rate)
                    return out
        got = self._frames(stop - r0)
        out[: len(got)] = got
        if len(got) < stop - r0:
            _check_complete(r0 + len(got), stop, self.info.sample_rate)
        return out

    def close(self) -> None:
        self._f.close()


def _frame_mono(frame: Any) -> np.ndarray:
    data = _scale(frame.to_ndarray())
    if frame.format.is_planar:
        return np.asarray(data.mean(axis=0, dtype=np.float32), dtype=np.float32)
    channels = data.size // frame.samples if frame.samples else 1
    return np.asarray(data.reshape(-1, channels).mean(axis=1, dtype=np.float32), dtype=np.float32)


class _PyAVSource:
    """FFmpeg through PyAV: seeks in indexed containers (MP4, Matroska, ...), decodes forward in raw streams."""

    def __init__(self, path: str) -> None:
        import av

        self._av = av
        self._path = path
        self._c = av.open(path)
        try:
            if not self._c.streams.audio:
                kinds = ", ".join(s.type for s in self._c.streams) or "none"
                raise AudioError(f"has no audio stream (streams: {kinds})")
            self._s = self._c.streams.audio[0]
            self._tb = float(self._s.time_base or 0) or 1.0
            first = next(self._decode(), None)
            if first is None:
                raise AudioError("has an audio stream but no decodable audio")
            self._origin = first.pts or 0
            rate = int(first.sample_rate)
            channels = len(first.layout.channels)
            if self._s.duration:
                duration = float(self._s.duration * self._tb)
            elif self._c.duration:
                duration = self._c.duration / 1_000_000
            else:
                duration = first.samples / rate
            names = set(self._c.format.name.split(","))
            frames = math.floor(duration * rate + 0.5)
            self.info = AudioInfo(path, rate, channels, frames, frames / rate, self._c.format.name,
                                  self._s.codec_context.name, "pyav", bool(names & _SEEKABLE_AV))
        except BaseException:
            self._c.close()
            raise
        self.decoded = first.samples
        self._frames: Iterator[tuple[int, np.ndarray]] | None = None
        self._pending: tuple[int, np.ndarray] | None = None

    def _decode(self) -> Iterator[Any]:
        for packet in self._c.demux(self._s):
            yield from packet.decode()

    def _positioned(self) -> Iterator[tuple[int, np.ndarray]]:
        """Decoded frames as (first sample index, mono samples), positions from timestamps when known."""
        rate, pos = self.info.sample_rate, None
        for frame in self._decode():
            self.decoded += frame.samples
            if frame.pts is not None and (self.info.seekable or pos is None):
                pos = math.floor((frame.pts - self._origin) * self._tb * rate + 0.5)
            assert pos is not None
            mono = _frame_mono(frame)
            yield pos, mono
            pos += len(mono)

    def _seek(self, seconds: float) -> None:
        if seconds <= 0:
            # Reopen rather than seek to 0: after a seek FFmpeg starts at the first packet with pts >= 0 and skips
            # AAC's priming packet, so the first frame would decode without its overlap (wrong by up to ~0.4).
            self._c.close()
            self._c = self._av.open(self._path)
            self._s = self._c.streams.audio[0]
            return
        self._c.seek(self._origin + int(seconds / self._tb), stream=self._s, backward=True)

    def read(self, r0: int, r1: int) -> np.ndarray:
        out = np.zeros(r1 - r0, np.float32)
        if self.info.seekable:
            target = r0 / self.info.sample_rate - SEEK_PREROLL
            while True:
                self._seek(max(target, 0.0))
                frames = self._positioned()
                head = next(frames, None)
                if head is None or head[0] <= r0 or target <= 0:
                    break
                target -= 1.0  # landed after the span: seek further back
            self._fill(out, r0, r1, head, frames)
            self._frames, self._pending = None, None
            return out
        if self._frames is None or self._pending is None or r0 < self._pending[0]:
            self._seek(0.0)
            self._frames = self._positioned()
            self._pending = next(self._frames, None)
        self._pending = self._fill(out, r0, r1, self._pending, self._frames)
        return out

    def _fill(self, out: np.ndarray, r0: int, r1: int, head: tuple[int, np.ndarray] | None,
              frames: Iterator[tuple[int, np.ndarray]]) -> tuple[int, np.ndarray] | None:
        """Copy frames overlapping [r0, r1) into ``out``; returns the first frame not wholly consumed.

        Raises:
            _ShortFile: the stream ended more than :data:`END_TOLERANCE` before ``min(r1, frames)``.
        """
        item, reached = head, r0
        exact = head is not None
        while item is not None:
            pos, mono = item
            reached = pos + len(mono)
            lo, hi = max(pos, r0), min(reached, r1)
            if hi > lo:
                out[lo - r0: hi - r0] = mono[lo - pos: hi - pos]
            if reached >= r1:
                return item
            item = next(frames, None)
        _check_complete(reached, min(r1, self.info.frames), self.info.sample_rate, exact)
        return None

    def close(self) -> None:
        self._c.close()


def _open(path: str, label: str | None) -> _Source:
    """Open ``path`` with soundfile, else PyAV; ``label`` (``"segment s1"``) is named in error messages."""
    if not os.path.exists(path):
        raise AudioError(f"Audio file {path} does not exist{_where(label)}. Fix the path in the segment "
                         "table (audio column) or the audio= argument of load_segments.")
    if os.path.isdir(path):
        raise AudioError(f"Audio path {path} is a folder, not a file{_where(label)}. Point the segment table "
                         "at the audio file itself.")
    import soundfile as sf

    try:
        return _SoundFileSource(path)
    except (sf.SoundFileError, RuntimeError) as exc:
        sf_reason = str(exc).split(": ", 1)[-1]
    import av

    try:
        return _PyAVSource(path)
    except (av.error.FFmpegError, AudioError, StopIteration, ValueError) as exc:
        av_reason = str(exc).split(": '", 1)[0]
    raise AudioError(f"Cannot decode audio file {path}{_where(label)}: neither libsndfile ({sf_reason}) nor "
                     f"FFmpeg ({av_reason}) can read it; it is corrupt or not audio. {_convert_hint(path)}")
