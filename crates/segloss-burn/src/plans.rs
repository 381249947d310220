//! The plans, cached by (device, loss, shape, formats, gradient). A burn operation carries only
//! a plan's number: [`get`] gives the plan back, with the device it was made for and the
//! scratch buffers that stand in for burn buffers a plan cannot bind directly.

use crate::device::Attached;
use crate::Error;
use segloss::{LogitFormat, Plan, PlanDesc, TargetFormat};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What makes two plans the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    /// The attached device's index.
    pub device: usize,
    /// The loss ([`crate::SegLoss`]'s number).
    pub loss: u64,
    pub dims: Vec<usize>,
    pub logits: LogitFormat,
    pub targets: TargetFormat,
    pub gradient: bool,
}

/// A cached plan and what running it on burn's buffers needs.
pub(crate) struct CachedPlan {
    pub plan: Plan,
    pub device: Arc<Attached>,
    /// Buffers of segloss's own for inputs or a gradient that cannot be bound where burn keeps
    /// them (an offset off the storage alignment, or the gradient in the logits' buffer).
    pub scratch: Mutex<Scratch>,
}

/// See [`CachedPlan::scratch`]; each made on first need.
#[derive(Default)]
pub(crate) struct Scratch {
    pub logits: Option<segloss::wgpu::Buffer>,
    pub targets: Option<segloss::wgpu::Buffer>,
    pub grad: Option<segloss::wgpu::Buffer>,
}

impl CachedPlan {
    /// The number of values a run writes: the total and one per term.
    pub fn values_len(&self) -> usize {
        self.plan.desc().terms.len() + 1
    }

    pub fn scratch(&self) -> MutexGuard<'_, Scratch> {
        self.scratch.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct Cache {
    by_key: HashMap<PlanKey, u64>,
    plans: Vec<Arc<CachedPlan>>,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn with_cache<T>(f: impl FnOnce(&mut Cache) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(guard.get_or_insert_with(Cache::default))
}

/// The number of the plan for `key`, made from `desc` on `device` the first time.
pub(crate) fn plan_for(
    key: PlanKey,
    device: &Arc<Attached>,
    desc: impl FnOnce() -> Result<PlanDesc, Error>,
) -> Result<u64, Error> {
    if let Some(id) = with_cache(|c| c.by_key.get(&key).copied()) {
        return Ok(id);
    }
    // Made outside the lock: compiling a plan's pipelines takes a while.
    let plan = device.engine.plan(desc()?)?;
    let cached = Arc::new(CachedPlan { plan, device: device.clone(), scratch: Mutex::new(Scratch::default()) });
    Ok(with_cache(|c| {
        *c.by_key.entry(key).or_insert_with(|| {
            c.plans.push(cached);
            c.plans.len() as u64 - 1
        })
    }))
}

/// The plan numbered `id` by [`plan_for`].
///
/// # Panics
/// If no plan has that number: numbers come only from [`plan_for`], so this is a bug here.
pub(crate) fn get(id: u64) -> Arc<CachedPlan> {
    with_cache(|c| c.plans.get(id as usize).cloned())
        .unwrap_or_else(|| panic!("segloss-burn: no plan numbered {id} (plan numbers come from SegLoss)"))
}
