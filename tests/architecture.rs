//! The shape of the code, checked: no import cycle between the crate's top-level modules,
//! and no source or shader file over 700 lines without a reason written at its top.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The text of a file without its unit-test module (test code may reach across layers).
fn non_test_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Every module of the crate (`engine`, `gpu::blocking`, `loss::dice`, …) and its file.
fn modules() -> Vec<(String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, "rs", &mut all);
    let mut out = Vec::new();
    for path in all {
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts.first().is_some_and(|p| p == "lib" || p == "bin") {
            continue;
        }
        out.push((parts.join("::"), path));
    }
    out
}

/// The paths a module names: `crate::a::b`, `super::a`, and the members of grouped imports
/// `crate::{a, b::c}`, as absolute module paths (`a::b`).
fn named_paths(module: &str, text: &str) -> Vec<String> {
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split("::").collect();
        p.pop();
        p
    };
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.join("::"))] {
        for piece in text.split(prefix).skip(1) {
            let mut paths = Vec::new();
            if let Some(group) = piece.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                paths.extend(inner.split(',').map(|p| p.trim().to_string()));
            } else {
                paths.push(piece.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect());
            }
            for p in paths {
                let p = p.trim_end_matches(':').to_string();
                if p.is_empty() || p.starts_with(char::is_uppercase) {
                    continue;
                }
                out.push(if base.is_empty() { p } else { format!("{base}::{p}") });
            }
        }
    }
    out
}

/// Module → the modules its (non-test) code names; a path resolves to the longest module it
/// starts with. A module naming its own descendants (declaring and re-exporting its children)
/// is not an edge: a parent and its children are one unit seen from outside.
fn module_graph_fine() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let names: BTreeSet<String> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &mods {
        let deps = graph.entry(module.clone()).or_default();
        for p in named_paths(module, &non_test_text(path)) {
            let segs: Vec<&str> = p.split("::").collect();
            let target = (1..=segs.len()).rev().map(|k| segs[..k].join("::")).find(|m| names.contains(m));
            if let Some(t) = target {
                if t != *module && !t.starts_with(&format!("{module}::")) {
                    deps.insert(t);
                }
            }
        }
    }
    graph
}

/// Top-level module → the top-level modules its code names (the fine graph, collapsed).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap().to_string();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in module_graph_fine() {
        let entry = graph.entry(top(&m)).or_default();
        entry.extend(deps.iter().map(|d| top(d)).filter(|d| *d != top(&m)));
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    assert!(graph.len() >= 15, "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn no_import_cycle_between_modules_at_any_depth() {
    let graph = module_graph_fine();
    assert!(graph.len() >= 40, "{graph:?}");
    assert!(graph["gpu::blocking"].contains("gpu::record"), "{:?}", graph["gpu::blocking"]);
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph = module_graph();
    // loss → gpu exists; a gpu → loss edge would close a cycle.
    assert!(graph["loss"].contains("gpu"));
    graph.get_mut("gpu").unwrap().insert("loss".into());
    assert!(find_cycle(&graph).is_some());
}

#[test]
fn no_file_over_700_lines_without_a_reason_at_its_top() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(&root.join("src"), "rs", &mut all);
    files(&root.join("shaders"), "wgsl", &mut all);
    for path in all {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        let head: String = text.lines().take(15).collect::<Vec<_>>().join("\n");
        assert!(
            lines <= 700 || head.contains("Longer than 700 lines because"),
            "{} has {lines} lines and no reason at its top",
            path.display()
        );
    }
}

/// No shader builds a NaN or an infinity from a constant (`bitcast<f32>(0x7fc00000u)`): WGSL
/// makes a non-finite const-expression a shader-creation error, which Chrome's compiler (Tint)
/// enforces and naga does not — so only a browser would see it (it did: `finalize.wgsl`).
#[test]
fn no_shader_bitcasts_a_literal_to_a_float() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(&root.join("shaders"), "wgsl", &mut all);
    for path in all {
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let literal = code.split("bitcast<f32>(").skip(1).any(|rest| {
                let arg: String = rest.chars().take_while(|&ch| ch != ')').collect();
                arg.trim().trim_end_matches('u').trim_start_matches("0x").chars().all(|ch| ch.is_ascii_hexdigit())
            });
            assert!(!literal, "{}:{}: a float bitcast from a literal: {}", path.display(), i + 1, line.trim());
        }
    }
}
