//! The native side of the browser check (`scripts/web_test.py`): the web page's case
//! (`examples/web/src/case.rs`) on the f64 reference, printed as the same JSON line.
#[path = "web/src/case.rs"]
mod case;

use segloss::{BinaryBatch, ClassMap, Engine, Input, MulticlassBatch, Term};

fn report(input: Input, terms: &[Term]) -> String {
    let out = Engine::cpu().value_and_grad(input, terms).expect("the reference");
    let total: f64 = terms.iter().zip(&out.forward.values).map(|(t, v)| t.weight * v).sum();
    case::report(&Engine::cpu().info().name, total, &out.forward.values, &out.grad)
}

fn main() {
    let (x, t) = case::inputs();
    let binary = BinaryBatch::new(&x, &t, &case::DIMS).expect("the binary case");
    let (cx, map) = case::class_inputs();
    let multiclass = MulticlassBatch::new(&cx, ClassMap::U8(&map), &case::CLASS_DIMS).expect("the multiclass case");
    println!(
        "{{\"binary\": {}, \"multiclass\": {}}}",
        report(Input::Binary(binary), &case::terms()),
        report(Input::Multiclass(multiclass), &case::class_terms())
    );
}
