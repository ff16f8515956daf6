//! `probe-rp`: the embedded provider as a relying-party tester. Each login gets one bad answer
//! (`cases`) the relying party must refuse; what it did next decides (`verdict`). The probe only
//! ever talks as its own embedded provider: it never alters a real provider's traffic.

pub mod cases;
pub mod verdict;
