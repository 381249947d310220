// edt_common.wgsl — shared by the distance-transform kernels (edt_init, edt_axis): their
// uniform `EdtParams` (binding 0, mirrored by `EdtParams` in src/gpu/edt.rs) and the bit
// pattern of +inf, the value of a voxel with no background voxel in reach yet. The kernels
// test and write +inf through its bits only (integer compares), never in float arithmetic,
// so a compiler that assumes finite floats cannot change the result.

struct EdtParams {
    n: u32,          // edt_init: voxels
    n_threads: u32,  // edt_init: invocations of the dispatch (its grid stride)
    len: u32,        // edt_axis: voxels per line (the axis's length)
    stride: u32,     // edt_axis: distance between neighbours on a line (product of later axes)
    lines: u32,      // edt_axis: lines of this dispatch (also the scratch's row pitch)
    first_line: u32, // edt_axis: first line of this dispatch
    spacing: f32,    // edt_axis: the axis's spacing
    spacing_sq: f32, // edt_axis: spacing²
}

@group(0) @binding(0) var<uniform> ep: EdtParams;

const INF_BITS: u32 = 0x7f800000u;
