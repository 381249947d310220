// lovasz_key.wgsl — float errors ↔ u32 sort keys, shared by the Lovasz kernels.
//
// ord(f): sign bit set → !bits, else bits | 0x80000000 — increasing in f (−0 just below +0).
// error_key(e) = !ord(e): ascending keys ⇔ descending errors. Finite errors never map to
// 0xffffffff, which marks ignored pixels. key_error inverts error_key exactly.
// error_key(e) ≤ LOVASZ_KEEP_MAX (0x7ffffffe, generated) ⇔ e > 0: the pixels the sort keeps.

fn error_key(e: f32) -> u32 {
    let bits = bitcast<u32>(e);
    let ord = select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
    return ~ord;
}

fn key_error(key: u32) -> f32 {
    let o = ~key;
    if ((o & 0x80000000u) != 0u) {
        return bitcast<f32>(o ^ 0x80000000u);
    }
    return bitcast<f32>(~o);
}
