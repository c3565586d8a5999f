//! `entangle`: measure *how* framewise music-transcription networks fail.
//!
//! A reproduction and extension of Kelz & Widmer (2017), "An Experimental Analysis of the
//! Entanglement Problem in Neural-Network-based Music Transcription Systems". The crate is
//! organised by pipeline stage; each module has one job:
//!
//! | module | job |
//! |---|---|
//! | [`analysis`] | frame classes, framewise metrics, per-combination aggregation (pure) |
//! | [`audio`] | WAV decoding, down-mix, resampling to 44.1 kHz (streamed) |
//! | [`features`] | madmom-identical log-filtered spectrogram, context windows |
//! | [`infer`] | ONNX Runtime sessions (CPU / CUDA), batched frame predictions |
//! | [`labels`] | note lists from MIDI / MAPS `.txt`, frame piano rolls |
//! | [`pitchset`] | pitch sets as `u128` bitmasks |
//! | [`corpus`] | SoundFont rendering, FLUID and MAPS-like corpora, MAPS layout, manifests |
//! | [`model`] | the three architectures as data; shapes, parameter counts, summaries |
//! | `train` | (feature `train`) the networks on libtorch (tch), training |
//! | [`nmf`] | the NMF baseline: a fixed dictionary from isolated notes, KL updates |
//! | [`predict`] | frame predictions of a network over a corpus split |
//! | [`protocol`] | training-protocol choices (optimizer, output bias, selection) |
//! | [`sink`] | atomic `.npy` and Parquet writers |
//! | [`demo`] | the README's main job |

pub mod analysis;
pub mod audio;
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
#[cfg(feature = "train")]
pub mod train;
