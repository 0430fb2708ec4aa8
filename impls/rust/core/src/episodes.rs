//! The episodes of the `serve` task (docs/protocol.md, "`serve`"): `ways` support images, one
//! per character, and `ways` queries, one per support image's character from another drawer.
//!
//! [`draw_koch_episodes`] draws them like Koch's trials (trials.rs, without the answer draw)
//! with `Rng(seed, "episodes")`, in exactly the order of the Python implementation
//! (oneshot_common); [`lake_episodes`] makes one episode of each of Lake's runs;
//! [`load_episodes`] decodes each distinct image once into an [`EpisodeSet`], and
//! [`format_episodes`] writes `episodes.tsv` byte for byte as the Python side does.

use std::collections::HashMap;
use std::path::Path;

use crate::data::{load_images, Progress};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::sampling::Dataset;
use crate::trials::{draw_characters, koch_alphabets, read_lake_runs};

/// Header of `episodes.tsv`.
pub const EPISODES_HEADER: &str = "episode\trole\tindex\tpath\tanswer";

/// One episode; paths relative to the episode set's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// One image per character, in support-position order.
    pub support: Vec<String>,
    /// The queries in the order they are asked.
    pub queries: Vec<String>,
    /// The support position of each query's character.
    pub answers: Vec<usize>,
}

/// Koch's episodes: `count` draws of `ways` characters and two drawers (docs/protocol.md).
pub fn draw_koch_episodes(
    dataset: &Dataset,
    ways: usize,
    count: usize,
    rng: &mut Rng,
) -> Result<Vec<Episode>> {
    let eligible = koch_alphabets(dataset, ways)?;
    let paths = dataset.paths();
    let image = |c: usize, d: usize| paths[dataset.images_of(c).start + d].clone();
    let mut order = Vec::new();
    let mut drawn = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let (chosen, d1, d2) = draw_characters(dataset, &eligible, ways, rng, &mut order)?;
        drawn.push(Episode {
            support: chosen.iter().map(|&c| image(c, d2)).collect(),
            queries: chosen.iter().map(|&c| image(c, d1)).collect(),
            answers: (0..ways).collect(),
        });
    }
    Ok(drawn)
}

/// Lake's episodes: run r of `runs_root` (byte order) is episode r, its support images its
/// distinct training paths in byte order, its queries its `class_labels.txt` lines in order.
pub fn lake_episodes(runs_root: &Path, ways: usize) -> Result<Vec<Episode>> {
    let mut episodes: Vec<Episode> = Vec::new();
    for trial in read_lake_runs(runs_root, ways)? {
        if episodes.len() <= trial.run {
            episodes.push(Episode {
                support: trial.candidates.clone(),
                queries: Vec::new(),
                answers: Vec::new(),
            });
        }
        let episode = episodes.last_mut().expect("an episode of this run");
        episode.queries.push(trial.query);
        episode.answers.push(trial.answer);
    }
    Ok(episodes)
}

/// Episodes with each distinct image decoded once (indices into `paths` and `images`).
#[derive(Debug, Clone)]
pub struct EpisodeSet {
    pub episodes: Vec<Episode>,
    /// Distinct image paths, in order of first use.
    pub paths: Vec<String>,
    /// `[M, 1379]` bit-packed images.
    pub images: Vec<u8>,
    /// Per episode, its support images' indices.
    pub support: Vec<Vec<usize>>,
    /// Per episode, its queries' indices.
    pub queries: Vec<Vec<usize>>,
    pub ways: usize,
}

impl EpisodeSet {
    /// Number of queries of all episodes laid end to end.
    pub fn total_queries(&self) -> usize {
        self.queries.iter().map(Vec::len).sum()
    }

    /// (episode, index in it) of every query laid end to end.
    pub fn query_order(&self) -> Vec<(usize, usize)> {
        (self.queries.iter().enumerate())
            .flat_map(|(e, q)| (0..q.len()).map(move |k| (e, k)))
            .collect()
    }
}

/// Decode each distinct image of `episodes` once (paths relative to `root`).
pub fn load_episodes(
    root: &Path,
    episodes: Vec<Episode>,
    progress: Progress<'_>,
) -> Result<EpisodeSet> {
    let Some(first) = episodes.first() else {
        return Err(Error::job(
            "params.episodes",
            "0 episodes, expected at least one",
        ));
    };
    let ways = first.support.len();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut paths: Vec<String> = Vec::new();
    let mut id_of = |path: &String| {
        *index.entry(path.clone()).or_insert_with(|| {
            paths.push(path.clone());
            paths.len() - 1
        })
    };
    let (mut support, mut queries) = (Vec::new(), Vec::new());
    for episode in &episodes {
        support.push(episode.support.iter().map(&mut id_of).collect());
        queries.push(episode.queries.iter().map(&mut id_of).collect());
    }
    let images = load_images(root, &paths, progress)?;
    Ok(EpisodeSet {
        episodes,
        paths,
        images,
        support,
        queries,
        ways,
    })
}

/// `episodes.tsv`: per episode its support images, then its queries: episode, role, index,
/// path, answer (the support position of its character).
pub fn format_episodes(episodes: &[Episode]) -> String {
    let mut text = String::from(EPISODES_HEADER);
    text.push('\n');
    for (e, episode) in episodes.iter().enumerate() {
        for (k, path) in episode.support.iter().enumerate() {
            text.push_str(&format!("{e}\tsupport\t{k}\t{path}\t{k}\n"));
        }
        for (k, (path, answer)) in episode.queries.iter().zip(&episode.answers).enumerate() {
            text.push_str(&format!("{e}\tquery\t{k}\t{path}\t{answer}\n"));
        }
    }
    text
}

#[cfg(test)]
#[path = "episodes_tests.rs"]
mod tests;
