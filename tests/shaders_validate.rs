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
