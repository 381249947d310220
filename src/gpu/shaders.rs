//! The WGSL kernels: one per file under `shaders/`, each composed with the constants
//! generated from the Rust side (`contract::wgsl_constants`), the shared prelude (and the
//! tree reduction where it uses one), and validated by naga in tests, without an adapter.

const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");
const TREE: &str = include_str!("../../shaders/tree.wgsl");
const ACCUMULATE: &str = include_str!("../../shaders/accumulate.wgsl");
const LOAD: &str = include_str!("../../shaders/load.wgsl");
const CLASSES: &str = include_str!("../../shaders/classes.wgsl");
const CLASS_CHECKS: &str = include_str!("../../shaders/class_checks.wgsl");
const COEFS_STORAGE: &str = include_str!("../../shaders/coefs_storage.wgsl");
const COEFS_UNIFORM: &str = include_str!("../../shaders/coefs_uniform.wgsl");
const SORT_COMMON: &str = include_str!("../../shaders/sort_common.wgsl");
const LOVASZ_KEY: &str = include_str!("../../shaders/lovasz_key.wgsl");
const LOVASZ_COMMON: &str = include_str!("../../shaders/lovasz_common.wgsl");
const EDT_COMMON: &str = include_str!("../../shaders/edt_common.wgsl");

/// Every kernel segloss dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Fused forward pass, first stage, portable tree reduction.
    StatsPartials,
    /// Fused forward pass, first stage, subgroup reduction.
    StatsPartialsSubgroup,
    /// Fused forward pass, second stage: per-segment rows from the partials.
    StatsFinal,
    /// Fused forward pass, second stage, lane strategy: one invocation per segment.
    StatsFinalLanes,
    /// Backward pass: the elementwise gradient.
    Grad,
    /// Multiclass forward pass, first stage (fused): softmax and per-(image, class) partials.
    ClassStats,
    /// Multiclass forward pass by class planes, step 1: each pixel's softmax summary.
    ClassPixels,
    /// Multiclass forward pass by class planes, step 2: per-(image, class) partials.
    ClassPlanes,
    /// Multiclass backward pass: the gradient through the softmax (coefficients in storage).
    ClassGrad,
    /// The same kernel reading its coefficients from a uniform table (`UNIFORM_COEFS` rows).
    ClassGradUniform,
    /// Plans: loss values and backward coefficients from the sums, on the GPU (assembled
    /// with the loss catalogue's constants by the plan: see `plan::finalize_source`).
    Finalize,
    /// Radix sort: per-block digit histogram.
    RadixCount,
    /// Radix sort: stable scatter by digit.
    RadixScatter,
    /// Prefix scan: block sums.
    ScanReduce,
    /// Prefix scan: in-block scan plus carry.
    ScanApply,
    /// Radix sort, lane strategy: per-lane digit histogram.
    RadixLaneCount,
    /// Radix sort, lane strategy: stable scatter by digit.
    RadixLaneScatter,
    /// Prefix scan, lane strategy: run sums.
    ScanLaneReduce,
    /// Prefix scan, lane strategy: serial scan of each run plus carry.
    ScanLaneApply,
    /// Lovasz hinge: errors as sort keys.
    LovaszHingeKeys,
    /// Lovasz softmax: each pixel's log-sum-exp, once per call.
    LovaszLse,
    /// Lovasz softmax: one class's errors as sort keys.
    LovaszSoftmaxKeys,
    /// Lovasz: per-segment counts (valid, labels, kept) before sorting.
    LovaszCount,
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
    /// Distance transform: 0 on background, +inf on foreground.
    EdtInit,
    /// Distance transform: the lower envelope of parabolas along one axis.
    EdtAxis,
}

impl Kernel {
    /// All kernels.
    #[cfg(test)]
    pub const ALL: [Kernel; 30] = [
        Kernel::StatsPartials,
        Kernel::StatsPartialsSubgroup,
        Kernel::StatsFinal,
        Kernel::StatsFinalLanes,
        Kernel::Grad,
        Kernel::ClassStats,
        Kernel::ClassPixels,
        Kernel::ClassPlanes,
        Kernel::ClassGrad,
        Kernel::ClassGradUniform,
        Kernel::Finalize,
        Kernel::RadixCount,
        Kernel::RadixScatter,
        Kernel::ScanReduce,
        Kernel::ScanApply,
        Kernel::RadixLaneCount,
        Kernel::RadixLaneScatter,
        Kernel::ScanLaneReduce,
        Kernel::ScanLaneApply,
        Kernel::LovaszHingeKeys,
        Kernel::LovaszLse,
        Kernel::LovaszSoftmaxKeys,
        Kernel::LovaszCount,
        Kernel::LovaszReduce,
        Kernel::LovaszGrad,
        Kernel::LovaszJacobian,
        Kernel::RooflineReduce,
        Kernel::RooflineCopy,
        Kernel::EdtInit,
        Kernel::EdtAxis,
    ];

    /// The shared pieces composed into kernels (not kernels themselves).
    #[cfg(test)]
    pub const SHARED_FILES: [&'static str; 12] = [
        "prelude.wgsl",
        "load.wgsl",
        "tree.wgsl",
        "accumulate.wgsl",
        "classes.wgsl",
        "class_checks.wgsl",
        "coefs_storage.wgsl",
        "coefs_uniform.wgsl",
        "sort_common.wgsl",
        "lovasz_key.wgsl",
        "lovasz_common.wgsl",
        "edt_common.wgsl",
    ];

    /// The kernel's file name, also its pipeline label (`ClassGrad` and `ClassGradUniform`
    /// share one file).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::StatsPartials => "stats_partials.wgsl",
            Kernel::StatsPartialsSubgroup => "stats_partials_subgroup.wgsl",
            Kernel::StatsFinal => "stats_final.wgsl",
            Kernel::StatsFinalLanes => "stats_final_lanes.wgsl",
            Kernel::Grad => "grad.wgsl",
            Kernel::ClassStats => "class_stats.wgsl",
            Kernel::ClassPixels => "class_pixels.wgsl",
            Kernel::ClassPlanes => "class_planes.wgsl",
            Kernel::ClassGrad => "class_grad.wgsl",
            Kernel::ClassGradUniform => "class_grad.wgsl",
            Kernel::Finalize => "finalize.wgsl",
            Kernel::RadixCount => "radix_count.wgsl",
            Kernel::RadixScatter => "radix_scatter.wgsl",
            Kernel::ScanReduce => "scan_reduce.wgsl",
            Kernel::ScanApply => "scan_apply.wgsl",
            Kernel::RadixLaneCount => "radix_lane_count.wgsl",
            Kernel::RadixLaneScatter => "radix_lane_scatter.wgsl",
            Kernel::ScanLaneReduce => "scan_lane_reduce.wgsl",
            Kernel::ScanLaneApply => "scan_lane_apply.wgsl",
            Kernel::LovaszHingeKeys => "lovasz_hinge_keys.wgsl",
            Kernel::LovaszLse => "lovasz_lse.wgsl",
            Kernel::LovaszSoftmaxKeys => "lovasz_softmax_keys.wgsl",
            Kernel::LovaszCount => "lovasz_count.wgsl",
            Kernel::LovaszReduce => "lovasz_reduce.wgsl",
            Kernel::LovaszGrad => "lovasz_grad.wgsl",
            Kernel::LovaszJacobian => "lovasz_jacobian.wgsl",
            Kernel::RooflineReduce => "roofline_reduce.wgsl",
            Kernel::RooflineCopy => "roofline_copy.wgsl",
            Kernel::EdtInit => "edt_init.wgsl",
            Kernel::EdtAxis => "edt_axis.wgsl",
        }
    }

    /// Whether the kernel needs `Features::SUBGROUP`.
    #[cfg(test)]
    pub fn needs_subgroups(self) -> bool {
        self == Kernel::StatsPartialsSubgroup
    }

    /// The complete WGSL source: generated constants, prelude, the shared pieces the kernel
    /// uses, kernel. (The sort and scan kernels have their own prelude, sort_common.wgsl; the
    /// distance-transform kernels theirs, edt_common.wgsl.)
    /// `Finalize` also needs the loss catalogue's constants, which its user prepends.
    pub fn source(self) -> String {
        let sort =
            |body: &'static str| -> String { format!("{}{SORT_COMMON}\n{body}", super::contract::wgsl_constants()) };
        let edt =
            |body: &'static str| -> String { format!("{}{EDT_COMMON}\n{body}", super::contract::wgsl_constants()) };
        let parts: &[&str] = match self {
            Kernel::EdtInit => return edt(include_str!("../../shaders/edt_init.wgsl")),
            Kernel::EdtAxis => return edt(include_str!("../../shaders/edt_axis.wgsl")),
            Kernel::RadixCount => return sort(include_str!("../../shaders/radix_count.wgsl")),
            Kernel::RadixScatter => return sort(include_str!("../../shaders/radix_scatter.wgsl")),
            Kernel::ScanReduce => return sort(include_str!("../../shaders/scan_reduce.wgsl")),
            Kernel::ScanApply => return sort(include_str!("../../shaders/scan_apply.wgsl")),
            Kernel::RadixLaneCount => return sort(include_str!("../../shaders/radix_lane_count.wgsl")),
            Kernel::RadixLaneScatter => return sort(include_str!("../../shaders/radix_lane_scatter.wgsl")),
            Kernel::ScanLaneReduce => return sort(include_str!("../../shaders/scan_lane_reduce.wgsl")),
            Kernel::ScanLaneApply => return sort(include_str!("../../shaders/scan_lane_apply.wgsl")),
            Kernel::LovaszHingeKeys => &[LOVASZ_KEY, include_str!("../../shaders/lovasz_hinge_keys.wgsl")],
            Kernel::LovaszLse => &[CLASSES, include_str!("../../shaders/lovasz_lse.wgsl")],
            Kernel::LovaszSoftmaxKeys => &[CLASSES, LOVASZ_KEY, include_str!("../../shaders/lovasz_softmax_keys.wgsl")],
            Kernel::LovaszCount => &[TREE, include_str!("../../shaders/lovasz_count.wgsl")],
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
            Kernel::StatsFinalLanes => &[include_str!("../../shaders/stats_final_lanes.wgsl")],
            Kernel::Grad => &[LOAD, include_str!("../../shaders/grad.wgsl")],
            Kernel::ClassStats => &[CLASSES, CLASS_CHECKS, include_str!("../../shaders/class_stats.wgsl")],
            Kernel::ClassPixels => &[CLASSES, CLASS_CHECKS, include_str!("../../shaders/class_pixels.wgsl")],
            Kernel::ClassPlanes => &[CLASSES, include_str!("../../shaders/class_planes.wgsl")],
            Kernel::ClassGrad => &[CLASSES, COEFS_STORAGE, include_str!("../../shaders/class_grad.wgsl")],
            Kernel::ClassGradUniform => &[CLASSES, COEFS_UNIFORM, include_str!("../../shaders/class_grad.wgsl")],
            Kernel::Finalize => &[TREE, include_str!("../../shaders/finalize.wgsl")],
        };
        let mut src = super::contract::wgsl_constants();
        src.push_str(PRELUDE);
        for part in parts {
            src.push('\n');
            src.push_str(part);
        }
        src
    }
}

/// Parses and validates a kernel's complete source with naga (no adapter needed).
/// A kernel's shader module and its pipeline layout (one bind group, `layout`).
pub(crate) fn module_and_layout(
    device: &wgpu::Device,
    label: &str,
    source: String,
    layout: &wgpu::BindGroupLayout,
) -> (wgpu::ShaderModule, wgpu::PipelineLayout) {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    (module, pipeline_layout)
}

/// The compute pipeline of `module`'s `main` with the pipeline-overridable `constants` set.
pub(crate) fn compute_pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    layout: &wgpu::PipelineLayout,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
        cache: None,
    })
}

#[cfg(test)]
pub(crate) fn validate(name: &str, src: &str, subgroups: bool) -> Result<naga::Module, String> {
    use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
    let module = naga::front::wgsl::parse_str(src).map_err(|e| format!("{name}: {}", e.emit_to_string(src)))?;
    let caps = if subgroups { Capabilities::SUBGROUP } else { Capabilities::empty() };
    Validator::new(ValidationFlags::all(), caps)
        .subgroup_stages(ShaderStages::COMPUTE)
        .subgroup_operations(SubgroupOperationSet::all())
        .validate(&module)
        .map_err(|e| format!("{name}: {}", e.emit_to_string(src)))?;
    Ok(module)
}

/// Compares the size and field offsets of Rust mirrors with naga's layout of the WGSL
/// structs of the same name in `module` (`Err` lists every difference).
#[cfg(test)]
pub(crate) fn compare_layouts(module: &naga::Module, mirrors: &[crate::finalize::StructMirror]) -> Result<(), String> {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    for (name, size, fields) in mirrors {
        let found = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(*name));
        let Some((handle, ty)) = found else {
            errors.push(format!("{name}: no such struct in the WGSL"));
            continue;
        };
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            errors.push(format!("{name}: not a struct in the WGSL"));
            continue;
        };
        let wgsl_size = layouter[handle].size as usize;
        if wgsl_size != *size || *span as usize != *size {
            errors.push(format!("{name}: {size} bytes in Rust, {wgsl_size} in WGSL"));
        }
        let wgsl: Vec<(String, usize)> =
            members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect();
        // Vector members (Sums) are compared by name and offset of each member.
        if wgsl != *fields {
            errors.push(format!("{name}: fields (name, offset) differ\n  Rust: {fields:?}\n  WGSL: {wgsl:?}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_validates_with_naga() {
        for kernel in Kernel::ALL.into_iter().filter(|&k| k != Kernel::Finalize) {
            if let Err(e) = validate(kernel.name(), &kernel.source(), kernel.needs_subgroups()) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn every_kernel_file_has_a_header_comment() {
        for kernel in Kernel::ALL {
            let src = kernel.source();
            let body = src.split(&format!("// {}", kernel.name())).nth(1);
            assert!(body.is_some(), "{} has no header comment naming the file", kernel.name());
        }
    }

    #[test]
    fn every_wgsl_file_is_a_listed_kernel_or_a_shared_piece() {
        let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".wgsl"))
            .collect();
        files.sort();
        let mut listed: Vec<String> = Kernel::ALL.iter().map(|k| k.name().to_string()).collect();
        listed.extend(Kernel::SHARED_FILES.iter().map(|s| s.to_string()));
        listed.sort();
        listed.dedup(); // ClassGrad and ClassGradUniform: one file, two coefficient tables
        assert_eq!(files, listed, "shaders/ and Kernel::ALL + SHARED_FILES disagree");
    }

    /// Params, Sums and Coef: Rust mirrors and WGSL structs have the same size and field
    /// offsets (grad.wgsl uses all three).
    #[test]
    fn prelude_structs_match_their_rust_mirrors() {
        let module = validate("grad.wgsl", &Kernel::Grad.source(), false).unwrap();
        compare_layouts(&module, &super::super::contract::mirrored_structs()).unwrap();
    }

    /// The check itself fails when one side changes: a WGSL field moved, or a Rust one.
    #[test]
    fn the_layout_check_sees_a_change_on_either_side() {
        let src = Kernel::Grad.source().replace("    seg_len: u32,", "    seg_len: u32,\n    extra: u32,");
        let module = validate("grad.wgsl (mutated)", &src, false).unwrap();
        assert!(compare_layouts(&module, &super::super::contract::mirrored_structs()).is_err());
        let module = validate("grad.wgsl", &Kernel::Grad.source(), false).unwrap();
        let mut mirrors = super::super::contract::mirrored_structs();
        mirrors[0].2.swap(0, 1);
        assert!(compare_layouts(&module, &mirrors).is_err());
    }
}
