//! The modified Hausdorff distance scorer (`scorer: mhd`, docs/evaluation.md).
//!
//! As in the official Omniglot demo: each image becomes the coordinates of its ink pixels
//! minus their mean, and two images are compared by the modified Hausdorff distance of
//! Dubuisson and Jain (1994), `max(mean_a min_b |a - b|, mean_b min_a |a - b|)`; the score is
//! its negation (an image without ink is at +inf). The nearest ink pixel of a row of `b` to a
//! point is one of the two ink columns that bracket the point's column, so each point is
//! compared with at most two pixels per ink row of `b`. The float64 expressions and the
//! summation order (left to right) are those of the Python implementation (mhd.py), so the
//! distances are bit-identical to it.

use crate::data::{IMAGE_SIDE, PIXELS};

/// A column far outside the image: "no ink on this side of the point in this row".
const FAR: f64 = 1.0e6;

/// One image's ink pixels, centred, with per-row tables of the nearest ink columns.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// Centred (y, x) of the ink pixels, row-major order.
    points: Vec<(f64, f64)>,
    mean_x: f64,
    /// Centred y of each row that holds ink.
    rows: Vec<f64>,
    /// Per ink row, 105 entries: centred x of the last ink column <= c (or far left).
    left: Vec<f64>,
    /// Per ink row, 105 entries: centred x of the first ink column >= c (or far right).
    right: Vec<f64>,
}

impl Cloud {
    /// The cloud of a packed 105 x 105 image.
    pub fn new(packed: &[u8]) -> Cloud {
        let ink = |k: usize| packed[k / 8] >> (7 - k % 8) & 1 == 1;
        let mut raw = Vec::new();
        let (mut sum_y, mut sum_x) = (0.0f64, 0.0f64);
        for k in (0..PIXELS).filter(|&k| ink(k)) {
            let (y, x) = ((k / IMAGE_SIDE) as f64, (k % IMAGE_SIDE) as f64);
            sum_y += y;
            sum_x += x;
            raw.push((y, x));
        }
        if raw.is_empty() {
            return Cloud {
                points: raw,
                mean_x: 0.0,
                rows: Vec::new(),
                left: Vec::new(),
                right: Vec::new(),
            };
        }
        let n = raw.len() as f64;
        let (mean_y, mean_x) = (sum_y / n, sum_x / n);
        let (mut rows, mut left, mut right) = (Vec::new(), Vec::new(), Vec::new());
        for y in 0..IMAGE_SIDE {
            if !(0..IMAGE_SIDE).any(|x| ink(y * IMAGE_SIDE + x)) {
                continue;
            }
            rows.push(y as f64 - mean_y);
            let mut last = -FAR;
            for x in 0..IMAGE_SIDE {
                if ink(y * IMAGE_SIDE + x) {
                    last = x as f64;
                }
                left.push(last - mean_x);
            }
            let start = right.len();
            right.resize(start + IMAGE_SIDE, 0.0);
            let mut next = FAR;
            for x in (0..IMAGE_SIDE).rev() {
                if ink(y * IMAGE_SIDE + x) {
                    next = x as f64;
                }
                right[start + x] = next - mean_x;
            }
        }
        Cloud {
            points: raw.iter().map(|&(y, x)| (y - mean_y, x - mean_x)).collect(),
            mean_x,
            rows,
            left,
            right,
        }
    }

    /// Whether the image has no ink.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Mean over the points of `a` of the distance to the nearest point of `b`.
pub fn directed_mean_distance(a: &Cloud, b: &Cloud) -> f64 {
    let last = (IMAGE_SIDE - 1) as isize;
    let mut total = 0.0f64;
    for &(uy, ux) in &a.points {
        let t = (ux + b.mean_x).floor() as isize;
        let lo = t.clamp(0, last) as usize;
        let hi = (t + 1).clamp(0, last) as usize;
        let mut best = f64::INFINITY;
        for (r, &by) in b.rows.iter().enumerate() {
            let row = r * IMAGE_SIDE;
            let dl = b.left[row + lo] - ux;
            let dr = b.right[row + hi] - ux;
            let dx2 = (dl * dl).min(dr * dr);
            let dy = by - uy;
            let d2 = dy * dy + dx2;
            if d2 < best {
                best = d2;
            }
        }
        total += best.sqrt();
    }
    total / a.points.len() as f64
}

/// Dubuisson and Jain's modified Hausdorff distance; +inf when either image has no ink.
pub fn modified_hausdorff(a: &Cloud, b: &Cloud) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::INFINITY;
    }
    directed_mean_distance(a, b).max(directed_mean_distance(b, a))
}

/// The definition, for tests: every point against every point.
pub fn brute_force_mhd(a: &Cloud, b: &Cloud) -> f64 {
    let h = |p: &[(f64, f64)], q: &[(f64, f64)]| {
        let mut total = 0.0;
        for &(y1, x1) in p {
            let mut best = f64::INFINITY;
            for &(y2, x2) in q {
                let (dy, dx) = (y1 - y2, x1 - x2);
                best = best.min((dy * dy + dx * dx).sqrt());
            }
            total += best;
        }
        total / p.len() as f64
    };
    h(&a.points, &b.points).max(h(&b.points, &a.points))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::glyph;

    #[test]
    fn fast_distance_equals_the_brute_force_bit_for_bit() {
        for seed in 1..6 {
            let (a, b) = (Cloud::new(&glyph(seed)), Cloud::new(&glyph(seed + 10)));
            let fast = modified_hausdorff(&a, &b);
            assert_eq!(fast.to_bits(), brute_force_mhd(&a, &b).to_bits());
            assert_eq!(modified_hausdorff(&a, &a), 0.0);
        }
    }

    #[test]
    fn an_image_without_ink_is_infinitely_far() {
        let empty = Cloud::new(&[0u8; crate::data::PACKED_BYTES]);
        let ink = Cloud::new(&glyph(3));
        assert!(modified_hausdorff(&empty, &ink).is_infinite());
    }
}
