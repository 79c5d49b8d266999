//! What a large run would cost ([`Estimate`]): shared by the plan that measures it and the
//! error that reports it, and depending on neither.

/// What a run of many points would cost, estimated from its first few points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Points this run simulates (one shard's, or the whole grid's).
    pub points: usize,
    /// Points of the whole grid.
    pub total: usize,
    pub workloads: usize,
    /// Estimated wall time on the current thread pool, in seconds.
    pub seconds: f64,
    /// Estimated bytes of results and output files held in memory.
    pub memory_bytes: u64,
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.seconds;
        let time = if s < 120.0 {
            format!("{s:.0} s")
        } else if s < 7200.0 {
            format!("{:.0} min", s / 60.0)
        } else if s < 172_800.0 {
            format!("{:.1} h", s / 3600.0)
        } else {
            format!("{:.1} days", s / 86_400.0)
        };
        write!(
            f,
            "{} points{} × {} workloads: about {time} on {} threads and {} of results in memory",
            self.points,
            if self.points == self.total {
                String::new()
            } else {
                format!(" (of {})", self.total)
            },
            self.workloads,
            rayon::current_num_threads(),
            cdg_io::limits::human_bytes(self.memory_bytes)
        )
    }
}
