//! Records build facts for `oneshot-burn version` and result.json (core/build_support.rs).

include!("../core/build_support.rs");

fn main() {
    emit(&[
        "burn",
        "burn-flex",
        "burn-autodiff",
        "gemm",
        "macerator",
        "rayon",
    ]);
}
