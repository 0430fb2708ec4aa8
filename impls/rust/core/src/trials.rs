//! One-shot trials: Koch's drawn trials and Lake's `all_runs` (docs/evaluation.md).
//!
//! A trial is a query image, N candidate images (one per character) and the position of the
//! candidate of the query's character. [`draw_koch_trials`] draws them from a scanned
//! evaluation data set with `Rng(seed, "trials")` in exactly the order of the Python
//! implementation (trials.py); [`read_lake_runs`] reads Lake et al.'s runs; [`load_trials`]
//! decodes each distinct image once into a [`TrialSet`].

use std::collections::HashMap;
use std::path::Path;

use crate::data::{load_images, Progress};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::sampling::Dataset;

/// The labels file of one Lake run.
pub const LABELS_FILE: &str = "class_labels.txt";

/// One trial; paths relative to the trial set's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub query: String,
    pub candidates: Vec<String>,
    pub answer: usize,
    /// Lake's run (0-based); 0 for Koch's trials.
    pub run: usize,
}

/// Trials with each distinct image decoded once (indices into `images` and `paths`).
#[derive(Debug, Clone)]
pub struct TrialSet {
    /// Distinct image paths, in order of first use.
    pub paths: Vec<String>,
    /// `[M, 1379]` bit-packed images.
    pub images: Vec<u8>,
    pub queries: Vec<usize>,
    /// `[T * ways]` candidate image indices.
    pub candidates: Vec<usize>,
    pub answers: Vec<usize>,
    pub runs: Vec<usize>,
    pub ways: usize,
}

impl TrialSet {
    /// Number of trials.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether there are no trials.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// Candidate image indices of trial `t`.
    pub fn candidates_of(&self, t: usize) -> &[usize] {
        &self.candidates[t * self.ways..(t + 1) * self.ways]
    }
}

/// Alphabets with at least `ways` characters, in data-set order; an error if there is none.
pub fn eligible_alphabets(dataset: &Dataset, ways: usize) -> Result<Vec<usize>> {
    let sizes: Vec<usize> = (0..dataset.alphabets().len())
        .map(|a| dataset.characters_of(a).len())
        .collect();
    let eligible: Vec<usize> = (0..sizes.len()).filter(|&a| sizes[a] >= ways).collect();
    if eligible.is_empty() {
        let largest = sizes.iter().copied().max().unwrap_or(0);
        return Err(Error::dataset(
            dataset.root(),
            format!(
                "no alphabet has {ways} characters (the largest has {largest}), expected at \
                 least one for {ways}-way one-shot trials"
            ),
        ));
    }
    Ok(eligible)
}

/// The alphabets a Koch draw of `ways` characters picks from (`eligible_alphabets`), after
/// checking `ways` (Koch's trials and the serve task's episodes).
pub fn koch_alphabets(dataset: &Dataset, ways: usize) -> Result<Vec<usize>> {
    if ways < 2 {
        return Err(Error::job(
            "params.ways",
            format!("got {ways}, expected at least 2"),
        ));
    }
    eligible_alphabets(dataset, ways)
}

/// Koch et al.'s N-way trials, drawn in the documented order (docs/evaluation.md).
pub fn draw_koch_trials(
    dataset: &Dataset,
    ways: usize,
    trials: usize,
    rng: &mut Rng,
) -> Result<Vec<Trial>> {
    let eligible = koch_alphabets(dataset, ways)?;
    let paths = dataset.paths();
    let mut drawn = Vec::with_capacity(trials.min(1 << 20));
    let mut order = Vec::new();
    for _ in 0..trials {
        let (chosen, d1, d2) = draw_characters(dataset, &eligible, ways, rng, &mut order)?;
        let answer = rng.index(ways);
        let image = |c: usize, d: usize| paths[dataset.images_of(c).start + d].clone();
        drawn.push(Trial {
            query: image(chosen[answer], d1),
            candidates: chosen.iter().map(|&c| image(c, d2)).collect(),
            answer,
            run: 0,
        });
    }
    Ok(drawn)
}

/// One draw of Koch's protocol before the answer: an alphabet of `eligible`, `ways` of its
/// characters by the partial Fisher-Yates (`order` is scratch), and the two drawers `d1`
/// (the query's) and `d2` (the candidates') of the character with the fewest images.
pub(crate) fn draw_characters(
    dataset: &Dataset,
    eligible: &[usize],
    ways: usize,
    rng: &mut Rng,
    order: &mut Vec<usize>,
) -> Result<(Vec<usize>, usize, usize)> {
    let alphabet = eligible[rng.index(eligible.len())];
    let chars = dataset.characters_of(alphabet);
    let size = chars.len();
    order.clear();
    order.extend(0..size);
    for i in 0..ways {
        let j = i + rng.index(size - i);
        order.swap(i, j);
    }
    let chosen: Vec<usize> = order[..ways].iter().map(|k| chars.start + k).collect();
    let fewest = chosen
        .iter()
        .map(|&c| dataset.images_of(c).len())
        .min()
        .unwrap_or(0);
    if fewest < 2 {
        return Err(Error::dataset(
            dataset.root(),
            format!(
                "a character of alphabet {} has {fewest} image(s), expected at least 2 \
                 drawers per character for one-shot trials",
                dataset.alphabets()[alphabet]
            ),
        ));
    }
    let d1 = rng.index(fewest);
    let mut d2 = rng.index(fewest - 1);
    if d2 >= d1 {
        d2 += 1;
    }
    Ok((chosen, d1, d2))
}

fn is_run_name(name: &str) -> bool {
    name.len() > 3 && name.starts_with("run") && name[3..].bytes().all(|b| b.is_ascii_digit())
}

fn read_labels(path: &Path, runs_root: &Path) -> Result<Vec<(String, String)>> {
    let bad = |line: Option<usize>, message: String| Error::pair_file(path, line, message);
    let bytes = std::fs::read(path).map_err(|source| Error::InputIo {
        path: path.to_path_buf(),
        what: "run's labels",
        source,
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| bad(None, "not UTF-8, expected text".into()))?;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 2 {
            return Err(bad(
                Some(number + 1),
                format!(
                    "expected 2 fields 'runNN/test/itemKK.png runNN/training/classJJ.png', got {}",
                    fields.len()
                ),
            ));
        }
        for rel in &fields {
            if rel.starts_with('/') || rel.split('/').any(|p| p == "..") {
                return Err(bad(
                    Some(number + 1),
                    format!("path {rel:?} leaves the runs folder"),
                ));
            }
            if !runs_root.join(rel).is_file() {
                return Err(bad(
                    Some(number + 1),
                    format!("{rel:?} is not a file under {}", runs_root.display()),
                ));
            }
        }
        lines.push((fields[0].to_owned(), fields[1].to_owned()));
    }
    if lines.is_empty() {
        return Err(bad(
            None,
            "no trial lines, expected 'query answer' lines".into(),
        ));
    }
    Ok(lines)
}

/// Every run folder `runNN` of `runs_root` (byte order), its `class_labels.txt` in order.
pub fn read_lake_runs(runs_root: &Path, ways: usize) -> Result<Vec<Trial>> {
    let not_runs = |what: &str| {
        Error::dataset(
            runs_root,
            format!("{what}, expected Lake's all_runs (run01..run20)"),
        )
    };
    let entries = std::fs::read_dir(runs_root).map_err(|_| not_runs("not a readable folder"))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_run_name(n))
        .collect();
    names.sort_unstable();
    if names.is_empty() {
        return Err(not_runs("no runNN folder"));
    }
    let mut trials = Vec::new();
    for (run, name) in names.iter().enumerate() {
        let path = runs_root.join(name).join(LABELS_FILE);
        let lines = read_labels(&path, runs_root)?;
        let mut candidates: Vec<String> = lines.iter().map(|(_, a)| a.clone()).collect();
        candidates.sort_unstable();
        candidates.dedup();
        if candidates.len() != lines.len() {
            return Err(Error::pair_file(
                &path,
                None,
                format!(
                    "{} trials but {} distinct answers, expected one training image per trial",
                    lines.len(),
                    candidates.len()
                ),
            ));
        }
        if candidates.len() != ways {
            return Err(Error::pair_file(
                &path,
                None,
                format!(
                    "the run is {}-way, expected params.ways = {ways}",
                    candidates.len()
                ),
            ));
        }
        for (query, answer) in lines {
            let position = candidates.iter().position(|c| *c == answer).unwrap_or(0);
            trials.push(Trial {
                query,
                candidates: candidates.clone(),
                answer: position,
                run,
            });
        }
    }
    Ok(trials)
}

/// Decode each distinct image of `trials` once (paths relative to `root`).
pub fn load_trials(root: &Path, trials: &[Trial], progress: Progress<'_>) -> Result<TrialSet> {
    let Some(first) = trials.first() else {
        return Err(Error::job(
            "params.trials",
            "0 trials, expected at least one",
        ));
    };
    let ways = first.candidates.len();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut paths: Vec<String> = Vec::new();
    let (mut queries, mut candidates) = (Vec::new(), Vec::new());
    for trial in trials {
        for (k, path) in std::iter::once(&trial.query)
            .chain(&trial.candidates)
            .enumerate()
        {
            let next = index.len();
            let id = *index.entry(path.as_str()).or_insert_with(|| {
                paths.push(path.clone());
                next
            });
            if k == 0 {
                queries.push(id);
            } else {
                candidates.push(id);
            }
        }
        if trial.candidates.len() != ways {
            return Err(Error::job(
                "params.ways",
                format!(
                    "a trial with {} candidates, expected {ways} like the first",
                    trial.candidates.len()
                ),
            ));
        }
    }
    let images = load_images(root, &paths, progress)?;
    Ok(TrialSet {
        paths,
        images,
        queries,
        candidates,
        answers: trials.iter().map(|t| t.answer).collect(),
        runs: trials.iter().map(|t| t.run).collect(),
        ways,
    })
}

#[cfg(test)]
#[path = "trials_tests.rs"]
mod tests;
