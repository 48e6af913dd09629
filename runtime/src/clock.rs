//! Wall-clock seconds for the `created` fields of OpenAI-style responses and for interval
//! boundaries that are reported to users (which need Unix time, not a monotonic clock).

/// Seconds since the Unix epoch (0 if the clock is set before it).
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
