//! The coverage sweep: one pipeline run per coverage of the FLUID interval subsets
//! (`corpus.subsets`, [`crate::corpus::interval_subsets`]), each into `out/coverage-K`, then
//! `out/sweep.parquet` (schemas/sweep.md), the figure `out/figures/coverage-sweep.{svg,png}`
//! and `out/report.md`.
//!
//! Every run's test split holds the held-out intervals (the same at every coverage, never
//! trained on: `shared = false` in its `combinations` table) and the trained ones
//! (`shared = true`); the sweep reads the exact proportion of each group back from there.
//! Every interval has as many frames as every other, so the frame-weighted proportion is also
//! the mean over intervals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    BooleanBuilder, Float64Builder, RecordBatch, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::run::{RunOptions, run_spec};
use super::spec::{CorpusSpec, PipelineSpec};
use super::stages::{RunRecord, StageRecord};
use super::tables_read::{Combination, read_combinations};
use crate::sink::write_atomically;

/// `[sweep]`: the coverages (percent of the trainable intervals) to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub coverage: Vec<f64>,
}

impl SweepSpec {
    pub fn validate(&self, corpus: &CorpusSpec) -> Result<(), String> {
        if !matches!(
            corpus,
            CorpusSpec::Fluid {
                subsets: Some(_),
                ..
            }
        ) {
            return Err(
                "sweep: a coverage sweep needs a FLUID-ISOL corpus with [corpus.subsets]".into(),
            );
        }
        if self.coverage.is_empty() {
            return Err("sweep.coverage: give at least one coverage".into());
        }
        let mut seen = Vec::new();
        for &k in &self.coverage {
            if !(k.is_finite() && (0.0..=100.0).contains(&k)) || seen.contains(&k) {
                return Err(format!(
                    "sweep.coverage = {:?}: need distinct percentages in 0..=100",
                    self.coverage
                ));
            }
            seen.push(k);
        }
        Ok(())
    }
}

/// The spec of each point of the sweep: the coverage set, `out/coverage-K`, no sweep.
pub fn point_specs(spec: &PipelineSpec) -> Vec<(f64, PipelineSpec)> {
    let coverages = spec
        .sweep
        .as_ref()
        .map(|s| s.coverage.clone())
        .unwrap_or_default();
    coverages
        .into_iter()
        .map(|k| {
            let mut point = spec.clone();
            point.sweep = None;
            point.name = format!("{} (coverage {k} %)", spec.name);
            point.out = spec.out.join(format!("coverage-{k}"));
            if let CorpusSpec::Fluid {
                subsets: Some(s), ..
            } = &mut point.corpus
            {
                s.coverage = k;
            }
            (k, point)
        })
        .collect()
}

/// One row of `sweep.parquet`: a network instance's exact proportion on the unseen or the
/// seen intervals at one coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub coverage: f64,
    /// The spec's network name (seeds of one network share it).
    pub network: String,
    pub model: String,
    pub seed: u64,
    /// Trained on (`shared`) or held out.
    pub seen: bool,
    pub intervals: u32,
    pub frames: u64,
    pub exact: u64,
    pub exact_ratio: f64,
}

/// The sweep rows of one coverage from its `combinations` rows (test split, two-note
/// combinations only); a group without intervals (nothing seen at 0 %) gives no row.
pub fn sweep_rows(
    coverage: f64,
    spec: &PipelineSpec,
    combinations: &[Combination],
) -> Vec<SweepRow> {
    let mut out = Vec::new();
    for network in &spec.networks {
        for seen in [false, true] {
            let group: Vec<&Combination> = combinations
                .iter()
                .filter(|c| {
                    c.model == network.name
                        && c.split == "test"
                        && c.combination.len() == 2
                        && c.shared == Some(seen)
                })
                .collect();
            if group.is_empty() {
                continue;
            }
            let frames: u64 = group.iter().map(|c| c.frames).sum();
            let exact: u64 = group.iter().map(|c| c.exact).sum();
            out.push(SweepRow {
                coverage,
                network: network.family.clone(),
                model: network.name.clone(),
                seed: network.seed,
                seen,
                intervals: group.len() as u32,
                frames,
                exact,
                exact_ratio: exact as f64 / frames.max(1) as f64,
            });
        }
    }
    out
}

fn sweep_schema() -> Schema {
    Schema::new(vec![
        Field::new("coverage", DataType::Float64, false),
        Field::new("network", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("seed", DataType::UInt64, false),
        Field::new("seen", DataType::Boolean, false),
        Field::new("intervals", DataType::UInt32, false),
        Field::new("frames", DataType::UInt64, false),
        Field::new("exact", DataType::UInt64, false),
        Field::new("exact_ratio", DataType::Float64, false),
    ])
}

/// Writes `sweep.parquet` atomically.
pub fn write_sweep(path: &Path, rows: &[SweepRow]) -> anyhow::Result<()> {
    let mut coverage = Float64Builder::new();
    let mut network = StringBuilder::new();
    let mut model = StringBuilder::new();
    let mut seed = UInt64Builder::new();
    let mut seen = BooleanBuilder::new();
    let mut intervals = UInt32Builder::new();
    let mut frames = UInt64Builder::new();
    let mut exact = UInt64Builder::new();
    let mut ratio = Float64Builder::new();
    for r in rows {
        coverage.append_value(r.coverage);
        network.append_value(&r.network);
        model.append_value(&r.model);
        seed.append_value(r.seed);
        seen.append_value(r.seen);
        intervals.append_value(r.intervals);
        frames.append_value(r.frames);
        exact.append_value(r.exact);
        ratio.append_value(r.exact_ratio);
    }
    let batch = RecordBatch::try_new(
        Arc::new(sweep_schema()),
        vec![
            Arc::new(coverage.finish()),
            Arc::new(network.finish()),
            Arc::new(model.finish()),
            Arc::new(seed.finish()),
            Arc::new(seen.finish()),
            Arc::new(intervals.finish()),
            Arc::new(frames.finish()),
            Arc::new(exact.finish()),
            Arc::new(ratio.finish()),
        ],
    )?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    write_atomically(path, |w| -> Result<(), parquet::errors::ParquetError> {
        let w = crate::sink::checksum::Checksummed::new(w);
        let mut writer = ArrowWriter::try_new(w, Arc::new(sweep_schema()), Some(props))?;
        writer.write(&batch)?;
        crate::sink::checksum::close_with_checksum(writer)?;
        Ok(())
    })?;
    Ok(())
}

/// Per network and group (unseen, seen): (coverage, mean, min, max) over the seeds.
type Band = Vec<(f64, f64, f64, f64)>;

fn bands(rows: &[SweepRow]) -> BTreeMap<(String, bool), Band> {
    let mut values: BTreeMap<(String, bool), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in rows {
        values
            .entry((r.network.clone(), r.seen))
            .or_default()
            // Coverages as integer thousandths, so they can key a map.
            .entry((r.coverage * 1000.0).round() as u64)
            .or_default()
            .push(r.exact_ratio);
    }
    values
        .into_iter()
        .map(|(key, by_coverage)| {
            let band = by_coverage
                .into_iter()
                .map(|(k, v)| {
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (k as f64 / 1000.0, mean, min, max)
                })
                .collect();
            (key, band)
        })
        .collect()
}

const UNSEEN: RGBColor = RGBColor(0x2b, 0x8c, 0xbe);
const SEEN: RGBColor = RGBColor(0xe3, 0x4a, 0x33);

/// One panel per network: the exact proportion of unseen and seen intervals against
/// coverage, the line the mean over seeds and the band their range.
fn draw_panels<DB: DrawingBackend>(
    area: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    rows: &[SweepRow],
    title: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let bands = bands(rows);
    let mut networks: Vec<&String> = bands.keys().map(|(n, _)| n).collect();
    networks.dedup();
    let (title_area, body) = area.split_vertically(40);
    title_area.titled(title, (super::figures::FONT, 20))?;
    let panels = body.split_evenly((1, networks.len().max(1)));
    for (panel, network) in panels.iter().zip(networks) {
        let seeds = rows
            .iter()
            .filter(|r| &r.network == network)
            .map(|r| r.seed)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{network} ({seeds} seed{})",
                    if seeds == 1 { "" } else { "s" }
                ),
                (super::figures::FONT, 17),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-2f64..102f64, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc("trained intervals (% of the trainable ones)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("exact proportion of frames")
            .label_style((super::figures::FONT, 13))
            .draw()?;
        for (seen, color, label) in [
            (false, UNSEEN, "held-out intervals (unseen)"),
            (true, SEEN, "trained intervals (seen)"),
        ] {
            let Some(band) = bands.get(&(network.clone(), seen)) else {
                continue;
            };
            let mut outline: Vec<(f64, f64)> = band.iter().map(|&(k, _, _, hi)| (k, hi)).collect();
            outline.extend(band.iter().rev().map(|&(k, _, lo, _)| (k, lo)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(0.2).filled(),
            )))?;
            let line: Vec<(f64, f64)> = band.iter().map(|&(k, mean, _, _)| (k, mean)).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .label_font((super::figures::FONT, 13))
            .draw()?;
    }
    Ok(())
}

/// Draws the sweep figure as `stem.{svg,png}` (the formats given); the files written.
pub fn draw_sweep(
    stem: &Path,
    formats: &[String],
    rows: &[SweepRow],
    title: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    super::figures::register_font()?;
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let networks = rows
        .iter()
        .map(|r| r.network.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let size = (560 * networks.max(1) as u32, 460);
    let mut written = Vec::new();
    for format in formats {
        let path = stem.with_extension(format);
        if format == "svg" {
            let area = SVGBackend::new(&path, size).into_drawing_area();
            draw_panels(&area, rows, title)?;
            area.present()?;
        } else {
            let area = BitMapBackend::new(&path, size).into_drawing_area();
            draw_panels(&area, rows, title)?;
            area.present()?;
        }
        written.push(path);
    }
    Ok(written)
}

/// The report of a sweep: the table of means and ranges over seeds.
fn report(spec: &PipelineSpec, rows: &[SweepRow], figures: &[PathBuf]) -> String {
    let mut text = format!(
        "# {}: coverage sweep\n\nExact proportion of the frames of the held-out intervals \
         (never trained on) and of the trained intervals, per coverage (percent of the \
         trainable intervals trained on, besides the 23 isolated notes); mean over seeds \
         [min, max]. Table: `sweep.parquet`; each coverage's run: `coverage-K/`.\n\n",
        spec.name
    );
    for f in figures
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        text.push_str(&format!("![coverage sweep](figures/{name})\n\n"));
    }
    text.push_str("| network | coverage % | seeds | unseen exact | seen exact | unseen intervals | seen intervals |\n|---|---|---|---|---|---|---|\n");
    let bands = bands(rows);
    let mut keys: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r.network.clone(), (r.coverage * 1000.0).round() as u64))
        .collect();
    keys.sort();
    keys.dedup();
    for (network, k) in keys {
        let coverage = k as f64 / 1000.0;
        let cell = |seen: bool| {
            bands
                .get(&(network.clone(), seen))
                .and_then(|b| b.iter().find(|p| p.0 == coverage))
                .map(|&(_, mean, lo, hi)| format!("{mean:.3} [{lo:.3}, {hi:.3}]"))
                .unwrap_or_else(|| "n/a".into())
        };
        let here: Vec<&SweepRow> = rows
            .iter()
            .filter(|r| r.network == network && (r.coverage * 1000.0).round() as u64 == k)
            .collect();
        let seeds = here
            .iter()
            .map(|r| r.seed)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let count = |seen: bool| {
            here.iter()
                .find(|r| r.seen == seen)
                .map(|r| r.intervals.to_string())
                .unwrap_or_else(|| "0".into())
        };
        text.push_str(&format!(
            "| {network} | {coverage} | {seeds} | {} | {} | {} | {} |\n",
            cell(false),
            cell(true),
            count(false),
            count(true)
        ));
    }
    text
}

/// Runs every point of the sweep (each skipping its up-to-date stages), then writes the
/// sweep table, figure and report.
pub fn run_sweep(
    spec_path: &Path,
    spec: &PipelineSpec,
    options: RunOptions,
) -> anyhow::Result<Option<RunRecord>> {
    let started = Instant::now();
    let mut stages: Vec<StageRecord> = Vec::new();
    let mut rows = Vec::new();
    for (k, point) in point_specs(spec) {
        if options.dry_run {
            println!("coverage {k} %:");
        }
        let out = point.out.clone();
        let record = run_spec(spec_path, point.clone(), options)?;
        let Some(record) = record else { continue };
        stages.extend(record.stages.into_iter().map(|s| StageRecord {
            stage: format!("coverage {k} %: {}", s.stage),
            ..s
        }));
        let layout = Layout { out };
        let combinations = read_combinations(
            &layout
                .analysis()
                .join(crate::dataflow::tables::COMBINATIONS),
        )?;
        rows.extend(sweep_rows(k, &point, &combinations));
    }
    if options.dry_run {
        println!(
            "  then: sweep.parquet, figures/coverage-sweep, report.md -> {}",
            spec.out.display()
        );
        return Ok(None);
    }
    let drawing = Instant::now();
    write_sweep(&spec.out.join("sweep.parquet"), &rows)?;
    let figures = draw_sweep(
        &spec.out.join("figures").join("coverage-sweep"),
        &spec.figures.formats,
        &rows,
        &format!("{}: exact proportion against coverage", spec.name),
    )?;
    let text = report(spec, &rows, &figures);
    write_atomically(&spec.out.join("report.md"), |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    stages.push(StageRecord::always_ran(
        "sweep table, figure and report",
        drawing,
    ));
    Ok(Some(RunRecord::write(spec_path, spec, stages, started)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(network: &str, seed: u64, coverage: f64, seen: bool, ratio: f64) -> SweepRow {
        SweepRow {
            coverage,
            network: network.into(),
            model: format!("{network}-s{seed}"),
            seed,
            seen,
            intervals: 10,
            frames: 1000,
            exact: (ratio * 1000.0) as u64,
            exact_ratio: ratio,
        }
    }

    #[test]
    fn bands_are_the_mean_and_range_over_seeds() {
        let rows = [
            row("convnet", 0, 50.0, false, 0.2),
            row("convnet", 1, 50.0, false, 0.4),
            row("convnet", 2, 50.0, false, 0.9),
            row("convnet", 0, 0.0, false, 0.1),
        ];
        let b = &bands(&rows)[&("convnet".to_string(), false)];
        assert_eq!(b.len(), 2);
        assert_eq!(b[0], (0.0, 0.1, 0.1, 0.1));
        assert!((b[1].1 - 0.5).abs() < 1e-12 && b[1].2 == 0.2 && b[1].3 == 0.9);
    }

    #[test]
    fn the_figure_is_drawn_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        for seed in 0..3 {
            for k in [0.0, 25.0, 100.0] {
                rows.push(row(
                    "convnet",
                    seed,
                    k,
                    false,
                    0.1 + k / 500.0 + seed as f64 / 50.0,
                ));
                if k > 0.0 {
                    rows.push(row("convnet", seed, k, true, 0.9));
                }
                rows.push(row("smallconvnet", seed, k, false, 0.0));
            }
        }
        let files = draw_sweep(
            &dir.path().join("sweep"),
            &["svg".into(), "png".into()],
            &rows,
            "test",
        )
        .unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            assert!(
                std::fs::metadata(&f).unwrap().len() > 1000,
                "{}",
                f.display()
            );
        }
    }
}
