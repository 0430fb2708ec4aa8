//! Unit tests of image decoding and loading (beside `data.rs`).

use std::fs;

use super::*;
use crate::pairfile::read_pairs;
use crate::rng::Rng;
use crate::sampling::sample_pairs;
use crate::test_support::{glyph, small_dataset};

fn encode_other(width: u32, height: u32, color: ColorType, depth: BitDepth) -> Vec<u8> {
    let samples = color.samples() * depth as usize;
    let row = (width as usize * samples).div_ceil(8);
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if color == ColorType::Indexed {
        encoder.set_palette(vec![0u8; 6]);
    }
    let mut writer = encoder.write_header().expect("header");
    writer
        .write_image_data(&vec![0u8; row * height as usize])
        .expect("data");
    writer.finish().expect("finish");
    bytes
}

fn decode(bytes: &[u8]) -> Result<BitImage> {
    let mut out = [0u8; PACKED_BYTES];
    decode_png(bytes, Path::new("/d/x.png"), &mut out).map(|()| out)
}

#[test]
fn packs_pixels_msb_first_with_zero_padding() {
    let mut ink = vec![0u8; PIXELS];
    for k in [0, 7, 8, 104, 105, PIXELS - 1] {
        ink[k] = 1;
    }
    let image = pack(&ink);
    assert_eq!(image.len(), 1379);
    assert_eq!(image[0], 0b1000_0001);
    assert_eq!(image[1], 0b1000_0000);
    assert_eq!(image[13], 0b1100_0000); // pixels 104 and 105: byte 13, bits 7 and 6
    assert_eq!(image[PACKED_BYTES - 1], 0b1000_0000); // pixel 11024, then 7 padding bits 0
    let mut floats = vec![0f32; PIXELS];
    unpack_f32(&image, &mut floats);
    let back: Vec<u8> = floats.iter().map(|&v| v as u8).collect();
    assert_eq!(back, ink);
    assert_eq!(floats.iter().sum::<f32>(), 6.0);
}

#[test]
fn decodes_what_it_encodes_ink_at_png_value_0() {
    for seed in [1, 2, 99] {
        let image = glyph(seed);
        assert_eq!(
            decode(&encode_png(&image).expect("encode")).expect("decode"),
            image
        );
    }
    let mut ink = vec![0u8; PIXELS];
    ink[0] = 1; // (x 0, y 0)
    ink[IMAGE_SIDE + 104] = 1; // (x 104, y 1)
    let bytes = encode_png(&pack(&ink)).expect("encode");
    // The PNG itself: first row starts with a 0 bit (ink), background is 1.
    let mut reader = png::Decoder::new(Cursor::new(&bytes[..]))
        .read_info()
        .expect("info");
    let mut rows = vec![0u8; reader.output_buffer_size().expect("size")];
    reader.next_frame(&mut rows).expect("frame");
    assert_eq!(rows[0], 0b0111_1111);
    assert_eq!(rows[ROW_BYTES + 13] & 0x80, 0);
    assert_eq!(decode(&bytes).expect("decode"), pack(&ink));
}

#[test]
fn rejects_other_sizes_and_modes_saying_what_it_found() {
    let cases = [
        (
            64,
            64,
            ColorType::Rgb,
            BitDepth::Eight,
            "found 8-bit RGB 64x64",
        ),
        (
            105,
            105,
            ColorType::Grayscale,
            BitDepth::Eight,
            "found 8-bit grayscale 105x105",
        ),
        (
            105,
            104,
            ColorType::Grayscale,
            BitDepth::One,
            "found 1-bit grayscale 105x104",
        ),
        (
            105,
            105,
            ColorType::Indexed,
            BitDepth::One,
            "found 1-bit palette 105x105",
        ),
    ];
    for (width, height, color, depth, found) in cases {
        let err = decode(&encode_other(width, height, color, depth)).expect_err("wrong format");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            format!("/d/x.png: expected a 1-bit grayscale 105x105 PNG, {found}")
        );
    }
}

#[test]
fn rejects_corrupt_and_truncated_files_naming_them() {
    let good = encode_png(&glyph(5)).expect("encode");
    let mut flipped = good.clone();
    let last_idat_byte = good.len() - 20;
    flipped[last_idat_byte] ^= 0x55;
    let cases: [&[u8]; 5] = [
        b"",
        b"not a png at all",
        &good[..good.len() / 2],
        &good[..40],
        &flipped,
    ];
    for bytes in cases {
        let err = decode(bytes).expect_err("bad file");
        assert_eq!(err.exit_code(), 2);
        let message = err.chain();
        assert!(
            message.starts_with("/d/x.png: corrupt or truncated PNG, expected a 1-bit grayscale"),
            "{message}"
        );
    }
}

#[test]
fn parallel_load_matches_one_by_one_decoding_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let mut reports = Vec::new();
    let images =
        load_dataset(&dataset, &mut |done, total| reports.push((done, total))).expect("load");
    assert_eq!(images.len(), dataset.num_images() * PACKED_BYTES);
    for (i, rel) in dataset.paths().iter().enumerate() {
        let one = read_image(&dir.path().join(rel)).expect("read");
        assert_eq!(image(&images, i), &one[..], "{rel}");
    }
    assert_eq!(
        reports.last(),
        Some(&(dataset.num_images(), dataset.num_images()))
    );
}

#[test]
fn load_reports_the_first_bad_file_in_list_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let (second, last) = (&dataset.paths()[1], dataset.paths().last().expect("paths"));
    fs::write(dir.path().join(last), b"garbage").expect("write");
    fs::write(
        dir.path().join(second),
        encode_other(10, 10, ColorType::Rgb, BitDepth::Eight),
    )
    .expect("write");
    let err = load_dataset(&dataset, &mut |_, _| {}).expect_err("bad");
    assert!(err
        .to_string()
        .starts_with(&dir.path().join(second).display().to_string()));
    fs::remove_file(dir.path().join(second)).expect("remove");
    let err = load_dataset(&dataset, &mut |_, _| {}).expect_err("missing");
    assert!(
        err.chain().contains("cannot read the image"),
        "{}",
        err.chain()
    );
}

#[test]
fn load_pairs_gives_left_right_and_labels_decoding_each_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let pairs = sample_pairs(&dataset, 40, 0.5, &mut Rng::new(8, "pairs")).expect("sample");
    let file = dir.path().join("pairs.tsv");
    crate::pairfile::write_pairs(&file, dataset.paths(), &pairs).expect("write");
    let list = read_pairs(&file, dir.path()).expect("read");
    let loaded = load_pairs(dir.path(), &list, &mut |_, _| {}).expect("load");
    assert_eq!(loaded.left.len(), 40 * PACKED_BYTES);
    assert_eq!(
        loaded.labels,
        pairs.iter().map(|p| p.label).collect::<Vec<_>>()
    );
    assert_eq!(loaded.distinct, list.paths.len());
    assert!(loaded.distinct < 80);
    let all = load_dataset(&dataset, &mut |_, _| {}).expect("load");
    for (p, pair) in pairs.iter().enumerate() {
        assert_eq!(image(&loaded.left, p), image(&all, pair.left as usize));
        assert_eq!(image(&loaded.right, p), image(&all, pair.right as usize));
    }
}

/// `image` as a PNG laid out as Omniglot's are (one IDAT, unfiltered rows), or with `filter`.
fn encode_with(image: &BitImage, filter: png::Filter) -> Vec<u8> {
    encode_png_with(image, Some(filter)).expect("encode")
}

fn with_png_crate(bytes: &[u8]) -> BitImage {
    let mut out = [0u8; PACKED_BYTES];
    decode_with_png_crate(bytes, Path::new("/d/x.png"), &mut out).expect("png crate");
    out
}

/// A chunk with its length and CRC, as a PNG holds it.
fn raw_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out
}

#[test]
fn the_plain_layout_decodes_directly_and_as_the_png_crate_does() {
    for seed in 0..20 {
        let image = glyph(seed);
        let bytes = encode_with(&image, png::Filter::NoFilter);
        let mut direct = [0u8; PACKED_BYTES];
        assert!(decode_plain(&bytes, &mut direct).is_some(), "glyph {seed}");
        assert_eq!(direct, image);
        assert_eq!(direct, with_png_crate(&bytes));
    }
}

#[test]
fn filtered_rows_and_other_chunks_go_through_the_png_crate_unchanged() {
    let image = glyph(3);
    let mut scratch = [0u8; PACKED_BYTES];
    for filter in [
        png::Filter::Sub,
        png::Filter::Up,
        png::Filter::Avg,
        png::Filter::Paeth,
    ] {
        let bytes = encode_with(&image, filter);
        assert!(decode_plain(&bytes, &mut scratch).is_none(), "{filter:?}");
        assert_eq!(decode(&bytes).expect("decode"), image, "{filter:?}");
    }
    // an ancillary chunk (Omniglot's files carry tIME) is skipped; a critical one is not
    let plain = encode_with(&image, png::Filter::NoFilter);
    let ihdr_end = 8 + 25;
    for (kind, data, direct) in [
        (b"tIME", &[7u8, 0xdf, 6, 1, 12, 0, 0][..], true),
        (b"PLTE", &[0u8, 0, 0, 255, 255, 255][..], false),
    ] {
        let mut with = plain[..ihdr_end].to_vec();
        with.extend(raw_chunk(kind, data));
        with.extend_from_slice(&plain[ihdr_end..]);
        assert_eq!(decode_plain(&with, &mut scratch).is_some(), direct);
        if direct {
            assert_eq!(scratch, image);
            assert_eq!(decode(&with).expect("decode"), image);
        }
    }
}

#[test]
fn damage_the_direct_path_cannot_vouch_for_falls_back_to_the_png_crates_error() {
    let plain = encode_with(&glyph(7), png::Filter::NoFilter);
    let idat_at = 8 + 25;
    let len = u32::from_be_bytes(plain[idat_at..idat_at + 4].try_into().unwrap()) as usize;
    let zlib = &plain[idat_at + 8..idat_at + 8 + len];
    // a flipped byte of the deflate data, the IDAT CRC made right again: the Adler-32 (or the
    // inflate) fails
    let mut bad = zlib.to_vec();
    bad[len / 2] ^= 0x10;
    let mut rebuilt = plain[..idat_at].to_vec();
    rebuilt.extend(raw_chunk(b"IDAT", &bad));
    rebuilt.extend_from_slice(&plain[idat_at + 12 + len..]);
    let mut flipped_crc = plain.clone();
    flipped_crc[idat_at + 8 + len] ^= 1;
    let mut scratch = [0u8; PACKED_BYTES];
    for (what, bytes) in [("deflate", &rebuilt), ("crc", &flipped_crc)] {
        assert!(decode_plain(bytes, &mut scratch).is_none(), "{what}");
        let err = decode(bytes).expect_err(what);
        assert!(
            err.chain()
                .starts_with("/d/x.png: corrupt or truncated PNG"),
            "{what}: {}",
            err.chain()
        );
    }
}

#[test]
fn files_longer_than_one_read_and_empty_ones_load_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drawn = glyph(11);
    let plain = encode_with(&drawn, png::Filter::NoFilter);
    let ihdr_end = 8 + 25;
    let mut long = plain[..ihdr_end].to_vec();
    long.extend(raw_chunk(b"tEXt", &vec![b'x'; 10_000])); // the IDAT starts after 4096 bytes
    long.extend_from_slice(&plain[ihdr_end..]);
    let folder = dir.path().join("A/c1");
    fs::create_dir_all(&folder).expect("mkdir");
    fs::write(folder.join("long.png"), &long).expect("write");
    fs::write(folder.join("plain.png"), &plain).expect("write");
    fs::write(folder.join("empty.png"), b"").expect("write");
    let paths = ["A/c1/long.png".to_string(), "A/c1/plain.png".to_string()];
    let images = load_images(dir.path(), &paths, &mut |_, _| {}).expect("load");
    assert_eq!(image(&images, 0), &drawn[..]);
    assert_eq!(image(&images, 1), &drawn[..]);
    let err = load_images(dir.path(), &["A/c1/empty.png".to_string()], &mut |_, _| {})
        .expect_err("empty file");
    assert!(
        err.chain().contains("empty.png: corrupt or truncated PNG"),
        "{}",
        err.chain()
    );
}
