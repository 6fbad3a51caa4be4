//! Protobuf messages generated from `proto/wa.proto` at build time.
//!
//! This is a foundation module: every layer may use it, it uses nothing
//! of ours.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/wa.rs"));
