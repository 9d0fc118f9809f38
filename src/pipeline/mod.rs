//! Pure decisions of the alert path: dedup (what a signal does to its event), correlate
//! (which incident it belongs to), noise controls and priority.

pub mod correlate;
pub mod dedup;
pub mod noise;
pub mod priority;
