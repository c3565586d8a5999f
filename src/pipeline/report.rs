//! `report.md` of a run: the framewise P/R/F table per split and network, the key findings
//! on entanglement, and links to the figures.

use std::fmt::Write as _;

use super::figures::Findings;
use super::run::Layout;
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
    writeln!(md, "## Framewise metrics\n")?;
    writeln!(
        md,
        "Mean over shards of the per-shard micro P/R/F (Kelz et al. 2016), and the micro F over \
         all frames.\n"
    )?;
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
    writeln!(md, "\n## Findings\n")?;
    for (name, f) in &findings.per_network {
        writeln!(md, "**{name}**\n")?;
        if f.notes > 0 {
            writeln!(
                md,
                "- Isolated notes: {} of {} transcribed exactly in at least half of their frames; \
                 {} get companion notes added in at least 10 % of their frames.",
                f.notes_mostly_exact, f.notes, f.notes_with_companions
            )?;
        }
        if f.intervals > 0 {
            writeln!(
                md,
                "- Intervals: {} / {} / {} of {} have a note omitted in at least 50 / 90 / 99 % \
                 of their frames; {} are transcribed exactly in at least half of their frames.",
                f.intervals_omitted_at[0],
                f.intervals_omitted_at[1],
                f.intervals_omitted_at[2],
                f.intervals,
                f.intervals_mostly_exact
            )?;
        }
        writeln!(
            md,
            "- Exact proportion, frame-weighted: shared combinations {:.3} ({} frames), unshared {:.3} ({} frames).",
            f.shared.0, f.shared.1, f.unshared.0, f.unshared.1
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
        let curve =
            validation_curve(&layout.validation(name).join(SPLIT_METRICS)).unwrap_or_default();
        let criterion = spec
            .networks
            .iter()
            .find(|n| &n.name == name)
            .map(|n| n.select_by)
            .unwrap_or_default();
        let history = layout.training(name).join("history.json");
        if let Ok(selected) = best_epoch(
            &layout.validation(name).join(SPLIT_METRICS),
            &history,
            criterion,
        ) {
            writeln!(
                md,
                "- Selected {} of {} evaluated epochs ({selected}).",
                selected.model,
                curve.len()
            )?;
        }
        writeln!(md)?;
    }
    writeln!(md, "## Figures\n")?;
    for path in findings
        .figures
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
    {
        let rel = path.strip_prefix(&layout.out).unwrap_or(path);
        writeln!(md, "![{}]({})\n", rel.display(), rel.display())?;
    }
    write_atomically(&layout.out.join("report.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    Ok(())
}

/// For every network trained with several seeds: the spread of its test F and findings.
fn write_seed_spread(
    md: &mut String,
    spec: &PipelineSpec,
    layout: &Layout,
    findings: &Findings,
) -> anyhow::Result<()> {
    let test = read_split_metrics(&layout.analysis().join(SPLIT_METRICS))?;
    let mut families: Vec<&str> = Vec::new();
    for n in &spec.networks {
        if !families.contains(&n.family.as_str()) {
            families.push(&n.family);
        }
    }
    let mut rows = Vec::new();
    for family in families {
        let members: Vec<&str> = spec
            .networks
            .iter()
            .filter(|n| n.family == family)
            .map(|n| n.name.as_str())
            .collect();
        if members.len() < 2 {
            continue;
        }
        let f1: Vec<f64> = test
            .iter()
            .filter(|m| members.contains(&m.model.as_str()))
            .map(|m| m.f1)
            .collect();
        let of = |pick: fn(&super::figures::NetworkFindings) -> String| {
            members
                .iter()
                .filter_map(|m| findings.per_network.get(*m).map(pick))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push(format!(
            "| {family} | {} | {} | {} | {} | {} |",
            members.len(),
            spread(&f1),
            of(|f| format!("{}/{}", f.notes_mostly_exact, f.notes)),
            of(|f| format!(
                "{}/{}/{}",
                f.intervals_omitted_at[0], f.intervals_omitted_at[1], f.intervals_omitted_at[2]
            )),
            of(|f| format!("{:.3}/{:.3}", f.shared.0, f.unshared.0)),
        ));
    }
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(md, "\n## Seeds\n")?;
    writeln!(
        md,
        "Test F (mean over shards) over the instances of each network, and per instance: \
         isolated notes exact in >= 50 % of frames; intervals with a note omitted in >= \
         {:?} of frames; exact proportion shared / unshared.\n",
        super::figures::OMISSION_THRESHOLDS
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
        "| {network} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
        m.split,
        m.model,
        m.shards,
        m.frames,
        m.precision,
        m.recall,
        m.f1,
        m.micro_f1,
        m.accuracy,
        m.e_tot
    )
}
