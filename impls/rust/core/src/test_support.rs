//! Test helpers: tiny Omniglot-layout data sets of real 1-bit PNGs in temporary folders.

use std::fs;
use std::path::Path;

use crate::data::{encode_png, BitImage, PACKED_BYTES};

/// A deterministic bilevel image: a few bits set from `seed`, the padding bits 0.
pub fn glyph(seed: u32) -> BitImage {
    let mut image = [0u8; PACKED_BYTES];
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for byte in image.iter_mut().take(PACKED_BYTES - 1) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = (x & 0x11) as u8;
    }
    image[PACKED_BYTES - 1] = 0x80; // pixel 11024 (the last one) is ink, padding 0
    image
}

/// Write `layout` (alphabet -> [(character, images)]) under `root`: files `NNNN_DD.png`.
pub fn write_dataset(root: &Path, layout: &[(&str, &[(&str, usize)])]) {
    let mut seed = 0;
    for (alphabet, characters) in layout {
        for (character, images) in characters.iter() {
            let folder = root.join(alphabet).join(character);
            fs::create_dir_all(&folder).expect("create character folder");
            for drawer in 1..=*images {
                seed += 1;
                let bytes = encode_png(&glyph(seed)).expect("encode png");
                fs::write(folder.join(format!("{seed:04}_{drawer:02}.png")), bytes)
                    .expect("write png");
            }
        }
    }
}

/// Three alphabets of 2-4 characters with 2-5 drawers each.
pub fn small_dataset(root: &Path) {
    write_dataset(
        root,
        &[
            (
                "Alpha",
                &[("character01", 3), ("character02", 2), ("character03", 5)],
            ),
            ("Beta", &[("character01", 2), ("character02", 4)]),
            (
                "Gamma",
                &[
                    ("character01", 2),
                    ("character02", 3),
                    ("character03", 2),
                    ("character04", 2),
                ],
            ),
        ],
    );
}
