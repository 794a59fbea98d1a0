//! Promises (being written).
