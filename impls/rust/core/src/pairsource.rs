//! The training data of the `train` task: each epoch's pairs as indices into one table of
//! bit-packed images (docs/protocol.md, "`train`").
//!
//! Without `inputs.pairs`, every image of `dataset.root` is decoded once and each epoch draws
//! `pairs` pairs with `sample_pairs` and one `Rng(seed, "pairs")` that continues across epochs
//! (epoch 0 is exactly the `sample` task's file). With `inputs.pairs`, every epoch uses that
//! list in an order shuffled by one `Rng(seed, "shuffle")` continuing across epochs
//! (Fisher-Yates from the end: `j = below(i + 1)`, swap).

use std::path::Path;

use crate::data::{load_dataset, load_pairs, Progress};
use crate::error::{Error, Result};
use crate::pairfile::read_pairs;
use crate::rng::Rng;
use crate::sampling::{check_can_sample, sample_pairs, Dataset};

/// One epoch's pairs: image indices into [`PairSource::images`] and labels.
#[derive(Debug, Clone, Default)]
pub struct EpochPairs {
    pub left: Vec<usize>,
    pub right: Vec<usize>,
    pub labels: Vec<u8>,
}

enum Kind {
    Fixed {
        labels: Vec<u8>,
    },
    Sampled {
        dataset: Dataset,
        pairs: usize,
        same_alphabet: f64,
    },
}

/// Where each epoch's pairs come from.
pub struct PairSource {
    /// `[M, 1379]` packed images (every image of the data set, or the pair file's left then
    /// right images).
    pub images: Vec<u8>,
    kind: Kind,
    rng: Rng,
}

impl PairSource {
    /// Pairs of a pair file, shuffled each epoch.
    pub fn fixed(file: &Path, root: &Path, seed: u64, progress: Progress<'_>) -> Result<Self> {
        let list = read_pairs(file, root)?;
        if list.pairs.is_empty() {
            return Err(Error::pair_file(
                file,
                None,
                "no pairs, expected at least one",
            ));
        }
        let loaded = load_pairs(root, &list, progress)?;
        let mut images = loaded.left;
        images.extend_from_slice(&loaded.right);
        Ok(PairSource {
            images,
            kind: Kind::Fixed {
                labels: loaded.labels,
            },
            rng: Rng::new(seed, "shuffle"),
        })
    }

    /// Pairs drawn from `root` every epoch.
    pub fn sampled(
        root: &Path,
        pairs: usize,
        same_alphabet: f64,
        seed: u64,
        progress: Progress<'_>,
    ) -> Result<Self> {
        let dataset = Dataset::scan(root)?;
        check_can_sample(&dataset, same_alphabet)?;
        let images = load_dataset(&dataset, progress)?;
        Ok(PairSource {
            images,
            kind: Kind::Sampled {
                dataset,
                pairs,
                same_alphabet,
            },
            rng: Rng::new(seed, "pairs"),
        })
    }

    /// The next epoch's pairs.
    pub fn epoch(&mut self) -> Result<EpochPairs> {
        match &self.kind {
            Kind::Fixed { labels } => {
                let n = labels.len();
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    let j = self.rng.index(i + 1);
                    order.swap(i, j);
                }
                Ok(EpochPairs {
                    left: order.clone(),
                    right: order.iter().map(|&i| n + i).collect(),
                    labels: order.iter().map(|&i| labels[i]).collect(),
                })
            }
            Kind::Sampled {
                dataset,
                pairs,
                same_alphabet,
            } => {
                let drawn = sample_pairs(dataset, *pairs, *same_alphabet, &mut self.rng)?;
                Ok(EpochPairs {
                    left: drawn.iter().map(|p| p.left as usize).collect(),
                    right: drawn.iter().map(|p| p.right as usize).collect(),
                    labels: drawn.iter().map(|p| p.label).collect(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_matches_python() {
        // Python: order = list(range(5)); rng = Rng(3, "shuffle")
        // for i in range(4, 0, -1): j = rng.below(i + 1); order[i], order[j] = order[j], order[i]
        let mut rng = Rng::new(3, "shuffle");
        let mut order: Vec<usize> = (0..5).collect();
        for i in (1..5).rev() {
            let j = rng.index(i + 1);
            order.swap(i, j);
        }
        assert_eq!(order, vec![3, 2, 1, 4, 0]);
    }
}
