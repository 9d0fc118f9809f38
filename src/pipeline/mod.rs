//! Pure decisions over signals and stored state; the intake stage applies them.

pub mod dedup;
