//! A suite of pipelines (`pipelines/systems.toml`): a spec whose `runs` lists other pipeline
//! specs. `entangle run SUITE` runs each of them in turn (their stages are skipped where up
//! to date, so a suite over runs that already ran costs only what changed), then gathers
//! their side-by-side figures and their test-split numbers (networks and systems) into the
//! suite's own `report.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layout::Layout;
use super::run::RunOptions;
use super::spec::PipelineSpec;
use super::stages::RunRecord;
use crate::dataflow::tables::SPLIT_METRICS;
use crate::sink::write_atomically;

/// The suite's spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    /// Where the suite's report and figures go, relative to where `entangle run` starts.
    pub out: PathBuf,
    /// The pipeline specs, run in this order, relative to where `entangle run` starts.
    pub runs: Vec<PathBuf>,
}

impl Suite {
    /// The suite at `path`, or `None` when the file is an ordinary pipeline spec (it has no
    /// `runs` key).
    pub fn load_if_suite(path: &Path) -> anyhow::Result<Option<Self>> {
        let fail = |message: String| anyhow::anyhow!("{}: {message}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if !table.contains_key("runs") {
            return Ok(None);
        }
        let suite: Self = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if suite.runs.is_empty() {
            return Err(fail("runs: list at least one pipeline spec".into()));
        }
        for run in &suite.runs {
            if !run.is_file() {
                return Err(fail(format!("runs: {}: no such file", run.display())));
            }
            // Every spec is checked before the first one starts working.
            PipelineSpec::load(run)?;
        }
        Ok(Some(suite))
    }
}

/// Runs every pipeline of the suite, then writes its report (nothing with `dry_run`, which
/// prints each pipeline's plan).
pub fn run_suite(
    suite_path: &Path,
    suite: &Suite,
    options: RunOptions,
) -> anyhow::Result<Option<RunRecord>> {
    let mut records = Vec::new();
    for run in &suite.runs {
        if let Some(record) = super::run::run_pipeline(run, options)? {
            for stage in &record.stages {
                tracing::info!(
                    status = %stage.status,
                    seconds = stage.seconds,
                    "{}: {}",
                    run.display(),
                    stage.stage
                );
            }
            records.push(record);
        }
    }
    if options.dry_run {
        return Ok(None);
    }
    write_suite_report(suite_path, suite, &records)?;
    tracing::info!("suite report: {}", suite.out.join("report.md").display());
    Ok(None)
}

/// The suite's `report.md`: per pipeline, its networks' and systems' test P/R/F and its
/// side-by-side figure (copied into the suite's `figures/`).
fn write_suite_report(
    suite_path: &Path,
    suite: &Suite,
    records: &[RunRecord],
) -> anyhow::Result<()> {
    let figures = suite.out.join("figures");
    std::fs::create_dir_all(&figures)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", figures.display()))?;
    let mut md = String::new();
    writeln!(md, "# {}: report\n", suite.name)?;
    writeln!(
        md,
        "The test split of each pipeline of `{}`, its networks next to the third-party \
         systems it names. Each pipeline's own report has the details.\n",
        suite_path.display()
    )?;
    for record in records {
        let spec = &record.spec;
        let layout = Layout {
            out: spec.out.clone(),
        };
        writeln!(md, "## {}\n", spec.name)?;
        writeln!(md, "Report: `{}`.\n", spec.out.join("report.md").display())?;
        writeln!(md, "| model | kind | frames | P | R | F |")?;
        writeln!(md, "|---|---|---|---|---|---|")?;
        let mut rows = Vec::new();
        let test = |path: PathBuf| -> anyhow::Result<Vec<super::tables_read::SplitMetrics>> {
            Ok(super::tables_read::read_split_metrics(&path)?
                .into_iter()
                .filter(|m| m.split == "test")
                .collect())
        };
        for m in test(layout.analysis().join(SPLIT_METRICS))? {
            rows.push((m, "network"));
        }
        for system in super::systems_stage::load(spec).map_err(anyhow::Error::msg)? {
            let dir = super::systems_stage::analysis_dir(&layout, &system.spec.name);
            for m in test(dir.join(SPLIT_METRICS))? {
                rows.push((m, "system"));
            }
        }
        for (m, kind) in rows {
            writeln!(
                md,
                "| {} | {kind} | {} | {:.4} | {:.4} | {:.4} |",
                m.model, m.frames, m.precision, m.recall, m.f1
            )?;
        }
        writeln!(md)?;
        for format in ["svg", "png"] {
            let from = layout.figures().join("side-by-side").with_extension(format);
            if from.is_file() {
                let to = figures.join(format!("{}-side-by-side.{format}", spec.name));
                let bytes = std::fs::read(&from)?;
                write_atomically(&to, |w| std::io::Write::write_all(w, &bytes))?;
                if format == "svg"
                    || !figures
                        .join(format!("{}-side-by-side.svg", spec.name))
                        .is_file()
                {
                    writeln!(
                        md,
                        "![{0} side by side](figures/{0}-side-by-side.{format})\n",
                        spec.name
                    )?;
                }
            }
        }
    }
    write_atomically(&suite.out.join("report.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    Ok(())
}
