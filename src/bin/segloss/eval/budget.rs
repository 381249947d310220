//! The pixel budget shared by `eval`'s threads.

/// The decoded values in flight (decoded by a worker, not yet merged) stay within the pixel
/// budget whatever the thread count: a worker waits for its image's share before decoding.
pub(super) struct Budget {
    pub(super) limit: u64,
    pub(super) used: std::sync::Mutex<u64>,
    pub(super) freed: std::sync::Condvar,
}

pub(super) struct Ticket {
    budget: std::sync::Arc<Budget>,
    values: u64,
}

impl Budget {
    pub(super) fn take(budget: &std::sync::Arc<Budget>, values: u64) -> Ticket {
        let values = values.min(budget.limit);
        let mut used = budget.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + values > budget.limit {
            used = budget.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += values;
        Ticket { budget: budget.clone(), values }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.values;
        self.budget.freed.notify_all();
    }
}
