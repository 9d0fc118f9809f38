//! The CI registry: units and configuration items, their dependency graph, and the
//! import of registry files.

pub mod apply;
pub mod graph;
pub mod import;
pub mod live;
pub mod model;

pub use live::Live;
