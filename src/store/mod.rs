//! Per-session persistent state on disk.
//!
//! Owns: one directory per session under a data root, and crash-safe
//! atomic writes of the files in it (write to a temporary file, fsync,
//! rename, fsync the directory). Must not touch: the meaning of those
//! files; callers hand it bytes.
