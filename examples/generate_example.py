"""Regenerate the bundled example: synthetic German speech with arousal varied segment by segment.

The example is a short "speech" of 15 sentences (our own text, written for this example) spoken by espeak-ng's
German voice. Each sentence gets an *intended arousal level* in {-1, -0.5, 0, 0.5, 1}, three sentences per level,
in an order that is not monotone in time. The level sets the synthesiser's prosody:

==============  =====================  ============  ===========
espeak-ng       meaning                level -1      level +1
==============  =====================  ============  ===========
``-a``          amplitude (0-200)      55            145
``-p``          pitch baseline (0-99)  25            75
``-s``          rate (words/minute)    125           195
SSML range      pitch range            x-low         x-high
==============  =====================  ============  ===========

(linear in between; ranges ``x-low, low, medium, high, x-high``). The sentences are synthesised one by one
(espeak-ng writes 22.05 kHz WAV), trimmed of leading and trailing silence, resampled to 16 kHz with soxr (HQ),
joined with 0.6 s pauses, mixed with a faint seeded noise floor (about -74 dBFS RMS; so no stretch is digital
silence) and written as 16-bit mono FLAC.

Outputs (in ``src/affectproxy/data/example/`` unless ``--out`` says otherwise):

- ``speech.flac``: the audio, 16 kHz mono.
- ``segments.csv``: ``id, start, end, text, speaker`` (one row per sentence, times in seconds).
- ``reference.csv``: ``segment_id, arousal``: the intended level, imported with the ``table`` evaluator.

The output is deterministic for a given espeak-ng version (made with espeak-ng 1.51, Debian 12's
``espeak-ng 1.51+dfsg-10+deb12u2``); other versions may differ slightly in timing and timbre.

Usage::

    apt-get install espeak-ng          # or your platform's package
    python examples/generate_example.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
PAUSE_S = 0.6
LEAD_S = 0.4
NOISE_RMS = 2e-4
SEED = 20240521
SPEAKER = "espeak-de"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "affectproxy" / "data" / "example"
RANGES = ("x-low", "low", "medium", "high", "x-high")

#: (intended arousal level, sentence) in the order spoken.
SCRIPT: tuple[tuple[float, str], ...] = (
    (0.0, "Meine Damen und Herren, wir stehen heute vor einer wichtigen Entscheidung."),
    (-0.5, "Wir haben die Zahlen geprüft und die Ergebnisse gründlich besprochen."),
    (1.0, "Das ist ein Skandal, und wir werden ihn nicht länger hinnehmen!"),
    (-1.0, "Der Ausschuss wird sich in der nächsten Sitzung mit dem Antrag befassen."),
    (0.5, "Wir kämpfen für jeden einzelnen Arbeitsplatz in dieser Region!"),
    (-0.5, "Lassen Sie mich kurz auf die Haushaltsdebatte der letzten Woche eingehen."),
    (1.0, "Ich sage Ihnen ganz deutlich: So kann es nicht weitergehen!"),
    (-1.0, "Die Vorlage liegt Ihnen seit Montag in schriftlicher Form vor."),
    (0.0, "Die Menschen in diesem Land erwarten zu Recht, dass wir endlich handeln."),
    (0.5, "Wo ist denn Ihr Plan für die Zukunft unserer Städte und Gemeinden?"),
    (-1.0, "Das Gesetz tritt am Tag nach der Verkündung im Bundesgesetzblatt in Kraft."),
    (0.0, "Unsere Kinder verdienen Schulen, in denen es nicht durch das Dach regnet."),
    (0.5, "Genug geredet, jetzt müssen den schönen Worten endlich Taten folgen!"),
    (1.0, "Wir lassen uns von niemandem einschüchtern, von niemandem in diesem Haus!"),
    (-0.5, "Ich danke Ihnen für Ihre Aufmerksamkeit und wünsche Ihnen einen guten Abend."),
)


def prosody(level: float) -> dict[str, object]:
    """espeak-ng settings for an intended arousal level in [-1, 1]."""
    return {
        "amplitude": round(100 + 45 * level),
        "pitch": round(50 + 25 * level),
        "speed": round(160 + 35 * level),
        "range": RANGES[round((level + 1) * 2)],
    }


def synthesise(text: str, level: float, espeak: str) -> np.ndarray:
    """One sentence as float32 mono at 16 kHz, leading/trailing silence trimmed."""
    p = prosody(level)
    ssml = f'<speak><prosody range="{p["range"]}">{text}</prosody></speak>'
    cmd = [espeak, "-m", "-z", "-v", "de", "-a", str(p["amplitude"]), "-p", str(p["pitch"]),
           "-s", str(p["speed"]), "--stdout", ssml]
    wav = subprocess.run(cmd, check=True, capture_output=True).stdout
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    voiced = np.flatnonzero(np.abs(x) > 1e-3)
    x = x[voiced[0]:voiced[-1] + 1]
    return soxr.resample(x, rate, RATE, quality="HQ").astype(np.float32)


def generate(out: Path, espeak: str = "espeak-ng") -> None:
    """Write speech.flac, segments.csv and reference.csv into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pieces = [np.zeros(round(LEAD_S * RATE), np.float32)]
    rows = []
    t = LEAD_S
    for i, (level, text) in enumerate(SCRIPT, start=1):
        x = synthesise(text, level, espeak)
        start, end = t, t + len(x) / RATE
        rows.append((f"s{i:02d}", round(start, 3), round(end, 3), text, level))
        pieces += [x, np.zeros(round(PAUSE_S * RATE), np.float32)]
        t = end + PAUSE_S
    audio = np.concatenate(pieces)
    audio += NOISE_RMS * np.random.default_rng(SEED).standard_normal(audio.size).astype(np.float32)
    peak = float(np.max(np.abs(audio)))
    if peak > 0.99:
        audio *= 0.99 / peak
    sf.write(out / "speech.flac", audio, RATE, subtype="PCM_16")
    with open(out / "segments.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "start", "end", "text", "speaker"])
        w.writerows([(sid, f"{a:.3f}", f"{b:.3f}", text, SPEAKER) for sid, a, b, text, _ in rows])
    with open(out / "reference.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["segment_id", "arousal"])
        w.writerows([(sid, level) for sid, *_, level in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--espeak", default="espeak-ng", help="the espeak-ng executable")
    args = parser.parse_args()
    if shutil.which(args.espeak) is None:
        parser.error(f"{args.espeak!r} not found; install espeak-ng (e.g. apt-get install espeak-ng).")
    generate(args.out, args.espeak)
    print(f"Wrote {args.out}/speech.flac, segments.csv, reference.csv")


if __name__ == "__main__":
    main()
