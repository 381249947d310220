// coefs_storage.wgsl — the backward coefficients as a storage buffer (binding 3), any number
// of rows: the multiclass backward's table where a chunk has more than UNIFORM_COEFS rows,
// and in plans (whose finalize.wgsl writes the coefficients on the GPU). See coefs_uniform.wgsl.

@group(0) @binding(3) var<storage, read> coefs: array<Coef>;

fn coef_at(row: u32) -> Coef {
    return coefs[row];
}
