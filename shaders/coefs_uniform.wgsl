// coefs_uniform.wgsl — the backward coefficients as a uniform buffer (binding 3) of
// UNIFORM_COEFS rows: the multiclass backward's table where the chunk's rows fit. The same
// values as coefs_storage.wgsl; a uniform buffer is for tables that every invocation reads at
// the same index (here: class c of the workgroup's image, in a loop over c). On a CPU adapter a
// storage load is a gather per SIMD lane even at one address, a uniform load at a uniform
// index one scalar load: the multiclass backward 4×19×256×512 took 83 → 66 ms on lavapipe
// (GPU time, medians of 8 interleaved runs; PERFORMANCE.md).

@group(0) @binding(3) var<uniform> coefs: array<Coef, UNIFORM_COEFS>;

fn coef_at(row: u32) -> Coef {
    return coefs[row];
}
