"""affectproxy.audio against real files written with soundfile and PyAV (wav, flac, ogg, mp3, m4a, mp4, webm)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import soxr

import affectproxy as ap
from affectproxy import AudioError
from affectproxy.audio import END_TOLERANCE, AudioInfo, AudioReader, to_mono_float32


def chirp(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A gliding tone plus noise: every stretch differs, so a misaligned read cannot pass by chance."""
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * (150 + 40 * t) * t) + 0.05 * noise).astype(np.float32)


def burst(seconds: float, rate: int, onset: float, freq: float = 440.0) -> np.ndarray:
    """Silence, then a sine of amplitude 0.5 from ``onset`` seconds on."""
    t = np.arange(round(seconds * rate)) / rate
    return np.where(t >= onset, 0.5 * np.sin(2 * np.pi * freq * t), 0.0).astype(np.float32)


def write_av(path: Path, signal: np.ndarray, rate: int, codec: str = "aac", *, video: bool = False,
             container: str | None = None, options: dict[str, str] | None = None) -> Path:
    """Encode ``signal`` with PyAV (AAC in .m4a/.mp4, Opus in .webm), optionally with a video stream.

    ``signal`` is mono ``(n,)`` or stereo ``(2, n)``.
    """
    planes = np.atleast_2d(signal).astype(np.float32)
    layout = "mono" if len(planes) == 1 else "stereo"
    with av.open(str(path), "w", format=container, options=options or {}) as out:
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        astream = out.add_stream(codec, rate=rate)
        astream.layout = layout
        size = astream.codec_context.frame_size or 1024
        for i in range(0, planes.shape[1], size):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes[:, i:i + size]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts = rate, i
            for packet in astream.encode(frame):
                out.mux(packet)
        for packet in astream.encode(None):
            out.mux(packet)
        if vstream is not None:
            for k in range(int(planes.shape[1] / rate * 10)):
                picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (k * 8) % 256, np.uint8), format="rgb24")
                picture.pts = k
                for packet in vstream.encode(picture):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


def onset(x: np.ndarray, rate: int, level: float = 0.1) -> float:
    return float(np.argmax(np.abs(x) > level)) / rate


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 6-second chirp in every container; plus tone bursts at 1.0 s in the lossy ones."""
    folder = tmp_path_factory.mktemp("media")
    x = chirp(6.0, 16000)
    files = {}
    for ext in ("wav", "flac", "ogg", "mp3"):
        files[ext] = folder / f"chirp.{ext}"
        sf.write(files[ext], x, 16000)
    files["m4a"] = write_av(folder / "chirp.m4a", x, 16000)
    files["mp4"] = write_av(folder / "chirp.mp4", x, 16000, video=True)
    files["webm"] = write_av(folder / "chirp.webm", chirp(6.0, 48000), 48000, "libopus", container="webm")
    tone = burst(3.0, 44100, onset=1.0)
    files["burst.mp3"] = folder / "burst.mp3"
    sf.write(files["burst.mp3"], tone, 44100)
    files["burst.m4a"] = write_av(folder / "burst.m4a", tone, 44100)
    files["burst.mp4"] = write_av(folder / "burst.mp4", tone, 44100, video=True)
    return files


def test_info_describes_each_file(media: dict[str, Path]) -> None:
    with AudioReader() as reader:
        wav = reader.info(media["wav"])
        assert wav == AudioInfo(str(media["wav"]), 16000, 1, 96000, 6.0, "WAV", "PCM_16", "soundfile", True)
        assert (reader.info(media["mp3"]).backend, reader.info(media["mp3"]).format) == ("soundfile", "MP3")
        assert reader.info(media["mp3"]).seekable is False and reader.info(media["ogg"]).seekable is False
        for key in ("m4a", "mp4"):
            info = reader.info(media[key])
            assert (info.backend, info.codec, info.sample_rate, info.channels) == ("pyav", "aac", 16000, 1)
            assert info.duration == pytest.approx(6.0, abs=0.03) and info.seekable
        assert reader.info(media["webm"]).codec == "opus"


@pytest.mark.parametrize("key, tol", [("wav", 0), ("flac", 0), ("ogg", 0), ("mp3", 1e-6), ("m4a", 0), ("mp4", 0),
                                      ("webm", 5e-4)])
def test_segment_reads_equal_slices_of_a_full_read(media: dict[str, Path], key: str, tol: float) -> None:
    spans = [(0.0, 1.3), (1.234, 2.5), (2.6, 2.9), (4.5, 5.8), (0.3, 1.0), (3.01, 3.02), (5.5, 6.0)]
    with AudioReader() as reader:
        duration = reader.info(media[key]).duration
        for rate in (16000, 22050, 8000):
            full = reader.read(media[key], 0.0, duration, rate)
            for start, end in spans:  # out of order on purpose: backward reads must work too
                seg = reader.read(media[key], start, end, rate, segment_id="s")
                first = int(np.floor(start * rate + 0.5))
                assert seg.dtype == np.float32 and seg.shape == (int(np.floor((end - start) * rate + 0.5)),)
                resampling = 1e-5 if rate != reader.info(media[key]).sample_rate else 0
                np.testing.assert_allclose(seg, full[first:first + len(seg)], atol=tol + resampling)


def test_whole_file_read_matches_soundfile_exactly(media: dict[str, Path]) -> None:
    data, _rate = sf.read(media["flac"], dtype="float32")
    with AudioReader() as reader:
        out = reader.read(media["flac"], 0.0, 6.0, 16000)  # start exactly at 0, end exactly at the end
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("key", ["burst.mp3", "burst.m4a", "burst.mp4"])
def test_lossy_formats_keep_time_alignment(media: dict[str, Path], key: str) -> None:
    """A tone starting at 1.000 s is read starting at 1.000 s: AAC priming and MP3 delay are removed."""
    with AudioReader() as reader:
        whole = reader.read(media[key], 0.0, 2.9, 16000)
        part = reader.read(media[key], 0.8, 1.4, 16000, segment_id="burst")
    assert onset(whole, 16000) == pytest.approx(1.0, abs=0.005)
    assert 0.8 + onset(part, 16000) == pytest.approx(1.0, abs=0.005)
    assert np.sqrt(np.mean(part[-4000:] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_stereo_is_mixed_down_by_the_mean(tmp_path: Path) -> None:
    left, right = chirp(2.0, 16000, seed=1), chirp(2.0, 16000, seed=2)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    with AudioReader() as reader:
        assert reader.info(tmp_path / "stereo.wav").channels == 2
        out = reader.read(tmp_path / "stereo.wav", 0.5, 1.5, 16000)
    np.testing.assert_allclose(out, ((left + right) / 2)[8000:24000], atol=1e-7)


def test_resampling_8k_to_16k_keeps_frequency_and_amplitude(tmp_path: Path) -> None:
    t = np.arange(3 * 8000) / 8000
    sf.write(tmp_path / "tone8k.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 8000, subtype="FLOAT")
    with AudioReader() as reader:
        out = reader.read(tmp_path / "tone8k.wav", 1.0, 2.0, 16000)
    assert out.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert np.fft.rfftfreq(len(out), 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=1)
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.005)
    np.testing.assert_allclose(out[::2], 0.5 * np.sin(2 * np.pi * 440 * t[8000:16000]), atol=2e-3)


def test_long_files_are_not_decoded_per_segment(tmp_path: Path) -> None:
    """50 segments of a 10-minute FLAC: one open, and only the spans (plus margins) decoded."""
    rate = 8000
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", rate, 1) as out:
        for minute in range(10):
            out.write(chirp(60.0, rate, seed=minute))
    with AudioReader() as reader:
        total = reader.info(path).frames
        assert total == 600 * rate
        starts = np.linspace(0, 598, 50)
        for i, start in enumerate(starts):
            reader.read(path, start, start + 1.0, 16000, segment_id=f"s{i}")
        assert reader.files_opened == 1
        assert reader.frames_decoded < 0.12 * total  # 50 x (1 s + 2 x 50 ms margins) = 55 s of 600 s
        before = reader.frames_decoded
        reader.read(path, 598.5, 599.5, 8000)
        assert reader.frames_decoded - before == rate


def test_forward_only_formats_decode_once_when_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp3"
    sf.write(path, chirp(60.0, 16000), 16000)
    with AudioReader() as reader:
        total = reader.info(path).frames
        for start in np.arange(0, 59, 1.5):
            reader.read(path, start, start + 1.2, 16000)
        assert reader.files_opened == 1 and reader.frames_decoded <= 1.01 * total


def test_pyav_seeks_in_a_long_m4a(tmp_path: Path) -> None:
    path = write_av(tmp_path / "long.m4a", chirp(120.0, 16000), 16000)
    with AudioReader() as reader:
        total = reader.info(path).frames
        tail = reader.read(path, 118.0, 119.0, 16000)
        assert reader.frames_decoded < 0.05 * total  # the first frame at open, then ~1.3 s around the segment
    with av.open(str(path)) as container:
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    np.testing.assert_allclose(tail, decoded[118 * 16000:119 * 16000], atol=1e-6)


def test_handles_are_reused_and_capped(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"utt{i}.wav")
        sf.write(paths[-1], chirp(1.0, 16000, seed=i), 16000)
    with AudioReader(max_open=2) as reader:
        for _ in range(3):
            reader.read(paths[0], 0, 0.5, 16000)
        assert reader.files_opened == 1
        reader.read(paths[1], 0, 0.5, 16000)
        reader.read(paths[2], 0, 0.5, 16000)  # closes utt0, the least recently used
        reader.read(paths[2], 0.5, 1.0, 16000)
        assert reader.files_opened == 3
        reader.read(paths[0], 0, 0.5, 16000)
        assert reader.files_opened == 4


def test_end_within_tolerance_is_zero_padded(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    sf.write(path, np.full(16000, 0.25, np.float32), 16000, subtype="FLOAT")  # 1.0 s
    with AudioReader() as reader:
        out = reader.read(path, 0.5, 1.0 + END_TOLERANCE, 16000)
        assert out.shape == (8800,)
        assert np.all(out[:8000] == 0.25) and np.all(out[8000:] == 0)
        assert reader.read(path, 0.0, 1.0, 16000).shape == (16000,)
        assert reader.read(path, 0.0, 1.0, 8000).shape == (8000,)


def test_times_outside_the_audio_are_errors(speech_wav: Path) -> None:  # 6.0 s
    with AudioReader() as reader:
        with pytest.raises(AudioError) as err:
            reader.read(speech_wav, 5.5, 9.0, 16000, segment_id="s12")
        assert str(err.value) == (f"Segment s12 (5.5-9.0 s) ends past the end of {speech_wav} (6.0 s). Fix the "
                                  "segment table or point it at the right audio.")
        with pytest.raises(AudioError, match=r"Segment s13 \(6.0-7.0 s\) starts at or after the end of .*speech.wav"):
            reader.read(speech_wav, 6.0, 7.0, 16000, segment_id="s13")
        with pytest.raises(AudioError, match="must be finite with 0 <= start < end"):
            reader.read(speech_wav, 2.0, 1.0, 16000, segment_id="s14")
        with pytest.raises(AudioError, match="sample_rate must be a positive int"):
            reader.read(speech_wav, 0.0, 1.0, 16000.0, segment_id="s15")  # type: ignore[arg-type]


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).integers(0, 256, 40000, np.uint8).tobytes())
    (tmp_path / "notes.mp3").write_text("These are my notes, not audio.\n" * 50)
    (tmp_path / "empty.flac").write_bytes(b"")
    with AudioReader() as reader:
        with pytest.raises(AudioError, match=r"Audio file .*gone.wav does not exist \(segment s1\)\. Fix the path"):
            reader.read(tmp_path / "gone.wav", 0, 1, 16000, segment_id="s1")
        for name, converted in (("noise.wav", "noise.converted.wav"), ("notes.mp3", "notes.wav"),
                                ("empty.flac", "empty.wav")):
            with pytest.raises(AudioError) as err:
                reader.read(tmp_path / name, 0, 1, 16000, segment_id="s3")
            msg = str(err.value)
            assert msg.startswith(f"Cannot decode audio file {tmp_path / name} (segment s3): ")
            assert f"`ffmpeg -i {tmp_path / name} -ac 1 -ar 16000 {tmp_path / converted}`" in msg
        with pytest.raises(AudioError, match="is a folder"):
            reader.info(tmp_path)
        assert reader.files_opened == 0


def test_to_mono_float32_scales_integers_and_casts_floats() -> None:
    ints = np.array([0, 16384, -32768, 32767], np.int16)
    assert to_mono_float32(np.tile(ints, 4), 16000, 16000)[:4].tolist() == [0.0, 0.5, -1.0, 32767 / 32768]
    assert to_mono_float32(np.array([2**30, -(2**31)] * 8, np.int32), 16000, 16000)[:2].tolist() == [0.5, -1.0]
    out = to_mono_float32(np.linspace(-1, 1, 100), 16000, 16000)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, np.linspace(-1, 1, 100), atol=1e-7)


def test_to_mono_float32_mixes_both_channel_layouts() -> None:
    left, right = chirp(0.5, 16000, 1), chirp(0.5, 16000, 2)
    expected = (left + right) / 2
    np.testing.assert_allclose(to_mono_float32(np.stack([left, right], 1), 16000, 16000), expected, atol=1e-7)
    np.testing.assert_allclose(to_mono_float32(np.stack([left, right], 0), 16000, 16000), expected, atol=1e-7)
    stereo16 = (np.stack([left, right], 1) * 32768).astype(np.int16)
    np.testing.assert_allclose(to_mono_float32(stereo16, 16000, 16000), expected, atol=1e-4)


def test_to_mono_float32_resamples() -> None:
    t = np.arange(8000) / 8000
    out = to_mono_float32(0.5 * np.sin(2 * np.pi * 300 * t), 8000, 16000)
    assert out.shape == (16000,)
    np.testing.assert_allclose(out[1000:-1000:2], 0.5 * np.sin(2 * np.pi * 300 * t[500:-500]), atol=2e-3)


@pytest.mark.parametrize("array, message", [
    (np.ones((4, 6)), r"shape \(4, 6\) is ambiguous"),
    (np.ones((100, 20)), r"shape \(100, 20\) is ambiguous"),
    (np.ones((2, 100, 2)), "expected a 1-D or 2-D array"),
    (np.array([0.1, np.nan] * 10), "NaN or inf"),
    (np.array([0.0, 12000.0] * 10), "float samples reach 12000.*divide by 32768"),
    (np.array([1 + 1j] * 20), "dtype complex128 are not audio"),
    (np.zeros(0, np.float32), "no samples"),
])
def test_to_mono_float32_refuses_what_would_be_silently_wrong(array: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message) as err:
        to_mono_float32(array, 16000, 16000, source="utt7.npy")
    assert str(err.value).startswith("utt7.npy: ")
    with pytest.raises(AudioError, match="target_rate must be a positive int"):
        to_mono_float32(np.zeros(100), 16000, 0)


# ------------------------------------------------------------------------------- rates, channels, edges, handles


def tone(seconds: float, rate: int, freq: float = 1000.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_44k_stereo_to_16k_keeps_frequency_amplitude_and_length(tmp_path: Path) -> None:
    x = tone(4.0, 44100, freq=1000.0)
    sf.write(tmp_path / "cd.wav", np.stack([x, x], axis=1), 44100, subtype="FLOAT")
    with AudioReader() as reader:
        for start, end in ((0.37, 1.71), (0.0, 0.5), (2.2, 4.0), (1.0001, 3.9999)):
            out = reader.read(tmp_path / "cd.wav", start, end, 16000, segment_id="s1")
            assert out.shape == (round((end - start) * 16000),) and out.dtype == np.float32
            inner = out[800:-800]  # away from the file's own edges, where soxr sees zeros
            assert peak_frequency(inner, 16000) == pytest.approx(1000.0, abs=16000 / len(inner))
            assert rms(inner) == pytest.approx(0.5 / np.sqrt(2), rel=0.002)
        t = np.arange(16000) / 16000 + 1.0  # a resampled read lies on the output grid from t = 0
        np.testing.assert_allclose(reader.read(tmp_path / "cd.wav", 1.0, 2.0, 16000),
                                   0.5 * np.sin(2 * np.pi * 1000 * t), atol=2e-3)


@pytest.mark.parametrize("suffix, subtype", [("wav", "FLOAT"), ("flac", "PCM_24")])
def test_opposite_channels_cancel_and_one_channel_halves(tmp_path: Path, suffix: str, subtype: str) -> None:
    x = tone(2.0, 16000, freq=440.0)
    sf.write(tmp_path / f"anti.{suffix}", np.stack([x, -x], axis=1), 16000, subtype=subtype)
    sf.write(tmp_path / f"left.{suffix}", np.stack([x, np.zeros_like(x)], axis=1), 16000, subtype=subtype)
    with AudioReader() as reader:
        for rate in (16000, 8000):
            assert np.abs(reader.read(tmp_path / f"anti.{suffix}", 0.2, 1.8, rate)).max() < 1e-6
            left = reader.read(tmp_path / f"left.{suffix}", 0.2, 1.8, rate)
            assert rms(left) == pytest.approx(0.25 / np.sqrt(2), rel=0.002)
            assert np.abs(left).max() == pytest.approx(0.25, abs=2e-3)


def test_stereo_aac_is_mixed_down(tmp_path: Path) -> None:
    """PyAV's planar AAC frames are averaged over channels just like soundfile's interleaved ones."""
    x = tone(3.0, 44100, freq=500.0)
    path = write_av(tmp_path / "left.m4a", np.stack([x, np.zeros_like(x)]), 44100)
    with AudioReader() as reader:
        assert reader.info(path).channels == 2
        out = reader.read(path, 1.0, 2.0, 16000)
    assert rms(out) == pytest.approx(0.25 / np.sqrt(2), rel=0.03)
    assert peak_frequency(out, 16000) == pytest.approx(500.0, abs=1.0)


def test_stereo_44k_tone_burst_in_m4a_and_mp4_starts_on_time(tmp_path: Path) -> None:
    """AAC priming (1024 samples) is removed through the edit list: the onset lands within 5 ms."""
    x = burst(3.0, 44100, onset=1.25, freq=660.0)
    for path in (write_av(tmp_path / "b.m4a", np.stack([x, x]), 44100),
                 write_av(tmp_path / "b.mp4", np.stack([x, x]), 44100, video=True),
                 write_av(tmp_path / "fast.m4a", np.stack([x, x]), 44100, options={"movflags": "faststart"})):
        with AudioReader() as reader:
            for start, end in ((1.0, 1.6), (0.0, 1.5), (1.2, 1.4), (0.05, 2.95)):
                part = reader.read(path, start, end, 16000, segment_id="b1")
                assert start + onset(part, 16000) == pytest.approx(1.25, abs=0.005), (path.name, start)


def test_start_at_zero_and_end_at_the_end_in_every_reader(media: dict[str, Path]) -> None:
    with AudioReader() as reader:
        for key in ("wav", "flac", "ogg", "mp3", "m4a", "mp4"):
            info = reader.info(media[key])
            for rate in (16000, 8000, 44100):
                out = reader.read(media[key], 0.0, info.duration, rate, segment_id="all")
                assert out.shape == (round(info.duration * rate),), (key, rate)
                assert rms(out[: rate // 2]) > 0.1 and rms(out[-rate // 2:]) > 0.1, (key, rate)  # no padded zeros


def test_end_within_tolerance_is_zero_padded_when_resampling(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    sf.write(path, np.full(44100, 0.25, np.float32), 44100, subtype="FLOAT")  # 1.0 s
    with AudioReader() as reader:
        out = reader.read(path, 0.5, 1.0 + END_TOLERANCE - 0.001, 16000, segment_id="last")
        assert out.shape == (round((0.5 + END_TOLERANCE - 0.001) * 16000),)
        assert out[1000:7000] == pytest.approx(0.25, abs=1e-3) and np.all(out[8100:] == 0)
        with pytest.raises(AudioError, match=r"Segment last \(0.5-1.06 s\) ends past the end of .*speech.wav "
                                             r"\(1.0 s\)"):
            reader.read(path, 0.5, 1.06, 16000, segment_id="last")


def test_many_segments_of_one_file_share_one_open_handle(tmp_path: Path) -> None:
    paths = [tmp_path / "long.flac", tmp_path / "other.wav"]
    for path in paths:
        sf.write(path, chirp(20.0, 16000), 16000)
    with AudioReader() as reader:
        for start in np.arange(0.0, 19.0, 0.5):
            reader.read(paths[0], start, start + 0.7, 16000, segment_id=f"s{start}")
        assert reader.open_files == (str(paths[0]),) and reader.files_opened == 1
        reader.read(paths[1], 1.0, 2.0, 16000)
        reader.read(paths[0], 3.0, 4.0, 16000)
        assert reader.open_files == (str(paths[1]), str(paths[0]))  # least recently used first
    assert reader.open_files == ()


def test_truncated_files_are_refused_not_padded(tmp_path: Path) -> None:
    """A file cut in half keeps its header's length: reading past the cut is an error, not silence."""
    x = chirp(4.0, 16000)
    for ext in ("mp3", "flac"):
        sf.write(tmp_path / f"full.{ext}", x, 16000)
        data = (tmp_path / f"full.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    path = write_av(tmp_path / "full.m4a", x, 16000, options={"movflags": "faststart"})
    (tmp_path / "cut.m4a").write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with AudioReader() as reader:
        for ext in ("mp3", "flac", "m4a"):
            cut = tmp_path / f"cut.{ext}"
            assert reader.info(cut).duration == pytest.approx(4.0, abs=0.05)  # the header still says 4 s
            assert rms(reader.read(cut, 0.2, 1.2, 16000, segment_id="early")) > 0.1
            with pytest.raises(AudioError) as err:
                reader.read(cut, 2.9, 3.5, 16000, segment_id="late")
            msg = str(err.value)
            assert str(cut) in msg and ("segment late" in msg or "(segment late)" in msg), msg
            assert ("truncated" in msg and ("Fetch or export it again" in msg or "Convert it" in msg)), msg
        with pytest.raises(AudioError, match=r"cut.mp3 ends at 1.\d+ s although its header says 4.0 s, so segment "
                                             r"late \(2.9-3.5 s\) cannot be read: the file is truncated"):
            reader.read(tmp_path / "cut.mp3", 2.9, 3.5, 16000, segment_id="late")


@pytest.mark.parametrize("array", [np.ones(100, bool), np.ones(100, np.uint16), np.array(["a"] * 100),
                                   np.ones(100, object)])
def test_to_mono_float32_refuses_non_audio_dtypes(array: np.ndarray) -> None:
    with pytest.raises(AudioError, match=rf"^clip.wav: samples of dtype {array.dtype} are not audio\. Pass "
                                         "float32/float64 in \\[-1, 1\\] or int16/int32 PCM\\.$"):
        to_mono_float32(array, 16000, 16000, source="clip.wav")


def test_to_mono_float32_channel_layouts_and_integer_stereo() -> None:
    x = tone(0.25, 16000, freq=440.0).astype(np.float64)
    for layout in (np.stack([x, -x], 1), np.stack([x, -x], 0)):
        assert np.abs(to_mono_float32(layout, 16000, 16000)).max() == 0
    left = np.stack([x, np.zeros_like(x)], 0)
    np.testing.assert_allclose(to_mono_float32(left, 16000, 16000), x / 2, atol=1e-7)
    i32 = (np.stack([x, x], 1) * 2**31).astype(np.int32)
    np.testing.assert_allclose(to_mono_float32(i32, 16000, 16000), x, atol=1e-7)
    up = to_mono_float32((np.stack([x, x], 0) * 32767).astype(np.int16), 16000, 44100)
    assert up.shape == (round(0.25 * 44100),) and rms(up[500:-500]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_segment_samples_is_the_one_guard_evaluators_share() -> None:
    from affectproxy.audio import segment_samples

    rec = ap.Recording("r")
    ok = segment_samples(ap.Segment("a", rec, 0, 1, audio=np.array([[0], [16384]], np.int16)), evaluator="e2v",
                         sample_rate=16000)
    assert ok.dtype == np.float32 and ok.tolist() == [0.0, 0.5]
    cases = [(None, "has no audio"), (np.zeros((800, 2), np.float32), r"shape \(800, 2\).*Mix down"),
             (np.array([0.1, np.inf] * 400), "NaN or infinite"), (np.zeros(10, np.float32), "at least 400"),
             (np.array(["x"] * 800), "not a number type")]
    for audio, message in cases:
        with pytest.raises(ap.AudioError, match=message) as err:
            segment_samples(ap.Segment("s9", rec, 0, 1, audio=audio), evaluator="e2v", sample_rate=16000,
                            min_samples=400)
        assert "Segment 's9'" in str(err.value) and "(e2v)" in str(err.value)


# ------------------------------------------------------------------------------- handle cache, threads, whole files


def test_a_failed_read_through_a_relative_path_drops_the_handle(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is keyed by absolute path; dropping a handle after a failure must use the same key."""
    sf.write(tmp_path / "full.flac", chirp(4.0, 16000), 16000)
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    sf.write(tmp_path / "ok.wav", chirp(1.0, 16000), 16000)
    monkeypatch.chdir(tmp_path)
    with AudioReader() as reader:
        assert rms(reader.read("cut.flac", 0.2, 1.2, 16000)) > 0.1
        assert reader.open_files == (str(tmp_path / "cut.flac"),)
        with pytest.raises(AudioError, match="truncated"):
            reader.read("cut.flac", 2.9, 3.5, 16000, segment_id="late")
        assert reader.open_files == ()  # the failed decoder is closed, not kept for the next read
        reader.read(Path("cut.flac"), 0.2, 1.2, 16000)
        assert reader.files_opened == 2
        reader.read("ok.wav", 0.0, 0.5, 16000)
        assert reader.open_files == (str(tmp_path / "cut.flac"), str(tmp_path / "ok.wav"))
        reader._forget("ok.wav")
        reader._forget(Path("cut.flac"))
        assert reader.open_files == ()


@pytest.fixture(scope="module")
def four_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four decoders of each kind: seeking wav and flac (stereo 44.1 kHz), forward-only mp3, PyAV m4a."""
    folder = tmp_path_factory.mktemp("threads")
    sf.write(folder / "a.wav", chirp(3.0, 16000, seed=1), 16000)
    sf.write(folder / "b.flac", np.stack([chirp(3.0, 44100, seed=2), chirp(3.0, 44100, seed=3)], 1), 44100)
    sf.write(folder / "c.mp3", chirp(3.0, 16000, seed=4), 16000)
    return [folder / "a.wav", folder / "b.flac", folder / "c.mp3",
            write_av(folder / "d.m4a", chirp(3.0, 16000, seed=5), 16000)]


def test_one_reader_shared_by_four_threads_reads_what_a_sequential_reader_reads(four_files: list[Path]) -> None:
    """Four threads read the same spans in different orders at once, through a reader that can keep only two
    files open (so files are closed under other threads' feet); every array equals the sequential read."""
    import sys
    import threading

    jobs = [(path, start, start + length, rate) for path in four_files for rate in (16000, 8000)
            for start, length in ((0.0, 0.7), (0.45, 1.1), (1.3, 0.6), (2.1, 0.9), (0.9, 0.25))]
    with AudioReader() as reader:
        expected = {job: reader.read(*job) for job in jobs}
    shared = AudioReader(max_open=2)
    results: list[dict[tuple[Path, float, float, int], np.ndarray]] = [{} for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        order = [jobs[k] for k in np.random.default_rng(i).permutation(len(jobs))]
        try:
            barrier.wait()
            for job in order:
                results[i][job] = shared.read(*job, segment_id=f"t{i}")
        except BaseException as exc:  # reported below, with the thread's number
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads as often as possible, so that unguarded reads would interleave
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        shared.close()
    assert not errors, errors
    for i in range(4):
        for job in jobs:  # mpg123 restarted by a seek to 0 differs from a fresh open by ~1e-7 (seen sequentially)
            tol = 1e-6 if job[0].suffix == ".mp3" else 0
            np.testing.assert_allclose(results[i][job], expected[job], rtol=0, atol=tol, err_msg=f"thread {i}, {job}")
    assert shared.open_files == () and len(shared.open_files) <= shared.max_open


def test_threads_that_read_one_file_at_once_share_one_open_handle(four_files: list[Path]) -> None:
    import threading

    for path in four_files:
        reader = AudioReader()
        barrier = threading.Barrier(8)
        out: list[np.ndarray] = []

        def work(path: Path = path, reader: AudioReader = reader, barrier: threading.Barrier = barrier,
                 out: list[np.ndarray] = out) -> None:
            barrier.wait()
            out.append(reader.read(path, 1.0, 1.5, 16000))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(out) == 8 and reader.files_opened == 1 and reader.open_files == (str(path),), path.name
        reader.close()


def test_read_recording_reads_the_whole_file(media: dict[str, Path], tmp_path: Path) -> None:
    from affectproxy.audio import read_recording

    flac, _rate = sf.read(media["flac"], dtype="float32")
    with AudioReader() as reader:
        np.testing.assert_array_equal(reader.read_recording(media["flac"], 16000, recording_id="r1"), flac)
        # A 16 kHz AAC file at 8 kHz: FFmpeg's own whole-file decode, resampled by soxr in one go.
        with av.open(str(media["m4a"])) as container:
            decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
        m4a = reader.read_recording(media["m4a"], 8000)
        frames = reader.info(media["m4a"]).frames  # the container's length: FFmpeg decodes a padded last frame
        assert m4a.shape == (round(frames / 2),) and m4a.dtype == np.float32 and m4a.flags.c_contiguous
        np.testing.assert_allclose(m4a, soxr.resample(decoded[:frames], 16000, 8000, quality="HQ"), atol=1e-5)
    np.testing.assert_array_equal(read_recording(media["m4a"], 8000), m4a)

    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    for ext in ("flac", "mp3"):
        sf.write(tmp_path / f"full.{ext}", chirp(4.0, 16000), 16000)
        data = (tmp_path / f"full.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"^Audio file .*empty.wav \(recording talk\) holds no samples"):
        read_recording(tmp_path / "empty.wav", 16000, recording_id="talk")
    with pytest.raises(AudioError, match=r"^Cannot decode audio file .*cut.flac \(recording talk\) at 0.0 s: .*lost "
                                         r"sync; the file is corrupt or truncated"):
        read_recording(tmp_path / "cut.flac", 16000, recording_id="talk")
    with pytest.raises(AudioError, match=r"cut.mp3 ends at 1.\d+ s although its header says 4.0 s, so recording "
                                         r"talk \(0.0-4.0 s\) cannot be read: the file is truncated"):
        read_recording(tmp_path / "cut.mp3", 16000, recording_id="talk")
    with pytest.raises(AudioError, match=r"^Audio file .*gone.wav does not exist \(the whole recording\)"):
        read_recording(tmp_path / "gone.wav", 16000)


def pcm16(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a FLAC or WAV file with FFmpeg (PyAV), not libsndfile: 16-bit samples and the rate."""
    import io

    with av.open(io.BytesIO(data), "r") as container:
        frames = list(container.decode(audio=0))
    assert all(f.format.name == "s16" and len(f.layout.channels) == 1 for f in frames)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]), frames[0].sample_rate


@pytest.mark.parametrize("fmt, magic", [("flac", b"fLaC"), ("wav", b"RIFF")])
def test_encode_audio_writes_16_bit_files_that_ffmpeg_decodes_back(fmt: str, magic: bytes) -> None:
    from affectproxy.audio import encode_audio

    ints = (chirp(1.0, 16000) * 32768).astype(np.int16)
    data = encode_audio(ints.astype(np.float32) / 32768, 16000, fmt)
    assert data[:4] == magic
    decoded, rate = pcm16(data)
    assert rate == 16000
    np.testing.assert_array_equal(decoded, ints)  # 16-bit values survive exactly
    np.testing.assert_array_equal(pcm16(encode_audio(ints, 16000, fmt))[0], ints)  # int16 input is scaled back
    x = np.array([0.0, 0.25, -0.5, 1.0, -1.0, 1.7, -3.0, 0.1] * 100, np.float32)
    expected = np.clip(np.round(x * 32768), -32768, 32767)  # clipped at full scale, not wrapped around
    assert np.abs(pcm16(encode_audio(x, 8000, fmt))[0] - expected).max() <= 1


def test_encode_audio_options_and_refusals() -> None:
    import io
    import wave

    from affectproxy.audio import encode_audio

    x = chirp(0.5, 22050)
    with wave.open(io.BytesIO(encode_audio(x, 22050, "WAV", subtype="PCM_24"))) as w:  # the stdlib reader
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 3, 22050, len(x))
    assert len(encode_audio(x, 22050, subtype="PCM_24")) > len(encode_audio(x, 22050))
    refusals: list[tuple[Callable[[], bytes], str]] = [
        (lambda: encode_audio(x, 22050, "mp3", source="seg7"),
         "cannot encode audio as 'mp3'; use format='flac' or format='wav'"),
        (lambda: encode_audio(x, 22050, subtype="FLOAT", source="seg7"), "flac cannot hold subtype 'FLOAT'"),
        (lambda: encode_audio(x, 16000.0, source="seg7"), "sample_rate must be a positive int"),  # type: ignore[arg-type]
        (lambda: encode_audio(x, 700000, source="seg7"), "libsndfile cannot write flac PCM_16 at 700000 Hz"),
        (lambda: encode_audio(np.array([0.1, np.nan] * 10), 22050, source="seg7"), "the samples contain NaN or inf"),
    ]
    for call, message in refusals:
        with pytest.raises(AudioError, match=rf"^seg7: {message}"):
            call()
