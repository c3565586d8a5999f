"""Exports real compositions from the corpus bundled inside the `music21` wheel to MIDI, as the
music of the MAPS-like corpus (`entangle synth maps-like --midi-dir OUT_DIR`).

Usage: python scripts/export_music21_midi.py OUT_DIR
Needs `pip install music21==10.5.1 mido==1.3.3` (`make music21-midi` does both). Only the corpus
inside the wheel is read: no network.

Writes OUT_DIR/<slug>.mid for every piece in PIECES and OUT_DIR/pieces.json, a list (sorted by
slug) of {slug, corpus_path, composer, title, duration_seconds, notes, max_polyphony,
mean_polyphony, license, repeats_expanded, tempo_marked, repaired_measures}. The same corpus gives
the same bytes on every run.

Each piece becomes one piano part on one track and channel (program 0):
* repeats are expanded where the score's repeat marks allow it, else the piece is played once;
* measure i of every part starts at the same time: some encodings have a stray or a missing rest
  in one part, which would leave the parts out of step for the rest of the piece; such measures
  take the length most parts agree on (repaired_measures counts the (part, measure) pairs
  corrected);
* tied notes become one note; grace notes (no duration), rests and unpitched percussion are
  dropped; pitches outside the piano (21..108) move by octaves into it;
* a key is struck once at a time: a unison of two parts is one note, and a key struck again while
  it sounds ends the earlier note and is held as long as either needs it;
* velocity: the note's own MIDI velocity if the encoding has one, else the last dynamic mark of
  its instrument (both staves of a piano; sf, fz and the like accent one onset only), else 80;
* tempo: the score's metronome marks, 100 quarter notes a minute where it has none (tempo_marked
  says which). The file carries that tempo map at 960 ticks per quarter note.
Every file is read back with mido and must hold exactly the notes and duration reported.
Polyphony counts the notes sounding at once; its mean is over the time anything sounds.
"""

import bisect
import json
import os
import re
import statistics
import sys
from collections import defaultdict

try:
    import mido
    import music21
    from music21 import chord, corpus, dynamics, note, repeat, stream, tempo, text
except ImportError as missing:
    sys.exit(f"export_music21_midi: {missing.name} is not installed; "
             "pip install music21==10.5.1 mido==1.3.3")

MUSIC21_VERSION = "10.5.1"  # the piece list and the output bytes were checked with this version
TICKS_PER_QUARTER = 960
DEFAULT_QPM = 100
DEFAULT_VELOCITY = 80
PIANO_LOW, PIANO_HIGH = 21, 108
# Dynamic marks that accent a single onset; some then leave a new level behind.
ACCENTS = {"sf": None, "sfz": None, "sffz": None, "fz": None, "rf": None, "rfz": None,
           "fp": "p", "sfp": "p", "sfpp": "pp"}
ACCENT_LEVEL = "sf"
# Notices about an encoding's own terms (text on the score, the rights field).
NOTICE = re.compile(r"©|copyright|licen[cs]e|permission|rights", re.IGNORECASE)

BACH, MOZART, HAYDN = "Johann Sebastian Bach", "Wolfgang Amadeus Mozart", "Joseph Haydn"
BEETHOVEN, CLARA = "Ludwig van Beethoven", "Clara Schumann"
CHORALES = ["26.6", "40.8", "57.8", "64.2", "66.6", "84.5", "86.6"]
PIECES = [  # (corpus path, composer, title)
    ("bach/bwv846", BACH, "Prelude in C major, BWV 846 (The Well-Tempered Clavier I)"),
    ("cpebach/h186.mxl", "Carl Philipp Emanuel Bach",
     "Sonata in A major, H. 186, Wq. 55/4, second movement"),
    ("chopin/mazurka06-2.krn", "Frédéric Chopin", "Mazurka in C-sharp minor, Op. 6 No. 2"),
    ("joplin/maple_leaf_rag", "Scott Joplin", "Maple Leaf Rag"),
    ("mozart/k545/movement1_exposition", MOZART,
     "Piano Sonata in C major, K. 545, first movement (exposition)"),
    *[(f"schumann_clara/polonaise_op1n{number}", CLARA, f"Polonaise in {key}, Op. 1 No. {number}")
      for number, key in ((1, "E-flat major"), (2, "C major"), (3, "D major"), (4, "C major"))],
    *[(f"mozart/k80/movement{i}", MOZART, f"String Quartet in G major, K. 80, movement {i}")
      for i in (1, 2, 3, 4)],
    *[(f"mozart/k155/movement{i}", MOZART, f"String Quartet in D major, K. 155, movement {i}")
      for i in (1, 2, 3)],
    *[(f"mozart/k156/movement{i}", MOZART, f"String Quartet in G major, K. 156, movement {i}")
      for i in (1, 2, 3, 4)],
    *[(f"haydn/opus1no1/movement{i}", HAYDN,
       f"String Quartet in B-flat major, Op. 1 No. 1, movement {i}") for i in (1, 2, 3, 4, 5)],
    *[(f"haydn/opus74no1/movement{i}", HAYDN,
       f"String Quartet in C major, Op. 74 No. 1, movement {i}") for i in (1, 2, 3, 4)],
    *[(f"beethoven/opus18no1/movement{i}.mxl", BEETHOVEN,
       f"String Quartet in F major, Op. 18 No. 1, movement {i}") for i in (1, 2, 3, 4)],
    *[(f"bach/bwv{number}", BACH, f"Chorale, BWV {number}") for number in CHORALES],
]


def slug(path):
    return re.sub(r"\.(mxl|krn)$", "", path).replace("/", "_").replace(".", "-")


def corpus_licence():
    """The first paragraph of music21/corpus/license.txt, which covers every encoding."""
    with open(os.path.join(os.path.dirname(corpus.__file__), "license.txt"), encoding="utf-8") as f:
        body = [block for block in f.read().split("\n\n") if not block.lstrip().startswith("#")]
    return " ".join(body[0].split())


def licence(score, corpus_terms):
    """The corpus terms, and any notice of the encoding's own terms."""
    notices = [box.content for box in score.getElementsByClass(text.TextBox)]
    if score.metadata is not None and score.metadata.copyright:
        notices.append(str(score.metadata.copyright))
    notices = [" ".join(n.split()) for n in notices if NOTICE.search(n)]
    own = "".join(f' Notice in this encoding: "{n}"' for n in notices)
    return (f"Public-domain composition. Encoding from the corpus of music21 {music21.__version__} "
            f'(music21 is BSD-3-Clause); music21/corpus/license.txt: "{corpus_terms}"{own}')


def align_measures(parts):
    """Maps each part's offsets onto a timeline where measure i starts at the same offset in every
    part, with the length most parts give it (the longest of a tie). Returns one mapping function
    per part and the number of (part, measure) pairs whose length was corrected. The parts must
    still have their ties: a tied note merged into one stretches its measure's length."""
    measures = [list(part.getElementsByClass(stream.Measure)) for part in parts]
    if len({len(m) for m in measures}) != 1 or not measures[0]:
        raise ValueError("the parts have no measures, or different numbers of them")
    starts, lengths = [], []
    start = 0.0
    for bar in zip(*measures):
        starts.append(start)
        lengths.append(max(statistics.multimode(m.duration.quarterLength for m in bar)))
        start += lengths[-1]
    repaired = sum(m.duration.quarterLength != length
                   for part in measures for m, length in zip(part, lengths))

    def mapping(part, part_measures):
        own_starts = [part.elementOffset(m) for m in part_measures]

        def to_timeline(offset):
            i = max(bisect.bisect_right(own_starts, offset) - 1, 0)
            return starts[i] + min(offset - own_starts[i], lengths[i])
        return to_timeline
    return [mapping(part, m) for part, m in zip(parts, measures)], repaired


def ticks(offset):
    return round(offset * TICKS_PER_QUARTER)


def level_velocity(value):
    return min(max(round(dynamics.Dynamic(value).volumeScalar * 127), 1), 127)


def velocity_function(marks):
    """Velocity at an onset tick from one instrument's (tick, Dynamic) marks, in score order."""
    levels, accents = [], {}
    for tick, mark in sorted(marks, key=lambda m: m[0]):
        if mark.value in ACCENTS:
            accents[tick] = level_velocity(ACCENT_LEVEL)
            if ACCENTS[mark.value]:
                levels.append((tick, level_velocity(ACCENTS[mark.value])))
        else:
            levels.append((tick, level_velocity(mark.value)))
    level_ticks = [tick for tick, _ in levels]

    def velocity(onset):
        if onset in accents:
            return accents[onset]
        i = bisect.bisect_right(level_ticks, onset)
        return levels[i - 1][1] if i else DEFAULT_VELOCITY
    return velocity


def piano_key(midi):
    while midi < PIANO_LOW:
        midi += 12
    while midi > PIANO_HIGH:
        midi -= 12
    return midi


def one_strike_per_key(notes):
    """(on, off, key, velocity) notes in which a key never sounds twice at once."""
    by_key = defaultdict(list)
    for on, off, key, velocity in notes:
        by_key[key].append((on, off, velocity))
    result = []
    for key, strikes in by_key.items():
        merged = []
        for on, off, velocity in sorted(strikes):
            if merged and merged[-1][0] == on:  # a unison: one strike
                _, last_off, last_velocity = merged[-1]
                merged[-1] = (on, max(off, last_off), max(velocity, last_velocity))
            elif merged and merged[-1][1] > on:  # struck again while sounding
                last_on, last_off, last_velocity = merged[-1]
                merged[-1] = (last_on, on, last_velocity)
                merged.append((on, max(off, last_off), velocity))
            else:
                merged.append((on, off, velocity))
        result.extend((on, off, key, velocity) for on, off, velocity in merged)
    return sorted(result)


def score_events(score):
    """The piece's notes as (on tick, off tick, key, velocity), its tempo map as (tick,
    microseconds per quarter), whether the score has metronome marks and the number of
    repaired measures."""
    mappings, repaired = align_measures(list(score.parts))
    raw, marks, tempi = [], defaultdict(list), {}
    for part, to_timeline in zip(score.parts, mappings):
        instrument = part.getInstrument(returnDefault=False)
        group = instrument.partId if instrument is not None and instrument.partId else part.id
        flat = part.stripTies().flatten()  # stripTies leaves the measures where they are
        for mark in flat.getElementsByClass(tempo.MetronomeMark):
            if mark.getQuarterBPM():  # the last mark at a tick wins, as in music21
                tempi[ticks(to_timeline(mark.offset))] = round(60e6 / mark.getQuarterBPM())
        marks[group].extend((ticks(to_timeline(mark.offset)), mark)
                            for mark in flat.getElementsByClass(dynamics.Dynamic))
        for element in flat.getElementsByClass((note.Note, chord.Chord)):
            on = ticks(to_timeline(element.offset))
            off = ticks(to_timeline(element.offset + element.quarterLength))
            if off > on:
                raw.extend((on, off, piano_key(p.midi), group, element.volume.velocity)
                           for p in element.pitches)
    velocity = {group: velocity_function(group_marks) for group, group_marks in marks.items()}
    notes = one_strike_per_key((on, off, key, min(own or velocity[group](on), 127))
                               for on, off, key, group, own in raw)
    changes = sorted(tempi.items())
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, round(60e6 / DEFAULT_QPM)))
    tempo_map = [change for change, previous in zip(changes, [None, *changes])
                 if previous is None or change[1] != previous[1]]
    return notes, tempo_map, bool(tempi), repaired


def seconds_function(tempo_map):
    change_ticks = [tick for tick, _ in tempo_map]
    elapsed = [0.0]
    for (tick, micros), next_tick in zip(tempo_map, change_ticks[1:]):
        elapsed.append(elapsed[-1] + (next_tick - tick) * micros / 1e6 / TICKS_PER_QUARTER)

    def seconds(tick):
        i = bisect.bisect_right(change_ticks, tick) - 1
        return elapsed[i] + (tick - tempo_map[i][0]) * tempo_map[i][1] / 1e6 / TICKS_PER_QUARTER
    return seconds


def write_midi(notes, tempo_map, path):
    """Type 0, one track: tempo changes, then note-offs, then note-ons at any one tick."""
    events = [(tick, 0, micros, 0) for tick, micros in tempo_map]
    for on, off, key, velocity in notes:
        events += [(on, 2, key, velocity), (off, 1, key, 0)]
    track = mido.MidiTrack([mido.Message("program_change", program=0, time=0)])
    now = 0
    for tick, kind, value, velocity in sorted(events):
        delta, now = tick - now, tick
        if kind == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=value, time=delta))
        else:
            track.append(mido.Message("note_on" if kind == 2 else "note_off", note=value,
                                      velocity=velocity, time=delta))
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_QUARTER)
    midi.tracks.append(track)
    midi.save(path)


def check_midi(path, notes, duration):
    """Reads the file back: the same notes in ticks, and mido's tempo-mapped length."""
    midi = mido.MidiFile(path)
    now, sounding, found = 0, {}, []
    for message in midi.tracks[0]:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.note] = (now, message.velocity)
        elif message.type in ("note_on", "note_off"):
            on, velocity = sounding.pop(message.note)
            found.append((on, now, message.note, velocity))
    if sorted(found) != notes or abs(midi.length - duration) > 1e-6:
        sys.exit(f"export_music21_midi: {path} does not read back as written "
                 f"({len(found)} of {len(notes)} notes, {midi.length:.6f} of {duration:.6f} s)")


def polyphony(spans):
    """Largest number of notes sounding at once, and its mean over the time anything sounds."""
    changes = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = peak = 0
    weighted = sounding = last = 0.0
    for t, step in changes:  # at equal times, ends (-1) come first
        if level:
            weighted += level * (t - last)
            sounding += t - last
        level += step
        peak = max(peak, level)
        last = t
    return peak, weighted / sounding


def export(path, composer, title, out_dir, corpus_terms):
    try:
        score = corpus.parse(path)
    except Exception as error:  # music21 raises many kinds for a missing or unreadable work
        sys.exit(f"export_music21_midi: cannot parse {path}: {type(error).__name__}: {error}")
    try:
        score = score.expandRepeats()
        expanded = True
    except repeat.ExpanderException:  # irregular repeat marks: played once
        expanded = False
    try:
        notes, tempo_map, tempo_marked, repaired = score_events(score)
    except ValueError as error:
        sys.exit(f"export_music21_midi: {path}: {error}")
    if not notes:
        sys.exit(f"export_music21_midi: {path} has no notes")
    name = slug(path)
    seconds = seconds_function(tempo_map)
    duration = seconds(max(off for _, off, _, _ in notes))
    midi_path = os.path.join(out_dir, f"{name}.mid")
    write_midi(notes, tempo_map, midi_path)
    check_midi(midi_path, notes, duration)
    peak, mean = polyphony([(seconds(on), seconds(off)) for on, off, _, _ in notes])
    return dict(slug=name, corpus_path=path, composer=composer, title=title,
                duration_seconds=round(duration, 3), notes=len(notes), max_polyphony=peak,
                mean_polyphony=round(mean, 3), license=licence(score, corpus_terms),
                repeats_expanded=expanded, tempo_marked=tempo_marked, repaired_measures=repaired)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/export_music21_midi.py OUT_DIR")
    out_dir = sys.argv[1]
    if music21.__version__ != MUSIC21_VERSION:
        print(f"warning: music21 {music21.__version__}, not {MUSIC21_VERSION}: the output may "
              "differ from the documented corpus", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    corpus_terms = corpus_licence()
    records = []
    for path, composer, title in sorted(PIECES, key=lambda piece: slug(piece[0])):
        record = export(path, composer, title, out_dir, corpus_terms)
        records.append(record)
        print(f"{record['slug']}: {record['duration_seconds']:.1f} s, {record['notes']} notes, "
              f"polyphony max {record['max_polyphony']} mean {record['mean_polyphony']:.2f}",
              flush=True)
    with open(os.path.join(out_dir, "pieces.json"), "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1, ensure_ascii=False)
        f.write("\n")
    minutes = sum(r["duration_seconds"] for r in records) / 60
    print(f"{len(records)} pieces, {minutes:.1f} minutes -> {out_dir}")


if __name__ == "__main__":
    main()
