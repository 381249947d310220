//! The contract between the Rust side and `shaders/finalize.wgsl` (the kernel a plan records
//! to turn the sums into loss values and backward coefficients on the GPU): the term record
//! [`TermSpec`], the chunk record [`ChunkRef`], the term flags, and the WGSL constants header
//! that is generated from them (and from the loss catalogue's kinds) when the kernel is
//! assembled. Nothing here is written twice: the WGSL side has no constant of its own, and a
//! test compares every shared struct's size and field offsets with naga's view of the WGSL.

use bytemuck::{Pod, Zeroable};

/// What a sum-based loss tells the finalize kernel about itself: its kind (a `K_*` name,
/// listed by the loss's catalogue entry), its flags and its parameters p0…p6.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FinalizeSpec {
    /// The kind's name without the `K_` prefix, e.g. `"DICE"`.
    pub kind: &'static str,
    /// `T_*` flags of the loss's own options.
    pub flags: u32,
    /// Parameters; their meaning is the kind's (see its case in finalize.wgsl).
    pub p: [f32; 7],
}

impl FinalizeSpec {
    /// A spec of `kind` with no flags and zero parameters.
    pub fn new(kind: &'static str) -> FinalizeSpec {
        FinalizeSpec { kind, flags: 0, p: [0.0; 7] }
    }
}

/// Mirror of WGSL `TermSpec` in finalize.wgsl (52 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct TermSpec {
    pub kind: u32,
    pub flags: u32,
    pub absent: u32,
    pub class_w: u32,
    pub weight: f32,
    pub p: [f32; 7],
    pub undefined: f32,
}

/// Mirror of WGSL `ChunkRef` in finalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct ChunkRef {
    pub first_row: u32,
    pub n_rows: u32,
    pub base: u32,
    pub _pad: u32,
}

shared_constants! { TERM_CONSTANTS:
    /// Per-image aggregation.
    T_PER_IMAGE = 1;
    /// −ln of the score instead of 1 − score.
    T_LOG = 2;
    /// Σp² + Σt² in the denominator.
    T_SQUARED = 4;
    /// TP = (Σp + Σt − Σ|p−t|)/2 (`TpForm::SoftL1`).
    T_SOFT_TP = 8;
    /// Class weights normalise the class mean.
    T_NORMALIZE = 16;
    /// Sum instead of mean over pixels.
    T_SUM = 32;
    /// The term has explicit class weights.
    T_WEIGHTS = 64;
    /// Generalized Dice weighting 1/Σt.
    T_GDL_SIMPLE = 128;
    /// Generalized Dice weighting 1.
    T_GDL_UNIFORM = 256;
    /// Per image: undefined images count as `undefined`.
    T_COUNT_UNDEFINED = 512;
    /// A region loss: the absent-class policy applies (`SumLoss::is_region`).
    T_REGION = 1024;
    /// MCC: a segment with FP = FN = 0 has loss 0.
    T_MCC_PERFECT = 2048;
    /// Absent classes keep their smoothed loss.
    ABSENT_SMOOTHED = 0;
    /// Absent classes count as a zero loss.
    ABSENT_ZERO = 1;
    /// Absent classes are left out of the mean.
    ABSENT_SKIP = 2;
}

/// The WGSL header of finalize.wgsl: `const K_<kind>: u32 = <index>u;` for every kind, in
/// catalogue order, then the term flags and absent-class codes.
pub(crate) fn wgsl_constants(kinds: &[&str]) -> String {
    let mut out = String::from("// Generated from the Rust side (src/finalize.rs and the loss catalogue).\n");
    for (i, kind) in kinds.iter().enumerate() {
        out.push_str(&format!("const K_{kind}: u32 = {i}u;\n"));
    }
    for (name, value) in TERM_CONSTANTS {
        out.push_str(&format!("const {name}: u32 = {value}u;\n"));
    }
    out
}

/// A Rust mirror of a WGSL struct as the contract tests see it: the struct's WGSL name, its
/// size, and its fields' WGSL names and byte offsets.
#[cfg(test)]
pub(crate) type StructMirror = (&'static str, usize, Vec<(String, usize)>);

/// Byte offsets of the fields of the Rust mirrors, by their WGSL names, and each struct's
/// size: what the contract test compares with naga's layout of the WGSL structs.
#[cfg(test)]
pub(crate) fn mirrored_structs() -> Vec<StructMirror> {
    use std::mem::{offset_of, size_of};
    let mut term: Vec<(String, usize)> = vec![
        ("kind".into(), offset_of!(TermSpec, kind)),
        ("flags".into(), offset_of!(TermSpec, flags)),
        ("absent".into(), offset_of!(TermSpec, absent)),
        ("class_w".into(), offset_of!(TermSpec, class_w)),
        ("weight".into(), offset_of!(TermSpec, weight)),
    ];
    term.extend((0..7).map(|i| (format!("p{i}"), offset_of!(TermSpec, p) + 4 * i)));
    term.push(("undefined".into(), offset_of!(TermSpec, undefined)));
    let chunk = vec![
        ("first_row".into(), offset_of!(ChunkRef, first_row)),
        ("n_rows".into(), offset_of!(ChunkRef, n_rows)),
        ("base".into(), offset_of!(ChunkRef, base)),
        ("_pad".into(), offset_of!(ChunkRef, _pad)),
    ];
    vec![("TermSpec", size_of::<TermSpec>(), term), ("ChunkRef", size_of::<ChunkRef>(), chunk)]
}
