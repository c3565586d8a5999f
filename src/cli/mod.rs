//! One module per subcommand: its arguments (clap) and the call into the library.

pub mod analysis;
pub mod corpus;
pub mod demo;
pub mod labels;
pub mod model;
pub mod nmf;
pub mod pipeline;
pub mod predict;
pub mod spectrogram;
pub mod synth;
pub mod system;
pub mod train;
