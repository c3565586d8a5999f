"""Exports real compositions from the corpus bundled inside the `music21` wheel to MIDI, for
the MAPS-like corpus (`entangle synth maps-like --midi-dir OUT_DIR`).

Usage: python scripts/export_music21_midi.py OUT_DIR   (needs `pip install music21==10.5.1
mido==1.3.3`; `make music21-midi` does both)

Writes OUT_DIR/<slug>.mid for every piece in PIECES and OUT_DIR/pieces.json with each piece's
source, duration, note count and polyphony. Repeats are expanded where the score's repeat
marks allow it. All parts go onto one track (one piano), at the score's tempo markings; the
MIDI file itself runs at 120 bpm with 480 ticks per beat, so a tick is 1/960 s exactly and the
files say what pieces.json says. Only the
bundled corpus is read: no network. Licences: music21 is BSD-3-Clause; its corpus holds
public-domain compositions, encoded by the music21 project and contributors (see
music21/corpus/license.txt in the wheel), redistributable under the same terms.
"""

import json
import os
import sys

try:
    import mido
    import music21
    from music21 import corpus, repeat
except ImportError:
    sys.exit("music21 and mido are needed: pip install music21==10.5.1 mido==1.3.3")

TICKS_PER_SECOND = 960

BACH_CHORALES = ["bach/bwv26.6", "bach/bwv40.8", "bach/bwv57.8", "bach/bwv64.2", "bach/bwv66.6",
                 "bach/bwv70.7", "bach/bwv84.5", "bach/bwv86.6", "bach/bwv87.7", "bach/bwv88.7"]
PIECES = [
    "bach/bwv846",
    "joplin/maple_leaf_rag",
    "mozart/k545/movement1_exposition",
    "chopin/mazurka06-2.krn",
    *[f"mozart/k155/movement{i}" for i in (1, 2, 3)],
    *[f"mozart/k156/movement{i}" for i in (1, 2, 3, 4)],
    *[f"mozart/k80/movement{i}" for i in (1, 2, 3, 4)],
    *[f"haydn/opus1no1/movement{i}" for i in (1, 2, 3, 4, 5)],
    *[f"haydn/opus74no1/movement{i}" for i in (1, 2, 3, 4)],
    *[f"beethoven/opus18no1/movement{i}.mxl" for i in (1, 2, 3, 4)],
    *BACH_CHORALES,
]


def slug(path):
    return path.replace(".mxl", "").replace(".krn", "").replace("/", "_").replace(".", "-")


def note_spans(score):
    """(start, end, pitch, velocity) in seconds of every sounding note, tied notes merged."""
    try:
        score = score.expandRepeats()
    except repeat.ExpanderException:
        pass  # irregular repeat marks: play it through once
    spans = []
    for entry in score.stripTies().flatten().secondsMap:
        element = entry["element"]
        pitches = getattr(element, "pitches", ())
        if not pitches or entry["durationSeconds"] <= 0 or getattr(element, "isRest", False):
            continue
        velocity = getattr(getattr(element, "volume", None), "velocity", None) or 80
        for p in pitches:
            spans.append((entry["offsetSeconds"], entry["endTimeSeconds"], p.midi, int(velocity)))
    return spans


def write_midi(spans, path):
    events = []
    for start, end, pitch, velocity in spans:
        on, off = round(start * TICKS_PER_SECOND), round(end * TICKS_PER_SECOND)
        events.append((on, 1, pitch, velocity))
        events.append((max(off, on + 1), 0, pitch, 0))  # offs first at equal ticks
    events.sort()
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    now = 0
    for tick, is_on, pitch, velocity in events:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def polyphony(spans):
    events = sorted([(s[0], 1) for s in spans] + [(s[1], -1) for s in spans], key=lambda x: (x[0], x[1]))
    level, peak, weighted, last, sounding_time = 0, 0, 0.0, 0.0, 0.0
    for t, delta in events:
        if level > 0:
            weighted += level * (t - last)
            sounding_time += t - last
        level += delta
        peak = max(peak, level)
        last = t
    return peak, (weighted / sounding_time if sounding_time else 0.0)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for path in PIECES:
        score = corpus.parse(path)
        spans = note_spans(score)
        if not spans:
            sys.exit(f"{path}: no notes")
        low = min(s[2] for s in spans)
        high = max(s[2] for s in spans)
        if low < 21 or high > 108:
            sys.exit(f"{path}: pitches {low}..{high} leave the piano range 21..108")
        name = slug(path)
        write_midi(spans, os.path.join(out_dir, f"{name}.mid"))
        peak, mean = polyphony(spans)
        meta = score.metadata
        records.append(dict(
            slug=name, corpus_path=path,
            composer=(meta.composer if meta and meta.composer else path.split("/")[0]),
            title=(meta.title if meta and meta.title else path),
            duration_seconds=round(max(s[1] for s in spans), 3), notes=len(spans),
            max_polyphony=peak, mean_polyphony=round(mean, 3),
            license="public-domain composition; music21 corpus encoding (BSD-3-Clause project)",
        ))
        print(f"{name}: {records[-1]['duration_seconds']:.0f} s, {len(spans)} notes, "
              f"polyphony max {peak} mean {mean:.2f}", flush=True)
    with open(os.path.join(out_dir, "pieces.json"), "w") as f:
        json.dump(dict(music21=music21.__version__, pieces=records), f, indent=1)
    total = sum(r["duration_seconds"] for r in records) / 60
    print(f"{len(records)} pieces, {total:.1f} minutes -> {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "music21-midi")
