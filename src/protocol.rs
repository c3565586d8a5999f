//! Training-protocol choices that a pipeline spec names and the trainer (feature `train`)
//! carries out; here, outside the feature, so that specs parse and validate without libtorch.

use serde::{Deserialize, Serialize};

/// Which update rule a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// torch.optim.SGD with Nesterov momentum: the Kelz et al. (2016) protocol.
    #[default]
    Sgd,
    /// torch.optim.Adam with its default betas (0.9, 0.999) and epsilon (1e-8).
    Adam,
}

/// The start value of the output layer's bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputBias {
    /// Like every other parameter (small random values).
    #[default]
    Random,
    /// The logit of each output's frequency in the training labels, so the untrained network
    /// already predicts the label prior instead of 0.5 everywhere (shortens the phase in which
    /// a sparse-output network learns to predict nothing).
    Prior,
}

/// What "the best epoch" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The highest validation F (the 2016 protocol).
    #[default]
    ValidationF1,
    /// The lowest validation loss.
    ValidationLoss,
}
