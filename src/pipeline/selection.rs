//! Model selection: the epoch whose network has the best validation F (the mean over shards
//! of the framewise micro F, as the 2016 protocol), read from the training-time evaluation.

use std::path::Path;

use super::tables_read::read_split_metrics;

/// Per epoch (`epoch-NNNN` models): (epoch number, metrics row), ascending.
pub fn validation_curve(
    split_metrics: &Path,
) -> anyhow::Result<Vec<(usize, super::tables_read::SplitMetrics)>> {
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

/// The model name (`epoch-NNNN`) with the best validation F, and that F; the earliest on a
/// tie.
pub fn best_epoch(split_metrics: &Path) -> anyhow::Result<(String, f64)> {
    let curve = validation_curve(split_metrics)?;
    let best = curve
        .iter()
        .fold(
            None::<&(usize, super::tables_read::SplitMetrics)>,
            |best, row| match best {
                Some(b) if b.1.f1 >= row.1.f1 => Some(b),
                _ => Some(row),
            },
        )
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no epoch was evaluated on the validation split",
                split_metrics.display()
            )
        })?;
    Ok((best.1.model.clone(), best.1.f1))
}
