//! Where analysis results go: the live console and the JSONL journal.

pub mod console;
pub mod journal;
