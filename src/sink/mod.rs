//! Output writers. Every file is written to a temporary file beside its destination and
//! renamed into place, so a failed or killed run never leaves a half-written table behind.

pub mod atomic;
pub mod checksum;
pub mod columns;
pub mod labels_table;
pub mod npy;
pub mod predictions_table;
pub mod row_groups;
pub mod rows;
pub mod time_base;

pub use atomic::{
    Durability, PendingFile, SinkError, sync_filesystem, write_atomically, write_atomically_with,
    write_pending,
};
