include!("../core/build_support.rs");

fn main() {
    emit(&[]);
}
