//! The blocking pool (being written).
