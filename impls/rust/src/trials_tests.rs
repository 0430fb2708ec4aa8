//! Tests of trials.rs.
