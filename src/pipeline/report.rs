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
        if let Ok((epoch, _)) = best_epoch(&validation) {
            for m in read_split_metrics(&validation)?
                .into_iter()
                .filter(|m| m.model == epoch)
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
                "- Intervals: {} of {} have a note omitted in at least 90 % of their frames; {} \
                 are transcribed exactly in at least half of their frames.",
                f.intervals_mostly_omitted, f.intervals, f.intervals_mostly_exact
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
        if let Ok((epoch, f1)) = best_epoch(&layout.validation(name).join(SPLIT_METRICS)) {
            writeln!(
                md,
                "- Selected {epoch} of {} evaluated epochs (validation F {f1:.4}).",
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
