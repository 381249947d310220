#!/usr/bin/env python3
"""Applies a list of small, realistic mutants to the shaders and the Rust code one at a time,
runs the tests that should catch each, and reports which tests failed (killed) or whether the
mutant survived. Every file is restored after each mutant (also on Ctrl-C).

    python3 scripts/mutants.py                 # every mutant, its listed test binaries
    python3 scripts/mutants.py --suite         # every mutant, the whole suite (slow: hours here)
    python3 scripts/mutants.py focal_gamma_default_x10 lovasz_unstable_sort   # some mutants

Backend: WGPU_BACKEND from the environment (default vulkan). Each mutant rebuilds the crate in
release mode (~1 min on 2 cores). The results of a run are recorded in TESTING.md.

A mutant is (name, why it is realistic, edits [(file, old, new)], test binaries; "lib" is the
crate's unit tests). `old` must
occur exactly once in its file, so that a mutant which no longer applies is reported, not
silently skipped.
"""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MUTANTS = [
    # --- issue 18, part 1: Lovasz ties -------------------------------------------------
    ("lovasz_unstable_sort", "reference sorts errors with an unstable sort",
     [("src/cpu/lovasz.rs", "items.sort_by(|a, b| b.error.total_cmp(&a.error));",
       "items.sort_unstable_by(|a, b| b.error.total_cmp(&a.error));")],
     ["lovasz_ties", "lovasz"]),
    # --- part 2: byte order -----------------------------------------------------------
    ("npy_big_endian_as_little", "a big-endian array read as little-endian",
     [("src/io/npy.rs", "        let elem_size = match descr {", "        let elem_size = match descr.replace('>', \"<\").as_str() {"),
      ("src/io/npy.rs", "Ok(Header { descr: descr.to_string(),", "Ok(Header { descr: descr.replace('>', \"<\"),")],
     ["npy_byte_order", "cli_loss"]),
    # --- part 3: empty masks ----------------------------------------------------------
    ("metrics_empty_convention_flipped", "0 when both are empty, 1 when only one is",
     [("src/stats.rs", "            } else if all_empty {\n                1.0\n            } else {\n                0.0\n",
       "            } else if all_empty {\n                0.0\n            } else {\n                1.0\n")],
     ["empty_masks", "eval", "known_values"]),
    ("metrics_empty_always_one", "every zero denominator gives 1",
     [("src/stats.rs", "            } else if all_empty {\n                1.0\n            } else {\n                0.0\n",
       "            } else if all_empty {\n                1.0\n            } else {\n                1.0\n")],
     ["empty_masks", "eval", "known_values"]),
    # --- part 5: accumulation ---------------------------------------------------------
    ("cascade_removed", "one running f32 sum per invocation (what the Kahan loop compiled to): blocks of one value, all added to one level",
     [("shaders/accumulate.wgsl", "for (var b = 0u; b < 8u; b++) {", "for (var b = 0u; b < 1u; b++) {"),
      ("shaders/prelude.wgsl", "    r.l1 = part_add(r.l1, block);", "    r.l3 = part_add(r.l3, block);")],
     ["accuracy_at_scale"]),
    ("cascade_one_level", "blocks of 8 only, then one running sum",
     [("shaders/prelude.wgsl", "    r.l1 = part_add(r.l1, block);", "    r.l3 = part_add(r.l3, block);")],
     ["accuracy_at_scale"]),
    ("cascade_drops_open_blocks", "the final total forgets the open blocks (l1)",
     [("shaders/prelude.wgsl", "part_add(part_add(part_add(c.l0, c.l1), c.l2), c.l3)",
       "part_add(part_add(c.l0, c.l2), c.l3)")],
     ["accuracy_at_scale", "gpu_vs_reference"]),
    ("cascade_drops_block", "the final total forgets the open block l0 (the multiclass pass's)",
     [("shaders/prelude.wgsl", "part_add(part_add(part_add(c.l0, c.l1), c.l2), c.l3)",
       "part_add(part_add(c.l1, c.l2), c.l3)")],
     ["accuracy_at_scale", "multiclass"]),
    ("class_cascade_removed", "the multiclass pass adds every value to one running sum",
     [("shaders/prelude.wgsl", "    r.k = r.k + 1u;\n    if ((r.k & 7u) == 0u) {\n        r.l1 = part_add(r.l1, r.l0);",
       "    r.k = r.k + 1u;\n    if (false) {\n        r.l1 = part_add(r.l1, r.l0);")],
     ["accuracy_at_scale"]),
    ("final_lanes_skips_first", "the lane strategy's final stage skips each segment's first partial",
     [("shaders/stats_final_lanes.wgsl", "for (var g = 0u; g < params.wg_per_seg; g++) {",
       "for (var g = 1u; g < params.wg_per_seg; g++) {")],
     ["gpu_vs_reference", "multiclass"]),
    ("planes_confusion_not_counted", "the class-plane pass forgets the confusion matrix",
     [("shaders/class_pixels.wgsl", "let px = classify(img, pix, true);", "let px = classify(img, pix, false);")],
     ["multiclass"]),
    ("planes_ignored_pixels_summed", "the class-plane sums include pixels marked NO_CLASS",
     [("shaders/class_planes.wgsl", "            if (packed == NO_CLASS) {\n                continue;\n            }\n", "")],
     ["multiclass"]),
    ("planes_q_from_class_word", "the focal sum reads 1 − p_k from the wrong third of the pixel summary",
     [("shaders/class_planes.wgsl", "q = bitcast<f32>(pixels[2u * n + flat]);", "q = bitcast<f32>(pixels[n + flat]);")],
     ["multiclass"]),
    ("planes_stride_one_workgroup", "a plane split over several workgroups steps as if it had one",
     [("shaders/class_planes.wgsl", "let stride = per_row * WG_SIZE;", "let stride = WG_SIZE;")],
     ["multiclass", "accuracy_at_scale"]),
    ("planes_partial_without_workgroup", "each workgroup of a plane writes the same partials",
     [("shaders/class_planes.wgsl", "partials[(row * per_row + wid.x) * WG_SIZE + lid]", "partials[row * per_row * WG_SIZE + lid]")],
     ["multiclass", "accuracy_at_scale"]),
    ("uniform_coefs_next_row", "the uniform coefficient table is read one row off",
     [("shaders/coefs_uniform.wgsl", "    return coefs[row];", "    return coefs[min(row + 1u, UNIFORM_COEFS - 1u)];")],
     ["multiclass", "gradients"]),
    ("uniform_coefs_for_every_chunk", "chunks with more rows than the uniform table holds still use it",
     [("src/gpu/chunk.rs", "!matches!(self.stage, Stage::Sigmoid { .. }) && self.rows <= UNIFORM_COEFS as usize",
       "!matches!(self.stage, Stage::Sigmoid { .. })")],
     ["multiclass"]),
    ("log_sums_always_skipped", "the forward pass leaves out the BCE sum even where a loss reads it",
     [("shaders/prelude.wgsl", "    return !has_flag(no_flag);", "    return no_flag != FLAG_NO_BCE && !has_flag(no_flag);")],
     ["log_sums", "gpu_vs_reference"]),
    # --- part 4: defaults and parameters (reference and shader alike) -------------------
    ("focal_gamma_default_x10", "default focal γ 2 → 20",
     [("src/loss/focal.rs", "Focal { alpha: Some(0.8), gamma: 2.0,", "Focal { alpha: Some(0.8), gamma: 20.0,")],
     ["pinned_defaults", "known_values"]),
    ("focal_gamma_default_div10", "default focal γ 2 → 0.2",
     [("src/loss/focal.rs", "Focal { alpha: Some(0.8), gamma: 2.0,", "Focal { alpha: Some(0.8), gamma: 0.2,")],
     ["pinned_defaults", "known_values"]),
    ("focal_alpha_default_div10", "default focal α 0.8 → 0.08",
     [("src/loss/focal.rs", "Focal { alpha: Some(0.8), gamma: 2.0,", "Focal { alpha: Some(0.08), gamma: 2.0,")],
     ["pinned_defaults", "known_values"]),
    ("dice_smooth_default_x10", "default Dice smoothing 1 → 10",
     [("src/loss/dice.rs", "Dice { smooth_nr: 1.0, smooth_dr: 1.0,", "Dice { smooth_nr: 10.0, smooth_dr: 10.0,")],
     ["pinned_defaults", "empty_masks", "known_values"]),
    ("iou_smooth_default_x10", "default IoU smoothing 1 → 10",
     [("src/loss/iou.rs", "Iou { smooth: 1.0, eps: 1e-7 }", "Iou { smooth: 10.0, eps: 1e-7 }")],
     ["pinned_defaults", "empty_masks", "known_values"]),
    ("tversky_smooth_default_x10", "default Tversky smoothing 1 → 10",
     [("src/loss/tversky.rs", "            beta: 0.5,\n            smooth: 1.0,", "            beta: 0.5,\n            smooth: 10.0,")],
     ["pinned_defaults", "known_values"]),
    ("combo_beta_default_div10", "default Combo β 0.5 → 0.05",
     [("src/loss/combo.rs", "Combo { ce_ratio: 0.5, beta: 0.5,", "Combo { ce_ratio: 0.5, beta: 0.05,")],
     ["pinned_defaults", "known_values"]),
    ("combo_beta_swapped", "β and 1 − β swapped in the WCE, shader and reference alike",
     [("shaders/prelude.wgsl", "    let wce = b * t * a.nlp + (1.0 - b) * (1.0 - t) * a.nlq;",
       "    let wce = (1.0 - b) * t * a.nlp + b * (1.0 - t) * a.nlq;"),
      ("shaders/prelude.wgsl", "        g += c.wce * (b * t * a.d_nlp + (1.0 - b) * (1.0 - t) * a.d_nlq);",
       "        g += c.wce * ((1.0 - b) * t * a.d_nlp + b * (1.0 - t) * a.d_nlq);"),
      ("src/cpu/pixel.rs", "    s.wce += pp.wce_beta * t * a.nlp + (1.0 - pp.wce_beta) * (1.0 - t) * a.nlq;",
       "    s.wce += (1.0 - pp.wce_beta) * t * a.nlp + pp.wce_beta * (1.0 - t) * a.nlq;"),
      ("src/cpu/pixel.rs", "    g += c.wce * (pp.wce_beta * t * a.d_nlp + (1.0 - pp.wce_beta) * (1.0 - t) * a.d_nlq);",
       "    g += c.wce * ((1.0 - pp.wce_beta) * t * a.d_nlp + pp.wce_beta * (1.0 - t) * a.d_nlq);")],
     ["pinned_defaults", "known_values"]),
    ("label_smoothing_full_shift", "t' = t(1 − s) + s instead of + s/2, shader and reference alike",
     [("shaders/prelude.wgsl", "    let ts = t * (1.0 - params.label_smoothing) + 0.5 * params.label_smoothing;\n    let bce",
       "    let ts = t * (1.0 - params.label_smoothing) + params.label_smoothing;\n    let bce"),
      ("shaders/prelude.wgsl", "        let ts = t * (1.0 - params.label_smoothing) + 0.5 * params.label_smoothing;",
       "        let ts = t * (1.0 - params.label_smoothing) + params.label_smoothing;"),
      ("src/cpu/pixel.rs", "    let ts = t * (1.0 - pp.label_smoothing) + 0.5 * pp.label_smoothing;\n    s.",
       "    let ts = t * (1.0 - pp.label_smoothing) + pp.label_smoothing;\n    s."),
      ("src/cpu/pixel.rs", "    let ts = t * (1.0 - pp.label_smoothing) + 0.5 * pp.label_smoothing;\n    g",
       "    let ts = t * (1.0 - pp.label_smoothing) + pp.label_smoothing;\n    g")],
     ["pinned_defaults", "known_values"]),
    ("monai_smooth_nr_x10", "MONAI Dice smooth_nr 1e-5 → 1e-4",
     [("src/preset/monai.rs", 'let (nr, dr) = (kw.f64("smooth_nr", 1e-5)?, kw.f64("smooth_dr", 1e-5)?);',
       'let (nr, dr) = (kw.f64("smooth_nr", 1e-4)?, kw.f64("smooth_dr", 1e-5)?);')],
     ["pinned_defaults", "presets", "peer_test_values"]),
    ("monai_smooth_dr_x10", "MONAI Dice smooth_dr 1e-5 → 1e-4",
     [("src/preset/monai.rs", 'let (nr, dr) = (kw.f64("smooth_nr", 1e-5)?, kw.f64("smooth_dr", 1e-5)?);',
       'let (nr, dr) = (kw.f64("smooth_nr", 1e-5)?, kw.f64("smooth_dr", 1e-4)?);')],
     ["pinned_defaults", "presets", "peer_test_values"]),
    ("monai_focal_gamma_x10", "MONAI FocalLoss γ 2 → 20",
     [("src/preset/monai.rs", '    let gamma = kw.f64("gamma", 2.0)?;', '    let gamma = kw.f64("gamma", 20.0)?;')],
     ["pinned_defaults", "presets", "peer_test_values"]),
    ("monai_tversky_alpha_div10", "MONAI Tversky α 0.5 → 0.05",
     [("src/preset/monai.rs", '                alpha: kw.f64("alpha", 0.5)?,\n                beta: kw.f64("beta", 0.5)?,\n                smooth: kw.f64("smooth_nr", 1e-5)?,',
       '                alpha: kw.f64("alpha", 0.05)?,\n                beta: kw.f64("beta", 0.5)?,\n                smooth: kw.f64("smooth_nr", 1e-5)?,')],
     ["pinned_defaults", "presets", "peer_test_values"]),
    ("smp_smooth_factor_symmetric", "smp smooth_factor as torch's t(1 − s) + s/2",
     [("src/preset/smp.rs", 'let f = kw.f64("smooth_factor", 0.0)?;', 'let f = kw.f64("smooth_factor", 0.0)? / 2.0;')],
     ["pinned_defaults", "presets", "peer_test_values"]),
    # --- WGSL kernels: per-pixel math ---------------------------------------------------
    ("wgsl_focal_gamma2_cube", "the γ = 2 shortcut cubes instead of squaring",
     [("shaders/prelude.wgsl", "    if (g == 2.0) {\n        return qt * qt;", "    if (g == 2.0) {\n        return qt * qt * qt;")],
     ["gpu_vs_reference", "pinned_defaults"]),
    ("wgsl_log1p_short", "log1p series cut after s^9 (1.5e-6 relative at x = 0)",
     [("shaders/prelude.wgsl", "        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))))", "        + s2 * (0.0 + s2 * (0.0))))))")],
     ["gpu_vs_reference", "pinned_defaults", "accuracy_at_scale"]),
    ("wgsl_pos_weight_on_negatives", "pos_weight multiplies the negative term",
     [("shaders/prelude.wgsl", "    let bce = params.pos_weight * ts * a.nlp + (1.0 - ts) * a.nlq;",
       "    let bce = ts * a.nlp + params.pos_weight * (1.0 - ts) * a.nlq;")],
     ["gpu_vs_reference", "pinned_defaults"]),
    ("wgsl_threshold_strict", "predicted positive is x > 0 instead of x ≥ 0",
     [("shaders/prelude.wgsl", "    return x >= 0.0;\n}", "    return x > 0.0;\n}")],
     ["gpu_vs_reference", "empty_masks", "known_values", "accuracy_at_scale"]),
    ("wgsl_alpha_t_swapped", "α_t takes α for negatives",
     [("shaders/prelude.wgsl", "        return params.focal_alpha * t + (1.0 - params.focal_alpha) * (1.0 - t);",
       "        return params.focal_alpha * (1.0 - t) + (1.0 - params.focal_alpha) * t;")],
     ["gpu_vs_reference", "pinned_defaults"]),
    ("wgsl_grad_sad_sign", "the |p − t| coefficient with the wrong sign (equivalent: no loss sets Coef.sad)",
     [("shaders/prelude.wgsl", "c.sad * sg + c.smin", "c.sad * -sg + c.smin")],
     ["gradients", "gpu_vs_reference"]),
    ("wgsl_tree_skips_half", "the tree reduction starts at WG_SIZE / 4",
     [("shaders/tree.wgsl", "for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u)", "for (var s = WG_SIZE / 4u; s > 0u; s >>= 1u)")],
     ["gpu_vs_reference", "accuracy_at_scale"]),
    ("wgsl_final_skips_partial", "stats_final drops the last partial",
     [("shaders/stats_final.wgsl", "for (var g = lid; g < params.wg_per_seg; g += WG_SIZE)",
       "for (var g = lid; g + 1u < params.wg_per_seg; g += WG_SIZE)")],
     ["gpu_vs_reference", "accuracy_at_scale"]),
    # --- issue 15: the lane sort and Lovasz over the kept pixels only ------------------
    ("lovasz_labels_of_kept_only", "the Lovasz label total G counts only the pixels with error > 0",
     [("shaders/lovasz_count.wgsl", "n += vec4<u32>(1u, values[g] & 1u, select(0u, 1u, key <= LOVASZ_KEEP_MAX), 0u);",
       "n += vec4<u32>(1u, (values[g] & 1u) * select(0u, 1u, key <= LOVASZ_KEEP_MAX), "
       "select(0u, 1u, key <= LOVASZ_KEEP_MAX), 0u);")],
     ["lovasz"]),
    ("lane_scatter_keeps_dropped", "the lane sort's first pass moves the pixels it left out of the counts",
     [("shaders/radix_lane_scatter.wgsl", "        if (sp.drop_unkept != 0u && k > sp.keep_max) {\n            continue;\n        }\n",
       "")],
     ["lovasz"]),
    ("lane_scan_always_inclusive", "the lane scan ignores `inclusive`",
     [("shaders/scan_lane_apply.wgsl", "select(running, next, sp.inclusive != 0u)", "next")],
     ["sort_scan", "lovasz"]),
    ("lane_scatter_reversed_runs", "lane cursors taken from the wrong lane (t + 1)",
     [("shaders/radix_lane_scatter.wgsl", "cursor[d] = offsets[d * lanes + t];", "cursor[d] = offsets[d * lanes + min(t + 1u, lanes - 1u)];")],
     ["sort_scan"]),
    # --- the survivors of the first cargo-mutants sample (TESTING.md), replayed -----------
    ("cm_value_and_coefficients_constant", "cargo-mutants: Loss::value_and_coefficients → Some((1.0, 0))",
     [("src/loss/mod.rs", "    pub fn value_and_coefficients(&self, s: &Stats) -> Option<(f64, Coefficients)> {\n",
       "    pub fn value_and_coefficients(&self, s: &Stats) -> Option<(f64, Coefficients)> {\n        if s.count < u64::MAX {\n            return Some((1.0, Default::default()));\n        }\n")],
     ["catalogue"]),
    ("cm_stats_fp_constant", "cargo-mutants: Stats::fp → −1",
     [("src/stats.rs", "    pub fn fp(&self) -> f64 {\n        self.sp - self.tp\n", "    pub fn fp(&self) -> f64 {\n        -1.0\n")],
     ["pinned_defaults", "presets"]),
    ("cm_metrics_mean_remainder", "cargo-mutants: Metrics::mean divides with % instead of /",
     [("src/stats.rs", "Metrics { dice: acc[0] / k,", "Metrics { dice: acc[0] % k,")],
     ["stats_transport"]),
    ("cm_npy_u2_arm_deleted", "cargo-mutants: the '<u2' arm of Header::empty deleted",
     [("src/io/npy.rs", '            "<u2" => NpyData::U16(Vec::with_capacity(n)),\n', "")],
     ["npy_byte_order"]),
    # --- MCC and the distance losses ------------------------------------------------------
    ("mcc_smooth_dr_default_x10", "default MCC smooth_dr 1e-5 → 1e-4",
     [("src/loss/mcc.rs", "Mcc { eps: 0.0, smooth_nr: 0.0, smooth_dr: 1e-5, perfect_is_zero: true }",
       "Mcc { eps: 0.0, smooth_nr: 0.0, smooth_dr: 1e-4, perfect_is_zero: true }")],
     ["pinned_defaults"]),
    ("mcc_perfect_rule_dropped", "MONAI's FP = FN = 0 → 0 rule dropped, reference and shader alike",
     [("src/loss/mcc.rs", "if self.perfect_is_zero && fp == 0.0 && fn_ == 0.0 {", "if false {"),
      ("shaders/finalize.wgsl", "if ((t.flags & T_MCC_PERFECT) != 0u && fp0 == 0.0 && fn0 == 0.0) {", "if (false) {")],
     ["pinned_defaults", "presets"]),
    ("mcc_wgsl_tn_sign", "the finalize kernel's TN adds FP instead of subtracting it",
     [("shaders/finalize.wgsl", "let tn = ((n - s.f0.y) - fp0 + e) * k;", "let tn = ((n - s.f0.y) + fp0 + e) * k;")],
     ["catalogue"]),
    ("hausdorff_alpha_default_1", "default Hausdorff α 2 → 1",
     [("src/loss/distance.rs", "HausdorffDt { alpha: 2.0, log: false }\n    }", "HausdorffDt { alpha: 1.0, log: false }\n    }")],
     ["distance_losses"]),
    ("boundary_inside_no_offset", "the boundary loss's inside distance without the − 1",
     [("src/loss/distance.rs", "true => -(inside[k] as f64 - 1.0),", "true => -(inside[k] as f64),")],
     ["distance_losses", "presets"]),
    ("distance_empty_plane_kept", "empty and full planes keep their (infinite) distances",
     [("src/loss/distance.rs", "        if plane.iter().all(|&m| m != 0) || plane.iter().all(|&m| m == 0) {",
       "        if false {")],
     ["distance_losses", "presets"]),
    # --- the last two survivors of the first cargo-mutants sample, examined (2026-12-07) ---
    ("cm_dice_undefined_weight_div", "cargo-mutants: an all-ignored image's MONAI Dice value divided by mean(weight)",
     [("src/preset/monai.rs", "let term = undefined(term, (1.0 - nr / dr) * mean_w);",
       "let term = undefined(term, (1.0 - nr / dr) / mean_w);")],
     ["presets"]),
    ("cm_focal_alpha_list_times", "cargo-mutants: MONAI sigmoid focal with a list alpha weighted a·factor, not (1 + a)·factor",
     [("src/preset/monai.rs", "let w = (1.0 + a) * factor * weights", "let w = (1.0 * a) * factor * weights")],
     ["presets"]),
    # --- clDice, the Wasserstein Dice loss and the NIfTI reader (2026-12-07) ---------------
    ("cldice_harmonic_smooth_dropped", "clDice's harmonic mean without its smoothing s",
     [("src/loss/cldice.rs", "let sum = tprec + tsens + self.smooth;", "let sum = tprec + tsens;")],
     ["skeleton_losses", "presets"]),
    ("skeleton_relu_passes_zero", "the skeleton's backward passes the gradient where image − opening = 0",
     [("src/cpu/skeleton.rs", "g_residue[j] = if r > 0.0 { g_delta } else { 0.0 };",
       "g_residue[j] = if r >= 0.0 { g_delta } else { 0.0 };")],
     ["skeleton_losses", "presets"]),
    ("wasserstein_matrix_transposed", "the Wasserstein distance reads M[predicted, target]",
     [("src/loss/wasserstein.rs", "let w: f64 = (0..c).map(|k| dist[y * c + k] * soft",
       "let w: f64 = (0..c).map(|k| dist[k * c + y] * soft")],
     ["skeleton_losses", "presets"]),
    ("wasserstein_gdl_weight_without_one", "GDL class weights 1/count instead of 1/(count + 1)",
     [("src/loss/wasserstein.rs", "count.iter().map(|&n| 1.0 / (n + 1.0)).collect()",
       "count.iter().map(|&n| 1.0 / n.max(1.0)).collect()")],
     ["skeleton_losses", "presets"]),
    ("nifti_byte_order_ignored", "NIfTI voxels always read little-endian",
     [("src/io/nifti.rs", "        if h.little {\n            b[..c.len()]", "        if true || h.little {\n            b[..c.len()]")],
     ["nifti"]),
    ("nifti_vox_offset_ignored", "NIfTI voxels read right after the header, whatever vox_offset says",
     [("src/io/nifti.rs", "r.take((h.vox_offset - HEADER) as u64)", "r.take(4)")],
     ["nifti"]),
    ("skeleton_dilate_last_max", "the skeleton's dilation sends a tied window's gradient to its last maximum",
     [("src/cpu/skeleton.rs", "along_axis(&value, dims, axis, greater)", "along_axis(&value, dims, axis, |a, b| a >= b)")],
     ["skeleton_losses", "presets"]),
    ("skeleton_min_tie_to_left", "the erosion's nested minimum gives a tie wholly to the left side, not halves",
     [("src/cpu/skeleton.rs", "_ => (0.5, 0.5),", "_ => (1.0, 0.0),")],
     ["skeleton_losses", "presets"]),
    # --- the second fresh cargo-mutants sample's survivor (2026-12-07) ---
    ("cm_softmax_focal_nobg_lists_c", "cargo-mutants: MONAI softmax focal without background builds C, not C − 1, class weights",
     [("src/preset/monai.rs", "Some((0..c - 1).map(|k| a.as_ref()", "Some((0..c / 1).map(|k| a.as_ref()")],
     ["presets"]),
    ("cm_nifti_budget_equal", "cargo-mutants: the NIfTI reader's own budget check `>` → `==`",
     [("src/io/nifti.rs", "    if h.voxels() > max_values {", "    if h.voxels() == max_values {")],
     ["nifti"]),
    ("cm_class_grad_sad_div", "cargo-mutants: the reference's multiclass Σ|p − t| term divides by the sign (0/0 where p = t)",
     [("src/cpu/classes.rs", "cf.spp * 2.0 * p[c] + cf.sad * sign +", "cf.spp * 2.0 * p[c] + cf.sad / sign +")],
     ["multiclass"]),
    ("cm_npy_one_dim_tuple", "cargo-mutants: a 1-D .npy shape written as (5) — an int, not a tuple",
     [("src/io/npy.rs", '            1 => format!("({},)", self.shape[0]),\n', "")],
     ["lib"]),
    # --- fifth fresh cargo-mutants sample (2026-12-07) ---
    ("cm_npy_f16_nan_payload_shift", "cargo-mutants: an f16 NaN's payload shifted the wrong way (NaN read as infinity)",
     [("src/io/npy.rs", "(0x1f, f) => sign | 0x7f80_0000 | (f << 13),", "(0x1f, f) => sign | 0x7f80_0000 | (f >> 13),")],
     ["lib"]),
    ("cm_npy_v1_reads_v2_length", "cargo-mutants: the two extra length bytes read for a version-1 header too",
     [("src/io/npy.rs", "if got == 10 && matches!(prefix[6], 2 | 3) {", "if got == 10 || matches!(prefix[6], 2 | 3) {")],
     ["lib"]),
    ("cm_monai_softmax_alpha_any_length", "cargo-mutants: MONAI softmax focal accepts an alpha list of any length",
     [("src/preset/monai.rs", "Some(a) if a.len() == c => Some(a),", "Some(a) if true => Some(a),")],
     ["presets"]),
    ("cm_npy_limit_exclusive", "cargo-mutants: an array of exactly the element limit refused",
     [("src/io/npy.rs", "if header.count > max_elements {", "if header.count >= max_elements {")],
     ["lib"]),
    ("cm_metrics_all_empty_any", "all-empty read as 'some count is 0' (the rewrite of an equivalent survivor)",
     [("src/stats.rs", "let all_empty = tp == 0 && fp == 0 && fn_ == 0;", "let all_empty = tp == 0 || fp == 0 || fn_ == 0;")],
     ["lib", "empty_masks", "known_values"]),
    ("cm_mcc_validate_ok", "cargo-mutants: Mcc's parameter checks skipped (the sixth sample's third survivor)",
     [("src/loss/mcc.rs", "        non_negative(\"Mcc\", \"eps\", self.eps)?;", "        return Ok(());")],
     ["bad_input"]),
    ("cm_monai_tversky_undefined_rem", "cargo-mutants: MONAI Tversky's undefined-image value 1 − nr % dr (the sixth sample's fourth survivor)",
     [("src/preset/monai.rs", "let value = 1.0 - kw.f64(\"smooth_nr\", 1e-5)? / kw.f64(\"smooth_dr\", 1e-5)?;\n            let term = undefined(aggregate(loss, batch).with_classes(classes), value);\n            Ok(vec![part(input, \"monai.TverskyLoss\"",
       "let value = 1.0 - kw.f64(\"smooth_nr\", 1e-5)? % kw.f64(\"smooth_dr\", 1e-5)?;\n            let term = undefined(aggregate(loss, batch).with_classes(classes), value);\n            Ok(vec![part(input, \"monai.TverskyLoss\"")],
     ["presets"]),
    ("cm_npy_read_retries_errors", "cargo-mutants: read_up_to retries every error but an interruption (the seventh sample's survivor)",
     [("src/io/npy.rs", "Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}", "Err(e) if e.kind() != std::io::ErrorKind::Interrupted => {}")],
     ["lib"]),
    ("cm_monai_focal_alpha_negative_eq", "cargo-mutants: MONAI sigmoid FocalLoss's alpha list check a < 0 → a == 0 (the seventh sample's second survivor)",
     [("src/preset/monai.rs", "            if a < 0.0 {", "            if a == 0.0 {")],
     ["presets"]),
    ("cm_gdl_row_some", "cargo-mutants: Generalized Dice given a per-segment function (the eighth sample's first survivor)",
     [("src/loss/generalized_dice.rs", "    fn row(&self, _s: &Stats) -> Option<(f64, Coefficients)> {\n        None\n    }",
       "    fn row(&self, _s: &Stats) -> Option<(f64, Coefficients)> {\n        Some((1.0, Default::default()))\n    }")],
     ["catalogue"]),
    ("cm_monai_softmax_focal_nobg_sum_scale", "cargo-mutants: MONAI softmax FocalLoss without background, reduction=sum, multiplied by H·W instead of divided (the eighth sample's second survivor)",
     [("src/preset/monai.rs", "        Scale { pixels: -1, ..Scale::default() }\n    } else {\n        Scale { images: -1, classes: -1, pixels: -1, dropped_classes: 1 }",
       "        Scale { pixels: 1, ..Scale::default() }\n    } else {\n        Scale { images: -1, classes: -1, pixels: -1, dropped_classes: 1 }")],
     ["presets"]),
    ("validate_tversky_skipped", "the catalogue-wide parameter test: Tversky's parameter checks skipped",
     [("src/loss/tversky.rs", "        non_negative(\"Tversky\", \"alpha\", self.alpha)?;", "        return Ok(());")],
     ["lib"]),
    ("validate_iou_eps_unchecked", "the catalogue-wide parameter test: IoU's eps not checked",
     [("src/loss/iou.rs", "non_negative(\"Iou\", \"eps\", self.eps)?;", "")],
     ["lib"]),
    ("spec_terms_without_focal", "specialisation: the backward pipeline made without the focal term it needs",
     [("src/gpu/specialize.rs", "| term(c, 5, TERM_FOCAL)", "")],
     ["lib", "gradients", "multiclass", "pinned_defaults"]),
    ("spec_terms_without_spp", "specialisation: the backward pipeline made without the Σp² term (squared Dice)",
     [("src/gpu/specialize.rs", "acc | term(c, 2, TERM_SPP)", "acc")],
     ["gradients", "gpu_vs_reference", "multiclass"]),
    ("spec_terms_without_smin", "specialisation: the backward pipeline made without the Σmin(p, t) term (SoftL1 true positives)",
     [("src/gpu/specialize.rs", "            | term(c, 7, TERM_SMIN)\n", "")],
     ["gradients", "gpu_vs_reference", "multiclass"]),
    ("declared_terms_dice_none", "a plan's backward compiled without squared Dice's Σp² and soft-TP Dice's Σmin terms",
     [("src/loss/dice.rs", "        region_terms(self.tp_form, self.squared)", "        0")],
     ["lib", "plan"]),
    ("declared_terms_ce_without_wce", "a plan's backward compiled without cross-entropy's label-smoothing (WCE) term",
     [("src/loss/cross_entropy.rs", "        TERM_BCE | TERM_WCE\n", "        TERM_BCE\n")],
     ["lib", "plan"]),
    ("spec_gamma_two_as_one", "specialisation: γ = 2 compiled as γ = 1",
     [("src/gpu/specialize.rs", "2.0 => GAMMA_TWO,", "2.0 => GAMMA_ONE,")],
     ["gpu_vs_reference"]),
]


def run(cmd, env):
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout, time.time() - t0


def main():
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        print("mutants:", ", ".join(m[0] for m in MUTANTS))
        return
    if "--list" in sys.argv:
        for name, why, _, tests in MUTANTS:
            print(f"{name}: {why} (tests: {', '.join(tests)})")
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    suite = "--suite" in sys.argv
    chosen = [m for m in MUTANTS if not args or m[0] in args]
    env = dict(os.environ)
    env.setdefault("WGPU_BACKEND", "vulkan")
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    results = []
    for name, why, edits, tests in chosen:
        saved = {}
        try:
            for f, old, new in edits:
                path = os.path.join(ROOT, f)
                text = saved.get(f) or open(path).read()
                saved.setdefault(f, text)
                cur = open(path).read()
                if cur.count(old) != 1:
                    raise SystemExit(f"{name}: '{old[:60]}' occurs {cur.count(old)} times in {f}")
                open(path, "w").write(cur.replace(old, new))
            cmd = ["cargo", "test", "--release", "--no-fail-fast"]
            if not suite:
                for t in tests:
                    cmd += ["--lib"] if t == "lib" else ["--test", t]
            rc, out, secs = run(cmd, env)
            # "---- name stdout ----" heads each failing test's output (robust to interleaved stderr).
            failed = sorted(set(re.findall(r"^---- (\S+) stdout ----", out, re.M)))
            build_error = rc != 0 and not failed and "error[" in out
            if build_error:
                verdict = "killed (does not build)"
            elif rc != 0:
                verdict = "killed"
            else:
                verdict = "SURVIVED"
            results.append((name, why, verdict, failed))
            print(f"{name}: {verdict} in {secs:.0f}s; failing: {', '.join(failed) or '-'}", flush=True)
        finally:
            for f, text in saved.items():
                open(os.path.join(ROOT, f), "w").write(text)
    killed = sum(1 for r in results if r[2] != "SURVIVED")
    print(f"\n{killed}/{len(results)} killed ({100.0 * killed / max(1, len(results)):.0f}%)")
    for name, why, verdict, failed in results:
        print(f"| {name} | {why} | {verdict} | {', '.join(failed) or '-'} |")


if __name__ == "__main__":
    main()
