//! Tests of episodes.rs: Koch's episodes from a synthetic data set, Lake's from a small
//! all_runs folder, and `episodes.tsv`.

use super::*;
use crate::test_support::small_dataset;

fn koch(seed: u64, ways: usize, count: usize) -> (tempfile::TempDir, Vec<Episode>) {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path());
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let drawn =
        draw_koch_episodes(&dataset, ways, count, &mut Rng::new(seed, "episodes")).expect("draw");
    (dir, drawn)
}

fn folder(path: &str) -> &str {
    path.rsplit_once('/').expect("a folder").0
}

#[test]
fn koch_episodes_are_deterministic_one_character_per_position_other_drawers() {
    let (_dir, drawn) = koch(11, 3, 6);
    let (_again, same) = koch(11, 3, 6);
    assert_eq!(drawn, same);
    let (_other, other) = koch(12, 3, 6);
    assert_ne!(drawn, other);
    for episode in &drawn {
        assert_eq!(episode.support.len(), 3);
        assert_eq!(episode.answers, [0, 1, 2]);
        let alphabet = episode.support[0].split('/').next().expect("alphabet");
        for (support, query) in episode.support.iter().zip(&episode.queries) {
            assert_eq!(folder(support), folder(query), "same character");
            assert_ne!(support, query, "another drawer");
            assert!(support.starts_with(alphabet), "one alphabet");
        }
        let mut characters: Vec<&str> = episode.support.iter().map(|p| folder(p)).collect();
        characters.dedup();
        assert_eq!(characters.len(), 3, "distinct characters");
    }
}

#[test]
fn koch_episodes_draw_as_trials_do_without_the_answer() {
    // The first episode's draws are the first trial's (same generator, same order) until the
    // trial's answer draw: its candidates are the episode's support images, its query one of
    // the episode's queries.
    let (dir, drawn) = koch(11, 3, 1);
    let dataset = Dataset::scan(dir.path()).expect("scan");
    let trials =
        crate::trials::draw_koch_trials(&dataset, 3, 1, &mut Rng::new(11, "episodes")).unwrap();
    assert_eq!(trials[0].candidates, drawn[0].support);
    assert_eq!(trials[0].query, drawn[0].queries[trials[0].answer]);
}

#[test]
fn lake_runs_are_one_episode_each_and_the_set_decodes_every_image_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let glyphs = crate::test_support::glyph;
    for run in ["run01", "run02"] {
        let base = dir.path().join(run);
        for sub in ["test", "training"] {
            std::fs::create_dir_all(base.join(sub)).expect("mkdir");
        }
        for k in 1..=2u32 {
            let png = crate::data::encode_png(&glyphs(k)).expect("png");
            std::fs::write(base.join(format!("test/item0{k}.png")), &png).expect("write");
            std::fs::write(base.join(format!("training/class0{k}.png")), &png).expect("write");
        }
        std::fs::write(
            base.join(crate::trials::LABELS_FILE),
            format!(
                "{run}/test/item01.png {run}/training/class02.png\n\
                 {run}/test/item02.png {run}/training/class01.png\n"
            ),
        )
        .expect("write");
    }
    let episodes = lake_episodes(dir.path(), 2).expect("episodes");
    assert_eq!(episodes.len(), 2);
    assert_eq!(
        episodes[1].support,
        ["run02/training/class01.png", "run02/training/class02.png"]
    );
    assert_eq!(episodes[1].queries[0], "run02/test/item01.png");
    assert_eq!(episodes[1].answers, [1, 0]);
    let set = load_episodes(dir.path(), episodes, &mut |_, _| {}).expect("load");
    assert_eq!(set.paths.len(), 8);
    assert_eq!(set.images.len(), 8 * crate::data::PACKED_BYTES);
    assert_eq!(set.total_queries(), 4);
    assert_eq!(set.query_order(), [(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(set.paths[set.queries[1][1]], "run02/test/item02.png");
    let text = format_episodes(&set.episodes);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 8);
    assert_eq!(lines[0], EPISODES_HEADER);
    assert_eq!(lines[1], "0\tsupport\t0\trun01/training/class01.png\t0");
    assert_eq!(lines[3], "0\tquery\t0\trun01/test/item01.png\t1");
    assert_eq!(lines[8], "1\tquery\t1\trun02/test/item02.png\t0");
}
