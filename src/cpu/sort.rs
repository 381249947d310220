//! The reference of the GPU primitives (`radix_*.wgsl`, `scan_*.wgsl`): a stable sort by
//! (segment, key) and wrapping u32 prefix sums.

/// Pairs sorted stably by (value / segment_len, key).
pub fn sort_pairs(keys: &[u32], values: &[u32], segment_len: usize) -> (Vec<u32>, Vec<u32>) {
    let seg = segment_len.max(1);
    let mut pairs: Vec<(u32, u32)> = keys.iter().copied().zip(values.iter().copied()).collect();
    pairs.sort_by_key(|&(k, v)| (v as usize / seg, k));
    pairs.into_iter().unzip()
}

/// Exclusive or inclusive prefix sums, wrapping at 2^32 like the GPU.
pub fn prefix_scan(data: &[u32], inclusive: bool) -> Vec<u32> {
    let mut running = 0u32;
    data.iter()
        .map(|&x| {
            let before = running;
            running = running.wrapping_add(x);
            if inclusive {
                running
            } else {
                before
            }
        })
        .collect()
}

/// The order-preserving u32 of a float: sign bit set → !bits, else bits | 0x8000_0000.
pub fn float_key(f: f32) -> u32 {
    let bits = f.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}
