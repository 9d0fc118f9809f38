//! `[desk]` in the configuration: the procedure's time limits and vocabularies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    /// Hours to resolve, per priority (`P1` … `P5`), counted on the wall clock from
    /// registration, with paused time (rescheduled, awaiting the user or a problem)
    /// added back. Rescheduling is refused once this is past.
    pub resolve_hours: BTreeMap<String, u64>,
    /// Days the requester has to confirm or reject a solution; an unconfirmed resolved
    /// ticket closes itself after this.
    pub confirm_days: u64,
    /// Seconds between runs of the desk's timers (assignment of new tickets, resuming
    /// rescheduled ones, closing unconfirmed ones).
    pub timer_interval_secs: u64,
    /// The resolution codes a solution may carry.
    pub resolution_codes: Vec<String>,
}

impl Default for DeskConfig {
    fn default() -> Self {
        let hours = [("P1", 4), ("P2", 8), ("P3", 24), ("P4", 72), ("P5", 120)];
        DeskConfig {
            resolve_hours: hours.iter().map(|(p, h)| (p.to_string(), *h)).collect(),
            confirm_days: 5,
            timer_interval_secs: 5,
            resolution_codes: [
                "solved",
                "workaround",
                "change_applied",
                "vendor_fix",
                "user_guidance",
                "no_fault_found",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}
