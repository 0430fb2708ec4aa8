//! The data set scan and pair sampling (docs/sampling.md, implemented exactly).
//!
//! [`Dataset::scan`] lists an Omniglot-layout folder `ROOT/<alphabet>/<character>/<image>.png`
//! in byte order of the names and validates it; [`sample_pairs`] draws labelled pairs with the
//! shared generator (`Rng::new(seed, "pairs")`) in the same order as the Python implementation,
//! so both write byte-identical pair files (see [`crate::pairfile`]). Every failure is an
//! [`Error`] naming the folder.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// One labelled pair: indices into an image table (a [`Dataset`]'s `paths()` or a pair file's
/// distinct paths) and the label, 1 for the same character, 0 for different characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub left: u32,
    pub right: u32,
    pub label: u8,
}

/// A scanned data set; characters are numbered globally, alphabet by alphabet.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    alphabets: Vec<String>,
    /// Global index of each alphabet's first character, and one past the last (len A + 1).
    alphabet_start: Vec<usize>,
    /// Alphabet index of each global character.
    char_alphabet: Vec<usize>,
    /// Index in `paths` of each character's first image, and one past the last (len C + 1).
    char_start: Vec<usize>,
    /// Every image's root-relative path `alphabet/character/file.png`, in data-set order.
    paths: Vec<String>,
}

impl Dataset {
    /// Scan and validate an Omniglot-layout folder (docs/sampling.md, "The data set").
    pub fn scan(root: impl AsRef<Path>) -> Result<Dataset> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(Error::dataset(
                root,
                "data set root is not a folder, expected ROOT/<alphabet>/<character>/<image>.png",
            ));
        }
        let alphabets = list(root, Entries::Folders)?;
        if alphabets.is_empty() {
            return Err(Error::dataset(
                root,
                "data set has no alphabet folder, expected ROOT/<alphabet>/<character>/<image>.png",
            ));
        }
        let mut alphabet_start = vec![0];
        let (mut char_alphabet, mut char_start, mut paths) = (Vec::new(), vec![0], Vec::new());
        for (a, alphabet) in alphabets.iter().enumerate() {
            let alphabet_dir = root.join(alphabet);
            let characters = list(&alphabet_dir, Entries::Folders)?;
            if characters.is_empty() {
                return Err(Error::dataset(
                    &alphabet_dir,
                    "alphabet has no character folder, expected >= 1",
                ));
            }
            for character in &characters {
                let char_dir = alphabet_dir.join(character);
                let files = list(&char_dir, Entries::PngFiles)?;
                if files.len() < 2 {
                    return Err(Error::dataset(
                        &char_dir,
                        format!(
                            "character has {} .png image(s), expected at least 2 \
                             (a positive pair needs two drawers)",
                            files.len()
                        ),
                    ));
                }
                paths.extend(files.iter().map(|f| format!("{alphabet}/{character}/{f}")));
                char_start.push(paths.len());
                char_alphabet.push(a);
            }
            alphabet_start.push(char_alphabet.len());
        }
        if paths.len() > u32::MAX as usize {
            return Err(Error::dataset(root, "more than 2^32 - 1 images"));
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            alphabets,
            alphabet_start,
            char_alphabet,
            char_start,
            paths,
        })
    }

    /// The root folder the image paths are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Alphabet folder names in data-set (byte) order.
    pub fn alphabets(&self) -> &[String] {
        &self.alphabets
    }

    /// Number of characters over all alphabets.
    pub fn num_characters(&self) -> usize {
        self.char_alphabet.len()
    }

    /// Number of images over all characters.
    pub fn num_images(&self) -> usize {
        self.paths.len()
    }

    /// Every image's root-relative path (`alphabet/character/file.png`) in data-set order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The indices (into `paths()`) of the images of global character `c`.
    pub fn images_of(&self, c: usize) -> std::ops::Range<usize> {
        self.char_start[c]..self.char_start[c + 1]
    }

    /// The global character indices of alphabet `a`.
    pub fn characters_of(&self, a: usize) -> std::ops::Range<usize> {
        self.alphabet_start[a]..self.alphabet_start[a + 1]
    }

    /// The alphabet of global character `c`.
    pub fn alphabet_of(&self, c: usize) -> usize {
        self.char_alphabet[c]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entries {
    Folders,
    PngFiles,
}

/// Sorted (byte order) names of the sub-folders, or of the `.png` files, of `folder`;
/// entries starting with `.` are ignored, symbolic links followed.
fn list(folder: &Path, wanted: Entries) -> Result<Vec<String>> {
    let io_error = |source| Error::DatasetIo {
        path: folder.to_path_buf(),
        action: "list the folder",
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(folder).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.starts_with(b".") {
            continue;
        }
        let file_type = entry.file_type().map_err(io_error)?;
        let (is_dir, is_file) = if file_type.is_symlink() {
            // Follow the link; a broken link is neither a folder nor a file.
            fs::metadata(entry.path()).map_or((false, false), |m| (m.is_dir(), m.is_file()))
        } else {
            (file_type.is_dir(), file_type.is_file())
        };
        let keep = match wanted {
            Entries::Folders => is_dir,
            Entries::PngFiles => is_file && bytes.ends_with(b".png"),
        };
        if !keep {
            continue;
        }
        let Some(text) = name.to_str() else {
            return Err(Error::dataset(
                folder,
                format!(
                    "entry name {name:?} is not valid UTF-8, expected UTF-8 names \
                     (pair files must hold them)"
                ),
            ));
        };
        if text.contains(['\t', '\n']) {
            return Err(Error::dataset(
                folder,
                format!(
                    "entry name {text:?} contains a tab or newline, \
                     expected names a pair file can hold"
                ),
            ));
        }
        names.push(text.to_owned());
    }
    names.sort_unstable(); // `str` order is the byte order of the UTF-8 names
    Ok(names)
}

/// The validations that depend on `same_alphabet` (negatives need two characters).
pub fn check_can_sample(dataset: &Dataset, same_alphabet: f64) -> Result<()> {
    if same_alphabet > 0.0 {
        for (a, name) in dataset.alphabets.iter().enumerate() {
            if dataset.characters_of(a).len() < 2 {
                return Err(Error::dataset(
                    dataset.root.join(name),
                    format!(
                        "alphabet has a single character, expected at least 2 when \
                         same_alphabet > 0 (got {same_alphabet})"
                    ),
                ));
            }
        }
    }
    if same_alphabet < 1.0 && dataset.alphabets.len() < 2 {
        return Err(Error::dataset(
            &dataset.root,
            format!(
                "data set has a single alphabet, expected at least 2 when same_alphabet < 1 \
                 (got {same_alphabet})"
            ),
        ));
    }
    Ok(())
}

/// Draw `n` pairs: even indices positive, odd negative, exactly as docs/sampling.md.
///
/// The pairs index `dataset.paths()`. Fails (naming the folder) when the data set cannot
/// serve `same_alphabet`.
pub fn sample_pairs(
    dataset: &Dataset,
    n: usize,
    same_alphabet: f64,
    rng: &mut Rng,
) -> Result<Vec<Pair>> {
    check_can_sample(dataset, same_alphabet)?;
    let num_chars = dataset.num_characters();
    let num_alphabets = dataset.alphabets.len();
    let image = |rng: &mut Rng, c: usize| {
        let images = dataset.images_of(c);
        (images.start + rng.index(images.len())) as u32
    };
    let mut pairs = Vec::with_capacity(n.min(1 << 24)); // a huge `n` grows, never aborts here
    for p in 0..n {
        if p % 2 == 0 {
            let images = dataset.images_of(rng.index(num_chars));
            let k = images.len();
            let i = rng.index(k);
            let mut j = rng.index(k - 1);
            if j >= i {
                j += 1;
            }
            let (left, right) = ((images.start + i) as u32, (images.start + j) as u32);
            pairs.push(Pair {
                left,
                right,
                label: 1,
            });
        } else {
            let c1 = rng.index(num_chars);
            let a1 = dataset.char_alphabet[c1];
            let c2 = if rng.uniform() < same_alphabet {
                let chars = dataset.characters_of(a1);
                let l1 = c1 - chars.start;
                let mut l2 = rng.index(chars.len() - 1);
                if l2 >= l1 {
                    l2 += 1;
                }
                chars.start + l2
            } else {
                let mut a2 = rng.index(num_alphabets - 1);
                if a2 >= a1 {
                    a2 += 1;
                }
                let chars = dataset.characters_of(a2);
                chars.start + rng.index(chars.len())
            };
            let left = image(rng, c1);
            let right = image(rng, c2);
            pairs.push(Pair {
                left,
                right,
                label: 0,
            });
        }
    }
    Ok(pairs)
}

#[cfg(test)]
#[path = "sampling_tests.rs"]
mod tests;
