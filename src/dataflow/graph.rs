//! The analysis dataflow, built once per worker:
//!
//! ```text
//! unit events ──exchange(unit)──▶ Evaluate ──▶ outcomes ──explode──┐
//!   (worker 0)                    (ONNX, Parquet,    facts ─────────┴─▶ consolidate ──exchange(0)──▶ updates
//!                                  MIDI; per worker)                     (by table key)                (worker 0)
//! ```
//!
//! Units are spread over all workers of all processes by hash; the per-key sums are
//! consolidated where their key hashes to; only the net change per key and timestamp travels
//! to worker 0, which owns the tables.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use differential_dataflow::hashable::Hashable;
use timely::communication::Allocate;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::operators::core::Input;
use timely::dataflow::operators::core::input::Handle as InputHandle;
use timely::dataflow::operators::core::{Exchange as _, Inspect, Probe};
use timely::worker::Worker;

use super::keys::{Counts, TableKey, explode};
use super::truth::TruthIndex;
use super::units::{Contribution, EvaluationOptions, Evaluator, UnitEvent};

/// Logical time: the analysis round.
pub type Round = u64;

/// One net change to a table key at a round.
pub type Update = (TableKey, Round, Counts);

/// The handles a worker drives its dataflow with.
pub struct AnalysisGraph {
    pub events: InputHandle<Round, CapacityContainerBuilder<Vec<UnitEvent>>>,
    pub probe: ProbeHandle<Round>,
    /// Updates that reached this worker's sink (only worker 0 receives any).
    pub updates: Rc<RefCell<Vec<Update>>>,
}

/// Builds the analysis dataflow on `worker`.
pub fn build_graph<A: Allocate>(
    worker: &mut Worker<A>,
    truth: Arc<TruthIndex>,
    options: EvaluationOptions,
) -> AnalysisGraph {
    let updates = Rc::new(RefCell::new(Vec::new()));
    let sink = updates.clone();
    let probe = ProbeHandle::new();
    let events = worker.dataflow::<Round, _, _>(|scope| {
        let (handle, events) = scope.new_input::<Vec<UnitEvent>>();
        let mut evaluator = Evaluator::new(truth, options);
        let contributions = events
            .unary(
                Exchange::new(|event: &UnitEvent| event.unit.hashed()),
                "Evaluate",
                move |_, _| {
                    move |input, output| {
                        input.for_each(|time, batch| {
                            let mut session = output.session(&time);
                            for event in batch.iter() {
                                for (contribution, diff) in evaluator.apply(event) {
                                    session.give((contribution, *time.time(), diff));
                                }
                            }
                        });
                    }
                },
            )
            .as_collection();
        let outcomes = contributions.flat_map(|c| match c {
            Contribution::Frames(outcome) => Some(outcome),
            Contribution::Fact(_) => None,
        });
        let facts = contributions.flat_map(|c| match c {
            Contribution::Fact(key) => Some(key),
            Contribution::Frames(_) => None,
        });
        outcomes
            .explode(|outcome| explode(&outcome))
            .concat(&facts.explode(|key| Some((key, Counts::one(1)))))
            .consolidate()
            .inner
            .exchange(|_| 0)
            .inspect_batch(move |_, batch| sink.borrow_mut().extend(batch.iter().cloned()))
            .probe_with(&probe);
        handle
    });
    AnalysisGraph {
        events,
        probe,
        updates,
    }
}
