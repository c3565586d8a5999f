//! Model selection: the epoch whose network has the best validation F (the mean over shards
//! of the framewise micro F, as the 2016 protocol, read from the training-time evaluation by
//! the dataflow) or the lowest validation loss (read from the trainer's `history.json`), as
//! the spec's `select_by` says.

use std::path::Path;

use super::tables_read::{SplitMetrics, read_split_metrics};
use crate::protocol::Selection;

/// Per epoch (`epoch-NNNN` models): (epoch number, metrics row), ascending.
pub fn validation_curve(split_metrics: &Path) -> anyhow::Result<Vec<(usize, SplitMetrics)>> {
    let mut curve: Vec<_> = read_split_metrics(split_metrics)?
        .into_iter()
        .filter_map(|m| {
            let epoch = m.model.strip_prefix("epoch-")?.parse().ok()?;
            Some((epoch, m))
        })
        .collect();
    curve.sort_by_key(|(e, _)| *e);
    Ok(curve)
}

/// One epoch of the trainer's `history.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct EpochLosses {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
}

/// The trainer's per-epoch losses (empty when the file is missing or unreadable).
pub fn read_history(path: &Path) -> Vec<EpochLosses> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The selected epoch of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The model name of the epoch's export, `epoch-NNNN`.
    pub model: String,
    pub epoch: usize,
    pub criterion: Selection,
    /// The validation F (mean over shards) or the validation loss.
    pub value: f64,
}

impl std::fmt::Display for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.criterion {
            Selection::ValidationF1 => {
                write!(f, "validation F {:.4} (mean over shards)", self.value)
            }
            Selection::ValidationLoss => write!(f, "validation loss {:.4}", self.value),
        }
    }
}

/// The best epoch by `criterion`; the earliest on a tie.
pub fn best_epoch(
    split_metrics: &Path,
    history: &Path,
    criterion: Selection,
) -> anyhow::Result<Selected> {
    let scored: Vec<(usize, f64)> = match criterion {
        Selection::ValidationF1 => validation_curve(split_metrics)?
            .into_iter()
            .map(|(e, m)| (e, m.f1))
            .collect(),
        // Lower is better: negate so that both criteria maximise.
        Selection::ValidationLoss => read_history(history)
            .into_iter()
            .map(|e| (e.epoch, -e.validation_loss))
            .collect(),
    };
    let (epoch, score) = scored
        .into_iter()
        .fold(None::<(usize, f64)>, |best, row| match best {
            Some(b) if b.1 >= row.1 => Some(b),
            _ => Some(row),
        })
        .ok_or_else(|| {
            let source = match criterion {
                Selection::ValidationF1 => split_metrics,
                Selection::ValidationLoss => history,
            };
            anyhow::anyhow!(
                "{}: no epoch was evaluated on the validation split",
                source.display()
            )
        })?;
    Ok(Selected {
        model: format!("epoch-{epoch:04}"),
        epoch,
        criterion,
        value: match criterion {
            Selection::ValidationF1 => score,
            Selection::ValidationLoss => -score,
        },
    })
}
