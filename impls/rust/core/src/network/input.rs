//! Network input from bit-packed images: float32, ink 1.0, background 0.0, pooled down to the
//! model's input side when it is smaller than 105.
//!
//! Packed images are 1,379 bytes (docs/sampling.md): pixel `k = y*105 + x` is bit `7 - k%8` of
//! byte `k/8`, 1 = ink. For `side < 105` the image is reduced by adaptive average pooling as in
//! PyTorch: output pixel `i` covers input rows `floor(i*105/side) ..= ceil((i+1)*105/side) - 1`,
//! the same for columns, plain mean.

use super::IMAGE_SIDE;

/// Bytes of one packed image.
pub const PACKED_BYTES: usize = (IMAGE_SIDE * IMAGE_SIDE).div_ceil(8);

/// Writes the network input (`side * side` floats) of one packed image into `out`.
pub fn fill(packed: &[u8], side: usize, out: &mut [f32]) {
    let bit = |k: usize| ((packed[k / 8] >> (7 - k % 8)) & 1) as f32;
    if side == IMAGE_SIDE {
        for (k, v) in out[..IMAGE_SIDE * IMAGE_SIDE].iter_mut().enumerate() {
            *v = bit(k);
        }
        return;
    }
    let start = |i: usize| i * IMAGE_SIDE / side;
    let end = |i: usize| ((i + 1) * IMAGE_SIDE).div_ceil(side);
    for oy in 0..side {
        for ox in 0..side {
            let mut sum = 0.0f32;
            for y in start(oy)..end(oy) {
                for x in start(ox)..end(ox) {
                    sum += bit(y * IMAGE_SIDE + x);
                }
            }
            let count = ((end(oy) - start(oy)) * (end(ox) - start(ox))) as f32;
            out[oy * side + ox] = sum / count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_msb_first_and_pools_by_mean() {
        let mut packed = vec![0u8; PACKED_BYTES];
        packed[0] = 0b1000_0001; // pixels 0 and 7
        let mut full = vec![0.0; IMAGE_SIDE * IMAGE_SIDE];
        fill(&packed, IMAGE_SIDE, &mut full);
        assert_eq!((full[0], full[1], full[7], full[8]), (1.0, 0.0, 1.0, 0.0));
        // 105 -> 35: each output pixel is a 3x3 mean.
        let mut small = vec![0.0; 35 * 35];
        fill(&packed, 35, &mut small);
        assert!((small[0] - 1.0 / 9.0).abs() < 1e-7);
        assert!((small[2] - 1.0 / 9.0).abs() < 1e-7);
        assert_eq!(small[1], 0.0);
    }
}
