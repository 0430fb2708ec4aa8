//! Parity of rust-burn with rust-native from the same parameters: forward embeddings and
//! logits, the loss and gradients of a training batch, and the parameters after SGD (with the
//! momentum schedule) and Adam updates, to float32 tolerance.

use oneshot_burn::BurnNet;
use oneshot_core::network::init::{draw, InitName};
use oneshot_core::network::input::PACKED_BYTES;
use oneshot_core::network::optim::Optimizer;
use oneshot_core::network::params::Params;
use oneshot_core::network::{Network, Shape};
use oneshot_core::params::{OptimizerSpec, RuleName};
use oneshot_native::NativeNet;

const PAIRS: usize = 6;

/// Packed images with random ink (a fixed linear congruential generator).
fn images(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            (0..PACKED_BYTES)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 56) as u8
                })
                .collect()
        })
        .collect()
}

/// Checks `|a - b| <= tol * max|b| + floor` per tensor of `params`' layout.
fn close(what: &str, params: &Params, a: &[f32], b: &[f32], tol: f32, floor: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for spec in &params.tensors {
        let range = spec.offset..spec.offset + spec.len;
        let (x, y) = (&a[range.clone()], &b[range]);
        let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = x
            .iter()
            .zip(y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            diff <= tol * scale + floor,
            "{what} {}: max difference {diff} against scale {scale}",
            spec.name
        );
    }
}

fn close_slices(what: &str, a: &[f32], b: &[f32], tol: f32) {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert!(
            (p - q).abs() <= tol * scale + 1e-7,
            "{what}[{i}]: {p} vs {q}"
        );
    }
}

struct Pair {
    burn: BurnNet,
    native: NativeNet,
    start: Params,
}

fn pair(train: bool) -> (Pair, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let start = draw(InitName::He, Shape::tiny(), 11).expect("init");
    let burn = BurnNet::build(start.clone(), 2 * PAIRS, 2, train).expect("burn");
    let native = NativeNet::build(start.clone(), 2 * PAIRS, 2, train).expect("native");
    let left = images(1, PAIRS);
    let right = images(2, PAIRS);
    (
        Pair {
            burn,
            native,
            start,
        },
        left,
        right,
    )
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|x| x.as_slice()).collect()
}

#[test]
fn forward_matches_native() {
    let (mut p, left, right) = pair(false);
    let e = Shape::tiny().embedding;
    let (mut emb_b, mut emb_n) = (vec![0.0; 2 * PAIRS * e], vec![0.0; 2 * PAIRS * e]);
    let (mut z_b, mut z_n) = (vec![0.0; PAIRS], vec![0.0; PAIRS]);
    p.burn.inputs(&refs(&left), &refs(&right));
    p.native.inputs(&refs(&left), &refs(&right));
    p.burn
        .forward_pairs(PAIRS, &mut emb_b, &mut z_b)
        .expect("burn");
    p.native
        .forward_pairs(PAIRS, &mut emb_n, &mut z_n)
        .expect("native");
    close_slices("embeddings", &emb_b, &emb_n, 1e-5);
    close_slices("logits", &z_b, &z_n, 1e-5);
    // embed of single images agrees with the pair forward's rows.
    let mut single = vec![0.0; 3 * e];
    p.burn.set_inputs(&refs(&left[..3]), &[]).expect("inputs");
    p.burn.embed(3, &mut single).expect("embed");
    close_slices("embed", &single, &emb_n[..3 * e], 1e-5);
    // An inference network refuses to train; a call over capacity is an error.
    assert!(p.burn.train_batch(&[1.0; PAIRS]).is_err());
    assert!(p.burn.embed(2 * PAIRS + 1, &mut single).is_err());
}

/// Both networks take inputs the same way.
trait Forward {
    fn inputs(&mut self, left: &[&[u8]], right: &[&[u8]]);
}
impl<N: Network> Forward for N {
    fn inputs(&mut self, left: &[&[u8]], right: &[&[u8]]) {
        self.set_inputs(left, right).expect("inputs");
    }
}

fn labels() -> Vec<f32> {
    (0..PAIRS).map(|i| (i % 2) as f32).collect()
}

fn train_both(p: &mut Pair, left: &[Vec<u8>], right: &[Vec<u8>]) -> (f64, f64) {
    p.burn.inputs(&refs(left), &refs(right));
    p.native.inputs(&refs(left), &refs(right));
    let lb = p.burn.train_batch(&labels()).expect("burn");
    let ln = p.native.train_batch(&labels()).expect("native");
    (lb, ln)
}

#[test]
fn loss_and_gradients_match_native() {
    let (mut p, left, right) = pair(true);
    let (lb, ln) = train_both(&mut p, &left, &right);
    assert!((lb - ln).abs() <= 1e-5 * ln.abs(), "loss {lb} vs {ln}");
    let gb = p.burn.gradients().expect("burn");
    let gn = p.native.gradients().expect("native");
    close("gradient", &p.start, &gb, &gn, 1e-4, 1e-7);
    // Parameters round-trip through burn's layout (fc1 transposed) unchanged.
    assert_eq!(p.burn.params().expect("params").data, p.start.data);
    let (w, b) = p.burn.head().expect("head");
    assert_eq!(w.len(), Shape::tiny().embedding);
    assert_eq!(b, p.start.data[p.start.data.len() - 1]);
}

fn run_updates(rule: RuleName) {
    let (mut p, left, right) = pair(true);
    let spec = OptimizerSpec {
        name: rule,
        lr: if rule == RuleName::Adam { 1e-3 } else { 0.05 },
        ..OptimizerSpec::default()
    };
    let mut ob: Optimizer = spec.build(&p.start);
    let mut on: Optimizer = spec.build(&p.start);
    for step in 0..4 {
        if step == 2 {
            // The schedule moves per epoch: another learning rate and momentum.
            ob.set_epoch(3);
            on.set_epoch(3);
        }
        let (lb, ln) = train_both(&mut p, &left, &right);
        assert!(
            (lb - ln).abs() <= 1e-4 * ln.abs(),
            "step {step}: loss {lb} vs {ln}"
        );
        p.burn.update(&mut ob).expect("burn update");
        p.native.update(&mut on).expect("native update");
    }
    let pb = p.burn.params().expect("burn");
    let pn = p.native.params().expect("native");
    // Adam divides by sqrt(v): float noise in a near-zero gradient (fc1.bias elements of
    // 5e-8 that differ in the third digit) moves a weight by a fraction of the learning
    // rate, so its floor is 1% of one step (1e-5 at lr 1e-3); a wrong rule moves it by lr.
    let floor = if rule == RuleName::Adam { 1e-5 } else { 1e-7 };
    close("parameters", &p.start, &pb.data, &pn.data, 1e-4, floor);
    assert_ne!(pb.data, p.start.data);
}

#[test]
fn sgd_updates_match_native() {
    run_updates(RuleName::Sgd);
}

#[test]
fn adam_updates_match_native() {
    run_updates(RuleName::Adam);
}
