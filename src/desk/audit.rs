//! Verifying the audit chain: walks it in order and reports the first record that was
//! altered or removed. The chain proves order and integrity from inside the database;
//! printing the head hash lets an operator anchor it outside, where rewriting the whole
//! chain would also show.

use serde::Serialize;

use crate::store::audit::{self, StoredRecord};
use crate::store::{Store, StoreResult};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const PAGE: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Records checked.
    pub records: i64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first break found, if any.
    pub broken: Option<Break>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The record at fault (for a removal, the first one missing).
    pub seq: i64,
    pub ticket_id: Option<String>,
    pub reason: String,
}

pub async fn verify(store: &Store) -> StoreResult<Verification> {
    let pool = store.pool();
    let (head_seq, head_hash) = audit::head(pool).await?;
    let mut walk = Walk {
        expected: 1,
        prev: GENESIS.to_owned(),
    };
    let mut records = 0;
    loop {
        // Records appended during the walk are after the head read first: not ours to judge.
        let page = audit::page(
            pool,
            walk.expected - 1,
            PAGE.min(head_seq - walk.expected + 1),
        )
        .await?;
        let Some(last) = page
            .last()
            .map(|r| r.seq)
            .filter(|_| walk.expected <= head_seq)
        else {
            break;
        };
        for record in &page {
            records += 1;
            if let Some(broken) = walk.step(record) {
                return Ok(Verification {
                    records,
                    head_seq,
                    head_hash,
                    broken: Some(broken),
                });
            }
        }
        walk.expected = last + 1;
    }
    let broken = walk.end(head_seq, &head_hash);
    Ok(Verification {
        records,
        head_seq,
        head_hash,
        broken,
    })
}

struct Walk {
    expected: i64,
    prev: String,
}

impl Walk {
    fn step(&mut self, r: &StoredRecord) -> Option<Break> {
        let at = |seq: i64, reason: String| {
            Some(Break {
                seq,
                ticket_id: Some(r.ticket_id.clone()),
                reason,
            })
        };
        if r.seq != self.expected {
            return at(
                self.expected,
                format!(
                    "record {} is missing (the next one is {})",
                    self.expected, r.seq
                ),
            );
        }
        if r.prev_hash != self.prev {
            return at(
                r.seq,
                format!(
                    "record {} does not follow record {}: the record before it was altered or replaced",
                    r.seq,
                    r.seq - 1
                ),
            );
        }
        if r.computed_hash() != r.hash {
            return at(
                r.seq,
                format!(
                    "record {} was altered: its content does not match its hash",
                    r.seq
                ),
            );
        }
        self.expected += 1;
        self.prev = r.hash.clone();
        None
    }

    /// After the last record: the head must point at it, or records were cut off the end.
    fn end(&self, head_seq: i64, head_hash: &str) -> Option<Break> {
        let last = self.expected - 1;
        if head_seq != last {
            return Some(Break {
                seq: last + 1,
                ticket_id: None,
                reason: format!(
                    "records {} to {head_seq} are missing (the chain's head says it ends at {head_seq})",
                    last + 1
                ),
            });
        }
        (head_hash != self.prev).then(|| Break {
            seq: last,
            ticket_id: None,
            reason: format!("record {last} was altered: the chain's head does not match it"),
        })
    }
}
