//! Subcommand argument structs and handlers that grew too large for `main.rs`.

pub mod analysis;
pub mod corpus;
pub mod nmf;
