//! spindle's scheduler (placeholder being written).
#[doc(hidden)]
pub mod loom;
