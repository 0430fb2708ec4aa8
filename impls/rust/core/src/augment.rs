//! Koch et al.'s affine distortions, reproducible pixel for pixel (docs/augment.md).
//!
//! Each image gets its own transform; each of the seven components (rotation, shear x/y,
//! scale x/y, translation x/y) is applied with probability `probability`. [`draw`] takes 14
//! numbers per image from the generator (`Rng(seed, "augment")`): per component `u_apply`
//! then `u_value`, whether or not it is applied. [`apply`] resamples a bilevel 105 x 105 image
//! by the inverse map with nearest-neighbour rounding `floor(p + 0.5)` in float64 (no fused
//! multiply-add: every product and sum is rounded once, in the order of the spec) and
//! background outside the source. [`float_hex`] writes values as Python's `float.hex()`.

use serde::Deserialize;
use serde_json::Value;

use crate::data::{IMAGE_SIDE, PACKED_BYTES};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Component names, in draw order (the columns of `augment.tsv`).
pub const COMPONENTS: [&str; 7] = [
    "rotation_deg",
    "shear_x",
    "shear_y",
    "scale_x",
    "scale_y",
    "translate_x",
    "translate_y",
];
/// The value of each component when it is not applied.
pub const IDENTITY: [f64; 7] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
/// pi / 180 as the float64 quotient.
pub const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;

/// The job's `augment` section (defaults are the paper's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSpec {
    pub enabled: bool,
    pub copies: usize,
    pub probability: f64,
    pub rotation_deg: f64,
    pub shear: f64,
    pub scale: [f64; 2],
    pub translate_px: f64,
}

impl Default for AugmentSpec {
    fn default() -> Self {
        AugmentSpec {
            enabled: false,
            copies: 8,
            probability: 0.5,
            rotation_deg: 10.0,
            shear: 0.3,
            scale: [0.8, 1.2],
            translate_px: 2.0,
        }
    }
}

impl AugmentSpec {
    /// Parse the job's raw `augment` section (defaults when absent) and check its ranges.
    pub fn from_job(raw: Option<&Value>) -> Result<Self> {
        let Some(raw) = raw.filter(|v| !v.is_null()) else {
            return Ok(AugmentSpec::default());
        };
        if !raw.is_object() {
            return Err(Error::job(
                "augment",
                format!("got {raw}, expected an object"),
            ));
        }
        let spec: AugmentSpec = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "augment".to_owned()
            } else {
                format!("augment.{path}")
            };
            Error::job(field, e.into_inner().to_string())
        })?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        let within = |name: &str, v: f64, lo: f64, hi: f64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(Error::job(
                    format!("augment.{name}"),
                    format!("got {v}, expected a number in [{lo}, {hi}]"),
                ))
            }
        };
        within("probability", self.probability, 0.0, 1.0)?;
        within("rotation_deg", self.rotation_deg, 0.0, 180.0)?;
        within("shear", self.shear, 0.0, 1.0)?;
        within("scale", self.scale[0], 0.1, 10.0)?;
        within("scale", self.scale[1], 0.1, 10.0)?;
        within("translate_px", self.translate_px, 0.0, 52.0)?;
        if self.copies > 1000 {
            return Err(Error::job(
                "augment.copies",
                format!("got {}, expected an integer in [0, 1000]", self.copies),
            ));
        }
        if self.scale[0] > self.scale[1] {
            return Err(Error::job(
                "augment.scale",
                format!("[{}, {}], expected lo <= hi", self.scale[0], self.scale[1]),
            ));
        }
        Ok(())
    }

    /// (lo, hi) of each component, in [`COMPONENTS`] order.
    pub fn ranges(&self) -> [(f64, f64); 7] {
        let (r, s, t) = (self.rotation_deg, self.shear, self.translate_px);
        let (lo, hi) = (self.scale[0], self.scale[1]);
        [
            (-r, r),
            (-s, s),
            (-s, s),
            (lo, hi),
            (lo, hi),
            (-t, t),
            (-t, t),
        ]
    }
}

/// The drawn parameters of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distortion {
    pub applied: [bool; 7],
    /// Applied value, or the identity when not applied.
    pub values: [f64; 7],
}

/// Draw one image's parameters: per component `u_apply` then `u_value` (14 draws).
pub fn draw(rng: &mut Rng, spec: &AugmentSpec) -> Distortion {
    let mut out = Distortion {
        applied: [false; 7],
        values: IDENTITY,
    };
    for (k, (lo, hi)) in spec.ranges().into_iter().enumerate() {
        let u_apply = rng.uniform();
        let u_value = rng.uniform();
        if u_apply < spec.probability {
            out.applied[k] = true;
            out.values[k] = lo + (hi - lo) * u_value;
        }
    }
    out
}

/// The inverse map `(ia, ib, ic, id)` of a distortion, exactly as docs/augment.md.
pub fn inverse(values: &[f64; 7]) -> [f64; 4] {
    let [deg, rho_x, rho_y, s_x, s_y, _, _] = *values;
    let theta = deg * DEG_TO_RAD;
    let (c, s) = (theta.cos(), theta.sin());
    let a = (c - s * rho_y) * s_x;
    let b = (c * rho_x - s) * s_y;
    let cc = (s + c * rho_y) * s_x;
    let d = (s * rho_x + c) * s_y;
    let det = a * d - b * cc;
    [d / det, -b / det, -cc / det, a / det]
}

/// Resample a packed 105 x 105 image by `distortion` into `out` (packed, padding bits 0).
pub fn apply_packed(src: &[u8], distortion: &Distortion, out: &mut [u8]) {
    assert!(src.len() >= PACKED_BYTES && out.len() >= PACKED_BYTES);
    let [ia, ib, ic, id] = inverse(&distortion.values);
    let (tx, ty) = (distortion.values[5], distortion.values[6]);
    let centre = (IMAGE_SIDE as f64 - 1.0) / 2.0;
    let last = (IMAGE_SIDE - 1) as f64;
    out[..PACKED_BYTES].fill(0);
    for y in 0..IMAGE_SIDE {
        let qy = (y as f64 - centre) - ty;
        let (ibq, idq) = (ib * qy, id * qy);
        for x in 0..IMAGE_SIDE {
            let qx = (x as f64 - centre) - tx;
            let px = (ia * qx + ibq) + centre;
            let py = (ic * qx + idq) + centre;
            let i = (px + 0.5).floor();
            let j = (py + 0.5).floor();
            if (0.0..=last).contains(&i) && (0.0..=last).contains(&j) {
                let k = j as usize * IMAGE_SIDE + i as usize;
                if src[k / 8] >> (7 - k % 8) & 1 == 1 {
                    let o = y * IMAGE_SIDE + x;
                    out[o / 8] |= 0x80 >> (o % 8);
                }
            }
        }
    }
}

/// Python's `float.hex()` of a finite float64 (`-0x1.8000000000000p+1`, zero `0x0.0p+0`).
pub fn float_hex(value: f64) -> String {
    let bits = value.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let mantissa = bits & ((1u64 << 52) - 1);
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return format!("{sign}inf");
    }
    match (exponent, mantissa) {
        (0, 0) => format!("{sign}0x0.0p+0"),
        (0, m) => format!("{sign}0x0.{m:013x}p-1022"),
        (e, m) => format!("{sign}0x1.{m:013x}p{:+}", e - 1023),
    }
}

/// One `augment.tsv` line: pair index, side, each value as `float.hex()` or `-`.
pub fn format_line(index: usize, side: &str, distortion: &Distortion) -> String {
    let mut line = format!("{index}\t{side}");
    for (applied, value) in distortion.applied.iter().zip(distortion.values) {
        line.push('\t');
        if *applied {
            line.push_str(&float_hex(value));
        } else {
            line.push('-');
        }
    }
    line
}

#[cfg(test)]
#[path = "augment_tests.rs"]
mod tests;
