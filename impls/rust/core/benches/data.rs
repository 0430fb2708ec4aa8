//! Criterion micro-benchmarks of the data side: pair sampling, PNG decoding and parallel
//! loading. Uses the real Omniglot background set when `ONESHOT_BENCH_DATA` names it (or
//! /work/data/images_background exists), otherwise a generated data set in a temporary folder.
//!
//! Run: `cargo bench --bench data`.

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oneshot_core::data::{
    decode_png, decode_with_png_crate, encode_png, load_dataset, pack, PACKED_BYTES, PIXELS,
};
use oneshot_core::pairfile::format_pairs;
use oneshot_core::rng::Rng;
use oneshot_core::sampling::{sample_pairs, Dataset};

/// A real data set if available, else a generated one (kept alive by the returned guard).
fn dataset() -> (Option<tempfile::TempDir>, Dataset) {
    let real = std::env::var_os("ONESHOT_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/data/images_background"));
    if real.is_dir() {
        return (None, Dataset::scan(&real).expect("scan the real data set"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for a in 0..10 {
        for c in 0..20 {
            let folder = dir.path().join(format!("alphabet{a:02}/character{c:02}"));
            std::fs::create_dir_all(&folder).expect("mkdir");
            for d in 0..20 {
                let image = glyph(a * 400 + c * 20 + d);
                let bytes = encode_png(&image).expect("encode");
                std::fs::write(folder.join(format!("{c:04}_{d:02}.png")), bytes).expect("write");
            }
        }
    }
    let dataset = Dataset::scan(dir.path()).expect("scan");
    (Some(dir), dataset)
}

/// A glyph-like image: a few strokes that depend on `seed`.
fn glyph(seed: usize) -> [u8; PACKED_BYTES] {
    let mut ink = vec![0u8; PIXELS];
    for stroke in 0..4 {
        let (y, x0) = (
            (seed * 7 + stroke * 23) % 90 + 5,
            (seed * 13 + stroke * 31) % 60 + 5,
        );
        for x in x0..x0 + 40 {
            for dy in 0..3 {
                ink[(y + dy) * 105 + x] = 1;
            }
        }
    }
    pack(&ink)
}

fn sampling(c: &mut Criterion) {
    let (_guard, dataset) = dataset();
    let mut group = c.benchmark_group("sampling");
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("sample_pairs_100k", |b| {
        b.iter(|| sample_pairs(&dataset, 100_000, 0.5, &mut Rng::new(black_box(7), "pairs")))
    });
    let pairs = sample_pairs(&dataset, 100_000, 0.5, &mut Rng::new(7, "pairs")).expect("sample");
    group.bench_function("format_pairs_100k", |b| {
        b.iter(|| format_pairs(dataset.paths(), black_box(&pairs)))
    });
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let (_guard, dataset) = dataset();
    // The first image of the data set, decoded from memory (no file system).
    let path = dataset.root().join(&dataset.paths()[0]);
    let bytes = std::fs::read(&path).expect("read the first image");
    let mut out = [0u8; PACKED_BYTES];
    // decode_png takes the direct path for Omniglot's own layout (decode_plain); the png
    // crate is what every file went through before, and what any other file still does.
    c.bench_function("decode_png_one", |b| {
        b.iter(|| decode_png(black_box(&bytes), &path, &mut out).expect("decode"))
    });
    c.bench_function("decode_png_crate_one", |b| {
        b.iter(|| decode_with_png_crate(black_box(&bytes), &path, &mut out).expect("decode"))
    });
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(dataset.num_images() as u64));
    group.bench_function("load_dataset", |b| {
        b.iter(|| load_dataset(&dataset, &mut |_, _| {}).expect("load"))
    });
    // Where load_dataset's time goes, on one thread: the file system alone (open, one read,
    // close per file, as data.rs's load_one does them) and the decoding alone (every file's
    // bytes already in memory).
    let paths: Vec<PathBuf> = dataset
        .paths()
        .iter()
        .map(|p| dataset.root().join(p))
        .collect();
    let mut buf = vec![0u8; 4096];
    group.bench_function("files_only_1_thread", |b| {
        b.iter(|| {
            let mut total = 0;
            for path in &paths {
                let mut file = std::fs::File::open(path).expect("open");
                total += file.read(&mut buf).expect("read");
            }
            black_box(total)
        })
    });
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let mut images = vec![0u8; files.len() * PACKED_BYTES];
    group.bench_function("decode_only_1_thread", |b| {
        b.iter(|| {
            for (bytes, out) in files.iter().zip(images.chunks_exact_mut(PACKED_BYTES)) {
                decode_png(bytes, &paths[0], out).expect("decode");
            }
            black_box(&images);
        })
    });
    group.finish();
}

criterion_group!(benches, sampling, decoding);
criterion_main!(benches);
