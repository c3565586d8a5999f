//! Runnable pipelines (`entangle run SPEC`): a TOML spec names a corpus, the networks to
//! train and how to analyse them; the runner builds, trains, evaluates every epoch through the
//! analysis dataflow, selects, analyses the test split, and draws figures and a report,
//! skipping stages whose inputs and parameters are unchanged.

pub mod figures;
pub mod findings;
pub mod layout;
pub mod report;
pub mod run;
pub mod selection;
pub mod spec;
pub mod stages;
pub mod suite;
pub mod sweep;
pub mod systems_figures;
pub mod systems_stage;
pub mod tables_read;

pub use run::{RunOptions, run_pipeline};
pub use spec::PipelineSpec;
