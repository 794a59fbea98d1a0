//! spindle (being written).
pub mod blocking;
pub mod promise;
pub mod sync;
