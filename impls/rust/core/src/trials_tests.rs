//! Tests of trials.rs: Koch's draws pinned from the Python implementation, Lake's runs.

use super::*;
use crate::test_support::small_dataset;

#[test]
fn koch_draws_match_python() {
    // The layout of test_support::small_dataset (empty files suffice for the scan), then
    // ds = scan_dataset(root); draw_koch_trials(ds, 3, 4, Rng(11, "trials")): Beta (2
    // characters) is skipped at 3 ways.
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let drawn = draw_koch_trials(&dataset, 3, 4, &mut Rng::new(11, "trials")).expect("draw");
    let expected: [(&str, [&str; 3], usize); 4] = [
        (
            "Gamma/character03/0022_01.png",
            [
                "Gamma/character04/0025_02.png",
                "Gamma/character03/0023_02.png",
                "Gamma/character01/0018_02.png",
            ],
            1,
        ),
        (
            "Alpha/character03/0007_02.png",
            [
                "Alpha/character03/0006_01.png",
                "Alpha/character01/0001_01.png",
                "Alpha/character02/0004_01.png",
            ],
            0,
        ),
        (
            "Alpha/character03/0006_01.png",
            [
                "Alpha/character02/0005_02.png",
                "Alpha/character01/0002_02.png",
                "Alpha/character03/0007_02.png",
            ],
            2,
        ),
        (
            "Gamma/character03/0023_02.png",
            [
                "Gamma/character02/0019_01.png",
                "Gamma/character03/0022_01.png",
                "Gamma/character01/0017_01.png",
            ],
            1,
        ),
    ];
    for (trial, (query, candidates, answer)) in drawn.iter().zip(expected) {
        assert_eq!(trial.query, query);
        assert_eq!(trial.candidates, candidates);
        assert_eq!(trial.answer, answer);
    }
    let set = load_trials(dir.path(), &drawn, &mut |_, _| {}).expect("load");
    assert_eq!(set.len(), 4);
    assert_eq!(
        set.paths.len() * crate::data::PACKED_BYTES,
        set.images.len()
    );
}

#[test]
fn too_few_characters_is_an_error_naming_the_largest_alphabet() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let err = draw_koch_trials(&dataset, 5, 1, &mut Rng::new(1, "trials")).unwrap_err();
    assert!(err.to_string().contains("the largest has 4"), "{err}");
}

#[test]
fn lake_runs_read_candidates_in_byte_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run01");
    for sub in ["test", "training"] {
        std::fs::create_dir_all(run.join(sub)).expect("mkdir");
    }
    for k in 1..=2 {
        std::fs::write(run.join(format!("test/item0{k}.png")), b"").expect("write");
        std::fs::write(run.join(format!("training/class0{k}.png")), b"").expect("write");
    }
    std::fs::write(
        run.join(LABELS_FILE),
        "run01/test/item01.png run01/training/class02.png\n\n\
         run01/test/item02.png run01/training/class01.png\n",
    )
    .expect("write");
    let trials = read_lake_runs(dir.path(), 2).expect("runs");
    assert_eq!(trials.len(), 2);
    assert_eq!(trials[0].candidates[0], "run01/training/class01.png");
    assert_eq!((trials[0].answer, trials[1].answer), (1, 0));
    let err = read_lake_runs(dir.path(), 20).unwrap_err();
    assert!(
        err.to_string().contains("expected params.ways = 20"),
        "{err}"
    );
}
