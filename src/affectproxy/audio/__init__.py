"""Reading audio for segments: seek, decode only the span, mix down to mono, resample; and encoding it again.

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
- One :class:`AudioReader` may be shared by threads (reads of one file take turns, different files are read at
  once). :meth:`AudioReader.read_recording` reads a whole file, :func:`encode_audio` turns samples into FLAC or
  WAV bytes for evaluators that send audio to an API.

The package's modules, one concern each: ``_decoders`` (soundfile and PyAV sources, :class:`AudioInfo`),
``_reader`` (:class:`AudioReader` and its cache of open files), ``_convert`` (:func:`to_mono_float32`),
``_guard`` (:func:`segment_samples`, what evaluators take from ``Segment.audio``) and ``_encode``
(:func:`encode_audio`). Import every name from ``affectproxy.audio``.

Examples:
    >>> import numpy as np
    >>> x = np.zeros((800, 2), dtype=np.int16)         # 0.1 s of 8 kHz stereo int16
    >>> y = to_mono_float32(x, 8000, 16000)
    >>> y.dtype, y.shape
    (dtype('float32'), (1600,))
"""

from affectproxy.audio._convert import MAX_CHANNELS, PEAK_LIMIT, to_mono_float32
from affectproxy.audio._decoders import END_TOLERANCE, SEEK_PREROLL, AudioInfo
from affectproxy.audio._encode import ENCODINGS, encode_audio
from affectproxy.audio._guard import segment_samples
from affectproxy.audio._reader import RESAMPLE_MARGIN, AudioReader, read_recording

__all__ = [
    "ENCODINGS",
    "END_TOLERANCE",
    "MAX_CHANNELS",
    "PEAK_LIMIT",
    "RESAMPLE_MARGIN",
    "SEEK_PREROLL",
    "AudioInfo",
    "AudioReader",
    "encode_audio",
    "read_recording",
    "segment_samples",
    "to_mono_float32",
]
