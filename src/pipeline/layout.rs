//! Where a pipeline run keeps each stage's output under the spec's `out` directory.

use std::path::PathBuf;

use super::spec::{CorpusSpec, FluidSet, PipelineSpec};

/// The directories of a run.
pub struct Layout {
    pub out: PathBuf,
}

impl Layout {
    pub fn corpus(&self) -> PathBuf {
        self.out.join("corpus")
    }
    pub fn training(&self, network: &str) -> PathBuf {
        self.out.join("train").join(network)
    }
    pub fn validation(&self, network: &str) -> PathBuf {
        self.out.join("validation").join(network)
    }
    pub fn models(&self) -> PathBuf {
        self.out.join("models")
    }
    pub fn analysis(&self) -> PathBuf {
        self.out.join("analysis")
    }
    pub fn figures(&self) -> PathBuf {
        self.out.join("figures")
    }
}

/// The corpus manifest a spec's stages read.
pub fn manifest_path(spec: &PipelineSpec, layout: &Layout) -> PathBuf {
    let name = match &spec.corpus {
        CorpusSpec::Fluid { dataset, .. } => crate::corpus::fluid::manifest_name(match dataset {
            FluidSet::Combi => crate::corpus::fluid::FluidDataset::Combi,
            FluidSet::Isol => crate::corpus::fluid::FluidDataset::Isol,
        }),
        CorpusSpec::MapsLike { .. } => crate::corpus::maps_like::MANIFEST.to_string(),
        CorpusSpec::Maps { .. } => "maps.manifest.parquet".to_string(),
        CorpusSpec::Manifest { path } => return path.clone(),
    };
    layout.corpus().join(name)
}
