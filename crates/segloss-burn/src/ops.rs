//! The burn backend extension: a segloss plan run as one burn operation.
//!
//! `Dispatch` routes each operation to burn's CubeCL backend (here: run the plan on the wgpu
//! buffers behind the tensors), to burn's fusion backend (a lazy operation that runs the CubeCL
//! one when its stream executes) and to autodiff (`crate::autodiff`). An operation carries the
//! plan's number (`crate::plans`), never the plan.
//!
//! Outputs are f32: the values `[total, term…]` and, with a gradient, dL/dlogits in the logits'
//! shape.

use crate::plans::{self, CachedPlan};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend};
use burn::tensor::{DType, Shape, Slice};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeBackend;
use cubecl::wgpu::{AutoCompiler, WgpuResource, WgpuServer};
use segloss::{BufferAt, PlanIo};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs whose gradient went through segloss's own buffer (see [`encode_and_submit`]).
static SCRATCH_GRADIENTS: AtomicU64 = AtomicU64::new(0);

/// How many runs so far wrote their gradient to segloss's own buffer and copied it into
/// burn's, because burn kept it in a buffer with the inputs (for tests).
#[doc(hidden)]
pub fn scratch_gradients() -> u64 {
    SCRATCH_GRADIENTS.load(Ordering::Relaxed)
}

/// Segmentation losses as burn operations. Call them through [`crate::SegLoss`], which
/// checks shapes and formats and makes the plans these numbers name.
#[backend_extension(Cube, Fusion: cfg(feature = "fusion"), Autodiff)]
pub trait SeglossBackend: Backend {
    /// `[total, term values…]` of plan `plan` (made without a gradient) on float targets.
    #[fusion(meta = values_meta)]
    fn segloss_values(logits: FloatTensor<Self>, targets: FloatTensor<Self>, plan: u64) -> FloatTensor<Self>;

    /// [`Self::segloss_values`] on a class map.
    #[fusion(meta = values_meta)]
    fn segloss_values_classes(logits: FloatTensor<Self>, classes: IntTensor<Self>, plan: u64) -> FloatTensor<Self>;

    /// The values and dtotal/dlogits of plan `plan` (made with a gradient).
    #[fusion(meta = values_and_grad_meta)]
    fn segloss_values_and_grad(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// [`Self::segloss_values_and_grad`] on a class map.
    #[fusion(meta = values_and_grad_meta)]
    fn segloss_values_and_grad_classes(
        logits: FloatTensor<Self>,
        classes: IntTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The total, shape `[1]`: plan `plan` here; under autodiff, plan `plan_grad` where the
    /// logits are tracked, its gradient kept for the backward pass.
    #[fusion(default)]
    fn segloss_total(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        plan: u64,
        plan_grad: u64,
    ) -> FloatTensor<Self> {
        let _ = plan_grad;
        total_of::<Self>(Self::segloss_values(logits, targets, plan))
    }

    /// [`Self::segloss_total`] on a class map.
    #[fusion(default)]
    fn segloss_total_classes(
        logits: FloatTensor<Self>,
        classes: IntTensor<Self>,
        plan: u64,
        plan_grad: u64,
    ) -> FloatTensor<Self> {
        let _ = plan_grad;
        total_of::<Self>(Self::segloss_values_classes(logits, classes, plan))
    }
}

/// The total: the first of the values.
pub(crate) fn total_of<B: Backend>(values: FloatTensor<B>) -> FloatTensor<B> {
    B::float_slice(values, &[Slice::new(0, Some(1), 1)])
}

fn values_meta(_logits: &TensorSpec, _targets: &TensorSpec, plan: &u64) -> TensorSpec {
    TensorSpec::new(Shape::from([plans::get(*plan).values_len()]), DType::F32)
}

fn values_and_grad_meta(logits: &TensorSpec, targets: &TensorSpec, plan: &u64) -> (TensorSpec, TensorSpec) {
    (values_meta(logits, targets, plan), TensorSpec::new(logits.shape.clone(), DType::F32))
}

impl SeglossBackend for CubeBackend {
    fn segloss_values(logits: FloatTensor<Self>, targets: FloatTensor<Self>, plan: u64) -> FloatTensor<Self> {
        run(logits, targets, plan).0
    }

    fn segloss_values_classes(logits: FloatTensor<Self>, classes: IntTensor<Self>, plan: u64) -> FloatTensor<Self> {
        run(logits, classes, plan).0
    }

    fn segloss_values_and_grad(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        with_grad(run(logits, targets, plan))
    }

    fn segloss_values_and_grad_classes(
        logits: FloatTensor<Self>,
        classes: IntTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        with_grad(run(logits, classes, plan))
    }
}

/// A run of a plan made with a gradient: its values and its gradient.
fn with_grad((values, grad): (CubeTensor, Option<CubeTensor>)) -> (CubeTensor, CubeTensor) {
    (values, grad.expect("a plan made with a gradient writes one"))
}

/// The server behind burn's wgpu tensors (burn registers wgpu devices with the automatic
/// compiler choice).
type Server = WgpuServer<AutoCompiler>;

/// Runs plan `id` on the buffers of `logits` and `targets`: records the plan into an encoder
/// of the shared device and submits it on the shared queue after burn's pending work. Nothing
/// is read back and nothing waits.
///
/// # Panics
/// Where burn cannot hand out a buffer, or the plan refuses the buffers: [`crate::SegLoss`]
/// checked device, shape and format before the operation was made, so this is a bug, not bad
/// input (burn's operations return tensors, not results).
fn run(logits: CubeTensor, targets: CubeTensor, id: u64) -> (CubeTensor, Option<CubeTensor>) {
    let cached = plans::get(id);
    assert!(
        logits.device == cached.device.cube,
        "segloss-burn: plan {id} was made for {:?}, the logits are on {:?}",
        cached.device.cube,
        logits.device
    );
    let logits = into_contiguous(logits);
    let targets = into_contiguous(targets);
    let client = logits.client.clone();
    let device = logits.device.clone();
    let new_f32 = |shape: Shape| {
        let handle = client.empty(shape.num_elements() * 4);
        CubeTensor::new_contiguous(client.clone(), device.clone(), shape, handle, DType::F32)
    };
    let values = new_f32(Shape::from([cached.values_len()]));
    let grad = cached.plan.desc().gradient.then(|| new_f32(logits.meta.shape().clone()));

    client.flush().unwrap_or_else(|e| panic!("segloss-burn: flushing burn's work failed: {e}"));
    let resource = |t: &CubeTensor, what: &str| {
        client
            .get_resource::<Server>(t.handle.clone())
            .unwrap_or_else(|e| panic!("segloss-burn: burn did not hand out the {what} buffer: {e}"))
    };
    let (l, t, v) = (resource(&logits, "logits"), resource(&targets, "targets"), resource(&values, "values"));
    let g = grad.as_ref().map(|g| resource(g, "gradient"));
    encode_and_submit(&cached, l.resource(), t.resource(), v.resource(), g.as_ref().map(|g| g.resource()));
    (values, grad)
}

/// [`run`]'s wgpu part: binds burn's buffers where the plan can, segloss scratch buffers (and
/// copies) where it cannot, records and submits.
fn encode_and_submit(
    cached: &CachedPlan,
    logits: &WgpuResource,
    targets: &WgpuResource,
    values: &WgpuResource,
    grad: Option<&WgpuResource>,
) {
    let (device, queue) = cached.device.engine.device().expect("attached engines are GPU engines");
    let desc = cached.plan.desc();
    let align = device.limits().min_storage_buffer_offset_alignment as u64;
    let mut scratch = cached.scratch();
    let mut encoder = device.create_command_encoder(&Default::default());
    // An input at an offset the plan cannot bind is copied to a buffer of segloss's own.
    let mut bind_input = |res: &WgpuResource,
                          bytes: u64,
                          slot: &mut Option<segloss::wgpu::Buffer>,
                          label|
     -> (segloss::wgpu::Buffer, u64) {
        if res.offset.is_multiple_of(align) {
            return (res.buffer.clone(), res.offset);
        }
        let own = scratch_buffer(device, slot, bytes, label);
        encoder.copy_buffer_to_buffer(&res.buffer, res.offset, &own, 0, Some(bytes.next_multiple_of(4)));
        (own, 0)
    };
    let (lb, lo) = bind_input(logits, desc.logits_bytes(), &mut scratch.logits, "segloss-burn logits");
    let (tb, to) = bind_input(targets, desc.targets_bytes(), &mut scratch.targets, "segloss-burn targets");
    // A gradient in the same buffer as an input (burn pages several tensors into one buffer)
    // cannot be bound read-write beside it: it goes to segloss's own buffer, then is copied.
    let grad_at = grad.map(|g| {
        if g.offset.is_multiple_of(align) && g.buffer != lb && g.buffer != tb {
            (g.buffer.clone(), g.offset, None)
        } else {
            SCRATCH_GRADIENTS.fetch_add(1, Ordering::Relaxed);
            let own = scratch_buffer(device, &mut scratch.grad, desc.grad_bytes(), "segloss-burn gradient");
            (own, 0, Some((g.buffer.clone(), g.offset)))
        }
    });
    let io = PlanIo {
        logits: BufferAt::new(&lb, lo),
        targets: BufferAt::new(&tb, to),
        values: BufferAt::new(&values.buffer, values.offset),
        grad: grad_at.as_ref().map(|(b, o, _)| BufferAt::new(b, *o)),
    };
    cached
        .plan
        .encode(&mut encoder, &io)
        .unwrap_or_else(|e| panic!("segloss-burn: the plan refused burn's buffers: {e}"));
    if let Some((own, _, Some((dst, offset)))) = &grad_at {
        encoder.copy_buffer_to_buffer(own, 0, dst, *offset, Some(desc.grad_bytes()));
    }
    queue.submit([encoder.finish()]);
}

fn scratch_buffer(
    device: &segloss::wgpu::Device,
    slot: &mut Option<segloss::wgpu::Buffer>,
    bytes: u64,
    label: &'static str,
) -> segloss::wgpu::Buffer {
    use segloss::wgpu::BufferUsages as U;
    slot.get_or_insert_with(|| {
        device.create_buffer(&segloss::wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(4),
            usage: U::STORAGE | U::COPY_SRC | U::COPY_DST,
            mapped_at_creation: false,
        })
    })
    .clone()
}
