//! The analysis dataflow, built once per worker:
//!
//! ```text
//! unit events ──exchange(unit)──▶ Evaluate + explode ──▶ consolidate ──exchange(0)──▶ updates
//!   (worker 0)                    (ONNX, Parquet, MIDI;     (by table key)               (worker 0)
//!                                  summed per worker
//!                                  and round)
//! ```
//!
//! Units are spread over all workers of all processes by hash; each worker sums its units'
//! table keys for the round before sending them (so it holds the distinct keys, never the
//! predictions); the per-key sums are consolidated where their key hashes to; only the net
//! change per key and timestamp travels to worker 0, which owns the tables.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use differential_dataflow::hashable::Hashable;
use timely::communication::Allocate;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::Input;
use timely::dataflow::operators::core::input::Handle as InputHandle;
use timely::dataflow::operators::core::{Exchange as _, Inspect, Probe};
use timely::dataflow::operators::{Capability, Operator};
use timely::worker::Worker;

use super::keys::{Counts, TableKey};
use super::round_sums::RoundSums;
use super::truth::TruthIndex;
use super::units::{EvaluationOptions, Evaluator, UnitEvent};

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

/// Builds the analysis dataflow on `worker`. `retain`: keep each unit's last contribution so
/// a later round can replace or retract it (`watch`); a batch run evaluates every unit once
/// and keeps nothing per unit.
pub fn build_graph<A: Allocate>(
    worker: &mut Worker<A>,
    truth: Arc<TruthIndex>,
    options: EvaluationOptions,
    retain: bool,
) -> AnalysisGraph {
    let updates = Rc::new(RefCell::new(Vec::new()));
    let sink = updates.clone();
    let probe = ProbeHandle::new();
    let events = worker.dataflow::<Round, _, _>(|scope| {
        let (handle, events) = scope.new_input::<Vec<UnitEvent>>();
        let mut evaluator = Evaluator::new(truth, options, retain);
        events
            .unary_frontier(
                Exchange::new(|event: &UnitEvent| event.unit.hashed()),
                "Evaluate",
                move |initial, _| {
                    // Output is only ever given at the rounds the events arrive at.
                    drop(initial);
                    let mut rounds: BTreeMap<Round, (Capability<Round>, RoundSums)> =
                        BTreeMap::new();
                    move |(input, frontier), output| {
                        input.for_each(|time, batch| {
                            let round = *time.time();
                            let (_, sums) = rounds
                                .entry(round)
                                .or_insert_with(|| (time.retain(), RoundSums::default()));
                            for event in batch.iter() {
                                for (contribution, diff) in evaluator.apply(event) {
                                    sums.add(&contribution, diff);
                                }
                                sums.settle();
                            }
                        });
                        // A round whose events have all arrived is sent, summed.
                        while let Some(entry) = rounds.first_entry() {
                            if frontier.less_equal(entry.key()) {
                                break;
                            }
                            let (round, (capability, sums)) = entry.remove_entry();
                            let mut session = output.session(&capability);
                            for (key, counts) in sums.into_keys() {
                                session.give((key, round, counts));
                            }
                        }
                    }
                },
            )
            .as_collection()
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
