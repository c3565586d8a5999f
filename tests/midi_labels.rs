//! MIDI note lists against independently written MAPS `.txt` note lists and hand-computed
//! rolls. The MIDI files are built here with midly's writer.

use std::path::Path;

use entangle::labels::maps_txt::parse_maps_txt;
use entangle::labels::midi::parse_midi;
use entangle::labels::{Note, PianoRoll, ReadOptions};
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

fn on(delta: u32, key: u8, vel: u8) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Midi {
            channel: u4::new(0),
            message: MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(vel),
            },
        },
    }
}

fn off(delta: u32, key: u8) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Midi {
            channel: u4::new(0),
            message: MidiMessage::NoteOff {
                key: u7::new(key),
                vel: u7::new(0),
            },
        },
    }
}

fn pedal(delta: u32, down: bool) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Midi {
            channel: u4::new(0),
            message: MidiMessage::Controller {
                controller: u7::new(64),
                value: u7::new(if down { 127 } else { 0 }),
            },
        },
    }
}

fn tempo(delta: u32, micros_per_beat: u32) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros_per_beat))),
    }
}

fn end(delta: u32) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    }
}

fn midi_bytes(tracks: Vec<Vec<TrackEvent<'static>>>, ticks_per_beat: u16) -> Vec<u8> {
    let smf = Smf {
        header: Header::new(
            if tracks.len() == 1 {
                Format::SingleTrack
            } else {
                Format::Parallel
            },
            Timing::Metrical(u15::new(ticks_per_beat)),
        ),
        tracks,
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

fn notes(bytes: &[u8], sustain_pedal: bool) -> Vec<Note> {
    parse_midi(bytes, Path::new("test.mid"), ReadOptions { sustain_pedal }).unwrap()
}

fn triples(notes: &[Note]) -> Vec<(f64, f64, u8)> {
    notes.iter().map(|n| (n.onset, n.offset, n.pitch)).collect()
}

fn assert_close(a: &[(f64, f64, u8)], b: &[(f64, f64, u8)]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9 && x.2 == y.2,
            "{x:?} vs {y:?}"
        );
    }
}

/// A conductor track with tempo changes and a note track, against the same notes in MAPS
/// form (times worked out by hand): 480 ticks per beat; 120 bpm (0.5 s/beat) for the first
/// beat, then 60 bpm (1 s/beat) from tick 480, then 240 bpm (0.25 s/beat) from tick 1440.
#[test]
fn tempo_changes_across_tracks_match_a_maps_txt_of_the_same_notes() {
    let conductor = vec![
        tempo(0, 500_000),
        tempo(480, 1_000_000),
        tempo(960, 250_000),
        end(0),
    ];
    let notes_track = vec![
        on(240, 60, 80), // tick 240: 0.25 s
        off(480, 60),    // tick 720: 0.5 + 240/480 * 1.0 = 1.0 s
        on(0, 64, 80),   // tick 720: 1.0 s
        on(720, 67, 80), // tick 1440: 0.5 + 1.0 * 2 = 2.5 s
        on(0, 64, 0),    // tick 1440: velocity 0 is a note-off, 2.5 s
        off(480, 67),    // tick 1920: 2.5 + 0.25 = 2.75 s
        end(0),
    ];
    let midi = notes(&midi_bytes(vec![conductor, notes_track], 480), false);
    let maps = parse_maps_txt(
        "OnsetTime\tOffsetTime\tMidiPitch\n0.25\t1.0\t60\n1.0\t2.5\t64\n2.5\t2.75\t67\n",
        Path::new("same.txt"),
    )
    .unwrap();
    assert_close(&triples(&midi), &triples(&maps));
    assert_eq!(
        PianoRoll::from_notes(&midi, 100.0, Some(300)),
        PianoRoll::from_notes(&maps, 100.0, Some(300))
    );
}

/// Re-striking a sounding key: the note-off ends every note of that key that started before
/// it (as the synthesizer releases all its voices), so both notes end at the first note-off.
#[test]
fn a_note_off_ends_all_overlapping_notes_of_its_key() {
    let track = vec![
        on(0, 60, 90),
        on(480, 60, 70),
        off(480, 60),
        off(480, 60),
        end(0),
    ];
    let got = triples(&notes(&midi_bytes(vec![track], 480), false));
    assert_close(&got, &[(0.0, 1.0, 60), (0.5, 1.0, 60)]);
}

#[test]
fn a_note_on_and_off_of_one_key_on_one_tick_do_not_cancel_the_new_note() {
    let track = vec![
        on(0, 60, 90),
        off(480, 60),
        on(0, 60, 90),
        off(480, 60),
        end(0),
    ];
    let got = triples(&notes(&midi_bytes(vec![track], 480), false));
    assert_close(&got, &[(0.0, 0.5, 60), (0.5, 1.0, 60)]);
}

#[test]
fn the_sustain_pedal_is_ignored_unless_asked_for() {
    // Pedal down at 0, key 60 held 0..0.5 s, pedal up at 1.5 s; key 62 struck at 0.25 s,
    // released at 0.5 s and struck again at 1.0 s (which ends its pedal-held note).
    let track = vec![
        pedal(0, true),
        on(0, 60, 80),
        on(240, 62, 80),
        off(240, 60),
        off(0, 62),
        on(480, 62, 80),
        off(240, 62),
        pedal(240, false),
        end(0),
    ];
    let bytes = midi_bytes(vec![track], 480);
    assert_close(
        &triples(&notes(&bytes, false)),
        &[(0.0, 0.5, 60), (0.25, 0.5, 62), (1.0, 1.25, 62)],
    );
    assert_close(
        &triples(&notes(&bytes, true)),
        &[(0.0, 1.5, 60), (0.25, 1.0, 62), (1.0, 1.5, 62)],
    );
}

#[test]
fn notes_never_released_end_with_the_file() {
    let track = vec![on(0, 60, 80), end(960)];
    assert_close(
        &triples(&notes(&midi_bytes(vec![track], 480), false)),
        &[(0.0, 1.0, 60)],
    );
}

#[test]
fn invalid_midi_and_out_of_range_notes_are_named() {
    let err = parse_midi(
        b"MThd garbage",
        Path::new("bad.mid"),
        ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("bad.mid: invalid MIDI file:"), "{err}");

    let track = vec![on(480, 12, 80), off(480, 12), end(0)];
    let err = parse_midi(
        &midi_bytes(vec![track], 480),
        Path::new("low.mid"),
        ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "low.mid: invalid MIDI file: note 12 (C0) at 0.500 s is outside the piano range 21..=108"
    );
}
