//! The WGSL kernels: one per file under `shaders/`, each composed with the shared prelude
//! (and the tree reduction where it uses one), and validated by naga without an adapter.

const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");
const TREE: &str = include_str!("../../shaders/tree.wgsl");
const ACCUMULATE: &str = include_str!("../../shaders/accumulate.wgsl");
const LOAD: &str = include_str!("../../shaders/load.wgsl");
const CLASSES: &str = include_str!("../../shaders/classes.wgsl");
const SORT_COMMON: &str = include_str!("../../shaders/sort_common.wgsl");
const LOVASZ_KEY: &str = include_str!("../../shaders/lovasz_key.wgsl");
const LOVASZ_COMMON: &str = include_str!("../../shaders/lovasz_common.wgsl");

/// Every kernel segloss dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Fused forward pass, first stage, portable tree reduction.
    StatsPartials,
    /// Fused forward pass, first stage, subgroup reduction.
    StatsPartialsSubgroup,
    /// Fused forward pass, second stage: per-segment rows from the partials.
    StatsFinal,
    /// Backward pass: the elementwise gradient.
    Grad,
    /// Multiclass forward pass, first stage: softmax and per-(image, class) partials.
    ClassStats,
    /// Multiclass backward pass: the gradient through the softmax.
    ClassGrad,
    /// Plans: loss values and backward coefficients from the sums, on the GPU.
    Finalize,
    /// Radix sort: per-block digit histogram.
    RadixCount,
    /// Radix sort: stable scatter by digit.
    RadixScatter,
    /// Prefix scan: block sums.
    ScanReduce,
    /// Prefix scan: in-block scan plus carry.
    ScanApply,
    /// Lovasz hinge: errors as sort keys.
    LovaszHingeKeys,
    /// Lovasz softmax: one class's errors as sort keys.
    LovaszSoftmaxKeys,
    /// Lovasz: loss per segment.
    LovaszReduce,
    /// Lovasz: gradient scattered through the permutation.
    LovaszGrad,
    /// Lovasz softmax: gradient through the softmax.
    LovaszJacobian,
    /// Benchmark roofline: read every byte once and reduce.
    RooflineReduce,
    /// Benchmark roofline: read the inputs, write one f32 per element.
    RooflineCopy,
}

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 18] = [
        Kernel::StatsPartials,
        Kernel::StatsPartialsSubgroup,
        Kernel::StatsFinal,
        Kernel::Grad,
        Kernel::ClassStats,
        Kernel::ClassGrad,
        Kernel::Finalize,
        Kernel::RadixCount,
        Kernel::RadixScatter,
        Kernel::ScanReduce,
        Kernel::ScanApply,
        Kernel::LovaszHingeKeys,
        Kernel::LovaszSoftmaxKeys,
        Kernel::LovaszReduce,
        Kernel::LovaszGrad,
        Kernel::LovaszJacobian,
        Kernel::RooflineReduce,
        Kernel::RooflineCopy,
    ];

    /// The shared pieces composed into kernels (not kernels themselves).
    pub const SHARED_FILES: [&'static str; 8] = [
        "prelude.wgsl",
        "load.wgsl",
        "tree.wgsl",
        "accumulate.wgsl",
        "classes.wgsl",
        "sort_common.wgsl",
        "lovasz_key.wgsl",
        "lovasz_common.wgsl",
    ];

    /// The kernel's file name, also its pipeline label.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::StatsPartials => "stats_partials.wgsl",
            Kernel::StatsPartialsSubgroup => "stats_partials_subgroup.wgsl",
            Kernel::StatsFinal => "stats_final.wgsl",
            Kernel::Grad => "grad.wgsl",
            Kernel::ClassStats => "class_stats.wgsl",
            Kernel::ClassGrad => "class_grad.wgsl",
            Kernel::Finalize => "finalize.wgsl",
            Kernel::RadixCount => "radix_count.wgsl",
            Kernel::RadixScatter => "radix_scatter.wgsl",
            Kernel::ScanReduce => "scan_reduce.wgsl",
            Kernel::ScanApply => "scan_apply.wgsl",
            Kernel::LovaszHingeKeys => "lovasz_hinge_keys.wgsl",
            Kernel::LovaszSoftmaxKeys => "lovasz_softmax_keys.wgsl",
            Kernel::LovaszReduce => "lovasz_reduce.wgsl",
            Kernel::LovaszGrad => "lovasz_grad.wgsl",
            Kernel::LovaszJacobian => "lovasz_jacobian.wgsl",
            Kernel::RooflineReduce => "roofline_reduce.wgsl",
            Kernel::RooflineCopy => "roofline_copy.wgsl",
        }
    }

    /// Whether the kernel needs `Features::SUBGROUP`.
    pub fn needs_subgroups(self) -> bool {
        self == Kernel::StatsPartialsSubgroup
    }

    /// The complete WGSL source: prelude, the shared pieces the kernel uses, kernel.
    /// (The sort and scan kernels have their own prelude, sort_common.wgsl.)
    pub fn source(self) -> String {
        let sort = |body: &'static str| -> String { format!("{SORT_COMMON}\n{body}") };
        let parts: &[&str] = match self {
            Kernel::RadixCount => return sort(include_str!("../../shaders/radix_count.wgsl")),
            Kernel::RadixScatter => return sort(include_str!("../../shaders/radix_scatter.wgsl")),
            Kernel::ScanReduce => return sort(include_str!("../../shaders/scan_reduce.wgsl")),
            Kernel::ScanApply => return sort(include_str!("../../shaders/scan_apply.wgsl")),
            Kernel::LovaszHingeKeys => &[LOVASZ_KEY, include_str!("../../shaders/lovasz_hinge_keys.wgsl")],
            Kernel::LovaszSoftmaxKeys => &[CLASSES, LOVASZ_KEY, include_str!("../../shaders/lovasz_softmax_keys.wgsl")],
            Kernel::LovaszReduce => {
                &[TREE, LOVASZ_KEY, LOVASZ_COMMON, include_str!("../../shaders/lovasz_reduce.wgsl")]
            }
            Kernel::LovaszGrad => &[LOVASZ_KEY, LOVASZ_COMMON, include_str!("../../shaders/lovasz_grad.wgsl")],
            Kernel::LovaszJacobian => &[CLASSES, include_str!("../../shaders/lovasz_jacobian.wgsl")],
            Kernel::RooflineReduce => &[include_str!("../../shaders/roofline_reduce.wgsl")],
            Kernel::RooflineCopy => &[include_str!("../../shaders/roofline_copy.wgsl")],
            Kernel::StatsPartials => &[TREE, LOAD, ACCUMULATE, include_str!("../../shaders/stats_partials.wgsl")],
            Kernel::StatsPartialsSubgroup => {
                &[LOAD, ACCUMULATE, include_str!("../../shaders/stats_partials_subgroup.wgsl")]
            }
            Kernel::StatsFinal => &[TREE, include_str!("../../shaders/stats_final.wgsl")],
            Kernel::Grad => &[LOAD, include_str!("../../shaders/grad.wgsl")],
            Kernel::ClassStats => &[CLASSES, include_str!("../../shaders/class_stats.wgsl")],
            Kernel::ClassGrad => &[CLASSES, include_str!("../../shaders/class_grad.wgsl")],
            Kernel::Finalize => &[TREE, include_str!("../../shaders/finalize.wgsl")],
        };
        let mut src = String::from(PRELUDE);
        for part in parts {
            src.push('\n');
            src.push_str(part);
        }
        src
    }

    /// Parses and validates the kernel with naga (no adapter needed).
    pub fn validate(self) -> Result<naga::Module, String> {
        use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
        let src = self.source();
        let module =
            naga::front::wgsl::parse_str(&src).map_err(|e| format!("{}: {}", self.name(), e.emit_to_string(&src)))?;
        let caps = if self.needs_subgroups() { Capabilities::SUBGROUP } else { Capabilities::empty() };
        Validator::new(ValidationFlags::all(), caps)
            .subgroup_stages(ShaderStages::COMPUTE)
            .subgroup_operations(SubgroupOperationSet::all())
            .validate(&module)
            .map_err(|e| format!("{}: {}", self.name(), e.emit_to_string(&src)))?;
        Ok(module)
    }
}
