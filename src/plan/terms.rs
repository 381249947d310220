//! A plan's terms as the finalize kernel reads them: one [`TermSpec`] per term (the loss's
//! own record from its catalogue module, plus the term's aggregation, class options and
//! weight), the class weights and selection table, and the kernel's source with the
//! constants generated from the catalogue.

use crate::error::{Error, Result};
use crate::finalize::{self, TermSpec, ABSENT_SKIP, ABSENT_SMOOTHED, ABSENT_ZERO};
use crate::finalize::{T_COUNT_UNDEFINED, T_NORMALIZE, T_PER_IMAGE, T_REGION, T_WEIGHTS};
use crate::gpu::shaders::Kernel;
use crate::input::Mode;
use crate::loss::{self, Family};
use crate::options::{AbsentClass, Aggregation, ClassOptions};
use crate::term::Term;

/// The finalize kernel's complete source: the generated constants, then the kernel.
pub(crate) fn finalize_source() -> String {
    format!("{}\n{}", finalize::wgsl_constants(&loss::gpu_kinds()), Kernel::Finalize.source())
}

/// The finalize kernel's description of term `i`, or why a plan cannot compute it. The term
/// and its class options are destructured without `..`: a new option is a compile error
/// here until the finalize kernel handles it (or rejects it); so are the losses' own
/// options in their `SumLoss::finalize`.
pub(crate) fn term_spec(i: usize, term: &Term, classes: usize, mode: Mode) -> Result<TermSpec> {
    let unsupported = |what: String| {
        Error::InvalidRequest(format!(
            "term {i}: {what} is not available in a plan yet; use Engine::forward / value_and_grad"
        ))
    };
    let Term { loss, aggregation, weight, classes: options, undefined_images } = term;
    let (spec, region) = match loss.def().family() {
        Family::Sums(l) => (l.finalize(mode).map_err(unsupported)?, l.is_region()),
        Family::Standalone(_) => {
            return Err(unsupported(format!("{} (passes of its own, not a function of sums)", loss.name())))
        }
    };
    let kinds = loss::gpu_kinds();
    let kind = kinds.iter().position(|k| *k == spec.kind).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "term {i}: {}'s finalize kind {} is not in the catalogue",
            loss.name(),
            spec.kind
        ))
    })?;
    // Class distances belong to the Wasserstein Dice loss, a standalone loss plans refuse.
    let ClassOptions { weights, normalize_weights, selection: _, absent, pool, class_distances: _ } = options;
    if *pool {
        return Err(unsupported("pooled classes (ClassOptions::pool)".into()));
    }
    let mut flags = spec.flags;
    let mut undefined = 0.0;
    if let (Aggregation::PerImage, Some(v)) = (aggregation, undefined_images) {
        flags |= T_COUNT_UNDEFINED;
        undefined = *v as f32;
    }
    if *aggregation == Aggregation::PerImage {
        flags |= T_PER_IMAGE;
    }
    if *normalize_weights {
        flags |= T_NORMALIZE;
    }
    if weights.is_some() {
        flags |= T_WEIGHTS;
    }
    if region {
        flags |= T_REGION;
    }
    Ok(TermSpec {
        kind: kind as u32,
        flags,
        absent: match absent {
            AbsentClass::Smoothed => ABSENT_SMOOTHED,
            AbsentClass::Zero => ABSENT_ZERO,
            AbsentClass::Skip => ABSENT_SKIP,
        },
        class_w: (2 * i * classes) as u32,
        weight: *weight as f32,
        p: spec.p,
        undefined,
    })
}

/// Per term, C class weights, then C selection flags (1 selected, 0 not).
pub(crate) fn class_weights(terms: &[Term], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * terms.len() * classes);
    for term in terms {
        let opts = &term.classes;
        out.extend((0..classes).map(|k| opts.weight(k) as f32));
        out.extend(opts.selection_mask(classes).into_iter().map(|sel| if sel { 1.0 } else { 0.0 }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shaders;

    /// TermSpec and ChunkRef: Rust mirrors and WGSL structs have the same size and field offsets.
    #[test]
    fn finalize_structs_match_their_rust_mirrors() {
        let module = shaders::validate("finalize.wgsl", &finalize_source(), false).unwrap();
        shaders::compare_layouts(&module, &finalize::mirrored_structs()).unwrap();
    }

    /// A field added or moved on one side only is caught.
    #[test]
    fn a_finalize_struct_changed_on_one_side_is_caught() {
        let src = finalize_source().replace("    weight: f32,\n", "    weight: f32,\n    extra: f32,\n");
        let module = shaders::validate("finalize.wgsl (mutated)", &src, false).unwrap();
        assert!(shaders::compare_layouts(&module, &finalize::mirrored_structs()).is_err());
    }

    /// Every kind the catalogue lists has its own case in finalize.wgsl (the default case
    /// writes NaN), and the WGSL names no kind the catalogue does not list.
    #[test]
    fn every_catalogue_kind_has_a_wgsl_case() {
        let src = Kernel::Finalize.source();
        let cases: Vec<&str> = src
            .lines()
            .filter_map(|l| l.trim().strip_prefix("case "))
            .flat_map(|l| l.trim_end_matches(['{', ' ', ':']).split(','))
            .map(str::trim)
            .collect();
        let kinds = loss::gpu_kinds();
        for kind in &kinds {
            assert!(cases.contains(&format!("K_{kind}").as_str()), "no `case K_{kind}` in finalize.wgsl");
        }
        for case in cases.iter().filter(|c| c.starts_with("K_")) {
            assert!(kinds.iter().any(|k| format!("K_{k}") == **case), "finalize.wgsl has {case}, not a catalogue kind");
        }
        assert!(src.contains("return unknown_kind();"), "the default case must write NaN");
    }

    /// The kind constants are generated: finalize.wgsl defines none itself.
    #[test]
    fn finalize_wgsl_restates_no_generated_constant() {
        let src = Kernel::Finalize.source();
        assert!(!src.contains("const K_") && !src.contains("const T_") && !src.contains("const ABSENT_"));
        let full = finalize_source();
        for kind in loss::gpu_kinds() {
            assert!(full.contains(&format!("const K_{kind}: u32")));
        }
    }

    /// Every sum-based example of the catalogue packs into a TermSpec of a listed kind (or is
    /// refused with a reason), in the modes it applies to.
    #[test]
    fn every_example_packs_or_is_refused() {
        for loss in crate::Loss::examples().into_iter().filter(|l| !l.is_standalone()) {
            for mode in [Mode::Binary, Mode::Multilabel, Mode::Multiclass] {
                if !loss.def().applies(mode) {
                    continue;
                }
                match term_spec(0, &loss.batch(), 3, mode) {
                    Ok(spec) => assert!((spec.kind as usize) < loss::gpu_kinds().len()),
                    Err(e) => assert!(e.to_string().contains("not available in a plan"), "{loss:?}: {e}"),
                }
            }
        }
    }
}
