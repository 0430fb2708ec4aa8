//! Parity of rust-tch with rust-native from the same He-initialised `tiny` parameters: forward
//! embeddings and logits, `embed`, the loss and gradients of `train_batch`, and the parameters
//! after a few SGD updates and a few Adam updates, to float32 tolerance.

use oneshot_core::data::PACKED_BYTES;
use oneshot_core::network::init::{draw, InitName};
use oneshot_core::network::{Network, Shape};
use oneshot_core::params::{OptimizerSpec, RuleName};
use oneshot_native::NativeNet;
use oneshot_tch::TchNet;

const PAIRS: usize = 6;
const THREADS: usize = 2;

/// `count` packed images of random strokes (a fixed LCG, so every run is the same).
fn images(count: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut out = vec![0u8; count * PACKED_BYTES];
    for image in out.chunks_exact_mut(PACKED_BYTES) {
        for _ in 0..12 {
            // A horizontal run of ink of 8..40 pixels somewhere in the image.
            let start = next() as usize % (105 * 105 - 40);
            let len = 8 + next() as usize % 32;
            for k in start..start + len {
                image[k / 8] |= 0x80 >> (k % 8);
            }
        }
    }
    out
}

fn rows(packed: &[u8]) -> Vec<&[u8]> {
    packed.chunks_exact(PACKED_BYTES).collect()
}

/// Largest absolute difference relative to the largest magnitude of `want`.
fn rel_diff(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    diff / scale.max(1e-30)
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let d = rel_diff(got, want);
    assert!(d <= tol, "{what}: relative difference {d:e} > {tol:e}");
}

fn nets(train: bool) -> (TchNet, NativeNet) {
    let params = draw(InitName::He, Shape::tiny(), 3).expect("init");
    let tch = TchNet::build(params.clone(), 2 * PAIRS, THREADS, train).expect("tch");
    let native = NativeNet::build(params, 2 * PAIRS, THREADS, train).expect("native");
    (tch, native)
}

fn set_batch(net: &mut impl Network, left: &[u8], right: &[u8]) {
    net.set_inputs(&rows(left), &rows(right)).expect("inputs");
}

#[test]
fn forward_and_embed_match_rust_native() {
    let (mut tch, mut native) = nets(false);
    let (left, right) = (images(PAIRS, 1), images(PAIRS, 2));
    let e = Shape::tiny().embedding;
    let mut outs = Vec::new();
    for which in 0..2 {
        let mut emb = vec![0f32; 2 * PAIRS * e];
        let mut logits = vec![0f32; PAIRS];
        if which == 0 {
            set_batch(&mut tch, &left, &right);
            tch.forward_pairs(PAIRS, &mut emb, &mut logits)
                .expect("tch");
        } else {
            set_batch(&mut native, &left, &right);
            native
                .forward_pairs(PAIRS, &mut emb, &mut logits)
                .expect("native");
        }
        outs.push((emb, logits));
    }
    assert_close("embeddings", &outs[0].0, &outs[1].0, 1e-5);
    assert_close("logits", &outs[0].1, &outs[1].1, 1e-5);

    // embed: single images, fewer than the capacity.
    let single = images(5, 9);
    let mut got = vec![0f32; 5 * e];
    let mut want = vec![0f32; 5 * e];
    tch.set_inputs(&rows(&single), &[]).expect("inputs");
    tch.embed(5, &mut got).expect("tch embed");
    native.set_inputs(&rows(&single), &[]).expect("inputs");
    native.embed(5, &mut want).expect("native embed");
    assert_close("embed", &got, &want, 1e-5);
    let (w, b) = tch.head().expect("head");
    let (nw, nb) = native.head().expect("head");
    assert_eq!((w, b), (nw, nb));
}

fn labels() -> Vec<f32> {
    (0..PAIRS).map(|i| (i % 2) as f32).collect()
}

#[test]
fn loss_and_gradients_match_rust_native() {
    let (mut tch, mut native) = nets(true);
    let (left, right) = (images(PAIRS, 4), images(PAIRS, 5));
    set_batch(&mut tch, &left, &right);
    set_batch(&mut native, &left, &right);
    let loss = tch.train_batch(&labels()).expect("tch");
    let want = native.train_batch(&labels()).expect("native");
    assert!((loss - want).abs() <= 1e-5 * want.abs(), "{loss} vs {want}");
    let got = tch.gradients().expect("tch grads");
    let want = native.gradients().expect("native grads");
    let params = draw(InitName::He, Shape::tiny(), 3).expect("init");
    for spec in &params.tensors {
        let range = spec.offset..spec.offset + spec.len;
        assert_close(&spec.name, &got[range.clone()], &want[range], 1e-4);
    }
}

/// `steps` steps of train_batch + update on both nets; the parameters after them.
fn train_both(spec: OptimizerSpec, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut tch, mut native) = nets(true);
    let start = draw(InitName::He, Shape::tiny(), 3).expect("init");
    let mut opt_tch = spec.build(&start);
    let mut opt_native = spec.build(&start);
    for step in 0..steps {
        let (left, right) = (
            images(PAIRS, 10 + step as u64),
            images(PAIRS, 50 + step as u64),
        );
        set_batch(&mut tch, &left, &right);
        set_batch(&mut native, &left, &right);
        let a = tch.train_batch(&labels()).expect("tch");
        let b = native.train_batch(&labels()).expect("native");
        assert!((a - b).abs() <= 1e-4 * b.abs(), "step {step}: {a} vs {b}");
        if step == 1 {
            // The schedule moves on between updates, as in training.
            opt_tch.set_epoch(3);
            opt_native.set_epoch(3);
        }
        tch.update(&mut opt_tch).expect("tch update");
        native.update(&mut opt_native).expect("native update");
    }
    assert!(
        tch.gradients().is_err(),
        "gradients are consumed by the update"
    );
    (
        tch.params().expect("tch").data,
        native.params().expect("native").data,
    )
}

#[test]
fn sgd_updates_match_rust_native() {
    let spec = OptimizerSpec {
        lr: 0.05,
        ..OptimizerSpec::default()
    };
    let (got, want) = train_both(spec, 4);
    assert_close("parameters after SGD", &got, &want, 1e-4);
    let start = draw(InitName::He, Shape::tiny(), 3).expect("init").data;
    assert!(rel_diff(&got, &start) > 1e-3, "SGD moved the parameters");
}

#[test]
fn adam_updates_match_rust_native() {
    let spec = OptimizerSpec {
        name: RuleName::Adam,
        lr: 1e-3,
        l2: 1e-3,
        ..OptimizerSpec::default()
    };
    let (got, want) = train_both(spec, 3);
    assert_close("parameters after Adam", &got, &want, 1e-4);
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let (mut tch, _) = nets(false);
    let (left, right) = (images(PAIRS, 1), images(PAIRS, 2));
    set_batch(&mut tch, &left, &right);
    assert!(tch.train_batch(&labels()).is_err(), "inference network");
    let too_many = images(2 * PAIRS + 1, 3);
    assert!(tch.set_inputs(&rows(&too_many), &[]).is_err(), "capacity");
    let mut out = vec![0f32; 3 * Shape::tiny().embedding];
    let (mut fresh, _) = nets(false);
    assert!(fresh.embed(3, &mut out).is_err(), "no inputs set");
}
