//! Accepting one payload, whatever channel brought it (the HTTP ingest endpoint, a
//! Kafka topic): parse it as JSON, read it with its source's rules, submit what they
//! make of it and wait for the commit.
//!
//! In: a [`Payload`]. Out: [`Accepted`] once committed, or an [`AcceptError`] saying
//! whether the payload itself is at fault (malformed, refused by the rules) or the
//! intake could not store it (retry).

use jiff::Timestamp;

use super::{Answer, Intake, IntakeError, Submission, SubmissionKind};
use crate::metrics::Metrics;
use crate::rules::{AlertError, Rejection, SourceRules};

/// One payload as a channel received it.
pub struct Payload<'a> {
    /// Name of who sent it (the token's name, `kafka:<topic>`).
    pub sender: String,
    pub body: &'a [u8],
    pub received_at: Timestamp,
    /// See [`Submission::delivery_id`].
    pub delivery_id: Option<String>,
    /// What the rules read when it is not the body itself (a PagerDuty event with the
    /// fields Vigía adds); the body is still what is stored.
    pub document: Option<serde_json::Value>,
    /// See [`crate::domain::Signal::unit`].
    pub unit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// serde_json's message carries the parser's line and column.
    #[error("malformed JSON: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// A committed payload.
#[derive(Debug)]
pub struct Accepted {
    /// The rule that read the payload.
    pub rule: String,
    pub answer: Answer,
    /// Alerts of the payload that could not be read, and why; the others were stored.
    pub refused: Vec<AlertError>,
}

/// Reads `payload` with `rules` and waits for its alerts to be committed.
pub async fn accept(
    intake: &Intake,
    metrics: &Metrics,
    rules: &SourceRules,
    payload: Payload<'_>,
) -> Result<Accepted, AcceptError> {
    let source = rules.source.as_str();
    let value = match payload.document {
        Some(document) => document,
        None => serde_json::from_slice(payload.body).map_err(AcceptError::Malformed)?,
    };
    let mut evaluated = rules.evaluate(&value)?;
    for signal in &mut evaluated.signals {
        signal.unit.clone_from(&payload.unit);
    }
    let answer = intake
        .deliver(Submission {
            source: source.to_owned(),
            sender: payload.sender,
            rule: evaluated.rule.clone(),
            // Kept exactly as sent, for audit and replay.
            payload: String::from_utf8_lossy(payload.body).into_owned(),
            signals: evaluated.signals,
            received_at: payload.received_at,
            kind: SubmissionKind::Alert,
            expected: Vec::new(),
            delivery_id: payload.delivery_id,
        })
        .await?;
    if !evaluated.refused.is_empty() && matches!(answer, Answer::Stored(_)) {
        tracing::warn!(source, refused = ?evaluated.refused, "alerts of a payload could not be read");
        let refused = u64::try_from(evaluated.refused.len()).unwrap_or(u64::MAX);
        metrics
            .alerts_received
            .with_label_values(&[source, "refused"])
            .inc_by(refused);
    }
    Ok(Accepted {
        rule: evaluated.rule,
        answer,
        refused: evaluated.refused,
    })
}
