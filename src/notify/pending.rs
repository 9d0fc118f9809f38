//! Placeholder until the outbox lands (merged from the notify work).
use crate::store::StoreResult;

pub struct Notifier;

impl Notifier {
    pub async fn enqueue(
        &self,
        _conn: &mut sqlx::AnyConnection,
        _notices: &[super::Notice],
        _now: i64,
    ) -> StoreResult<()> {
        Ok(())
    }
    pub fn wake(&self) {}
}
