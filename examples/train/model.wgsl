// The model, shared by forward.wgsl and param_grad.wgsl (train.rs prepends this file to each;
// it has no entry point of its own).
//
// A SPAN×SPAN convolution (SPAN = 2·RADIUS + 1) from RGB to HIDDEN channels, a ReLU, then a
// 1×1 convolution to one logit; RADIUS 0 makes it a per-pixel MLP on the colour:
//
//   h_j(p)   = relu(b1[j] + Σ_k W1[j][k] · tap_k(p))      TAPS = 3·SPAN² taps: k = s·3 + c,
//   logit(p) = b2 + Σ_j W2[j] · h_j(p)                     s = dy·SPAN + dx the neighbour
//
// Parameters: one flat f32 array, in the order train.rs initialises them:
//   W1 (HIDDEN × TAPS) | b1 (HIDDEN) | W2 (HIDDEN) | b2 (1)
//
// Images: one vec4 per pixel (RGB, w unused), image-major then row-major: pixel
// p = (n·HEIGHT + y)·WIDTH + x. Taps beyond the border repeat the edge pixel.
//
// RADIUS, HIDDEN, WIDTH, HEIGHT and PIXELS_PER_THREAD (pixels each thread of forward.wgsl
// and param_grad.wgsl runs) are `const`s that train.rs writes ahead of this file (constants,
// not overrides, because they size private arrays). Binding 0 (the images) is declared here
// because window() reads it; each kernel declares its other bindings from 1 on.

const SPAN: u32 = 2u * RADIUS + 1u;
const NEIGHBOURS: u32 = SPAN * SPAN;
const TAPS: u32 = 3u * NEIGHBOURS;
const PARAMS: u32 = HIDDEN * (TAPS + 2u) + 1u;

@group(0) @binding(0) var<storage, read> images: array<vec4<f32>>;

fn w1_at(j: u32, k: u32) -> u32 { return j * TAPS + k; }
fn b1_at(j: u32) -> u32 { return HIDDEN * TAPS + j; }
fn w2_at(j: u32) -> u32 { return HIDDEN * (TAPS + 1u) + j; }
fn b2_at() -> u32 { return HIDDEN * (TAPS + 2u); }

// Pixel p's window: the colour of its neighbour s = dy·SPAN + dx at index s (dx, dy ∈
// 0..SPAN, RADIUS is the pixel itself), clamped to the image. Tap k is window[k / 3][k % 3].
fn window(p: u32) -> array<vec3<f32>, NEIGHBOURS> {
    let plane = WIDTH * HEIGHT;
    let image = p - p % plane;
    let x = i32(p % WIDTH);
    let y = i32((p % plane) / WIDTH);
    var out: array<vec3<f32>, NEIGHBOURS>;
    for (var s = 0u; s < NEIGHBOURS; s++) {
        let xc = u32(clamp(x + i32(s % SPAN) - i32(RADIUS), 0, i32(WIDTH) - 1));
        let yc = u32(clamp(y + i32(s / SPAN) - i32(RADIUS), 0, i32(HEIGHT) - 1));
        out[s] = images[image + yc * WIDTH + xc].rgb;
    }
    return out;
}
