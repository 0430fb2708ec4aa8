//! The pair file: UTF-8 TSV of data-set-relative image paths and labels (docs/sampling.md).
//!
//! [`format_pairs`] / [`write_pairs`] produce the exact bytes both implementations write
//! (header `left\tright\tlabel`, one `left\tright\tlabel\n` line per pair, `/` separators);
//! [`read_pairs`] reads such a file back and rejects, naming the file and line, a missing or
//! different header, a line without exactly three fields, a label other than `0`/`1`, an empty
//! or absolute path, a path with a `..` component and a path that does not name a file under
//! the root.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sampling::Pair;

/// The header line of every pair file (without its newline).
pub const HEADER: &str = "left\tright\tlabel";

/// Pairs read from a pair file: `paths` holds each distinct image path once, in order of first
/// appearance, and the pairs index it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairList {
    pub paths: Vec<String>,
    pub pairs: Vec<Pair>,
}

/// The pair file's exact bytes for `pairs` indexing the image table `paths`.
pub fn format_pairs(paths: &[String], pairs: &[Pair]) -> Vec<u8> {
    let average = paths.first().map_or(0, String::len);
    let mut out = Vec::with_capacity(HEADER.len() + 1 + pairs.len() * (2 * average + 5));
    out.extend_from_slice(HEADER.as_bytes());
    out.push(b'\n');
    for pair in pairs {
        out.extend_from_slice(paths[pair.left as usize].as_bytes());
        out.push(b'\t');
        out.extend_from_slice(paths[pair.right as usize].as_bytes());
        out.extend_from_slice(if pair.label == 1 { b"\t1\n" } else { b"\t0\n" });
    }
    out
}

/// Write the pair file of `pairs` (indices into `paths`) to `path`.
pub fn write_pairs(path: &Path, paths: &[String], pairs: &[Pair]) -> Result<()> {
    fs::write(path, format_pairs(paths, pairs)).map_err(|e| Error::output(path, "pair file", e))
}

/// Read and validate the pair file `path` whose image paths are relative to `root`.
pub fn read_pairs(path: &Path, root: &Path) -> Result<PairList> {
    let bytes = fs::read(path).map_err(|source| Error::InputIo {
        path: path.to_path_buf(),
        what: "pair file",
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Error::pair_file(
            path,
            None,
            format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop(); // the final newline
    }
    match lines.first() {
        Some(&HEADER) => {}
        first => {
            let found = first.map_or("an empty file".to_owned(), |line| format!("{line:?}"));
            return Err(Error::pair_file(
                path,
                Some(1),
                format!("expected the header \"left<TAB>right<TAB>label\", got {found}"),
            ));
        }
    }
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut list = PairList {
        paths: Vec::new(),
        pairs: Vec::with_capacity(lines.len() - 1),
    };
    for (number, line) in lines.iter().enumerate().skip(1).map(|(i, l)| (i + 1, l)) {
        let bad = |message: String| Error::pair_file(path, Some(number), message);
        let fields: Vec<&str> = line.split('\t').collect();
        let [left, right, label] = fields[..] else {
            return Err(bad(format!(
                "expected 3 tab-separated fields (left, right, label), got {}",
                fields.len()
            )));
        };
        let label = match label {
            "0" => 0,
            "1" => 1,
            other => return Err(bad(format!("label {other:?} is not 0 or 1"))),
        };
        let mut ids = [0u32; 2];
        for (id, rel) in ids.iter_mut().zip([left, right]) {
            *id = match index.get(rel) {
                Some(&id) => id,
                None => {
                    check_path(rel, root).map_err(bad)?;
                    let id = u32::try_from(list.paths.len())
                        .map_err(|_| bad("more than 2^32 - 1 distinct images".to_owned()))?;
                    index.insert(rel, id);
                    list.paths.push(rel.to_owned());
                    id
                }
            };
        }
        list.pairs.push(Pair {
            left: ids[0],
            right: ids[1],
            label,
        });
    }
    Ok(list)
}

/// Why `rel` is not a valid root-relative image path, if it is not.
fn check_path(rel: &str, root: &Path) -> std::result::Result<(), String> {
    let under = || format!("a path relative to {}", root.display());
    if rel.is_empty() {
        return Err(format!("empty path, expected {}", under()));
    }
    if rel.starts_with('/') || Path::new(rel).is_absolute() {
        return Err(format!("path {rel:?} is absolute, expected {}", under()));
    }
    if rel.split('/').any(|part| part == "..") {
        return Err(format!(
            "path {rel:?} has a '..' component, expected a path under {}",
            root.display()
        ));
    }
    if !root.join(rel).is_file() {
        return Err(format!(
            "path {rel:?} does not name an image file under {}",
            root.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::sampling::{sample_pairs, Dataset};
    use crate::test_support::small_dataset;

    fn setup() -> (tempfile::TempDir, Dataset) {
        let dir = tempfile::tempdir().expect("tempdir");
        small_dataset(dir.path());
        let dataset = Dataset::scan(dir.path()).expect("scan");
        (dir, dataset)
    }

    #[test]
    fn writes_the_exact_format() {
        let paths = vec![
            "a/c1/1.png".to_owned(),
            "a/c1/2.png".to_owned(),
            "b/c/3.png".to_owned(),
        ];
        let pairs = [
            Pair {
                left: 0,
                right: 1,
                label: 1,
            },
            Pair {
                left: 2,
                right: 0,
                label: 0,
            },
        ];
        let text = String::from_utf8(format_pairs(&paths, &pairs)).expect("utf8");
        assert_eq!(
            text,
            "left\tright\tlabel\na/c1/1.png\ta/c1/2.png\t1\nb/c/3.png\ta/c1/1.png\t0\n"
        );
    }

    #[test]
    fn round_trips_sampled_pairs() {
        let (dir, dataset) = setup();
        let pairs = sample_pairs(&dataset, 50, 0.5, &mut Rng::new(4, "pairs")).expect("sample");
        let file = dir.path().join("pairs.tsv");
        write_pairs(&file, dataset.paths(), &pairs).expect("write");
        let list = read_pairs(&file, dir.path()).expect("read");
        assert_eq!(list.pairs.len(), 50);
        assert_eq!(
            format_pairs(&list.paths, &list.pairs),
            fs::read(&file).expect("read")
        );
        let mut distinct = list.paths.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), list.paths.len());
    }

    fn rejection(dataset: &Dataset, root: &Path, body: &str) -> String {
        let file = root.join("bad.tsv");
        fs::write(&file, body).expect("write");
        let err = read_pairs(&file, dataset.root()).expect_err("invalid pair file");
        assert_eq!(err.exit_code(), 2);
        let message = err.to_string();
        let named = file.display().to_string();
        assert!(
            message.starts_with(&named),
            "{message} does not name {named}"
        );
        message[named.len()..].to_owned()
    }

    #[test]
    fn rejects_invalid_pair_files_naming_file_and_line() {
        let (dir, dataset) = setup();
        let good = &dataset.paths()[0];
        let root = dir.path();
        let cases = [
            ("", ":1: expected the header"),
            ("left\tright\n", ":1: expected the header"),
            (
                &format!("{HEADER}\n{good}\t{good}\n"),
                ":2: expected 3 tab-separated fields",
            ),
            (
                &format!("{HEADER}\n{good}\t{good}\t1\textra\n"),
                ":2: expected 3",
            ),
            (
                &format!("{HEADER}\n{good}\t{good}\t1\n{good}\t{good}\t2\n"),
                ":3: label \"2\"",
            ),
            (
                &format!("{HEADER}\n{good}\t{good}\t1\r\n"),
                ":2: label \"1\\r\"",
            ),
            (
                &format!("{HEADER}\n/etc/passwd\t{good}\t0\n"),
                ":2: path \"/etc/passwd\" is absolute",
            ),
            (
                &format!("{HEADER}\n{good}\tAlpha/../x.png\t0\n"),
                ":2: path \"Alpha/../x.png\" has a '..'",
            ),
            (
                &format!("{HEADER}\n{good}\tAlpha/none.png\t0\n"),
                ":2: path \"Alpha/none.png\" does not name",
            ),
            (&format!("{HEADER}\n\t{good}\t0\n"), ":2: empty path"),
        ];
        for (body, expected) in cases {
            let found = rejection(&dataset, root, body);
            assert!(found.starts_with(expected), "{found:?} vs {expected:?}");
        }
    }

    #[test]
    fn rejects_a_missing_pair_file() {
        let err = read_pairs(Path::new("/nonexistent/pairs.tsv"), Path::new("/")).expect_err("x");
        assert!(err
            .chain()
            .starts_with("/nonexistent/pairs.tsv: cannot read the pair file: "));
    }
}
