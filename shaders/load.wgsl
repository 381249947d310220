// load.wgsl — the input formats of the binary/multilabel kernels, shared by
// stats_partials(_subgroup).wgsl (through accumulate.wgsl) and grad.wgsl.
//
// Bindings 1 (input) and 2 (target) are raw 32-bit words, read through `load_input` and
// `load_target` by element index (chunk-local):
//   input:  f32 (one per word) or, with FLAG_INPUT_F16, IEEE half (two per word, element
//           2k in the low half: little-endian order) decoded exactly with integer operations
//           (`half_to_f32`, prelude.wgsl) — neither SHADER_F16 nor unpack2x16float (which some adapters,
//           e.g. llvmpipe without f16, lack) is needed;
//   target: f32 or, with FLAG_TARGET_U8, u8 (four per word, low byte first): 0, 1 or the
//           ignore value.
// The flags are uniform, so the branch costs nothing per element on a GPU; a specialised
// pipeline (SPEC_FLAGS, prelude.wgsl) has only the branch of its formats.

@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;

fn load_input(i: u32) -> f32 {
    if (has_flag(FLAG_INPUT_F16)) {
        return half_to_f32((input[i >> 1u] >> (16u * (i & 1u))) & 0xffffu);
    }
    return bitcast<f32>(input[i]);
}

fn load_target(i: u32) -> f32 {
    if (has_flag(FLAG_TARGET_U8)) {
        return f32((labels[i >> 2u] >> (8u * (i & 3u))) & 0xffu);
    }
    return bitcast<f32>(labels[i]);
}
