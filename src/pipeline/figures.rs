//! The figures of a run (plotters, SVG and PNG): the analogues of the paper's Figures 1-6
//! (exact / added / omitted proportions per isolated note, per best-transcribed interval, per
//! most common shared and unshared combination, per network), training curves, and a heat map
//! of `additions`. Everything is drawn from the Parquet tables the run wrote: a pipeline's
//! (`draw_all`) or any analysis directory's (`draw_figures`, behind `entangle report`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::findings::{Findings, ModelRows, error_proportions};
use super::layout::Layout;
use super::selection::{Selected, best_epoch, read_history, validation_curve};
use super::spec::PipelineSpec;
use super::tables_read::{Combination, read_combinations, read_pitch_errors};
use crate::dataflow::tables::{ADDITIONS, COMBINATIONS, SPLIT_METRICS};

pub(super) const FONT: &str = "sans-serif";
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
const EXACT: RGBColor = RGBColor(0x2b, 0x8c, 0xbe);
const ADDED: RGBColor = RGBColor(0xe3, 0x4a, 0x33);
const OMITTED: RGBColor = RGBColor(0xfd, 0xbb, 0x84);

pub(super) fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = FONT_PATHS.iter().find(|p| Path::new(p).exists()).ok_or(
                "no DejaVuSans.ttf for the figures: install the Debian package fonts-dejavu-core",
            )?;
            let bytes: &'static [u8] = Box::leak(
                std::fs::read(path)
                    .map_err(|e| format!("{path}: {e}"))?
                    .into_boxed_slice(),
            );
            plotters::style::register_font(FONT, FontStyle::Normal, bytes)
                .map_err(|_| format!("{path}: not a usable font"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// What to draw from: one analysis directory's tables, and per model its training run and
/// per-epoch validation tables when it was trained by a pipeline.
#[derive(Debug, Clone)]
pub struct FigureInputs {
    /// Holds `combinations.parquet` and `additions.parquet`.
    pub analysis: PathBuf,
    /// Where the figures go.
    pub figures: PathBuf,
    /// `svg`, `png`.
    pub formats: Vec<String>,
    /// Bars per ranked figure.
    pub top: usize,
    /// The split the figures show.
    pub split: String,
    pub models: Vec<ModelInputs>,
}

/// One model of [`FigureInputs`].
#[derive(Debug, Clone)]
pub struct ModelInputs {
    pub name: String,
    /// The training run directory (`history.json`), if any.
    pub training: Option<PathBuf>,
    /// The per-epoch validation tables (`split_metrics.parquet`), if any.
    pub validation: Option<PathBuf>,
    /// How the model's epoch was selected (marked in the training figure).
    pub select_by: crate::protocol::Selection,
}

impl FigureInputs {
    /// A pipeline run's: its test-split analysis and its networks.
    pub fn of_run(spec: &PipelineSpec, layout: &Layout) -> Self {
        Self {
            analysis: layout.analysis(),
            figures: layout.figures(),
            formats: spec.figures.formats.clone(),
            top: spec.figures.top,
            split: "test".into(),
            models: spec
                .networks
                .iter()
                .map(|n| ModelInputs {
                    name: n.name.clone(),
                    training: Some(layout.training(&n.name)),
                    validation: Some(layout.validation(&n.name)),
                    select_by: n.select_by,
                })
                .collect(),
        }
    }
}

/// One bar group per category, three bars (exact, added, omitted) per group.
struct Bars<'a> {
    title: String,
    categories: Vec<String>,
    rows: Vec<[f64; 3]>,
    caption_y: &'a str,
}

/// Pixels a category label needs when written vertically under the x axis.
fn label_extent(categories: &[String]) -> u32 {
    let longest = categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4) as u32;
    14 + 7 * longest.min(48)
}

/// The paper's layout: one group per category along x, three bars side by side (exact,
/// added, omitted), every category named under its group, and the legend in a strip above
/// the plot, outside the data.
fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, bars: &Bars) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let n = bars.categories.len().max(1);
    let (head, plot) = area.split_vertically(78);
    head.draw(&Text::new(
        bars.title.clone(),
        (16, 10),
        (FONT, 22).into_font(),
    ))?;
    let series = [("exact", EXACT), ("added", ADDED), ("omitted", OMITTED)];
    for (k, (label, color)) in series.iter().enumerate() {
        let x = 72 + 130 * k as i32;
        head.draw(&Rectangle::new([(x, 48), (x + 16, 62)], color.filled()))?;
        head.draw(&Text::new(*label, (x + 22, 46), (FONT, 16).into_font()))?;
    }
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(20)
        .x_label_area_size(label_extent(&bars.categories))
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..1f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(bars.caption_y)
        .label_style((FONT, 14))
        .draw()?;
    for (k, (_, color)) in series.into_iter().enumerate() {
        let rects = bars.rows.iter().enumerate().map(move |(i, row)| {
            let left = i as f64 - 0.42 + 0.28 * k as f64;
            Rectangle::new(
                [(left, 0.0), (left + 0.26, row[k].clamp(0.0, 1.0))],
                color.filled(),
            )
        });
        chart.draw_series(rects)?;
    }
    draw_category_names(&plot, &chart, &bars.categories, 13)
}

/// Every category's name, written downwards under its group at x = its index (plotters
/// would thin out numeric tick labels).
pub(super) fn draw_category_names<DB: DrawingBackend>(
    plot: &DrawingArea<DB, Shift>,
    chart: &ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    categories: &[String],
    size: u32,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let font = (FONT, size).into_font().transform(FontTransform::Rotate90);
    for (i, name) in categories.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, 0.0));
        plot.draw(&Text::new(
            name.clone(),
            (
                x - 7 - plot.get_base_pixel().0,
                y + 8 - plot.get_base_pixel().1,
            ),
            font.clone(),
        ))?;
    }
    Ok(())
}

/// Draws `$body` (with the drawing area bound to `$area`) into `$stem.svg` and/or
/// `$stem.png`, and records the files.
macro_rules! save_figure {
    ($stem:expr, $formats:expr, $size:expr, $out:expr, |$area:ident| $body:expr) => {{
        for format in $formats {
            let path = $stem.with_extension(format);
            match format.as_str() {
                "svg" => {
                    let $area = SVGBackend::new(&path, $size).into_drawing_area();
                    $body?;
                    $area.present()?;
                }
                _ => {
                    let $area = BitMapBackend::new(&path, $size).into_drawing_area();
                    $body?;
                    $area.present()?;
                }
            }
            $out.push(path);
        }
    }};
}

fn bars_for(rows: &[&Combination], title: String) -> Bars<'static> {
    Bars {
        title,
        categories: rows
            .iter()
            .map(|c| format!("{} ({} fr.)", c.name, c.frames))
            .collect(),
        rows: rows
            .iter()
            .map(|c| [c.exact_ratio, c.added_ratio, c.omitted_ratio])
            .collect(),
        caption_y: "proportion of the combination's frames",
    }
}

/// Pixel size of a bar figure: wide enough for every group, tall enough for its labels.
fn bar_size(bars: &Bars) -> (u32, u32) {
    let n = bars.categories.len() as u32;
    // The title is drawn at 22 px: about 11 px a character.
    let title = 40 + 11 * bars.title.chars().count() as u32;
    (
        (120 + 40 * n).max(700).max(title),
        470 + label_extent(&bars.categories),
    )
}

/// Pixel height of the additions heat map: one readable row per combination.
fn heat_map_height(rows: usize) -> u32 {
    140 + 26 * rows as u32
}

/// Draws every figure of the run into `figures/` and returns what the report needs.
pub fn draw_all(spec: &PipelineSpec, layout: &Layout) -> anyhow::Result<Findings> {
    draw_figures(&FigureInputs::of_run(spec, layout))
}

/// Where figures go, and the record of what was drawn and what could not be.
struct Canvas<'a> {
    dir: &'a Path,
    formats: &'a [String],
    split: &'a str,
    top: usize,
    findings: Findings,
}

impl Canvas<'_> {
    fn stem(&self, stem: &str) -> PathBuf {
        self.dir.join(stem)
    }

    fn not_drawn(&mut self, stem: String, why: String) {
        self.findings.not_drawn.push((stem, why));
    }

    fn bars(&mut self, stem: &str, bars: &Bars) -> anyhow::Result<()> {
        let size = bar_size(bars);
        save_figure!(
            self.stem(stem),
            self.formats,
            size,
            self.findings.figures,
            |area| draw_bars(&area, bars)
        );
        Ok(())
    }
}

/// Draws every figure the tables of `inputs.analysis` allow into `inputs.figures`, and
/// returns what the report needs.
pub fn draw_figures(inputs: &FigureInputs) -> anyhow::Result<Findings> {
    register_font()?;
    std::fs::create_dir_all(&inputs.figures)?;
    let combinations = read_combinations(&inputs.analysis.join(COMBINATIONS))?;
    let additions = read_pitch_errors(&inputs.analysis.join(ADDITIONS))?;
    let mut canvas = Canvas {
        dir: &inputs.figures,
        formats: &inputs.formats,
        split: &inputs.split,
        top: inputs.top,
        findings: Findings::default(),
    };
    let mut network_rows: Vec<(String, [f64; 3])> = Vec::new();
    let mut kinds_drawn = [false; 2];
    for model in &inputs.models {
        let name = &model.name;
        let rows = ModelRows::select(&combinations, &additions, name, &inputs.split);
        draw_isolated_notes(&mut canvas, name, &rows)?;
        draw_best_intervals(&mut canvas, name, &rows)?;
        for (i, shared) in [true, false].into_iter().enumerate() {
            let common = if shared { &rows.shared } else { &rows.unshared };
            if draw_common(&mut canvas, name, &rows, shared)? {
                kinds_drawn[i] = true;
                let kind = if shared { "shared" } else { "unshared" };
                network_rows.push((format!("{name}, {kind}"), error_proportions(common)));
            }
        }
        draw_training_of(&mut canvas, model)?;
        draw_additions_of(&mut canvas, name, &rows)?;
        canvas
            .findings
            .per_network
            .insert(name.clone(), rows.findings());
    }
    draw_networks(&mut canvas, &network_rows, kinds_drawn)?;
    Ok(canvas.findings)
}

/// Figure 2 analogue: every isolated note, by pitch.
fn draw_isolated_notes(canvas: &mut Canvas, name: &str, rows: &ModelRows) -> anyhow::Result<()> {
    let split = canvas.split;
    if rows.notes.is_empty() {
        canvas.not_drawn(
            format!("isolated-notes-{name}"),
            format!("the {split} split has no single notes"),
        );
        return Ok(());
    }
    let bars = bars_for(&rows.notes, format!("{name}: isolated notes ({split})"));
    canvas.bars(&format!("isolated-notes-{name}"), &bars)
}

/// Figure 3 analogue: the best-transcribed intervals.
fn draw_best_intervals(canvas: &mut Canvas, name: &str, rows: &ModelRows) -> anyhow::Result<()> {
    let split = canvas.split;
    if rows.intervals.is_empty() {
        canvas.not_drawn(
            format!("best-intervals-{name}"),
            format!("the {split} split has no two-note combinations"),
        );
        return Ok(());
    }
    let shown = &rows.intervals[..rows.intervals.len().min(canvas.top)];
    let bars = bars_for(
        shown,
        format!(
            "{name}: best-transcribed intervals ({split}, top {})",
            shown.len()
        ),
    );
    canvas.bars(&format!("best-intervals-{name}"), &bars)
}

/// Figures 4-5 analogues: the most common shared (or unshared) combinations. Returns
/// whether there were any.
fn draw_common(
    canvas: &mut Canvas,
    name: &str,
    rows: &ModelRows,
    shared: bool,
) -> anyhow::Result<bool> {
    let split = canvas.split;
    let (common, kind) = if shared {
        (&rows.shared, "shared")
    } else {
        (&rows.unshared, "unshared")
    };
    if common.is_empty() {
        let why = if rows.shared_unknown {
            // Analysed without training labels: `shared` is NULL (unknown).
            format!("the {split} split was analysed without training labels")
        } else if shared {
            format!(
                "no combination of the {split} split occurs in the training split (or no \
                 training labels were given)"
            )
        } else {
            format!("every combination of the {split} split occurs in the training split")
        };
        canvas.not_drawn(format!("common-{kind}-{name}"), why);
        return Ok(false);
    }
    let shown = &common[..common.len().min(canvas.top)];
    let bars = bars_for(
        shown,
        format!("{name}: most common {kind} combinations ({split})"),
    );
    canvas.bars(&format!("common-{kind}-{name}"), &bars)?;
    Ok(true)
}

/// Training curves: the trainer's losses and the dataflow's validation F per epoch.
fn draw_training_of(canvas: &mut Canvas, model: &ModelInputs) -> anyhow::Result<()> {
    let name = &model.name;
    let curve = model
        .validation
        .as_ref()
        .and_then(|v| validation_curve(&v.join(SPLIT_METRICS)).ok())
        .unwrap_or_default();
    if curve.is_empty() {
        return Ok(());
    }
    let history = model.training.as_ref().map(|t| t.join("history.json"));
    let losses: Vec<(usize, f64, f64)> = history
        .as_ref()
        .map(|h| read_history(h))
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.epoch, e.train_loss, e.validation_loss))
        .collect();
    let selected = match (&model.validation, &history) {
        (Some(v), Some(h)) => best_epoch(&v.join(SPLIT_METRICS), h, model.select_by).ok(),
        _ => None,
    };
    save_figure!(
        canvas.stem(&format!("training-{name}")),
        canvas.formats,
        (1000, 420),
        canvas.findings.figures,
        |area| draw_training(&area, name, &losses, &curve, selected.as_ref())
    );
    Ok(())
}

/// The entanglement signature: which notes are added to which combinations.
fn draw_additions_of(canvas: &mut Canvas, name: &str, rows: &ModelRows) -> anyhow::Result<()> {
    let split = canvas.split;
    let shown: Vec<&Combination> = rows.by_frames.iter().copied().take(canvas.top).collect();
    if shown.is_empty() || rows.additions.is_empty() {
        canvas.not_drawn(
            format!("additions-{name}"),
            format!("no note was added to a sounding combination of the {split} split"),
        );
        return Ok(());
    }
    let size = (1100, heat_map_height(shown.len()));
    save_figure!(
        canvas.stem(&format!("additions-{name}")),
        canvas.formats,
        size,
        canvas.findings.figures,
        |area| draw_additions(&area, name, split, &shown, rows.all.len(), &rows.additions)
    );
    Ok(())
}

/// Figure 6 analogue: every network, shared vs unshared, frame-weighted. The title says
/// which groups there are: a FLUID-COMBI test split (isolated notes) has no shared one.
fn draw_networks(
    canvas: &mut Canvas,
    network_rows: &[(String, [f64; 3])],
    kinds_drawn: [bool; 2],
) -> anyhow::Result<()> {
    if network_rows.is_empty() {
        return Ok(());
    }
    let groups = match kinds_drawn {
        [true, true] => "shared vs unshared combinations",
        [true, false] => "shared combinations (none unshared)",
        [false, false] => "all combinations (no training labels)",
        [false, true] => "unshared combinations (none shared with training)",
    };
    let bars = Bars {
        title: format!("networks: {groups} ({}, frame-weighted)", canvas.split),
        categories: network_rows.iter().map(|(n, _)| n.clone()).collect(),
        rows: network_rows.iter().map(|(_, r)| *r).collect(),
        caption_y: "proportion of frames",
    };
    canvas.bars("networks", &bars)
}

fn draw_training<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    losses: &[(usize, f64, f64)],
    curve: &[(usize, super::tables_read::SplitMetrics)],
    selected: Option<&Selected>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let marker = selected.map(|s| (s.epoch, format!("selected: epoch {}", s.epoch)));
    let (left, right) = area.split_horizontally(500);
    let epochs = curve
        .last()
        .map_or(1, |(e, _)| *e)
        .max(losses.last().map_or(1, |l| l.0));
    let max_loss = losses
        .iter()
        .flat_map(|l| [l.1, l.2])
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    let loss = |pick: fn(&(usize, f64, f64)) -> f64| {
        losses
            .iter()
            .map(|l| (l.0 as f64, pick(l)))
            .collect::<Vec<_>>()
    };
    draw_curves(
        &left,
        &format!("{name}: loss"),
        epochs,
        max_loss,
        SeriesLabelPosition::UpperRight,
        marker.as_ref(),
        &[
            ("train", EXACT, loss(|l| l.1)),
            ("validation", ADDED, loss(|l| l.2)),
        ],
    )?;
    let metric = |pick: fn(&super::tables_read::SplitMetrics) -> f64| {
        curve
            .iter()
            .map(|(e, m)| (*e as f64, pick(m)))
            .collect::<Vec<_>>()
    };
    draw_curves(
        &right,
        &format!("{name}: validation (analysis dataflow)"),
        epochs,
        1.0,
        SeriesLabelPosition::LowerRight,
        marker.as_ref(),
        &[
            ("F (mean over shards)", EXACT, metric(|m| m.f1)),
            ("precision", ADDED, metric(|m| m.precision)),
            ("recall", OMITTED, metric(|m| m.recall)),
        ],
    )
}

/// A labelled line: name, colour, (epoch, value) points.
type Curve<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Lines with markers over epochs 1..=`epochs`, y from 0 to `y_max`.
fn draw_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    epochs: usize,
    y_max: f64,
    legend: SeriesLabelPosition,
    marker: Option<&(usize, String)>,
    series: &[Curve],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs + 1)
        .x_label_formatter(&integer_label)
        .label_style((FONT, 13))
        .draw()?;
    for (label, color, points) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    if let Some((epoch, label)) = marker {
        let x = *epoch as f64;
        let grey = RGBColor(0x55, 0x55, 0x55);
        chart
            .draw_series(DashedLineSeries::new(
                [(x, 0.0), (x, y_max)],
                6,
                4,
                grey.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(legend)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

/// Rows: the most common combinations; columns: pitches; colour: the proportion of the
/// combination's frames in which that pitch was added.
fn draw_additions<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    split: &str,
    rows: &[&Combination],
    total: usize,
    additions: &[&super::tables_read::PitchError],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let cells = addition_cells(rows, additions);
    let (lo, hi) = pitch_range(rows, &cells);
    let n = rows.len();
    let names: Vec<String> = rows.iter().map(|c| c.name.clone()).collect();
    let longest = names.iter().map(|c| c.len()).max().unwrap_or(4) as u32;
    let (plot, legend) = area.split_horizontally(area.dim_in_pixel().0 - 90);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            if rows.len() < total {
                format!(
                    "{name}: added notes, the {} most frequent of {total} combinations ({split})",
                    rows.len()
                )
            } else {
                format!("{name}: added notes per combination, all {total} ({split})")
            },
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(20 + 8 * longest.min(40))
        .build_cartesian_2d(lo - 0.5..hi + 0.5, -0.5f64..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(n)
        .y_label_formatter(&move |v| row_label(&names, *v))
        .x_labels(((hi - lo) / 2.0) as usize + 1)
        .x_label_formatter(&|v| match whole(*v) {
            Some(p @ 0..128) => crate::pitchset::note_name(p as u8),
            _ => String::new(),
        })
        .x_desc("added note")
        .label_style((FONT, 12))
        .draw()?;
    // The combination's own notes, outlined, to read the additions against.
    chart.draw_series(rows.iter().enumerate().flat_map(|(i, c)| {
        let y = (n - 1 - i) as f64;
        c.combination.iter().map(move |&p| {
            Rectangle::new(
                [(p as f64 - 0.45, y - 0.45), (p as f64 + 0.45, y + 0.45)],
                BLACK.stroke_width(1),
            )
        })
    }))?;
    chart.draw_series(cells.iter().map(|&(i, p, ratio)| {
        let y = (n - 1 - i) as f64;
        Rectangle::new(
            [(p as f64 - 0.5, y - 0.5), (p as f64 + 0.5, y + 0.5)],
            heat(ratio).filled(),
        )
    }))?;
    draw_heat_scale(&legend)
}

/// (row, added pitch, proportion) for the additions to the combinations of `rows`.
fn addition_cells(
    rows: &[&Combination],
    additions: &[&super::tables_read::PitchError],
) -> Vec<(usize, u8, f64)> {
    let index: BTreeMap<&[u8], usize> = rows
        .iter()
        .enumerate()
        .map(|(i, c)| (c.combination.as_slice(), i))
        .collect();
    additions
        .iter()
        .filter_map(|a| Some((*index.get(a.combination.as_slice())?, a.pitch, a.ratio)))
        .collect()
}

/// The pitch axis: every added pitch and every note of the rows, one key of margin.
fn pitch_range(rows: &[&Combination], cells: &[(usize, u8, f64)]) -> (f64, f64) {
    let pitches = cells
        .iter()
        .map(|c| c.1)
        .chain(rows.iter().flat_map(|c| c.combination.iter().copied()));
    let (lo, hi) = pitches.fold((127u8, 0u8), |(lo, hi), p| (lo.min(p), hi.max(p)));
    (lo.saturating_sub(1) as f64, hi.saturating_add(1) as f64)
}

/// The colour scale of [`heat`], 0 to 1, in the strip right of a heat map.
fn draw_heat_scale<DB: DrawingBackend>(legend: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut scale = ChartBuilder::on(legend)
        .margin_top(60)
        .margin_bottom(52)
        .margin_right(42)
        .margin_left(8)
        .y_label_area_size(0)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    scale.draw_series((0..50).map(|k| {
        let v = k as f64 / 50.0;
        Rectangle::new([(0.0, v), (1.0, v + 0.02)], heat(v + 0.01).filled())
    }))?;
    for v in [0.0, 0.5, 1.0] {
        legend.draw(&Text::new(
            format!("{v:.1}"),
            (
                legend.dim_in_pixel().0 as i32 - 36,
                54 + ((1.0 - v) * (legend.dim_in_pixel().1 as f64 - 112.0)) as i32,
            ),
            (FONT, 12).into_font(),
        ))?;
    }
    Ok(())
}

/// `v` when it is a whole number (axis ticks fall between rows and epochs too).
fn whole(v: f64) -> Option<i64> {
    ((v - v.round()).abs() < 1e-6).then_some(v.round() as i64)
}

/// Whole numbers only (epochs).
fn integer_label(v: &f64) -> String {
    whole(*v).map(|i| i.to_string()).unwrap_or_default()
}

/// The name of the row at height `v`: rows are drawn top to bottom in the order of `names`.
fn row_label(names: &[String], v: f64) -> String {
    match whole(v) {
        Some(i @ 0..) if (i as usize) < names.len() => names[names.len() - 1 - i as usize].clone(),
        _ => String::new(),
    }
}

/// White -> red.
fn heat(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * v) as u8;
    RGBColor(mix(255.0, 165.0), mix(255.0, 15.0), mix(255.0, 21.0))
}
