//! The native side of the browser check (`scripts/web_test.py`): the web page's case
//! (`examples/web/src/case.rs`) on the f64 reference, printed as the same JSON line.
#[path = "web/src/case.rs"]
mod case;

use segloss::{BinaryBatch, Engine};

fn main() {
    let (x, t) = case::inputs();
    let batch = BinaryBatch::new(&x, &t, &case::DIMS).expect("the case's batch");
    let terms = case::terms();
    let out = Engine::cpu().value_and_grad(&batch, &terms).expect("the reference");
    let total: f64 = terms.iter().zip(&out.forward.values).map(|(t, v)| t.weight * v).sum();
    println!("{}", case::report(&Engine::cpu().info().name, total, &out.forward.values, &out.grad));
}
