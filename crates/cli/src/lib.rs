//! The `lockstep` command's tools as a library, so that tests call them directly:
//! `doctor` (why can't I connect?).

pub mod doctor;
