//! Unit tests of the data set scan and pair sampling (beside `sampling.rs`).

use super::*;
use crate::test_support::{small_dataset, write_dataset};

fn character_of(dataset: &Dataset, image: u32) -> usize {
    (0..dataset.num_characters())
        .find(|&c| dataset.images_of(c).contains(&(image as usize)))
        .expect("image belongs to a character")
}

fn scan_small() -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    (dir, dataset)
}

#[test]
fn scan_sorts_by_byte_order_and_ignores_dot_entries_and_other_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(
        dir.path(),
        &[
            ("b", &[("c", 2)]),
            ("B", &[("c", 2)]),
            ("a", &[("Z", 2), ("z", 2)]),
        ],
    );
    fs::create_dir_all(dir.path().join(".hidden/c")).expect("mkdir");
    fs::write(dir.path().join("README.txt"), "not an alphabet").expect("write");
    fs::write(dir.path().join("a/z/notes.txt"), "ignored").expect("write");
    fs::write(dir.path().join("a/z/.0_99.png"), "ignored").expect("write");
    let dataset = Dataset::scan(dir.path()).expect("scan");
    assert_eq!(dataset.alphabets(), ["B", "a", "b"]);
    assert_eq!(dataset.num_characters(), 4);
    let paths: Vec<&str> = dataset.paths().iter().map(|p| &p[..4]).collect();
    assert_eq!(
        paths,
        ["B/c/", "B/c/", "a/Z/", "a/Z/", "a/z/", "a/z/", "b/c/", "b/c/"]
    );
    assert!(dataset.paths()[0] < dataset.paths()[1]);
}

#[cfg(unix)]
#[test]
fn scan_follows_symbolic_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = tempfile::tempdir().expect("tempdir");
    write_dataset(real.path(), &[("x", &[("c1", 2), ("c2", 2)])]);
    write_dataset(dir.path(), &[("a", &[("c1", 2)])]);
    std::os::unix::fs::symlink(real.path().join("x"), dir.path().join("linked")).expect("link");
    let dataset = Dataset::scan(dir.path()).expect("scan");
    assert_eq!(dataset.alphabets(), ["a", "linked"]);
    assert_eq!(dataset.num_images(), 6);
}

#[test]
fn pairs_are_interleaved_positive_then_negative() {
    let (_dir, dataset) = scan_small();
    for n in [1, 2, 7, 100] {
        let pairs = sample_pairs(&dataset, n, 0.5, &mut Rng::new(1, "pairs")).expect("sample");
        assert_eq!(pairs.len(), n);
        for (p, pair) in pairs.iter().enumerate() {
            assert_eq!(pair.label, u8::from(p % 2 == 0), "pair {p}");
        }
    }
}

#[test]
fn positives_are_two_drawers_of_one_character_and_negatives_two_characters() {
    let (_dir, dataset) = scan_small();
    let pairs = sample_pairs(&dataset, 2000, 0.5, &mut Rng::new(9, "pairs")).expect("sample");
    for pair in &pairs {
        let (c1, c2) = (
            character_of(&dataset, pair.left),
            character_of(&dataset, pair.right),
        );
        if pair.label == 1 {
            assert_eq!(c1, c2);
            assert_ne!(pair.left, pair.right);
        } else {
            assert_ne!(c1, c2);
        }
    }
}

#[test]
fn same_alphabet_extremes_choose_the_alphabet_of_negatives() {
    let (_dir, dataset) = scan_small();
    for (same_alphabet, want_same) in [(0.0, false), (1.0, true)] {
        let pairs =
            sample_pairs(&dataset, 500, same_alphabet, &mut Rng::new(5, "pairs")).expect("sample");
        for pair in pairs.iter().filter(|p| p.label == 0) {
            let a1 = dataset.alphabet_of(character_of(&dataset, pair.left));
            let a2 = dataset.alphabet_of(character_of(&dataset, pair.right));
            assert_eq!(a1 == a2, want_same, "same_alphabet {same_alphabet}");
        }
    }
}

#[test]
fn same_seed_gives_same_pairs_and_other_seed_differs() {
    let (_dir, dataset) = scan_small();
    let draw = |seed| sample_pairs(&dataset, 200, 0.5, &mut Rng::new(seed, "pairs")).unwrap();
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}

#[test]
fn every_character_and_drawer_is_reachable() {
    let (_dir, dataset) = scan_small();
    let pairs = sample_pairs(&dataset, 4000, 0.5, &mut Rng::new(2, "pairs")).expect("sample");
    let mut seen = vec![false; dataset.num_images()];
    for pair in &pairs {
        seen[pair.left as usize] = true;
        seen[pair.right as usize] = true;
    }
    assert!(seen.iter().all(|&s| s));
}

fn scan_error(layout: &[(&str, &[(&str, usize)])]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), layout);
    let message = Dataset::scan(dir.path()).expect_err("invalid").to_string();
    (dir, message)
}

#[test]
fn rejects_a_missing_root_naming_it() {
    let err = Dataset::scan("/nonexistent/omniglot").expect_err("missing");
    assert_eq!(err.exit_code(), 2);
    assert!(err
        .to_string()
        .starts_with("/nonexistent/omniglot: data set root is not a folder"));
}

#[test]
fn rejects_a_root_without_alphabets() {
    let (dir, message) = scan_error(&[]);
    assert_eq!(
        message,
        format!(
            "{}: data set has no alphabet folder, expected ROOT/<alphabet>/<character>/<image>.png",
            dir.path().display()
        )
    );
}

#[test]
fn rejects_an_alphabet_without_characters() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &[("a", &[("c", 2)])]);
    fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let message = Dataset::scan(dir.path()).expect_err("invalid").to_string();
    let folder = dir.path().join("empty");
    assert!(message.starts_with(&format!("{}: alphabet has no character", folder.display())));
}

#[test]
fn rejects_a_character_with_one_drawer_naming_its_folder() {
    let (dir, message) = scan_error(&[("a", &[("c1", 2), ("c2", 1)])]);
    let folder = dir.path().join("a").join("c2");
    assert!(message.starts_with(&format!(
        "{}: character has 1 .png image(s)",
        folder.display()
    )));
    assert!(message.contains("expected at least 2"));
}

#[test]
fn rejects_single_character_alphabet_when_same_alphabet_is_positive() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(
        dir.path(),
        &[("a", &[("c1", 2), ("c2", 2)]), ("b", &[("c1", 2)])],
    );
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let err = sample_pairs(&dataset, 10, 0.5, &mut Rng::new(0, "pairs")).expect_err("single");
    let folder = dir.path().join("b");
    assert!(err
        .to_string()
        .starts_with(&format!("{}: alphabet has a single", folder.display())));
    // With negatives only across alphabets, one character per alphabet is enough.
    assert!(sample_pairs(&dataset, 10, 0.0, &mut Rng::new(0, "pairs")).is_ok());
}

#[test]
fn rejects_single_alphabet_unless_all_negatives_share_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &[("a", &[("c1", 2), ("c2", 2)])]);
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let err = sample_pairs(&dataset, 10, 0.99, &mut Rng::new(0, "pairs")).expect_err("single");
    assert!(err.to_string().contains("data set has a single alphabet"));
    let pairs = sample_pairs(&dataset, 10, 1.0, &mut Rng::new(0, "pairs")).expect("ok");
    assert_eq!(pairs.len(), 10);
}

#[cfg(unix)]
#[test]
fn rejects_names_a_pair_file_cannot_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(
        dir.path(),
        &[("a", &[("c1", 2)]), ("tab\there", &[("c1", 2)])],
    );
    let message = Dataset::scan(dir.path()).expect_err("tab").to_string();
    assert!(message.contains("contains a tab or newline"), "{message}");
}

/// Pair files pinned from the Python implementation (`oneshot_torch.sampling.sample_pairs`
/// with `Rng(7, "pairs")`, 8 pairs) on the `small_dataset` layout: exact bytes expected.
#[test]
fn pair_files_match_the_python_implementation() {
    let (_dir, dataset) = scan_small();
    let expected = [
        (
            0.5,
            "Gamma/character03/0023_02.png\tGamma/character03/0022_01.png\t1\n\
             Gamma/character03/0022_01.png\tGamma/character02/0021_03.png\t0\n\
             Alpha/character02/0005_02.png\tAlpha/character02/0004_01.png\t1\n\
             Gamma/character04/0024_01.png\tGamma/character03/0022_01.png\t0\n\
             Beta/character01/0011_01.png\tBeta/character01/0012_02.png\t1\n\
             Gamma/character04/0025_02.png\tAlpha/character02/0004_01.png\t0\n\
             Alpha/character03/0010_05.png\tAlpha/character03/0006_01.png\t1\n\
             Gamma/character03/0022_01.png\tAlpha/character01/0003_03.png\t0\n",
        ),
        (
            0.0,
            "Gamma/character03/0023_02.png\tGamma/character03/0022_01.png\t1\n\
             Gamma/character03/0023_02.png\tBeta/character01/0011_01.png\t0\n\
             Gamma/character04/0024_01.png\tGamma/character04/0025_02.png\t1\n\
             Beta/character01/0011_01.png\tAlpha/character01/0001_01.png\t0\n\
             Gamma/character04/0025_02.png\tGamma/character04/0024_01.png\t1\n\
             Beta/character01/0011_01.png\tGamma/character01/0018_02.png\t0\n\
             Alpha/character01/0003_03.png\tAlpha/character01/0002_02.png\t1\n\
             Alpha/character02/0005_02.png\tBeta/character02/0015_03.png\t0\n",
        ),
        (
            1.0,
            "Gamma/character03/0023_02.png\tGamma/character03/0022_01.png\t1\n\
             Gamma/character03/0022_01.png\tGamma/character02/0021_03.png\t0\n\
             Alpha/character02/0005_02.png\tAlpha/character02/0004_01.png\t1\n\
             Gamma/character04/0024_01.png\tGamma/character03/0022_01.png\t0\n\
             Beta/character01/0011_01.png\tBeta/character01/0012_02.png\t1\n\
             Gamma/character04/0025_02.png\tGamma/character02/0021_03.png\t0\n\
             Alpha/character01/0001_01.png\tAlpha/character01/0003_03.png\t1\n\
             Alpha/character01/0001_01.png\tAlpha/character03/0007_02.png\t0\n",
        ),
    ];
    for (same_alphabet, lines) in expected {
        let pairs = sample_pairs(&dataset, 8, same_alphabet, &mut Rng::new(7, "pairs")).unwrap();
        let bytes = crate::pairfile::format_pairs(dataset.paths(), &pairs);
        let text = String::from_utf8(bytes).expect("utf8");
        assert_eq!(
            text,
            format!("left\tright\tlabel\n{lines}"),
            "same_alphabet {same_alphabet}"
        );
    }
}
