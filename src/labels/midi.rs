//! Note lists from Standard MIDI Files (`midly`).
//!
//! * All tracks are merged on one tick axis; tempo changes in any track apply to all
//!   (SMF format 1 keeps them in the first track, but nothing forbids elsewhere).
//! * Note-on with velocity 0 is a note-off.
//! * Overlapping notes of one pitch on one channel: a note-off ends *every* sounding note of
//!   that key on that channel that started before it. That is what synthesizers do
//!   (rustysynth, which renders our corpora, releases all voices of the key), so the labels say
//!   what actually sounds; pretty_midi reads such files the same way.
//! * The sustain pedal (CC 64 >= 64) is ignored unless asked for; then a note released while
//!   the pedal is down sounds until the pedal is lifted or the key is struck again.
//! * Notes never released end at the last event of the file.

use std::collections::BTreeMap;
use std::path::Path;

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

use super::{LabelError, Note, ReadOptions};
use crate::pitchset::{PIANO_MAX, PIANO_MIN, note_name};

const DEFAULT_MICROS_PER_BEAT: u32 = 500_000;
const SUSTAIN_CONTROLLER: u8 = 64;

/// A piecewise-linear map from ticks to seconds.
struct TempoMap {
    /// (tick, seconds at tick, seconds per tick from there on)
    segments: Vec<(u64, f64, f64)>,
}

impl TempoMap {
    fn new(timing: Timing, tempo_changes: &[(u64, u32)]) -> Self {
        match timing {
            Timing::Timecode(fps, subframes) => {
                let seconds_per_tick = 1.0 / (f64::from(fps.as_f32()) * f64::from(subframes));
                Self {
                    segments: vec![(0, 0.0, seconds_per_tick)],
                }
            }
            Timing::Metrical(ticks_per_beat) => {
                let tpb = f64::from(ticks_per_beat.as_int().max(1));
                let per_tick = |micros: u32| f64::from(micros) * 1e-6 / tpb;
                let mut segments = vec![(0, 0.0, per_tick(DEFAULT_MICROS_PER_BEAT))];
                for &(tick, micros) in tempo_changes {
                    let &(t0, s0, spt) = segments.last().expect("non-empty");
                    let seconds = s0 + (tick - t0) as f64 * spt;
                    if tick == t0 {
                        segments.pop();
                    }
                    segments.push((tick, seconds, per_tick(micros)));
                }
                Self { segments }
            }
        }
    }

    fn seconds(&self, tick: u64) -> f64 {
        let i = self.segments.partition_point(|s| s.0 <= tick) - 1;
        let (t0, s0, spt) = self.segments[i];
        s0 + (tick - t0) as f64 * spt
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    On { key: u8, velocity: u8 },
    Off { key: u8 },
    Pedal { down: bool },
}

/// Reads the notes of a MIDI file, sorted by onset then pitch.
pub fn read_midi(path: &Path, options: ReadOptions) -> Result<Vec<Note>, LabelError> {
    let bytes = std::fs::read(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_midi(&bytes, path, options)
}

/// Parses MIDI bytes; `path` is only used in error messages.
pub fn parse_midi(
    bytes: &[u8],
    path: &Path,
    options: ReadOptions,
) -> Result<Vec<Note>, LabelError> {
    let midi_error = |message: String| LabelError::Midi {
        path: path.to_path_buf(),
        message,
    };
    let smf = Smf::parse(bytes).map_err(|e| midi_error(e.to_string()))?;
    if smf.header.format == Format::Sequential {
        return Err(midi_error(
            "format 2 (independent sequences) is not supported; convert it to format 1".into(),
        ));
    }
    let timeline = Timeline::of(&smf);
    let tempo = TempoMap::new(smf.header.timing, &timeline.tempo_changes);
    let events = timeline.events;
    let last_tick = timeline.last_tick;

    let mut tracker = NoteTracker::new(options.sustain_pedal);
    for &(tick, channel, event) in &events {
        tracker.apply(tick, channel, event);
    }
    let mut notes: Vec<Note> = tracker
        .finish(last_tick)
        .into_iter()
        .map(|(on, off, key, velocity)| Note {
            onset: tempo.seconds(on),
            offset: tempo.seconds(off),
            pitch: key,
            velocity,
        })
        .collect();
    notes.sort_by(|a, b| a.onset.total_cmp(&b.onset).then(a.pitch.cmp(&b.pitch)));
    if let Some(note) = notes
        .iter()
        .find(|n| !(PIANO_MIN..=PIANO_MAX).contains(&n.pitch))
    {
        return Err(midi_error(format!(
            "note {} ({}) at {:.3} s is outside the piano range {PIANO_MIN}..={PIANO_MAX}",
            note.pitch,
            note_name(note.pitch),
            note.onset
        )));
    }
    Ok(notes)
}

/// The events of every track on one tick axis, in (tick, track, index) order so that
/// simultaneous events keep their file order.
struct Timeline {
    /// (tick, microseconds per quarter note).
    tempo_changes: Vec<(u64, u32)>,
    /// (tick, channel, event): notes on and off and the sustain pedal.
    events: Vec<(u64, u8, Event)>,
    last_tick: u64,
}

impl Timeline {
    fn of(smf: &Smf) -> Self {
        let mut tempo_changes = Vec::new();
        let mut events = Vec::new();
        let mut last_tick = 0u64;
        for (track_index, track) in smf.tracks.iter().enumerate() {
            let mut tick = 0u64;
            for (event_index, event) in track.iter().enumerate() {
                tick += u64::from(event.delta.as_int());
                last_tick = last_tick.max(tick);
                let order = (tick, track_index, event_index);
                match event.kind {
                    TrackEventKind::Meta(MetaMessage::Tempo(micros)) => {
                        tempo_changes.push((order, micros.as_int()));
                    }
                    TrackEventKind::Midi { channel, message } => {
                        if let Some(e) = note_event(message) {
                            events.push((order, channel.as_int(), e));
                        }
                    }
                    _ => {}
                }
            }
        }
        tempo_changes.sort_by_key(|&(order, _)| order);
        events.sort_by_key(|&(order, _, _)| order);
        Self {
            tempo_changes: tempo_changes
                .into_iter()
                .map(|((tick, _, _), micros)| (tick, micros))
                .collect(),
            events: events
                .into_iter()
                .map(|((tick, _, _), channel, e)| (tick, channel, e))
                .collect(),
            last_tick,
        }
    }
}

/// The note or pedal event a channel message is, if any (a note-on of velocity 0 is an off).
fn note_event(message: MidiMessage) -> Option<Event> {
    match message {
        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => Some(Event::On {
            key: key.as_int(),
            velocity: vel.as_int(),
        }),
        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
            Some(Event::Off { key: key.as_int() })
        }
        MidiMessage::Controller { controller, value }
            if controller.as_int() == SUSTAIN_CONTROLLER =>
        {
            Some(Event::Pedal {
                down: value.as_int() >= 64,
            })
        }
        _ => None,
    }
}

/// A note whose key went down: (onset tick, velocity, released but held by the pedal).
type Sounding = (u64, u8, bool);

/// Pairs note-ons with note-offs (in ticks), per channel and key.
struct NoteTracker {
    sustain_pedal: bool,
    /// (channel, key) -> the notes of that key sounding now.
    open: BTreeMap<(u8, u8), Vec<Sounding>>,
    pedal_down: [bool; 16],
    done: Vec<(u64, u64, u8, u8)>,
}

impl NoteTracker {
    fn new(sustain_pedal: bool) -> Self {
        Self {
            sustain_pedal,
            open: BTreeMap::new(),
            pedal_down: [false; 16],
            done: Vec::new(),
        }
    }

    fn apply(&mut self, tick: u64, channel: u8, event: Event) {
        match event {
            Event::On { key, velocity } => {
                // Striking a key again ends the pedal-held note of that key.
                let sounding = self.open.entry((channel, key)).or_default();
                let done = &mut self.done;
                sounding.retain(|&(on, vel, held)| {
                    if held {
                        done.push((on, tick, key, vel));
                    }
                    !held
                });
                sounding.push((tick, velocity, false));
            }
            Event::Off { key } => {
                let pedal = self.sustain_pedal && self.pedal_down[usize::from(channel)];
                let Some(sounding) = self.open.get_mut(&(channel, key)) else {
                    return;
                };
                let done = &mut self.done;
                sounding.retain_mut(|(on, vel, held)| {
                    // A note that starts on this very tick is not ended by it.
                    if *on == tick || *held {
                        return true;
                    }
                    if pedal {
                        *held = true;
                        true
                    } else {
                        done.push((*on, tick, key, *vel));
                        false
                    }
                });
            }
            Event::Pedal { down } => {
                let was_down = std::mem::replace(&mut self.pedal_down[usize::from(channel)], down);
                if self.sustain_pedal && was_down && !down {
                    for (&(ch, key), sounding) in self.open.iter_mut() {
                        if ch != channel {
                            continue;
                        }
                        let done = &mut self.done;
                        sounding.retain(|&(on, vel, held)| {
                            if held {
                                done.push((on, tick, key, vel));
                            }
                            !held
                        });
                    }
                }
            }
        }
    }

    fn finish(mut self, last_tick: u64) -> Vec<(u64, u64, u8, u8)> {
        for (&(_, key), sounding) in &self.open {
            for &(on, vel, _) in sounding {
                self.done.push((on, last_tick.max(on), key, vel));
            }
        }
        self.done
    }
}
