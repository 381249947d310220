//! The loss under burn's autodiff: where the logits are tracked, the forward pass runs the
//! plan with a gradient (one pass for the value and dtotal/dlogits) and keeps the gradient as
//! the operation's state; the backward pass multiplies it by the incoming gradient, on the
//! device, without reading anything back. Untracked logits run the plan without a gradient.
//! The raw value operations are never tracked.

use crate::ops::{total_of, SeglossBackend};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{FloatDType, Shape};

/// The backward step: dL/dlogits = (dtotal/dlogits) · dL/dtotal.
#[derive(Debug)]
struct TotalBackward;

impl<B: Backend> Backward<B, 1> for TotalBackward {
    /// dtotal/dlogits (f32) and the logits' float type.
    type State = (FloatTensor<B>, FloatDType);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let upstream = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let (grad, dtype) = ops.state;
        let rank = grad.shape().num_dims();
        let scale = B::float_reshape(upstream, Shape::from(vec![1; rank]));
        let scale = B::float_cast(scale, FloatDType::F32);
        let mut grad = B::float_mul(grad, scale);
        if dtype != FloatDType::F32 {
            grad = B::float_cast(grad, dtype);
        }
        grads.register::<B>(parent.id, grad);
    }
}

/// The tracked total of `logits` with the targets already bound in `values_and_grad`.
fn tracked_total<B: Backend, C: CheckpointStrategy>(
    logits: FloatTensor<Autodiff<B, C>>,
    values: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
    values_and_grad: impl FnOnce(FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>),
) -> FloatTensor<Autodiff<B, C>> {
    let dtype = FloatDType::from(logits.primitive().dtype());
    match TotalBackward.prepare::<C>([logits.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (values, grad) = values_and_grad(logits.into_primitive());
            prep.finish((grad, dtype), total_of::<B>(values))
        }
        OpsKind::UnTracked(prep) => prep.finish(total_of::<B>(values(logits.into_primitive()))),
    }
}

impl<B: Backend + SeglossBackend, C: CheckpointStrategy> SeglossBackend for Autodiff<B, C> {
    fn segloss_values(logits: FloatTensor<Self>, targets: FloatTensor<Self>, plan: u64) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::segloss_values(logits.into_primitive(), targets.into_primitive(), plan))
    }

    fn segloss_values_classes(logits: FloatTensor<Self>, classes: IntTensor<Self>, plan: u64) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::segloss_values_classes(logits.into_primitive(), classes, plan))
    }

    fn segloss_values_and_grad(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (values, grad) = B::segloss_values_and_grad(logits.into_primitive(), targets.into_primitive(), plan);
        (<FloatTensor<Self>>::new(values), <FloatTensor<Self>>::new(grad))
    }

    fn segloss_values_and_grad_classes(
        logits: FloatTensor<Self>,
        classes: IntTensor<Self>,
        plan: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (values, grad) = B::segloss_values_and_grad_classes(logits.into_primitive(), classes, plan);
        (<FloatTensor<Self>>::new(values), <FloatTensor<Self>>::new(grad))
    }

    fn segloss_total(
        logits: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        plan: u64,
        plan_grad: u64,
    ) -> FloatTensor<Self> {
        let targets = targets.into_primitive();
        let t = targets.clone();
        tracked_total::<B, C>(
            logits,
            |x| B::segloss_values(x, t, plan),
            |x| B::segloss_values_and_grad(x, targets, plan_grad),
        )
    }

    fn segloss_total_classes(
        logits: FloatTensor<Self>,
        classes: IntTensor<Self>,
        plan: u64,
        plan_grad: u64,
    ) -> FloatTensor<Self> {
        let c = classes.clone();
        tracked_total::<B, C>(
            logits,
            |x| B::segloss_values_classes(x, c, plan),
            |x| B::segloss_values_and_grad_classes(x, classes, plan_grad),
        )
    }
}
