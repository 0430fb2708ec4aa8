//! The shared pseudo-random generator of oneshot-bench (docs/sampling.md, "The generator").
//!
//! xoshiro256** seeded through SplitMix64 from a 64-bit seed XOR the FNV-1a hash of a stream
//! name, Lemire's unbiased integer draw in [0, n) and a 53-bit float in [0, 1). The Python
//! implementation (impls/python/oneshot_torch/rng.py) is bit-for-bit the same;
//! tests/vectors/rng.json pins both.
//!
//! ```
//! let mut rng = oneshot_core::rng::Rng::new(7, "pairs");
//! let k = rng.below(10);
//! assert!(k < 10);
//! ```

/// FNV-1a 64-bit hash, used to turn a stream name into seed bits.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// xoshiro256** with SplitMix64 seeding; one instance per named stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The generator of stream `stream` (`pairs`, `trials`, `augment`, `init`, `shuffle`) for `seed`.
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut x = seed ^ fnv1a64(stream.as_bytes());
        let mut s = [0u64; 4];
        for word in &mut s {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *word = z ^ (z >> 31);
        }
        Rng { s }
    }

    /// The next 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in [0, n) by Lemire's multiply-and-reject method.
    ///
    /// # Panics
    /// If `n == 0` (a caller bug: every caller checks its counts first).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n >= 1, "Rng::below needs n >= 1");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A uniform index in [0, n) for a non-empty collection of `n` items.
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A uniform float in [0, 1) from the top 53 bits of one draw.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../tests/vectors/rng.json"
        );
        let text = std::fs::read_to_string(path).expect("tests/vectors/rng.json is readable");
        serde_json::from_str(&text).expect("rng.json is JSON")
    }

    fn u64_of(value: &Value) -> u64 {
        match value {
            Value::String(text) => text.parse().expect("u64 string"),
            other => other.as_u64().expect("u64 number"),
        }
    }

    #[test]
    fn matches_the_shared_test_vectors() {
        // Each sequence of a case starts from a fresh generator (as the Python test does).
        let all = vectors();
        let cases = all["cases"].as_array().expect("cases");
        assert!(!cases.is_empty());
        for case in cases {
            let seed = u64_of(&case["seed"]);
            let stream = case["stream"].as_str().expect("stream");
            assert_eq!(
                fnv1a64(stream.as_bytes()),
                u64_of(&case["fnv1a64"]),
                "{stream}"
            );
            let mut rng = Rng::new(seed, stream);
            for expected in case["next_u64"].as_array().expect("next_u64") {
                assert_eq!(rng.next_u64(), u64_of(expected), "seed {seed} {stream}");
            }
            let mut rng = Rng::new(seed, stream);
            for pair in case["below_sequence"].as_array().expect("below_sequence") {
                let (n, expected) = (u64_of(&pair[0]), u64_of(&pair[1]));
                assert_eq!(rng.below(n), expected, "below({n}), seed {seed} {stream}");
            }
            let mut rng = Rng::new(seed, stream);
            for expected in case["uniform"].as_array().expect("uniform") {
                let expected = expected.as_f64().expect("float");
                assert_eq!(rng.uniform().to_bits(), expected.to_bits(), "seed {seed}");
            }
        }
    }

    #[test]
    fn streams_of_one_seed_differ() {
        let mut pairs = Rng::new(1, "pairs");
        let mut trials = Rng::new(1, "trials");
        assert_ne!(pairs.next_u64(), trials.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(3, "pairs");
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let k = rng.below(7);
            seen[k as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&rng.uniform())));
    }
}
