//! Corpus rendering speed (render + WAV encoding + labels + hashing + atomic writes) next to
//! rustysynth's bare `render` loop on the same notes, one thread each. Target: >= 80 %.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entangle::corpus::build::{RenderJob, Renderer, render_jobs};
use entangle::corpus::{RenderSettings, load_soundfont, resolve_soundfont};
use entangle::labels::Note;
use rustysynth::{Synthesizer, SynthesizerSettings};

/// 24 FLUID-style intervals: 0.25 s lead, 1 s notes, 0.5 s tail (1.75 s each).
fn interval_notes() -> Vec<Vec<Note>> {
    (0..24u8)
        .map(|i| {
            [49 + i % 23, 52 + i % 19]
                .iter()
                .map(|&pitch| Note {
                    onset: 0.25,
                    offset: 1.25,
                    pitch,
                    velocity: 80,
                })
                .collect()
        })
        .collect()
}

fn bare_loop(font: &std::sync::Arc<rustysynth::SoundFont>, notes: &[Vec<Note>]) -> f32 {
    let mut settings = SynthesizerSettings::new(44_100);
    settings.enable_reverb_and_chorus = false;
    let mut acc = 0.0;
    for item in notes {
        let mut synth = Synthesizer::new(font, &settings).unwrap();
        let (mut left, mut right) = (vec![0.0f32; 77_175], vec![0.0f32; 77_175]);
        synth.render(&mut left[..11_025], &mut right[..11_025]);
        for n in item {
            synth.note_on(0, i32::from(n.pitch), i32::from(n.velocity));
        }
        synth.render(&mut left[11_025..55_125], &mut right[11_025..55_125]);
        for n in item {
            synth.note_off(0, i32::from(n.pitch));
        }
        synth.render(&mut left[55_125..], &mut right[55_125..]);
        acc += left[20_000];
    }
    acc
}

fn bench(c: &mut Criterion) {
    let soundfonts = [("FluidR3_GM", "FluidR3_GM"), ("TimGM6mb", "TimGM6mb")];
    let notes = interval_notes();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("render_24_intervals_1.75s");
    group.sample_size(10);
    group.throughput(Throughput::Elements(notes.len() as u64));
    for (label, name) in soundfonts {
        let font = load_soundfont(&resolve_soundfont(name)).unwrap();
        let renderer = Renderer {
            soundfont_name: name.into(),
            font: font.clone(),
            settings: RenderSettings {
                tail_seconds: 0.5,
                ..Default::default()
            },
        };
        let jobs: Vec<RenderJob> = notes
            .iter()
            .enumerate()
            .map(|(i, n)| RenderJob {
                shard: format!("item{i}"),
                notes: n.clone(),
                renderer: renderer.clone(),
                velocity: 80,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        group.bench_function(format!("{label}/entangle_corpus"), |b| {
            b.iter(|| pool.install(|| render_jobs(dir.path(), &jobs, false).unwrap()))
        });
        group.bench_function(format!("{label}/rustysynth_bare"), |b| {
            b.iter(|| std::hint::black_box(bare_loop(&font, &notes)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
