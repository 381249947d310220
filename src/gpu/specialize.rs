//! Kernels specialised to a request. The fused passes (`stats_partials`, `grad`,
//! `class_stats` or `class_pixels` + `class_planes`, `class_grad`) read their flags, the focal γ, the class-map format and the
//! backward terms through pipeline-overridable constants (`SPEC_*` in prelude.wgsl). A
//! pipeline made with those constants fixed has only the branches the request takes.
//!
//! Why: a uniform branch costs nothing on a GPU, but CPU adapters (lavapipe, llvmpipe) run
//! both sides of every branch under a lane mask. The generic kernels paid on every pixel for
//! the probability path, the f16 and u8 decoders, every focal form and every backward term.
//! Measured in PERFORMANCE.md.
//!
//! Pipelines are made on first use and kept per context, keyed by [`Spec`]. A spec is
//! derived from the very `Params` a pass uploads, so the constants can never disagree with
//! the uniform. Kernels made without constants (every other kernel) read the same facts
//! from `params` at run time.

use super::contract::{
    GpuCoef, Params, GAMMA_ONE, GAMMA_OTHER, GAMMA_TWO, GAMMA_ZERO, TERMS_ALL, TERM_BCE, TERM_FOCAL, TERM_SAD,
    TERM_SMIN, TERM_SPP, TERM_WCE,
};
use super::shaders::{compute_pipeline, module_and_layout, Kernel};
use std::collections::HashMap;
use std::sync::Mutex;

/// What a specialised pipeline is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Spec {
    /// `SPEC_FLAGS`: the pass's `Params::flags`.
    pub flags: u32,
    /// `SPEC_GAMMA`: [`gamma_case`] of the pass's focal γ.
    pub gamma: u32,
    /// `SPEC_MAP`: the pass's class-map format (`Params::target_format`).
    pub map: u32,
    /// `SPEC_TERMS`: backward terms that may have a non-zero coefficient (`TERM_*`).
    pub terms: u32,
}

impl Spec {
    /// For a pass with uniform `params`, with every backward term possible.
    pub fn new(params: &Params) -> Spec {
        Spec { flags: params.flags, gamma: gamma_case(params.focal_gamma), map: params.target_format, terms: TERMS_ALL }
    }

    /// The same spec with only the backward terms in `terms`.
    pub fn with_terms(self, terms: u32) -> Spec {
        Spec { terms, ..self }
    }

    /// The pipeline constants.
    fn constants(&self) -> [(&'static str, f64); 4] {
        [
            ("SPEC_FLAGS", self.flags as f64),
            ("SPEC_GAMMA", self.gamma as f64),
            ("SPEC_MAP", self.map as f64),
            ("SPEC_TERMS", self.terms as f64),
        ]
    }
}

/// The case of γ that `focal_modulator` (prelude.wgsl) spells out; mirrors its `gamma_case`.
pub(crate) fn gamma_case(gamma: f32) -> u32 {
    match gamma {
        0.0 => GAMMA_ZERO,
        1.0 => GAMMA_ONE,
        2.0 => GAMMA_TWO,
        _ => GAMMA_OTHER,
    }
}

/// The backward terms (`TERM_*`) that some row of `coefs` gives a non-zero coefficient, as
/// the kernel sees them (f32).
pub(crate) fn terms_of(coefs: &[GpuCoef]) -> u32 {
    // GpuCoef order: sp, tp, spp, sad, bce, focal, wce, smin.
    let term = |c: &GpuCoef, i: usize, bit: u32| if c.c[i] != 0.0 { bit } else { 0 };
    coefs.iter().fold(0, |acc, c| {
        acc | term(c, 2, TERM_SPP)
            | term(c, 3, TERM_SAD)
            | term(c, 4, TERM_BCE)
            | term(c, 5, TERM_FOCAL)
            | term(c, 6, TERM_WCE)
            | term(c, 7, TERM_SMIN)
    })
}

/// A specialisable kernel's module and layout, and the pipelines made from them so far.
pub(crate) struct Specializable {
    kernel: Kernel,
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    made: Mutex<HashMap<Spec, wgpu::ComputePipeline>>,
}

impl Specializable {
    /// Compiles `kernel`'s module once; pipelines follow per spec.
    pub fn new(device: &wgpu::Device, kernel: Kernel, layout: &wgpu::BindGroupLayout) -> Specializable {
        let (module, layout) = module_and_layout(device, kernel.name(), kernel.source(), layout);
        Specializable { kernel, module, layout, made: Mutex::new(HashMap::new()) }
    }

    /// The pipeline for `spec`, made on first use. (Its errors, which would be segloss's
    /// bugs, surface in the caller's error scope or through the context's health.)
    pub fn get(&self, device: &wgpu::Device, spec: Spec) -> wgpu::ComputePipeline {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.entry(spec)
            .or_insert_with(|| {
                compute_pipeline(device, self.kernel.name(), &self.module, &self.layout, &spec.constants())
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::contract::{
        FLAG_FOCAL_ALPHA, FLAG_IGNORE, FLAG_INPUT_F16, FLAG_PROBABILITIES, FLAG_TARGET_U8, FOCAL_FORM_SHIFT,
    };

    /// Every specialisation of the four kernels is valid WGSL: the override declarations
    /// replaced by constants of the spec's values (what a pipeline's constants make of
    /// them), validated by naga. Flag combinations × focal forms, each γ case, class-map
    /// formats and backward-term sets.
    #[test]
    fn every_specialisation_validates_with_naga() {
        let bits = [FLAG_PROBABILITIES, FLAG_IGNORE, FLAG_FOCAL_ALPHA, FLAG_INPUT_F16, FLAG_TARGET_U8];
        let kernels = [
            Kernel::StatsPartials,
            Kernel::StatsPartialsSubgroup,
            Kernel::Grad,
            Kernel::ClassStats,
            Kernel::ClassPixels,
            Kernel::ClassPlanes,
            Kernel::ClassGrad,
        ];
        let mut checked = 0;
        for kernel in kernels {
            let src = kernel.source();
            for combo in 0..1u32 << bits.len() {
                for form in 0..4u32 {
                    let flags = bits.iter().enumerate().filter(|(i, _)| combo >> i & 1 == 1).fold(0, |f, (_, b)| f | b)
                        | form << FOCAL_FORM_SHIFT;
                    let k = (combo + form) as usize;
                    let spec =
                        Spec { flags, gamma: k as u32 % 4, map: k as u32 % 3, terms: k as u32 % (TERMS_ALL + 1) };
                    let mut fixed = src.clone();
                    for (name, value) in spec.constants() {
                        let decl = fixed.find(&format!("override {name}: u32 = ")).expect(name);
                        let end = decl + fixed[decl..].find(';').unwrap();
                        fixed.replace_range(decl..end, &format!("const {name}: u32 = {}u", value as u32));
                    }
                    assert!(!fixed.contains("override "), "{}: an override left", kernel.name());
                    if let Err(e) = crate::gpu::shaders::validate(kernel.name(), &fixed, kernel.needs_subgroups()) {
                        panic!("{spec:?}: {e}");
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, kernels.len() * 32 * 4);
    }

    /// A spec is the uniform's facts: flags, γ case, map format; every term until narrowed.
    #[test]
    fn a_spec_carries_the_uniforms_facts() {
        let params = Params { flags: 0b101_0101, focal_gamma: 2.0, target_format: 2, ..Params::default() };
        let spec = Spec::new(&params);
        assert_eq!(spec, Spec { flags: 0b101_0101, gamma: GAMMA_TWO, map: 2, terms: TERMS_ALL });
        assert_eq!(spec.with_terms(TERM_WCE), Spec { terms: TERM_WCE, ..spec });
        let other = Spec::new(&Params { focal_gamma: 0.5, ..params });
        assert_eq!(other.gamma, GAMMA_OTHER);
        let names: Vec<_> = spec.with_terms(TERM_FOCAL).constants().to_vec();
        assert_eq!(
            names,
            [("SPEC_FLAGS", 85.0), ("SPEC_GAMMA", 2.0), ("SPEC_MAP", 2.0), ("SPEC_TERMS", TERM_FOCAL as f64)]
        );
    }

    #[test]
    fn gamma_cases_match_the_kernel_spelling() {
        assert_eq!(gamma_case(0.0), GAMMA_ZERO);
        assert_eq!(gamma_case(-0.0), GAMMA_ZERO);
        assert_eq!(gamma_case(1.0), GAMMA_ONE);
        assert_eq!(gamma_case(2.0), GAMMA_TWO);
        for g in [0.5, 1.5, 2.0000002, 3.0, 4.0] {
            assert_eq!(gamma_case(g), GAMMA_OTHER, "{g}");
        }
    }

    #[test]
    fn terms_are_those_of_some_non_zero_coefficient() {
        use crate::stats::Coefficients;
        let coef = |c: Coefficients| GpuCoef::from(&c);
        let zero = Coefficients::default();
        assert_eq!(terms_of(&[coef(zero), coef(zero)]), 0);
        assert_eq!(terms_of(&[coef(zero), coef(Coefficients { bce: 1e-30, ..zero })]), TERM_BCE);
        let wce_focal = [coef(Coefficients { wce: -2.0, ..zero }), coef(Coefficients { focal: 0.5, ..zero })];
        assert_eq!(terms_of(&wce_focal), TERM_WCE | TERM_FOCAL);
        let region = Coefficients { sp: 1.0, tp: 2.0, ..zero };
        assert_eq!(terms_of(&[coef(region)]), 0, "Σp and Σpt are always computed");
        assert_eq!(terms_of(&[coef(Coefficients { spp: 3.0, ..region })]), TERM_SPP);
        assert_eq!(terms_of(&[coef(Coefficients { sad: -4.0, ..region })]), TERM_SAD);
        assert_eq!(terms_of(&[coef(Coefficients { smin: 5.0, ..region })]), TERM_SMIN);
        let every = Coefficients { spp: 1.0, sad: 1.0, bce: 1.0, focal: 1.0, wce: 1.0, smin: 1.0, ..region };
        assert_eq!(terms_of(&[coef(every)]), TERMS_ALL);
        // Below f32's range the kernel sees 0: no term.
        assert_eq!(terms_of(&[coef(Coefficients { focal: 1e-60, ..zero })]), 0);
    }
}
