"""Reading audio for segments: seek, decode only the span, mix down to mono, resample.

:class:`AudioReader` is what the core uses to fill ``Segment.audio``. It keeps decoders open per file (an LRU of
``max_open`` handles), seeks to each segment and decodes only that span (plus small margins), so reading 50 segments
of a 10-minute file never decodes the file 50 times.

- wav, flac, ogg/vorbis, ogg/opus, aiff and mp3 are read with soundfile (libsndfile); everything soundfile cannot
  open (m4a, mp4, webm, mkv, video files) with PyAV (FFmpeg).
- Time 0 is the first sample a decoder outputs when decoding from the start, which is what
  ``ffmpeg -i X X.wav`` (and WhisperX) produce. In MP4/M4A, FFmpeg removes AAC's encoder delay (~1024 samples of
  priming) through the file's edit list, so a tone that starts at 1.000 s in the source is read at 1.000 s.
  Raw ADTS ``.aac`` streams carry no edit list: there the delay (~21-46 ms) stays in, as in every FFmpeg tool.
- MP3 has no sample-accurate index (a VBR file seeks by byte estimate, tens of milliseconds to seconds off), and
  libsndfile 1.2's Ogg seek lands wrong after a short forward seek, so MP3, Ogg and index-less streams are decoded
  forward only: in-order reads decode each file once, a backward read restarts from the beginning. WAV, FLAC,
  MP4/M4A and Matroska/WebM seek.
- Mix-down is the mean over channels. Resampling uses soxr at ``quality="HQ"``; to avoid edge effects the reader
  decodes :data:`RESAMPLE_MARGIN` seconds either side of the span (where the file has them) and trims after
  resampling.
- The output has exactly ``floor((end - start) * sample_rate + 0.5)`` samples (nearest integer, halves up);
  the first output sample is the one nearest to ``start``.
- A segment may end up to :data:`END_TOLERANCE` seconds past the end of the audio (rounding in segment tables);
  the missing tail is zero-padded. Starting at or after the end, or ending further past it, is an
  :class:`~affectproxy.errors.AudioError`.

Examples:
    >>> import numpy as np
    >>> x = np.zeros((800, 2), dtype=np.int16)         # 0.1 s of 8 kHz stereo int16
    >>> y = to_mono_float32(x, 8000, 16000)
    >>> y.dtype, y.shape
    (dtype('float32'), (1600,))
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import attrs
import numpy as np

from affectproxy.errors import AudioError

END_TOLERANCE = 0.05
"""Seconds a segment may end past the end of the audio; the missing tail is zero-padded."""

RESAMPLE_MARGIN = 0.05
"""Seconds decoded either side of a span before resampling, then trimmed. soxr's HQ filter is ~2-3 ms long at
8-48 kHz, so 50 ms leaves reads equal to slices of a whole-file read to ~1e-6."""

SEEK_PREROLL = 0.2
"""Seconds PyAV decodes before a span after a seek: AAC, Opus and MP3 need a few frames to settle."""

MAX_CHANNELS = 8
"""Most channels :func:`to_mono_float32` accepts; it tells (n, channels) from (channels, n) by this bound."""

PEAK_LIMIT = 4.0
"""Float samples beyond this magnitude are refused: they are almost surely integer PCM stored as float."""

_SKIP_CHUNK = 1 << 16
_FORWARD_ONLY_SF = {"MP3", "OGG"}
_SEEKABLE_AV = {"mov", "mp4", "m4a", "matroska", "webm", "ogg", "flac", "wav", "avi", "asf", "aiff", "caf", "w64"}
_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int8): 128.0}


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


def _where(segment_id: str | None) -> str:
    return f" (segment {segment_id})" if segment_id else ""


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


def _scale(data: np.ndarray) -> np.ndarray:
    """Integer PCM -> float in [-1, 1); floats -> float32."""
    if data.dtype in _INT_SCALE:
        return (data.astype(np.float32) / np.float32(_INT_SCALE[data.dtype])).astype(np.float32)
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype == np.int64:
        return (data / 9.223372036854775808e18).astype(np.float32)
    return data.astype(np.float32, copy=False)


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


def _open(path: str, segment_id: str | None) -> _Source:
    if not os.path.exists(path):
        raise AudioError(f"Audio file {path} does not exist{_where(segment_id)}. Fix the path in the segment "
                         "table (audio column) or the audio= argument of load_segments.")
    if os.path.isdir(path):
        raise AudioError(f"Audio path {path} is a folder, not a file{_where(segment_id)}. Point the segment table "
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
    raise AudioError(f"Cannot decode audio file {path}{_where(segment_id)}: neither libsndfile ({sf_reason}) nor "
                     f"FFmpeg ({av_reason}) can read it; it is corrupt or not audio. {_convert_hint(path)}")


class AudioReader:
    """Reads segments of audio files as float32 mono at a requested rate, keeping decoders open per file.

    Not thread-safe: use one reader per thread. Use as a context manager, or call :meth:`close`.

    Args:
        max_open: how many files to keep open at once (least recently used are closed first); a corpus of
            one-utterance files never runs out of file handles.

    Attributes:
        files_opened: how many times a file was opened (a file read 50 times counts once while it stays open).
        frames_decoded: source samples (per channel) decoded so far, margins and skipped samples included.
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
        self._handles: OrderedDict[str, _Source] = OrderedDict()
        self._decoded_closed = 0

    @property
    def frames_decoded(self) -> int:
        return self._decoded_closed + sum(h.decoded for h in self._handles.values())

    def _handle(self, path: str | os.PathLike[str], segment_id: str | None) -> _Source:
        key = os.path.abspath(os.fspath(path))
        handle = self._handles.get(key)
        if handle is not None:
            self._handles.move_to_end(key)
            return handle
        handle = _open(key, segment_id)
        self.files_opened += 1
        self._handles[key] = handle
        while len(self._handles) > self.max_open:
            _, old = self._handles.popitem(last=False)
            self._decoded_closed += old.decoded
            old.close()
        return handle

    @property
    def open_files(self) -> tuple[str, ...]:
        """Paths of the files open now, least recently used first (at most ``max_open``)."""
        return tuple(self._handles)

    def _forget(self, path: str | os.PathLike[str]) -> None:
        """Close ``path``'s decoder after a failure, so that the next read starts from a fresh state."""
        handle = self._handles.pop(os.fspath(path), None)
        if handle is not None:
            self._decoded_closed += handle.decoded
            handle.close()

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
        return self._handle(path, segment_id).info

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
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}{_where(segment_id)}.")
        start, end = float(start), float(end)
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise AudioError(f"Segment{' ' + segment_id if segment_id else ''} of {os.fspath(path)} has times "
                             f"{start}-{end} s; they must be finite with 0 <= start < end. Fix the segment table.")
        src = self._handle(path, segment_id)
        info = src.info
        if start >= info.duration:
            raise AudioError(f"Segment {segment_id or '?'} ({_secs(start)}-{_secs(end)} s) starts at or after the "
                             f"end of {info.path} ({_secs(info.duration)} s). Fix the segment table or point it at "
                             "the right audio.")
        if end > info.duration + END_TOLERANCE:
            raise AudioError(f"Segment {segment_id or '?'} ({_secs(start)}-{_secs(end)} s) ends past the end of "
                             f"{info.path} ({_secs(info.duration)} s). Fix the segment table or point it at the "
                             "right audio.")
        n_out = math.floor((end - start) * sample_rate + 0.5)
        if n_out < 1:
            raise AudioError(f"Segment {segment_id or '?'} of {info.path} ({_secs(start)}-{_secs(end)} s) is shorter "
                             f"than one sample at {sample_rate} Hz. Drop it or merge it with a neighbour.")
        try:
            return self._read(src, start, end, int(sample_rate), n_out)
        except AudioError:
            raise
        except _ShortFile as exc:
            self._forget(path)
            ends = exc.available / info.sample_rate
            where = "at" if exc.exact else "before"
            raise AudioError(
                f"Audio file {info.path} ends {where} {_secs(ends)} s although its header says "
                f"{_secs(info.duration)} s, so segment {segment_id or '?'} ({_secs(start)}-{_secs(end)} s) cannot be "
                f"read: the file is truncated. Fetch or export it again, or drop the segments after {_secs(ends)} s."
            ) from None
        except Exception as exc:  # a decoder failing mid-file: corrupt or truncated data
            self._forget(path)
            reason = str(exc).strip().rstrip(".") or type(exc).__name__
            raise AudioError(f"Cannot decode audio file {info.path}{_where(segment_id)} at {_secs(start)} s: "
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
        """Close every open file."""
        while self._handles:
            _, handle = self._handles.popitem()
            self._decoded_closed += handle.decoded
            handle.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def to_mono_float32(array: Any, sample_rate: int, target_rate: int, *, source: str = "<array>") -> np.ndarray:
    """Turn a user's array into float32 mono at ``target_rate``, refusing what would be silently wrong.

    Integers are scaled to [-1, 1): int16 by 2**15, int32 by 2**31, int8 by 2**7, uint8 as offset binary; floats
    are cast to float32 and must stay within +-:data:`PEAK_LIMIT` (larger values are integer PCM stored as
    float: divide by 32768). Shapes: ``(n,)``; ``(n, channels)`` or ``(channels, n)`` with at most
    :data:`MAX_CHANNELS` channels. The channel axis is the one of length <= 8 while the other is longer; when
    both are <= 8 (a clip of at most 8 samples) or both longer, the layout is ambiguous and refused. Channels are
    averaged; the rate is converted with soxr (HQ).

    Args:
        array: samples (numpy array or anything ``np.asarray`` takes).
        sample_rate: the array's rate in Hz.
        target_rate: the wanted rate in Hz.
        source: what the array is, for error messages (a file name, a segment id).

    Returns:
        A C-contiguous 1-D float32 array.

    Raises:
        AudioError: an unsupported dtype, an ambiguous or unsupported shape, NaN/inf, an empty array, float
            samples beyond +-4, or non-positive rates.

    Examples:
        >>> import numpy as np
        >>> to_mono_float32(np.array([[16384, -16384], [0, 0]] * 8, np.int16), 16000, 16000)[:2]
        array([0., 0.], dtype=float32)
        >>> to_mono_float32(np.ones((2, 3)), 16000, 16000)
        Traceback (most recent call last):
        ...
        affectproxy.errors.AudioError: <array>: shape (2, 3) is ambiguous: ...
    """
    for name, rate in (("sample_rate", sample_rate), ("target_rate", target_rate)):
        if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
            raise AudioError(f"{source}: {name} must be a positive int (Hz), got {rate!r}.")
    x = np.asarray(array)
    if x.dtype.kind not in "iuf" or x.dtype == np.uint16 or x.dtype == np.uint32 or x.dtype == np.uint64:
        raise AudioError(f"{source}: samples of dtype {x.dtype} are not audio. Pass float32/float64 in [-1, 1] or "
                         "int16/int32 PCM.")
    if x.ndim == 2:
        n0, n1 = x.shape
        if n1 <= MAX_CHANNELS < n0:
            pass
        elif n0 <= MAX_CHANNELS < n1:
            x = x.T
        else:
            raise AudioError(
                f"{source}: shape {x.shape} is ambiguous: expected (n,), (n, channels) or (channels, n) with at most "
                f"{MAX_CHANNELS} channels and more than {MAX_CHANNELS} samples. Pass a 1-D array, or "
                "array.mean(axis=<channel axis>) yourself."
            )
    elif x.ndim != 1:
        raise AudioError(f"{source}: expected a 1-D or 2-D array of samples, got shape {x.shape}. Pass (n,) or "
                         "(n, channels).")
    if x.shape[0] == 0:
        raise AudioError(f"{source}: the array has no samples.")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise AudioError(f"{source}: the samples contain NaN or inf. Fix the signal before evaluating it.")
        peak = float(np.abs(x).max())
        if peak > PEAK_LIMIT:
            raise AudioError(f"{source}: float samples reach {peak:g}, but float audio lies in [-1, 1]. If these are "
                             "int16 values stored as floats, divide by 32768 (or pass the int16 array).")
    y = _scale(x)
    if y.ndim == 2:
        y = y.mean(axis=1, dtype=np.float32)
    if sample_rate != target_rate:
        import soxr

        y = soxr.resample(np.ascontiguousarray(y), int(sample_rate), int(target_rate), quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)



def segment_samples(segment: Any, *, evaluator: str, sample_rate: int, min_samples: int = 1) -> np.ndarray:
    """The float32 mono samples an evaluator may use from ``segment.audio``, refusing what a model would misread.

    The core fills ``Segment.audio`` as float32 mono at the evaluator's rate; this guards evaluators called
    directly with hand-filled audio. Integer PCM is scaled to [-1, 1) and float64 is cast (funasr raises on
    both); ``(n, 1)``/``(1, n)`` count as mono; several channels are refused, never flattened (funasr would
    interleave them into one garbled signal); NaN/inf and too-short input are refused.

    Raises:
        AudioError: no audio, several channels, not numbers, NaN/inf, or fewer than ``min_samples`` samples;
            the message names the segment, the evaluator and the fix.
    """
    where = f"Segment {segment.id!r} of recording {segment.recording.id!r} ({evaluator})"
    if segment.audio is None:
        raise AudioError(f"{where} has no audio. Run it through affectproxy.evaluate(), which fills Segment.audio "
                         f"({sample_rate} Hz mono float32), or fill it yourself.")
    a = np.asarray(segment.audio)
    if a.ndim > 1 and sum(n > 1 for n in a.shape) <= 1:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise AudioError(f"{where} has audio of shape {a.shape}; {evaluator} needs mono (n_samples,), and a model "
                         "may silently flatten channels into one garbled signal. Mix down first: the core does "
                         "when it reads a file, or use affectproxy.audio.to_mono_float32.")
    if a.dtype.kind not in "iuf":
        raise AudioError(f"{where}: audio dtype {a.dtype} is not a number type; pass float32 samples in [-1, 1].")
    a = _scale(a)
    if not np.isfinite(a).all():
        raise AudioError(f"{where}: audio holds NaN or infinite samples; check the decoder or the file.")
    if a.size < min_samples:
        raise AudioError(f"{where} has {a.size} samples ({a.size / sample_rate:.4f} s), shorter than the "
                         f"{min_samples} samples {evaluator} needs (at least {min_samples} at {sample_rate} Hz); "
                         "merge or drop the segment.")
    return a

__all__ = ["END_TOLERANCE", "RESAMPLE_MARGIN", "AudioInfo", "AudioReader", "segment_samples", "to_mono_float32"]
