//! rust-candle against rust-native on the same He-initialised tiny network and images:
//! embeddings, logits, the loss and gradients of `train_batch`, and the parameters after SGD
//! (momentum, L2) and Adam updates agree to float32 tolerance.

use oneshot_candle::CandleNet;
use oneshot_core::network::init::{draw, InitName};
use oneshot_core::network::input::PACKED_BYTES;
use oneshot_core::network::params::Params;
use oneshot_core::network::{Network, Shape};
use oneshot_core::params::OptimizerSpec;
use oneshot_native::NativeNet;

const PAIRS: usize = 6;

/// Packed images with a few random strokes on a blank page (blank areas give exact zeros).
fn images(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..count)
        .map(|_| {
            let mut packed = vec![0u8; PACKED_BYTES];
            for _ in 0..6 {
                let (y, x, len) = (next() % 90, next() % 90, 5 + next() % 12);
                let vertical = next() % 2 == 0;
                for t in 0..len {
                    for w in 0..3 {
                        let (yy, xx) = if vertical {
                            (y + t, x + w)
                        } else {
                            (y + w, x + t)
                        };
                        let k = yy.min(104) * 105 + xx.min(104);
                        packed[k / 8] |= 1 << (7 - k % 8);
                    }
                }
            }
            packed
        })
        .collect()
}

fn assert_close(name: &str, got: &[f32], want: &[f32], rel: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= rel * scale,
        "{name}: max difference {worst:e} against a scale of {scale:e}"
    );
}

fn compare_params(what: &str, got: &Params, want: &Params) {
    for (i, spec) in want.tensors.iter().enumerate() {
        let name = format!("{what} {}", spec.name);
        assert_close(&name, got.tensor(i), want.tensor(i), 1e-4);
    }
}

fn nets(seed: u64, capacity: usize) -> (CandleNet, NativeNet, Params) {
    let params = draw(InitName::He, Shape::tiny(), seed).expect("init");
    nets_from(params, capacity)
}

fn nets_from(params: Params, capacity: usize) -> (CandleNet, NativeNet, Params) {
    let candle = CandleNet::build(params.clone(), capacity, 2, true).expect("candle");
    let native = NativeNet::build(params.clone(), capacity, 2, true).expect("native");
    (candle, native, params)
}

fn set_pairs<N: Network>(net: &mut N, imgs: &[Vec<u8>]) {
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    net.set_inputs(&refs[..PAIRS], &refs[PAIRS..2 * PAIRS])
        .expect("inputs");
}

#[test]
fn forward_matches_native() {
    let (mut candle, mut native, _) = nets(3, 2 * PAIRS);
    let imgs = images(2 * PAIRS, 11);
    let e = Shape::tiny().embedding;
    let mut out = [vec![0.0; 2 * PAIRS * e], vec![0.0; 2 * PAIRS * e]];
    let mut logits = [vec![0.0; PAIRS], vec![0.0; PAIRS]];
    set_pairs(&mut candle, &imgs);
    set_pairs(&mut native, &imgs);
    candle
        .forward_pairs(PAIRS, &mut out[0], &mut logits[0])
        .expect("candle forward");
    native
        .forward_pairs(PAIRS, &mut out[1], &mut logits[1])
        .expect("native forward");
    assert_close("embeddings", &out[0], &out[1], 1e-5);
    assert_close("logits", &logits[0], &logits[1], 1e-5);
    // Single images through `embed` give the same rows.
    let mut single = vec![0.0; 3 * e];
    candle.embed(3, &mut single).expect("embed");
    assert_close("embed", &single, &out[1][..3 * e], 1e-5);
}

#[test]
fn gradients_and_sgd_updates_match_native() {
    let (mut candle, mut native, params) = nets(5, 2 * PAIRS);
    let spec: OptimizerSpec = serde_json::from_str(
        r#"{"lr": 0.05, "momentum": 0.9, "momentum_start": 0.5, "l2": 0.01,
            "layers": {"fc1": {"lr": 0.02, "l2": 0.001}}}"#,
    )
    .expect("spec");
    let (mut opt_c, mut opt_n) = (spec.build(&params), spec.build(&params));
    let labels: Vec<f32> = (0..PAIRS).map(|i| (i % 2) as f32).collect();
    for step in 0..4 {
        let imgs = images(2 * PAIRS, 100 + step);
        set_pairs(&mut candle, &imgs);
        set_pairs(&mut native, &imgs);
        let loss_c = candle.train_batch(&labels).expect("candle step");
        let loss_n = native.train_batch(&labels).expect("native step");
        assert!(
            (loss_c - loss_n).abs() <= 1e-5 * loss_n.abs().max(1.0),
            "step {step}: loss {loss_c} against {loss_n}"
        );
        let (gc, gn) = (candle.gradients().unwrap(), native.gradients().unwrap());
        for spec in &params.tensors {
            let range = spec.offset..spec.offset + spec.len;
            let name = format!("step {step} grad {}", spec.name);
            assert_close(&name, &gc[range.clone()], &gn[range], 1e-4);
        }
        candle.update(&mut opt_c).expect("candle update");
        native.update(&mut opt_n).expect("native update");
        let what = format!("after SGD step {step}");
        compare_params(&what, &candle.params().unwrap(), &native.params().unwrap());
    }
    let (w, b) = candle.head().expect("head");
    let (wn, bn) = native.head().expect("head");
    assert_close("head weight", &w, &wn, 1e-4);
    assert!((b - bn).abs() < 1e-5);
}

#[test]
fn paper_init_ties_take_the_first_maximum() {
    // Conv biases of 0.5 (as the paper's initialisation draws them): blank areas tie at a
    // positive value in every pooling window, where PyTorch and rust-native give the whole
    // gradient to the first maximum. (He weights keep the gradients above rounding noise.)
    let mut params = draw(InitName::He, Shape::tiny(), 4).expect("init");
    for l in 0..4 {
        params.tensor_mut(2 * l + 1).fill(0.5);
    }
    let (mut candle, mut native, params) = nets_from(params, 2 * PAIRS);
    let imgs = images(2 * PAIRS, 21);
    set_pairs(&mut candle, &imgs);
    set_pairs(&mut native, &imgs);
    let labels: Vec<f32> = (0..PAIRS).map(|i| (i % 2) as f32).collect();
    candle.train_batch(&labels).expect("candle step");
    native.train_batch(&labels).expect("native step");
    let (gc, gn) = (candle.gradients().unwrap(), native.gradients().unwrap());
    for spec in &params.tensors {
        let range = spec.offset..spec.offset + spec.len;
        assert_close(&spec.name, &gc[range.clone()], &gn[range], 1e-4);
    }
}

#[test]
fn adam_updates_match_native() {
    let (mut candle, mut native, params) = nets(9, 2 * PAIRS);
    let spec: OptimizerSpec =
        serde_json::from_str(r#"{"name": "adam", "lr": 0.001, "l2": 0.01}"#).expect("spec");
    let (mut opt_c, mut opt_n) = (spec.build(&params), spec.build(&params));
    let labels: Vec<f32> = (0..PAIRS).map(|i| ((i + 1) % 2) as f32).collect();
    for step in 0..3 {
        let imgs = images(2 * PAIRS, 200 + step);
        set_pairs(&mut candle, &imgs);
        set_pairs(&mut native, &imgs);
        candle.train_batch(&labels).expect("candle step");
        native.train_batch(&labels).expect("native step");
        candle.update(&mut opt_c).expect("candle update");
        native.update(&mut opt_n).expect("native update");
    }
    compare_params(
        "after Adam",
        &candle.params().unwrap(),
        &native.params().unwrap(),
    );
}

#[test]
fn candle_pools_follow_the_job_threads() {
    let params = draw(InitName::He, Shape::tiny(), 1).expect("init");
    let _net = CandleNet::build(params, 4, 2, false).expect("candle");
    assert_eq!(candle_core::utils::get_num_threads(), 2);
    assert_eq!(std::env::var("CANDLE_NUM_THREADS").as_deref(), Ok("2"));
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let (mut candle, _, _) = nets(1, 4);
    let imgs = images(6, 1);
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    assert!(candle.set_inputs(&refs[..3], &refs[3..]).is_err());
    assert!(candle.gradients().is_err());
    let mut out = vec![0.0; 32];
    assert!(candle.embed(1, &mut out).is_err(), "no inputs yet");
    candle.set_inputs(&refs[..1], &refs[1..2]).expect("inputs");
    assert!(
        candle.train_batch(&[1.0, 0.0]).is_err(),
        "more pairs than inputs"
    );
}
