// radix_scatter.wgsl — LSD radix sort, pass step 3 of 3: stable scatter by digit.
//
// Algorithm: workgroup b loads its 1024 elements (invocation i holds positions 4i … 4i+3,
// so in-invocation order is input order), sorts them stably by digit in workgroup memory
// with four 1-bit splits (each: count zeros per invocation, workgroup exclusive scan,
// zeros to the front in order, ones behind in order), counts each digit's local start, and
// writes element p of digit d to offsets[d·n_blocks + b] + (p − start[d]). Equal digits keep
// their order, so the whole pass is stable and LSD passes compose into a sort. Padding
// (value 0xffffffff) sorts last and is not written.
//
// Bindings: 0 SortParams · 1 keys_in · 2 values_in · 3 offsets (exclusive scan of hist)
//           4 keys_out (read_write) · 5 values_out (read_write); all u32
// Dispatch: (n_blocks, 1, 1); workgroup 256 × 1 × 1; 10 KiB workgroup memory.

@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> values_out: array<u32>;

var<workgroup> sk: array<u32, 1024>;
var<workgroup> sv: array<u32, 1024>;
var<workgroup> digit_count: array<atomic<u32>, 16>;
var<workgroup> digit_start: array<u32, 16>;

@compute @workgroup_size(SORT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * BLOCK;
    for (var j = 0u; j < 4u; j++) {
        let p = 4u * lid + j;
        let i = base + p;
        if (i < sp.n) {
            sk[p] = keys_in[i];
            sv[p] = values_in[i];
        } else {
            sk[p] = SENTINEL;
            sv[p] = SENTINEL;
        }
    }
    if (lid < 16u) {
        atomicStore(&digit_count[lid], 0u);
    }
    workgroupBarrier();
    for (var bit = 0u; bit < 4u; bit++) {
        var k: array<u32, 4>;
        var v: array<u32, 4>;
        var b: array<u32, 4>;
        var zeros = 0u;
        for (var j = 0u; j < 4u; j++) {
            k[j] = sk[4u * lid + j];
            v[j] = sv[4u * lid + j];
            b[j] = (digit_of(k[j], v[j]) >> bit) & 1u;
            zeros += 1u - b[j];
        }
        let scan = wg_exclusive_scan(lid, zeros);
        var zeros_seen = 0u;
        for (var j = 0u; j < 4u; j++) {
            var pos: u32;
            if (b[j] == 0u) {
                pos = scan.x + zeros_seen;
                zeros_seen += 1u;
            } else {
                pos = scan.y + (4u * lid + j - scan.x - zeros_seen);
            }
            sk[pos] = k[j];
            sv[pos] = v[j];
        }
        workgroupBarrier();
    }
    for (var j = 0u; j < 4u; j++) {
        let p = 4u * lid + j;
        atomicAdd(&digit_count[digit_of(sk[p], sv[p])], 1u);
    }
    workgroupBarrier();
    if (lid == 0u) {
        var running = 0u;
        for (var d = 0u; d < 16u; d++) {
            digit_start[d] = running;
            running += atomicLoad(&digit_count[d]);
        }
    }
    workgroupBarrier();
    for (var j = 0u; j < 4u; j++) {
        let p = 4u * lid + j;
        if (sv[p] != SENTINEL) {
            let d = digit_of(sk[p], sv[p]);
            let out = offsets[d * sp.n_blocks + wid.x] + (p - digit_start[d]);
            keys_out[out] = sk[p];
            values_out[out] = sv[p];
        }
    }
}
