// roofline_copy.wgsl — the benchmark's write roofline: reads every input byte once more and
// writes the output (one f32 per element), the memory traffic of segloss's backward pass
// (inputs read again, gradient written). Forward + backward is compared with
// roofline_reduce + roofline_copy over the same bytes.
//
// Bindings: 0 params (n_threads; chunk_len: output elements; seg_len: input vec4 words)
//           1 data array<vec4<u32>> (read) · 2 out array<f32> (read_write)
// Dispatch: (workgroups, 1, 1); workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> data: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Each invocation reads the input words in its stride and writes its output elements.
    let words = params.seg_len;
    for (var i = gid.x; i < max(words, params.chunk_len); i += params.n_threads) {
        var v = 0u;
        if (i < words) {
            let w = data[i];
            v = w.x ^ w.y ^ w.z ^ w.w;
        }
        if (i < params.chunk_len) {
            out[i] = f32(v & 0xffu);
        }
    }
}
