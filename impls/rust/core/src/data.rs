//! Decoding Omniglot images into bit-packed arrays (docs/sampling.md, "Images").
//!
//! A valid image is a 105 x 105, 1-bit grayscale PNG (ink 0, background 1). In memory an image
//! is bit-packed: pixel `k = y * 105 + x` is bit `7 - k % 8` of byte `k / 8`, 1 = ink, the 7
//! padding bits of the last byte 0: [`PACKED_BYTES`] = 1,379 bytes ([`BitImage`]). Image sets
//! are one contiguous `Vec<u8>` of `M * 1379` bytes.
//!
//! [`load_images`] decodes root-relative paths in parallel on the current rayon pool, in chunks
//! so that progress can be reported and the first bad file (in list order) is the one named;
//! [`load_pairs`] and [`load_dataset`] build on it, decoding every distinct file once. Each
//! worker reuses its path and file buffers, so the only per-image allocations are the PNG
//! decoder's own. [`unpack_f32`] gives the network's float input (ink 1.0).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use png::{BitDepth, ColorType, Transformations};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::pairfile::PairList;
use crate::sampling::Dataset;

/// Width and height of an image in pixels.
pub const IMAGE_SIDE: usize = 105;
/// Pixels of an image.
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Bytes of a bit-packed image (11,025 bits + 7 padding bits).
pub const PACKED_BYTES: usize = PIXELS.div_ceil(8);
/// Bytes of one 1-bit PNG row (105 bits + 7 padding bits).
const ROW_BYTES: usize = IMAGE_SIDE.div_ceil(8);
/// Images decoded between two progress reports.
const CHUNK: usize = 1024;

/// One bit-packed image, 1 = ink.
pub type BitImage = [u8; PACKED_BYTES];

/// Progress callback: `(done, total)` images.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Images of a pair list: `left` and `right` `[N, 1379]`, `labels` `[N]` (1 same, 0 different).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairImages {
    pub left: Vec<u8>,
    pub right: Vec<u8>,
    pub labels: Vec<u8>,
    /// Distinct image files decoded.
    pub distinct: usize,
}

fn color_name(color: ColorType) -> &'static str {
    match color {
        ColorType::Grayscale => "grayscale",
        ColorType::Rgb => "RGB",
        ColorType::Indexed => "palette",
        ColorType::GrayscaleAlpha => "grayscale+alpha",
        ColorType::Rgba => "RGBA",
    }
}

/// Decode the PNG `bytes` (read from `path`, named in errors) into the packed image `out`.
///
/// Files laid out as every Omniglot PNG is ([`decode_plain`]) skip the png crate; any other
/// file, and every damaged one, goes through it, so its errors are the png crate's as before.
pub fn decode_png(bytes: &[u8], path: &Path, out: &mut [u8]) -> Result<()> {
    if decode_plain(bytes, out).is_some() {
        return Ok(());
    }
    decode_with_png_crate(bytes, path, out)
}

/// The PNG signature.
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// IHDR of a 105 x 105, 1-bit grayscale, deflate, adaptive-filter, non-interlaced image.
const PLAIN_IHDR: [u8; 13] = [0, 0, 0, 105, 0, 0, 0, 105, 1, 0, 0, 0, 0];
/// The decompressed image data: 105 rows of a filter byte and 14 bytes of pixels.
const FILTERED_BYTES: usize = IMAGE_SIDE * (1 + ROW_BYTES);

/// One chunk at `at`: (type, data, offset of the next chunk), its CRC checked; None if cut off
/// or the CRC is wrong.
fn chunk(bytes: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let head = bytes.get(at..at + 8)?;
    let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
    let body = bytes.get(at + 4..(at + 8).checked_add(len)?)?;
    let crc = bytes.get(at + 8 + len..at + 12 + len)?;
    if crc32fast::hash(body) != u32::from_be_bytes(crc.try_into().ok()?) {
        return None;
    }
    Some((&body[..4], &body[4..], at + 12 + len))
}

/// Omniglot's own PNG layout decoded directly into `out`: the signature, an IHDR of a
/// 105 x 105 1-bit grayscale non-interlaced image, one IDAT whose zlib stream (Adler-32
/// checked) inflates to exactly 105 rows, every row unfiltered (filter type 0), ancillary
/// chunks (Omniglot's `tIME`) skipped, and IEND, every CRC checked. All 32,460 images of the background and evaluation sets are laid out
/// so. None for anything else (other chunks, filtered rows, damage): the caller then decodes
/// with the png crate. The png crate's per-file decoder set-up and its inflate's table
/// building were about two thirds of the `load` task's time (perf, 2026-12-02).
pub fn decode_plain(bytes: &[u8], out: &mut [u8]) -> Option<()> {
    if bytes.get(..8)? != SIGNATURE {
        return None;
    }
    let (kind, ihdr, next) = chunk(bytes, 8)?;
    if kind != b"IHDR" || ihdr != PLAIN_IHDR {
        return None;
    }
    let (mut at, mut zlib) = (next, None);
    loop {
        let (kind, data, next) = chunk(bytes, at)?;
        match kind {
            b"IDAT" if zlib.is_none() => zlib = Some(data),
            b"IEND" => break,
            _ if kind[0].is_ascii_lowercase() => {} // ancillary (Omniglot's: tIME)
            _ => return None,                       // a second IDAT, PLTE, ...
        }
        at = next;
    }
    let zlib = zlib?;
    let options = zune_inflate::DeflateOptions::default()
        .set_limit(FILTERED_BYTES)
        .set_size_hint(FILTERED_BYTES)
        .set_confirm_checksum(true);
    let data = zune_inflate::DeflateDecoder::new_with_options(zlib, options)
        .decode_zlib()
        .ok()?;
    if data.len() != FILTERED_BYTES {
        return None;
    }
    let mut rows = [0u8; ROW_BYTES * IMAGE_SIDE];
    for (row, filtered) in rows
        .chunks_exact_mut(ROW_BYTES)
        .zip(data.chunks_exact(1 + ROW_BYTES))
    {
        if filtered[0] != 0 {
            return None;
        }
        row.copy_from_slice(&filtered[1..]);
    }
    pack_rows(&rows, out);
    Some(())
}

/// Decode with the png crate: any valid PNG of the expected kind; its errors name the file.
pub fn decode_with_png_crate(bytes: &[u8], path: &Path, out: &mut [u8]) -> Result<()> {
    let corrupt = |source| Error::ImageDecode {
        path: path.to_path_buf(),
        source,
    };
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    let (color, depth) = (info.color_type, info.bit_depth);
    let side = IMAGE_SIDE as u32;
    if (width, height, color, depth) != (side, side, ColorType::Grayscale, BitDepth::One) {
        return Err(Error::image(
            path,
            format!(
                "expected a 1-bit grayscale 105x105 PNG, found {}-bit {} {width}x{height}",
                depth as u8,
                color_name(color)
            ),
        ));
    }
    let mut rows = [0u8; ROW_BYTES * IMAGE_SIDE];
    reader.next_frame(&mut rows).map_err(corrupt)?;
    pack_rows(&rows, out);
    Ok(())
}

/// Pack 1-bit PNG rows (0 = ink) into `out`: 1 = ink, rows back to back, padding bits 0.
fn pack_rows(rows: &[u8; ROW_BYTES * IMAGE_SIDE], out: &mut [u8]) {
    out[..PACKED_BYTES].fill(0);
    for (y, row) in rows.chunks_exact(ROW_BYTES).enumerate() {
        let bit = y * IMAGE_SIDE;
        let (start, shift) = (bit / 8, bit % 8);
        for (i, &png_byte) in row.iter().enumerate() {
            let mask = if i + 1 == ROW_BYTES { 0x80 } else { 0xff };
            let ink = !png_byte & mask;
            out[start + i] |= ink >> shift;
            if shift > 0 && start + i + 1 < PACKED_BYTES {
                out[start + i + 1] |= ink << (8 - shift);
            }
        }
    }
}

/// Read and decode one image file.
pub fn read_image(path: &Path) -> Result<BitImage> {
    let bytes = std::fs::read(path).map_err(|source| Error::InputIo {
        path: path.to_path_buf(),
        what: "image",
        source,
    })?;
    let mut image = [0u8; PACKED_BYTES];
    decode_png(&bytes, path, &mut image)?;
    Ok(image)
}

/// Per-worker buffers: the file's path and bytes.
#[derive(Default)]
struct Scratch {
    path: OsString,
    bytes: Vec<u8>,
}

fn load_one(root: &Path, rel: &str, scratch: &mut Scratch, out: &mut [u8]) -> Result<()> {
    scratch.path.clear();
    scratch.path.push(root.as_os_str());
    scratch.path.push("/");
    scratch.path.push(rel);
    let path = Path::new(&scratch.path);
    let io = |source| Error::InputIo {
        path: path.to_path_buf(),
        what: "image",
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    // One read is a whole Omniglot file (~250 bytes): when what it gave decodes directly, the
    // PNG ended (IEND, CRC-checked) within it and the read that would say end-of-file is not
    // needed (3 system calls per image instead of 4). Otherwise read the rest and decode.
    scratch.bytes.clear();
    scratch.bytes.resize(4096, 0);
    let first = loop {
        match file.read(&mut scratch.bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.map_err(io)?,
        }
    };
    scratch.bytes.truncate(first);
    if first > 0 && decode_plain(&scratch.bytes, out).is_some() {
        return Ok(());
    }
    read_rest(&mut file, &mut scratch.bytes).map_err(io)?;
    decode_png(&scratch.bytes, path, out)
}

/// Read the rest of `file` onto the end of `bytes` (reusing its capacity). Unlike
/// `read_to_end` this skips the `statx` call that sizes the buffer: Omniglot files are ~250
/// bytes and the buffer is reused, so the size is not worth a system call.
fn read_rest(file: &mut File, bytes: &mut Vec<u8>) -> std::io::Result<()> {
    if bytes.capacity() < 4096 {
        bytes.reserve(4096);
    }
    loop {
        if bytes.len() == bytes.capacity() {
            bytes.reserve(bytes.capacity());
        }
        let len = bytes.len();
        bytes.resize(bytes.capacity(), 0);
        match file.read(&mut bytes[len..]) {
            Ok(0) => {
                bytes.truncate(len);
                return Ok(());
            }
            Ok(n) => bytes.truncate(len + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => bytes.truncate(len),
            Err(e) => {
                bytes.truncate(len);
                return Err(e);
            }
        }
    }
}

/// Decode root-relative `paths` into `[M, 1379]` packed images, in order, on the current
/// rayon pool. The first bad file in list order is the error reported.
pub fn load_images(root: &Path, paths: &[String], progress: Progress<'_>) -> Result<Vec<u8>> {
    let total = paths.len();
    let mut images = vec![0u8; total * PACKED_BYTES];
    let mut done = 0;
    for (out, rels) in images
        .chunks_mut(CHUNK * PACKED_BYTES)
        .zip(paths.chunks(CHUNK))
    {
        let results: Vec<Result<()>> = out
            .par_chunks_mut(PACKED_BYTES)
            .zip(rels.par_iter())
            .map_init(Scratch::default, |scratch, (image, rel)| {
                load_one(root, rel, scratch, image)
            })
            .collect();
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
        done += rels.len();
        progress(done, total);
    }
    Ok(images)
}

/// Decode the images of a pair list, each distinct file once.
pub fn load_pairs(root: &Path, list: &PairList, progress: Progress<'_>) -> Result<PairImages> {
    let distinct = load_images(root, &list.paths, progress)?;
    let n = list.pairs.len();
    let (mut left, mut right) = (
        Vec::with_capacity(n * PACKED_BYTES),
        Vec::with_capacity(n * PACKED_BYTES),
    );
    for pair in &list.pairs {
        left.extend_from_slice(image(&distinct, pair.left as usize));
        right.extend_from_slice(image(&distinct, pair.right as usize));
    }
    Ok(PairImages {
        left,
        right,
        labels: list.pairs.iter().map(|p| p.label).collect(),
        distinct: list.paths.len(),
    })
}

/// Decode every image of a scanned data set, in data-set order -> `[M, 1379]`.
pub fn load_dataset(dataset: &Dataset, progress: Progress<'_>) -> Result<Vec<u8>> {
    load_images(dataset.root(), dataset.paths(), progress)
}

/// Packed image `i` of a contiguous `[M, 1379]` image set.
pub fn image(images: &[u8], i: usize) -> &[u8] {
    &images[i * PACKED_BYTES..(i + 1) * PACKED_BYTES]
}

/// Whether pixel `k = y * 105 + x` of a packed image is ink.
#[inline]
pub fn is_ink(packed: &[u8], k: usize) -> bool {
    packed[k / 8] >> (7 - k % 8) & 1 == 1
}

/// Unpack a packed image into 11,025 floats, ink 1.0 and background 0.0 (the network input).
pub fn unpack_f32(packed: &[u8], out: &mut [f32]) {
    assert!(
        packed.len() >= PACKED_BYTES && out.len() >= PIXELS,
        "unpack_f32 sizes"
    );
    for (k, value) in out[..PIXELS].iter_mut().enumerate() {
        *value = f32::from(packed[k / 8] >> (7 - k % 8) & 1);
    }
}

/// Pack 11,025 pixels (nonzero = ink) into a bit image.
pub fn pack(ink: &[u8]) -> BitImage {
    assert_eq!(ink.len(), PIXELS, "pack takes 105 x 105 pixels");
    let mut image = [0u8; PACKED_BYTES];
    for (k, _) in ink.iter().enumerate().filter(|(_, &v)| v != 0) {
        image[k / 8] |= 0x80 >> (k % 8);
    }
    image
}

/// Encode a bit image as Omniglot's PNG format: 105x105, 1-bit grayscale, ink 0.
pub fn encode_png(image: &BitImage) -> std::result::Result<Vec<u8>, png::EncodingError> {
    encode_png_with(image, None)
}

/// [`encode_png`] with this row filter (`NoFilter`: the layout of Omniglot's own files).
pub fn encode_png_with(
    image: &BitImage,
    filter: Option<png::Filter>,
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut rows = [0xffu8; ROW_BYTES * IMAGE_SIDE];
    for k in (0..PIXELS).filter(|&k| is_ink(image, k)) {
        let (y, x) = (k / IMAGE_SIDE, k % IMAGE_SIDE);
        rows[y * ROW_BYTES + x / 8] &= !(0x80 >> (x % 8));
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, IMAGE_SIDE as u32, IMAGE_SIDE as u32);
    encoder.set_color(ColorType::Grayscale);
    encoder.set_depth(BitDepth::One);
    if let Some(filter) = filter {
        encoder.set_filter(filter);
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rows)?;
    writer.finish()?;
    Ok(bytes)
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
