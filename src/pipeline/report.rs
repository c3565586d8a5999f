//! `report.md` of a run, or of any analysis directory (`entangle report DIR`): the framewise
//! P/R/F table per split and model, the key findings on entanglement, and the figures (and
//! why any figure is missing).

use std::fmt::Write as _;

use super::findings::{COMPANIONS_ADDED, Findings, MOSTLY_EXACT, OMISSION_THRESHOLDS, percentages};
use super::layout::Layout;
use super::selection::{best_epoch, validation_curve};
use super::spec::PipelineSpec;
use super::tables_read::read_split_metrics;
use crate::dataflow::tables::SPLIT_METRICS;
use crate::sink::write_atomically;

pub fn write_report(
    spec: &PipelineSpec,
    layout: &Layout,
    findings: &Findings,
) -> anyhow::Result<()> {
    let mut md = String::new();
    writeln!(md, "# {}: report\n", spec.name)?;
    writeln!(
        md,
        "Tables: `analysis/` (test split), `validation/NETWORK/` (every epoch on the validation \
         split). Query them with DuckDB (see `schemas/`).\n"
    )?;
    framewise_heading(&mut md)?;
    writeln!(
        md,
        "| network | split | model | shards | frames | P | R | F | micro F | accuracy | E_tot |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for network in &spec.networks {
        let validation = layout.validation(&network.name).join(SPLIT_METRICS);
        let history = layout.training(&network.name).join("history.json");
        if let Ok(selected) = best_epoch(&validation, &history, network.select_by) {
            for m in read_split_metrics(&validation)?
                .into_iter()
                .filter(|m| m.model == selected.model)
            {
                row(&mut md, &network.name, &m)?;
            }
        }
        for m in read_split_metrics(&layout.analysis().join(SPLIT_METRICS))?
            .into_iter()
            .filter(|m| m.model == network.name)
        {
            row(&mut md, &network.name, &m)?;
        }
    }
    write_seed_spread(&mut md, spec, layout, findings)?;
    super::systems_stage::report_section(&mut md, spec, layout)?;
    writeln!(md)?;
    findings_section(&mut md, findings, |name| {
        let criterion = spec
            .networks
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.select_by)
            .unwrap_or_default();
        Some(ValidationSources {
            split_metrics: layout.validation(name).join(SPLIT_METRICS),
            history: layout.training(name).join("history.json"),
            criterion,
        })
    })?;
    figures_section(&mut md, findings, &layout.out)?;
    write_atomically(&layout.out.join("report.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    Ok(())
}

/// The most models `entangle report` draws a positions figure for (one panel each).
const MAX_POSITION_PANELS: usize = 8;

/// `## Framewise metrics` and what its numbers are.
fn framewise_heading(md: &mut String) -> std::fmt::Result {
    writeln!(md, "## Framewise metrics\n")?;
    writeln!(
        md,
        "Mean over shards of the per-shard micro P/R/F (Kelz et al. 2016), and the micro F over \
         all frames.\n"
    )
}

/// For every network trained with several seeds: the spread of its test F and findings.
fn write_seed_spread(
    md: &mut String,
    spec: &PipelineSpec,
    layout: &Layout,
    findings: &Findings,
) -> anyhow::Result<()> {
    let test = read_split_metrics(&layout.analysis().join(SPLIT_METRICS))?;
    let rows: Vec<String> = seed_families(spec)
        .into_iter()
        .map(|(family, members)| {
            let f1: Vec<f64> = test
                .iter()
                .filter(|m| members.contains(&m.model.as_str()))
                .map(|m| m.f1)
                .collect();
            seed_row(family, &members, &f1, findings)
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(md, "\n## Seeds\n")?;
    writeln!(
        md,
        "Test F (mean over shards) over the instances of each network, and per instance: \
         isolated notes exact in >= {} % of frames; intervals with a note omitted in >= \
         {} % of frames; exact proportion shared / unshared.\n",
        percentages(&[MOSTLY_EXACT]),
        percentages(&OMISSION_THRESHOLDS)
    )?;
    writeln!(
        md,
        "| network | seeds | test F mean ± sd [min, max] | notes exact | intervals omitted | exact shared/unshared |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|")?;
    for r in rows {
        writeln!(md, "{r}")?;
    }
    Ok(())
}

/// The networks trained with several seeds: each family (its name in the spec) with the
/// names of its instances, in spec order.
fn seed_families(spec: &PipelineSpec) -> Vec<(&str, Vec<&str>)> {
    let mut families: Vec<(&str, Vec<&str>)> = Vec::new();
    for n in &spec.networks {
        match families.iter_mut().find(|(f, _)| *f == n.family) {
            Some((_, members)) => members.push(&n.name),
            None => families.push((&n.family, vec![&n.name])),
        }
    }
    families.retain(|(_, members)| members.len() >= 2);
    families
}

/// One family's row of the Seeds table: its test F spread and each instance's findings.
fn seed_row(family: &str, members: &[&str], f1: &[f64], findings: &Findings) -> String {
    let of = |pick: fn(&super::findings::NetworkFindings) -> String| {
        members
            .iter()
            .filter_map(|m| findings.per_network.get(*m).map(pick))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "| {family} | {} | {} | {} | {} | {} |",
        members.len(),
        spread(f1),
        of(|f| match f.notes {
            0 => "n/a".into(),
            n => format!("{}/{n}", f.notes_mostly_exact),
        }),
        of(|f| match f.intervals {
            0 => "n/a".into(),
            _ => format!(
                "{}/{}/{}",
                f.intervals_omitted_at[0], f.intervals_omitted_at[1], f.intervals_omitted_at[2]
            ),
        }),
        of(|f| {
            let short = |(value, frames): (f64, u64)| match frames {
                0 => "n/a".to_string(),
                _ => format!("{value:.3}"),
            };
            format!("{}/{}", short(f.shared), short(f.unshared))
        }),
    )
}

/// `mean ± sd [min, max]` (sample standard deviation), or "n/a" when empty.
fn spread(values: &[f64]) -> String {
    if values.is_empty() {
        return "n/a".into();
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{mean:.3} ± {sd:.3} [{min:.3}, {max:.3}]")
}

fn row(md: &mut String, network: &str, m: &super::tables_read::SplitMetrics) -> std::fmt::Result {
    writeln!(
        md,
        "| {network} | {} | {} | {} |",
        m.split,
        m.model,
        metric_cells(m)
    )
}

/// `shards | frames | P | R | F | micro F | accuracy | E_tot` of a split_metrics row.
fn metric_cells(m: &super::tables_read::SplitMetrics) -> String {
    format!(
        "{} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4}",
        m.shards, m.frames, m.precision, m.recall, m.f1, m.micro_f1, m.accuracy, m.e_tot
    )
}

/// "0.638 (13,404 frames)", or "n/a (no frames)" for an empty group.
fn proportion(value: f64, frames: u64) -> String {
    if frames == 0 {
        "n/a (no frames)".to_string()
    } else {
        format!("{value:.3} ({frames} frames)")
    }
}

/// Where a network's per-epoch validation lives, and how its epoch was selected.
struct ValidationSources {
    split_metrics: std::path::PathBuf,
    history: std::path::PathBuf,
    criterion: crate::protocol::Selection,
}

/// `## Findings`: per model, what its figures show; `validation` gives where a model's
/// per-epoch validation lives, when it was trained by a pipeline.
fn findings_section(
    md: &mut String,
    findings: &Findings,
    validation: impl Fn(&str) -> Option<ValidationSources>,
) -> anyhow::Result<()> {
    writeln!(md, "## Findings\n")?;
    for (name, f) in &findings.per_network {
        writeln!(md, "**{name}**\n")?;
        if f.notes > 0 {
            writeln!(
                md,
                "- Isolated notes: {} of {} transcribed exactly in at least {} % of their \
                 frames; {} get companion notes added in at least {} % of their frames.",
                f.notes_mostly_exact,
                f.notes,
                percentages(&[MOSTLY_EXACT]),
                f.notes_with_companions,
                percentages(&[COMPANIONS_ADDED])
            )?;
        }
        if f.intervals > 0 {
            writeln!(
                md,
                "- Intervals: {} / {} / {} of {} have a note omitted in at least {} % of their \
                 frames; {} are transcribed exactly in at least {} % of their frames.",
                f.intervals_omitted_at[0],
                f.intervals_omitted_at[1],
                f.intervals_omitted_at[2],
                f.intervals,
                percentages(&OMISSION_THRESHOLDS),
                f.intervals_mostly_exact,
                percentages(&[MOSTLY_EXACT])
            )?;
        }
        writeln!(
            md,
            "- Exact proportion, frame-weighted: shared combinations {}, unshared {}.",
            proportion(f.shared.0, f.shared.1),
            proportion(f.unshared.0, f.unshared.1)
        )?;
        if !f.top_additions.is_empty() {
            let list: Vec<String> = f
                .top_additions
                .iter()
                .map(|(c, n, r)| format!("{n} added to {c} (in {:.0} % of its frames)", r * 100.0))
                .collect();
            writeln!(
                md,
                "- Most frequent additions (by frames): {}.",
                list.join("; ")
            )?;
        }
        if let Some(v) = validation(name) {
            let curve = validation_curve(&v.split_metrics).unwrap_or_default();
            if let Ok(selected) = best_epoch(&v.split_metrics, &v.history, v.criterion) {
                writeln!(
                    md,
                    "- Selected {} of {} evaluated epochs ({selected}).",
                    selected.model,
                    curve.len()
                )?;
            }
        }
        writeln!(md)?;
    }
    Ok(())
}

/// `## Figures`: each figure once (SVG when drawn, else PNG), paths relative to `base`, and
/// the figures the tables had nothing for, with the reason.
fn figures_section(
    md: &mut String,
    findings: &Findings,
    base: &std::path::Path,
) -> anyhow::Result<()> {
    writeln!(md, "## Figures\n")?;
    let svg: std::collections::BTreeSet<_> = findings
        .figures
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| p.with_extension(""))
        .collect();
    for path in &findings.figures {
        let is_svg = path.extension().is_some_and(|e| e == "svg");
        if !is_svg && svg.contains(&path.with_extension("")) {
            continue;
        }
        let rel = path.strip_prefix(base).unwrap_or(path);
        writeln!(md, "![{}]({})\n", rel.display(), rel.display())?;
    }
    if !findings.not_drawn.is_empty() {
        writeln!(md, "Not drawn, for lack of data:\n")?;
        for (stem, why) in &findings.not_drawn {
            writeln!(md, "- `{stem}`: {why}.")?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// An analysis directory holds the tables; a pipeline's run directory is told apart.
fn check_analysis_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use crate::dataflow::tables::COMBINATIONS;
    if dir.join(COMBINATIONS).is_file() {
        return Ok(());
    }
    let hint = if dir.join("analysis").join(COMBINATIONS).is_file() {
        " (a pipeline's run directory: `entangle run` wrote its report.md; its test tables are \
         in analysis/)"
    } else {
        ""
    };
    anyhow::bail!(
        "{}: no {COMBINATIONS} here; give the --out directory of `entangle analyze` or \
         `watch`{hint}",
        dir.display()
    )
}

/// The split the figures show: the one asked for (which the tables must have), else `test`
/// when they have it, else their only one.
fn pick_split(
    dir: &std::path::Path,
    splits: &std::collections::BTreeSet<&str>,
    asked: Option<&str>,
) -> anyhow::Result<String> {
    let listed = || splits.iter().copied().collect::<Vec<_>>().join(", ");
    Ok(match asked {
        Some(s) if splits.contains(s) => s.to_string(),
        Some(s) => anyhow::bail!(
            "{}: no split {s:?} in the tables; they have {}",
            dir.display(),
            listed()
        ),
        None if splits.contains("test") => "test".to_string(),
        None if splits.len() == 1 => splits.iter().next().expect("one").to_string(),
        None if splits.is_empty() => anyhow::bail!("{}: the tables are empty", dir.display()),
        None => anyhow::bail!(
            "{}: the tables have the splits {}; pick one with --split",
            dir.display(),
            listed()
        ),
    })
}

/// The positions figure of an analysis directory's `models` (`figures/positions`), when it
/// has a positions table and at most [`MAX_POSITION_PANELS`] models: one panel per model, so
/// a watched training run's dozens of epochs would not fit (the table has them all).
fn draw_positions_of_dir(
    dir: &std::path::Path,
    models: &std::collections::BTreeSet<&str>,
    split: &str,
    formats: &[String],
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let positions = dir.join(crate::dataflow::tables::POSITIONS);
    if !positions.is_file() || models.len() > MAX_POSITION_PANELS {
        return Ok(Vec::new());
    }
    let sources: Vec<_> = models
        .iter()
        .map(|m| (m.to_string(), dir.to_path_buf()))
        .collect();
    let stem = dir.join("figures").join("positions");
    super::systems_figures::draw_positions(&sources, split, &stem, formats)
}

/// Draws the figures of the analysis tables in `dir` (any `entangle analyze` / `watch`
/// output) into `dir/figures/` and writes `dir/report.md`; `split` picks the split the
/// figures show (default: `test` when the tables have it, else their only split). Returns
/// the report's path.
pub fn report_analysis_dir(
    dir: &std::path::Path,
    split: Option<&str>,
    formats: &[String],
    top: usize,
) -> anyhow::Result<std::path::PathBuf> {
    use super::figures::{FigureInputs, ModelInputs, draw_figures};
    use super::tables_read::read_combinations;
    use crate::dataflow::tables::COMBINATIONS;

    let combinations_path = dir.join(COMBINATIONS);
    check_analysis_dir(dir)?;
    let metrics = read_split_metrics(&dir.join(SPLIT_METRICS))?;
    let combinations = read_combinations(&combinations_path)?;
    let splits: std::collections::BTreeSet<&str> = metrics
        .iter()
        .map(|m| m.split.as_str())
        .chain(combinations.iter().map(|c| c.split.as_str()))
        .collect();
    let split = pick_split(dir, &splits, split)?;
    let models: std::collections::BTreeSet<&str> = metrics
        .iter()
        .filter(|m| m.split == split)
        .map(|m| m.model.as_str())
        .collect();
    let inputs = FigureInputs {
        analysis: dir.to_path_buf(),
        figures: dir.join("figures"),
        formats: formats.to_vec(),
        top,
        split: split.clone(),
        models: models
            .iter()
            .map(|m| ModelInputs {
                name: m.to_string(),
                training: None,
                validation: None,
                select_by: Default::default(),
            })
            .collect(),
    };
    let mut findings = draw_figures(&inputs)?;
    findings
        .figures
        .extend(draw_positions_of_dir(dir, &models, &split, formats)?);
    let mut md = String::new();
    writeln!(md, "# Analysis report: {}\n", dir.display())?;
    writeln!(
        md,
        "Tables: this directory (`schemas/` has their columns and DuckDB queries). Figures: \
         the {split} split.\n"
    )?;
    framewise_heading(&mut md)?;
    writeln!(
        md,
        "| model | split | shards | frames | P | R | F | micro F | accuracy | E_tot |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
    for m in &metrics {
        writeln!(md, "| {} | {} | {} |", m.model, m.split, metric_cells(m))?;
    }
    writeln!(md)?;
    findings_section(&mut md, &findings, |_| None)?;
    figures_section(&mut md, &findings, dir)?;
    let path = dir.join("report.md");
    write_atomically(&path, |w| std::io::Write::write_all(w, md.as_bytes()))?;
    Ok(path)
}
