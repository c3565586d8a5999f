//! Figures that compare models across analyses (plotters, SVG and PNG): the side-by-side
//! figure of a test set (every network and third-party system: frame-weighted exact / added /
//! omitted proportions, and the share of intervals with a note omitted in at least 50 / 90 /
//! 99 % of their frames), and the figure of a `positions` table (where in a note's life the
//! exact, added and omitted pitch-frames fall).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figures::{FONT, register_font};
use super::findings::{Findings, ModelRows, OMISSION_THRESHOLDS, error_proportions, percentages};
use super::tables_read::read_rows;
use super::tables_read::{read_combinations, read_pitch_errors};
use crate::analysis::positions::Position;
use crate::dataflow::tables::POSITIONS;
use crate::dataflow::tables::{ADDITIONS, COMBINATIONS};
use crate::sink::rows::PositionRow;

const EXACT: RGBColor = RGBColor(0x2b, 0x8c, 0xbe);
const ADDED: RGBColor = RGBColor(0xe3, 0x4a, 0x33);
const OMITTED: RGBColor = RGBColor(0xfd, 0xbb, 0x84);
const THRESHOLD_COLORS: [RGBColor; 3] = [
    RGBColor(0xfd, 0xd4, 0x9e),
    RGBColor(0xfc, 0x8d, 0x59),
    RGBColor(0xb3, 0x00, 0x00),
];

/// Draws `$body` (the drawing area bound to `$area`) into `$stem.svg` and/or `$stem.png`,
/// recording the files in `$out`.
macro_rules! save {
    ($stem:expr, $formats:expr, $size:expr, $out:expr, |$area:ident| $body:expr) => {{
        for format in $formats {
            let path = $stem.with_extension(format);
            if format == "svg" {
                let $area = SVGBackend::new(&path, $size).into_drawing_area();
                $body?;
                $area.present()?;
            } else {
                let $area = BitMapBackend::new(&path, $size).into_drawing_area();
                $body?;
                $area.present()?;
            }
            $out.push(path);
        }
    }};
}

/// One panel of grouped bars: a group per category, a bar per series, proportions in [0, 1].
struct Panel<'a> {
    title: String,
    categories: Vec<String>,
    series: &'a [(&'a str, RGBColor)],
    /// `rows[category][series]`.
    rows: Vec<Vec<f64>>,
    y_desc: &'a str,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let n = panel.categories.len().max(1);
    let bars = panel.series.len().max(1) as f64;
    let (head, plot) = area.split_vertically(74);
    head.draw(&Text::new(
        panel.title.clone(),
        (16, 8),
        (FONT, 18).into_font(),
    ))?;
    for (k, (label, color)) in panel.series.iter().enumerate() {
        let x = 72 + 120 * k as i32;
        head.draw(&Rectangle::new([(x, 44), (x + 16, 58)], color.filled()))?;
        head.draw(&Text::new(*label, (x + 22, 42), (FONT, 15).into_font()))?;
    }
    let longest = panel
        .categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(20)
        .x_label_area_size(14 + 8 * longest.min(40))
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..1f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(panel.y_desc)
        .label_style((FONT, 14))
        .draw()?;
    let width = 0.84 / bars;
    for (k, (_, color)) in panel.series.iter().enumerate() {
        let rects = panel.rows.iter().enumerate().map(move |(i, row)| {
            let left = i as f64 - 0.42 + width * k as f64;
            let value = row.get(k).copied().unwrap_or(0.0).clamp(0.0, 1.0);
            Rectangle::new([(left, 0.0), (left + width * 0.92, value)], color.filled())
        });
        chart.draw_series(rects)?;
    }
    super::figures::draw_category_names(&plot, &chart, &panel.categories, 14)
}

/// Panels side by side on a white figure.
/// Draws `panels` under `title`, `columns` to a row.
fn draw_panels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    columns: usize,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let (head, body) = area.split_vertically(44);
    head.draw(&Text::new(
        title.to_string(),
        (16, 10),
        (FONT, 22).into_font(),
    ))?;
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    for (panel, part) in panels.iter().zip(body.split_evenly((rows, columns))) {
        draw_panel(&part, panel)?;
    }
    Ok(())
}

/// The models of a side-by-side figure: a name, and the analysis directory holding its rows.
pub type ModelSource = (String, PathBuf);

/// The side-by-side figure of one test split: for every model (networks and systems, each
/// from its own analysis directory) the frame-weighted exact / added / omitted proportions
/// over the split's sounding combinations, and the share of its intervals (of its
/// combinations, when it has no intervals) with a note omitted in at least each of
/// [`OMISSION_THRESHOLDS`] of their frames. Draws `stem.svg` / `stem.png`; returns the files.
pub fn draw_side_by_side(
    stem: &Path,
    formats: &[String],
    title: &str,
    split: &str,
    models: &[ModelSource],
) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let mut names = Vec::new();
    let mut proportions = Vec::new();
    let mut omitted = Vec::new();
    let mut intervals_everywhere = true;
    for (name, analysis) in models {
        let combinations = read_combinations(&analysis.join(COMBINATIONS))?;
        let additions = read_pitch_errors(&analysis.join(ADDITIONS))?;
        let rows = ModelRows::select(&combinations, &additions, name, split);
        let group = if rows.intervals.is_empty() {
            intervals_everywhere = false;
            &rows.all
        } else {
            &rows.intervals
        };
        let total = group.len().max(1) as f64;
        omitted.push(
            OMISSION_THRESHOLDS
                .iter()
                .map(|&t| group.iter().filter(|c| c.omitted_ratio >= t).count() as f64 / total)
                .collect(),
        );
        proportions.push(error_proportions(&rows.all).to_vec());
        names.push(format!("{name} ({} comb.)", rows.all.len()));
    }
    let labels: Vec<String> = OMISSION_THRESHOLDS
        .iter()
        .map(|t| format!(">= {} %", percentages(&[*t])))
        .collect();
    let threshold_series: Vec<(&str, RGBColor)> = labels
        .iter()
        .map(String::as_str)
        .zip(THRESHOLD_COLORS)
        .collect();
    let group = if intervals_everywhere {
        "intervals"
    } else {
        "combinations"
    };
    let panels = [
        Panel {
            title: "exact / added / omitted, frame-weighted".into(),
            categories: names.clone(),
            series: &[("exact", EXACT), ("added", ADDED), ("omitted", OMITTED)],
            rows: proportions,
            y_desc: "proportion of the combinations' frames",
        },
        Panel {
            title: format!("{group} with a note omitted in ... of their frames"),
            categories: names,
            series: &threshold_series,
            rows: omitted,
            y_desc: "share of the split's intervals",
        },
    ];
    let panels = if intervals_everywhere {
        panels
    } else {
        let [first, mut second] = panels;
        second.y_desc = "share of the split's combinations";
        [first, second]
    };
    let width = (2 * (160 + 70 * models.len() as u32)).max(1200);
    let mut files = Vec::new();
    save!(stem, formats, (width, 680), files, |area| draw_panels(
        &area,
        &format!("{title} ({split})"),
        &panels,
        panels.len()
    ));
    Ok(files)
}

/// Panels per row of the positions figure.
const POSITION_COLUMNS: usize = 4;

/// The figure of `positions` tables: one panel per (model, its table), the share of the
/// model's exact, added and omitted pitch-frames of `split` at each position in a note's life.
/// Returns the files drawn (none when no model has rows).
pub fn draw_positions(
    sources: &[ModelSource],
    split: &str,
    stem: &Path,
    formats: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let mut panels = Vec::new();
    for (model, dir) in sources {
        let rows: Vec<PositionRow> = read_rows(&dir.join(POSITIONS))?;
        let of: Vec<&PositionRow> = rows
            .iter()
            .filter(|r| &r.model == model && r.split == split)
            .collect();
        if !of.is_empty() {
            panels.push(positions_panel(model, &of));
        }
    }
    if panels.is_empty() {
        return Ok(Vec::new());
    }
    let columns = panels.len().min(POSITION_COLUMNS);
    let rows = panels.len().div_ceil(columns) as u32;
    let size = ((620 * columns as u32).max(700), 44 + 516 * rows);
    let mut files = Vec::new();
    save!(stem, formats, size, files, |area| draw_panels(
        &area,
        "where in a note's life the pitch-frames fall",
        &panels,
        columns
    ));
    Ok(files)
}

/// One model's panel of the positions figure: each class's share by position.
fn positions_panel(model: &str, rows: &[&PositionRow]) -> Panel<'static> {
    let total = |f: fn(&PositionRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    let (exact, added, omitted) = (total(|r| r.exact), total(|r| r.added), total(|r| r.omitted));
    let share = |n: u64, of: u64| n as f64 / of.max(1) as f64;
    Panel {
        title: format!("{model}: {exact} exact, {added} added, {omitted} omitted"),
        categories: Position::ALL
            .iter()
            .map(|p| p.name().replace('_', " "))
            .collect(),
        series: &[("exact", EXACT), ("added", ADDED), ("omitted", OMITTED)],
        rows: Position::ALL
            .iter()
            .map(|p| {
                rows.iter()
                    .find(|r| r.position == p.name())
                    .map_or(vec![0.0; 3], |r| {
                        vec![
                            share(r.exact, exact),
                            share(r.added, added),
                            share(r.omitted, omitted),
                        ]
                    })
            })
            .collect(),
        y_desc: "share of the model's pitch-frames",
    }
}

/// The systems' figures of a pipeline run: each system's own figures (as `entangle report`
/// draws them, into `figures/NAME/`), its positions figure, and the side-by-side figure of
/// every network and system; recorded in `findings` for the report.
pub fn draw_run(
    spec: &super::spec::PipelineSpec,
    layout: &super::layout::Layout,
    findings: &mut Findings,
) -> anyhow::Result<()> {
    use super::figures::{FigureInputs, ModelInputs, draw_figures};
    use super::systems_stage::analysis_dir;
    if spec.systems.is_empty() {
        return Ok(());
    }
    let systems = super::systems_stage::load(spec).map_err(anyhow::Error::msg)?;
    let formats = &spec.figures.formats;
    let mut models: Vec<ModelSource> = spec
        .networks
        .iter()
        .map(|n| (n.name.clone(), layout.analysis()))
        .collect();
    for system in &systems {
        let name = &system.spec.name;
        let analysis = analysis_dir(layout, name);
        let own = draw_figures(&FigureInputs {
            analysis: analysis.clone(),
            figures: layout.figures().join(name),
            formats: formats.clone(),
            top: spec.figures.top,
            split: "test".into(),
            models: vec![ModelInputs {
                name: name.clone(),
                training: None,
                validation: None,
                select_by: Default::default(),
            }],
        })?;
        findings.figures.extend(own.figures);
        findings.not_drawn.extend(own.not_drawn);
        findings.per_network.extend(own.per_network);
        findings.figures.extend(draw_positions(
            &[(name.clone(), analysis.clone())],
            "test",
            &layout.figures().join(format!("positions-{name}")),
            formats,
        )?);
        models.push((name.clone(), analysis));
    }
    findings.figures.extend(draw_positions(
        &models,
        "test",
        &layout.figures().join("positions-side-by-side"),
        formats,
    )?);
    findings.figures.extend(draw_side_by_side(
        &layout.figures().join("side-by-side"),
        formats,
        &format!("{}: networks and systems side by side", spec.name),
        "test",
        &models,
    )?);
    Ok(())
}
