//! `entangle run` (a pipeline spec end to end) and `entangle report` (figures and report of
//! any analysis directory).

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The spec (TOML).
    spec: PathBuf,
    /// Print which stages would run, and stop.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The analysis directory (holds combinations.parquet, split_metrics.parquet, ...).
    dir: PathBuf,
    /// The split the figures show (default: test when the tables have it, else their
    /// only split).
    #[arg(long)]
    split: Option<String>,
    /// Figure formats.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    formats: Vec<FigureFormat>,
    /// Bars per ranked figure (best intervals, most common combinations).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

/// A figure file format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FigureFormat {
    Svg,
    Png,
}

impl FigureFormat {
    fn extension(self) -> &'static str {
        match self {
            FigureFormat::Svg => "svg",
            FigureFormat::Png => "png",
        }
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let options = entangle::pipeline::RunOptions {
        dry_run: args.dry_run,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    if let Some(record) = entangle::pipeline::run_pipeline(&args.spec, options)? {
        for stage in &record.stages {
            eprintln!(
                "{:>9} {:>8.1} s  {}",
                stage.status, stage.seconds, stage.stage
            );
        }
        eprintln!(
            "done in {:.1} s: {}",
            record.seconds,
            record.spec.out.join("report.md").display()
        );
    }
    Ok(())
}

pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let formats: Vec<String> = args
        .formats
        .iter()
        .map(|f| f.extension().to_string())
        .collect();
    let report = entangle::pipeline::report::report_analysis_dir(
        &args.dir,
        args.split.as_deref(),
        &formats,
        args.top,
    )?;
    tracing::info!(
        "wrote {} and {}",
        report.display(),
        args.dir.join("figures").display()
    );
    Ok(())
}
