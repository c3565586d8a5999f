//! `entangle`: measure *how* framewise music-transcription networks fail.
//!
//! A reproduction and extension of Kelz & Widmer (2017), "An Experimental Analysis of the
//! Entanglement Problem in Neural-Network-based Music Transcription Systems". The crate is
//! organised by pipeline stage; each module has one job:
//!
//! | module | job |
//! |---|---|
//! | [`analysis`] | frame classes, framewise metrics, positions in a note's life, per-combination aggregation (pure) |
//! | [`audio`] | WAV decoding, down-mix, resampling to 44.1 kHz (streamed) |
//! | [`console`] | what the binaries print besides the work: logs, stdout, error messages |
//! | [`corpus`] | SoundFont rendering, FLUID and MAPS-like corpora, MAPS layout, own corpora, manifests |
//! | [`dataflow`] | the timely / differential analysis graph: sources, inference, tables, watch, cluster |
//! | [`demo`] | `entangle demo`: one chord rendered, its spectrogram and labels summarised |
//! | [`features`] | madmom-identical log-filtered spectrogram, context windows |
//! | [`infer`] | ONNX Runtime sessions (CPU / CUDA), batched frame predictions |
//! | [`labels`] | note lists from MIDI / MAPS `.txt` / `.notes` / `.csv`, frame piano rolls |
//! | [`model`] | the three architectures as data; shapes, parameter counts, summaries, ONNX export |
//! | [`nmf`] | the NMF baseline: a fixed dictionary from isolated notes, KL updates |
//! | [`pipeline`] | `entangle run`: specs, stages, model selection, figures, reports |
//! | [`pitchset`] | pitch sets as `u128` bitmasks, and the hasher for maps keyed by them |
//! | [`predict`] | frame predictions of a network over a corpus split |
//! | [`protocol`] | training-protocol choices and training jobs (no libtorch needed) |
//! | [`sink`] | atomic `.npy` and Parquet writers, table checksums |
//! | (`crates/entangle-train`) | the networks on libtorch (tch), training: its own crate and binary |
//! | [`systems`] | third-party systems (basic-pitch, madmom's ADSR CNN) described as data, run as they are |
//! | [`trainer`] | runs a training job in the `entangle-train` process |

pub mod analysis;
pub mod audio;
pub mod console;
pub mod corpus;
pub mod dataflow;
pub mod demo;
pub mod features;
pub mod infer;
pub mod labels;
pub mod model;
pub mod nmf;
pub mod pipeline;
pub mod pitchset;
pub mod predict;
pub mod protocol;
pub mod sink;
pub mod systems;
pub mod trainer;
