// edt_axis.wgsl — exact Euclidean distance transform, step 2, one pass per spatial axis
// (Felzenszwalb & Huttenlocher, "Distance transforms of sampled functions", 2012): every
// line along the axis is replaced, in place, by the lower envelope of the parabolas
// g_p(x) = f[p] + (spacing·(x − p))² of its finite sites p, sampled at x = 0 … len − 1.
// After the passes over all axes, dist holds the exact squared distance to the nearest
// background voxel (up to f32 rounding; exact for unit spacing while values stay < 2^24).
//
// One invocation per line, serially: (1) build the envelope left to right in this line's
// column of `scratch` — a stack of (site, f[site] bits); the top parabola is popped while
// the new site's parabola meets it at or before where the top began (where it met the one
// below); (2) read it left to right, moving on to the next parabola while its value at x is
// no higher, and write the value. Step 1 reads the whole line before step 2 writes it, and
// step 2 reads only `scratch`, so the pass works in place. Sites holding +inf are not
// parabolas; a line without any stays +inf. Mirrored by `reference::edt::edt_axis`.
//
// Line l (of first_line + invocation) starts at (l / stride)·len·stride + l % stride, its
// voxels stride apart: lines never cross images. Scratch entry k of invocation t is at
// k·lines + t, so neighbouring invocations touch neighbouring words.
//
// Bindings: 0 EdtParams (len, stride, lines, first_line, spacing, spacing_sq)
//           1 dist u32 (read_write; f32 bits) · 2 scratch vec2<u32> (read_write, len · lines)
// Dispatch: (⌈lines / LANE_WG⌉, 1, 1); workgroup LANE_WG × 1 × 1; the host splits an axis's
// lines over several dispatches when their scratch would not fit one binding.

@group(0) @binding(1) var<storage, read_write> dist: array<u32>;
@group(0) @binding(2) var<storage, read_write> scratch: array<vec2<u32>>;

// g_p(q) for the envelope entry e = (p, f[p] bits).
fn parabola(e: vec2<u32>, q: u32) -> f32 {
    let t = ep.spacing * f32(i32(q) - i32(e.x));
    return bitcast<f32>(e.y) + t * t;
}

// Where the parabolas of entries a and b (a.x < b.x) meet: the midpoint plus
// (f_b − f_a) / (2·spacing²·gap).
fn meet(a: vec2<u32>, b: vec2<u32>) -> f32 {
    let gap = f32(b.x - a.x);
    return f32(a.x) + 0.5 * gap + (bitcast<f32>(b.y) - bitcast<f32>(a.y)) / (2.0 * ep.spacing_sq * gap);
}

@compute @workgroup_size(LANE_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= ep.lines) {
        return;
    }
    let line = ep.first_line + t;
    let start = (line / ep.stride) * ep.len * ep.stride + line % ep.stride;
    let pitch = ep.lines;

    // (1) The envelope: `count` entries at scratch[k·pitch + t].
    var count = 0u;
    for (var q = 0u; q < ep.len; q++) {
        let bits = dist[start + q * ep.stride];
        if (bits == INF_BITS) {
            continue;
        }
        let site = vec2<u32>(q, bits);
        while (count >= 2u) {
            let top = scratch[(count - 1u) * pitch + t];
            let below = scratch[(count - 2u) * pitch + t];
            if (meet(top, site) > meet(below, top)) {
                break;
            }
            count -= 1u;
        }
        scratch[count * pitch + t] = site;
        count += 1u;
    }
    if (count == 0u) {
        return; // no finite site: the line stays +inf
    }

    // (2) Sample it.
    var j = 0u;
    var cur = scratch[t];
    for (var q = 0u; q < ep.len; q++) {
        var value = parabola(cur, q);
        while (j + 1u < count) {
            let next = scratch[(j + 1u) * pitch + t];
            let v = parabola(next, q);
            if (v > value) {
                break;
            }
            j += 1u;
            cur = next;
            value = v;
        }
        dist[start + q * ep.stride] = bitcast<u32>(value);
    }
}
