//! Runnable pipelines (`entangle run SPEC`): a TOML spec names a corpus, the networks to
//! train and how to analyse them; the runner builds, trains, evaluates every epoch through the
//! analysis dataflow, selects, analyses the test split, and draws figures and a report,
//! skipping stages whose inputs and parameters are unchanged.
//!
//! [`run`] orders the stages; [`spec`] parses and checks the TOML; [`stages`] keys them;
//! [`layout`] says where each writes; [`selection`] picks the epoch; [`findings`] reads the
//! tables once for [`figures`] (drawing) and [`report`] (prose). Around that: [`sweep`] runs a
//! spec at several coverages, [`suite`] runs several specs and gathers them, and
//! [`systems_stage`] / [`systems_figures`] put third-party systems next to the networks.

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
