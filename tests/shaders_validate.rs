//! Every kernel parses and validates with naga; no adapter needed.
use segloss::gpu::shaders::Kernel;

#[test]
fn every_kernel_validates_with_naga() {
    for kernel in Kernel::ALL {
        if let Err(e) = kernel.validate() {
            panic!("{e}");
        }
    }
}

#[test]
fn every_kernel_file_has_a_header_comment() {
    for kernel in Kernel::ALL {
        let src = kernel.source();
        let body = src.split(&format!("// {}", kernel.name())).nth(1);
        assert!(body.is_some(), "{} has no header comment naming the file", kernel.name());
    }
}

#[test]
fn every_wgsl_file_is_a_listed_kernel_or_a_shared_piece() {
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".wgsl"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = Kernel::ALL.iter().map(|k| k.name().to_string()).collect();
    listed.extend(Kernel::SHARED_FILES.iter().map(|s| s.to_string()));
    listed.sort();
    assert_eq!(files, listed, "shaders/ and Kernel::ALL + SHARED_FILES disagree");
}
