//! Async synchronisation primitives (being written).
