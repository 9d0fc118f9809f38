//! `[desk]` in the configuration: the procedure's time limits and vocabularies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
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
        DeskConfig {
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
