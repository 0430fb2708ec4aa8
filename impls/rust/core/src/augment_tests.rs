//! Tests of augment.rs against values pinned from the Python implementation.

use super::*;
use crate::data::pack;
use crate::data::PIXELS;

#[test]
fn float_hex_matches_python() {
    // python -c "for v in [1.0, 0.0, -0.0, 0.1, -2.5, 5e-324, 1e300, 1.5e-310]: print(v.hex())"
    let cases = [
        (1.0, "0x1.0000000000000p+0"),
        (0.0, "0x0.0p+0"),
        (-0.0, "-0x0.0p+0"),
        (0.1, "0x1.999999999999ap-4"),
        (-2.5, "-0x1.4000000000000p+1"),
        (5e-324, "0x0.0000000000001p-1022"),
        (1e300, "0x1.7e43c8800759cp+996"),
        (1.5e-310, "0x0.01b9cd1295941p-1022"),
    ];
    for (value, hex) in cases {
        assert_eq!(float_hex(value), hex, "{value}");
    }
}

#[test]
fn draws_match_python() {
    // from oneshot_torch.augment import draw_params, format_params
    // d = draw_params(Rng(1, 'augment'), AugmentSpec(), 3)
    // for r in range(3): print(format_params(d, r // 2, ['left', 'right'][r % 2], r))
    let expected = [
        "0\tleft\t-0x1.25cd216564378p+0\t-0x1.2621eb585bbe1p-2\t-\t-\t-\t-\t-",
        "0\tright\t-0x1.78bbcffb81d4ap+2\t-\t-\t-\t-\t-\t-0x1.67e733f073a08p-2",
        "1\tleft\t-0x1.75b03e639ba70p+2\t0x1.c0b9dde621086p-3\t-0x1.65d1961549266p-3\t\
         0x1.2fc9ee9d8522ep+0\t-\t0x1.2b35761cd6d40p-3\t0x1.bae562ba39f78p-2",
    ];
    let mut rng = Rng::new(1, "augment");
    let spec = AugmentSpec::default();
    for (r, line) in expected.iter().enumerate() {
        let d = draw(&mut rng, &spec);
        let side = ["left", "right"][r % 2];
        assert_eq!(format_line(r / 2, side, &d), *line);
    }
}

#[test]
fn resampling_matches_python() {
    // img = np.zeros((1, 105, 105), np.uint8); img[0, 30:70, 40:45] = 1; img[0, 50:55, 20:90] = 1
    // vals = np.array([[7.5, 0.1, -0.2, 1.1, 0.9, 1.5, -2.0]])
    // ink = np.flatnonzero(apply_params(img, Distortions(np.ones((1, 7), bool), vals))[0])
    // print(len(ink), ink.sum(), (ink * ink % 1000003).sum(), ink[:10])
    let mut ink = vec![0u8; PIXELS];
    for y in 0..105 {
        for x in 0..105 {
            if (30..70).contains(&y) && (40..45).contains(&x)
                || (50..55).contains(&y) && (20..90).contains(&x)
            {
                ink[y * 105 + x] = 1;
            }
        }
    }
    let src = pack(&ink);
    let d = Distortion {
        applied: [true; 7],
        values: [7.5, 0.1, -0.2, 1.1, 0.9, 1.5, -2.0],
    };
    let mut out = [0u8; PACKED_BYTES];
    apply_packed(&src, &d, &mut out);
    let found: Vec<u64> = (0..PIXELS as u64)
        .filter(|&k| crate::data::is_ink(&out, k as usize))
        .collect();
    assert_eq!(found.len(), 524);
    assert_eq!(found.iter().sum::<u64>(), 2_730_340);
    assert_eq!(
        found.iter().map(|k| k * k % 1_000_003).sum::<u64>(),
        222_296_111
    );
    assert_eq!(
        found[..10],
        [3296, 3297, 3298, 3299, 3300, 3401, 3402, 3403, 3404, 3405]
    );
}

#[test]
fn identity_leaves_the_image_unchanged() {
    let src = crate::test_support::glyph(7);
    let d = Distortion {
        applied: [false; 7],
        values: IDENTITY,
    };
    let mut out = [0u8; PACKED_BYTES];
    apply_packed(&src, &d, &mut out);
    assert_eq!(out, src);
}

#[test]
fn spec_rejects_unknown_keys_and_bad_ranges() {
    let err = AugmentSpec::from_job(Some(&serde_json::json!({"rotate": 3}))).unwrap_err();
    assert!(err.to_string().contains("rotate"), "{err}");
    let err = AugmentSpec::from_job(Some(&serde_json::json!({"scale": [1.2, 0.8]}))).unwrap_err();
    assert!(err.to_string().contains("augment.scale"), "{err}");
    let err = AugmentSpec::from_job(Some(&serde_json::json!({"probability": 2}))).unwrap_err();
    assert!(err.to_string().contains("augment.probability"), "{err}");
    assert_eq!(AugmentSpec::from_job(None).unwrap(), AugmentSpec::default());
}
