//! Traces that leave the process and come back: HAR export, reading journals and HARs (this
//! tool's and browsers'), and the report. Everything written is redacted unless asked
//! otherwise and created 0600.

pub mod exchange_html;
pub mod har;
pub mod import;
pub mod report;
pub mod report_html;
