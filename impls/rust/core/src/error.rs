//! The library's error type and the exit code each kind of failure means (docs/protocol.md).
//!
//! Every variant renders as one line that names the job field, folder, file or line at fault
//! and says what was expected and what was found. The underlying I/O or decoder error, when
//! there is one, is the error's `source()`; the binary prints the whole chain on one line
//! (`error: <message>: <source>`). [`Error::exit_code`] tells invalid input (2: a bad job, a
//! missing or corrupt file, a data set that cannot serve the request) from a failure while
//! running (1: cannot write an output, an internal inconsistency).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Exit code of a job or its inputs that are invalid.
pub const EXIT_INVALID_INPUT: u8 = 2;
/// Exit code of a task that failed while running.
pub const EXIT_RUNTIME_FAILURE: u8 = 1;

/// Result alias of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job file cannot be read or is not JSON.
    #[error("{}: cannot read the job file", path.display())]
    JobFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The job is invalid; `field` is the path of the offending field (`params.pairs`, `job`).
    #[error("{field}: {message}")]
    Job { field: String, message: String },
    /// The data set folder cannot serve the request (layout, names, sizes).
    #[error("{}: {message}", folder.display())]
    Dataset { folder: PathBuf, message: String },
    /// A folder or file of the data set cannot be read.
    #[error("{}: cannot {action}", path.display())]
    DatasetIo {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// An image is not a valid 105x105 1-bit grayscale PNG.
    #[error("{}: {message}", path.display())]
    Image { path: PathBuf, message: String },
    /// An image file is not a decodable PNG.
    #[error("{}: corrupt or truncated PNG, expected a 1-bit grayscale 105x105 PNG", path.display())]
    ImageDecode {
        path: PathBuf,
        #[source]
        source: png::DecodingError,
    },
    /// A pair file is invalid; `line` is 1-based when the problem is on one line.
    #[error("{}{}: {message}", path.display(), LineSuffix(*line))]
    PairFile {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// An input file named by the job cannot be read.
    #[error("{}: cannot read the {what}", path.display())]
    InputIo {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// An input file named by the job is not what the task expects (an ONNX file that is not
    /// the export of the job's network).
    #[error("{}: {message}", path.display())]
    InputFile { path: PathBuf, message: String },
    /// An output cannot be written (a runtime failure).
    #[error("{}: cannot write the {what}", path.display())]
    OutputIo {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The task failed while running for another reason.
    #[error("{0}")]
    Runtime(String),
}

/// Renders `:LINE` after a file name when a line number is known.
struct LineSuffix(Option<usize>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// The process exit code this error means: 2 invalid input, 1 runtime failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::OutputIo { .. } | Error::Runtime(_) => EXIT_RUNTIME_FAILURE,
            _ => EXIT_INVALID_INPUT,
        }
    }

    /// An invalid job field.
    pub fn job(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Job {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A data set folder that cannot serve the request.
    pub fn dataset(folder: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Dataset {
            folder: folder.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An invalid image file.
    pub fn image(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Image {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An invalid pair file, at `line` (1-based) when known.
    pub fn pair_file(
        path: impl AsRef<Path>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::PairFile {
            path: path.as_ref().to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// An output file that cannot be written.
    pub fn output(path: impl AsRef<Path>, what: &'static str, source: io::Error) -> Self {
        Error::OutputIo {
            path: path.as_ref().to_path_buf(),
            what,
            source,
        }
    }

    /// The message and every source below it on one line, joined by `: `.
    pub fn chain(&self) -> String {
        error_chain(self)
    }
}

/// Any error and its sources on one line, joined by `: ` (newlines flattened).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_exits_2_and_runtime_failure_exits_1() {
        assert_eq!(Error::job("seed", "bad").exit_code(), 2);
        assert_eq!(Error::dataset("/d", "empty").exit_code(), 2);
        let io = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            Error::output("/o/pairs.tsv", "pair file", io).exit_code(),
            1
        );
        assert_eq!(Error::Runtime("nan loss".into()).exit_code(), 1);
    }

    #[test]
    fn chain_joins_sources_on_one_line() {
        let io = io::Error::new(io::ErrorKind::NotFound, "No such file\nor directory");
        let err = Error::InputIo {
            path: "/x/pairs.tsv".into(),
            what: "pair file",
            source: io,
        };
        assert_eq!(
            err.chain(),
            "/x/pairs.tsv: cannot read the pair file: No such file or directory"
        );
    }

    #[test]
    fn pair_file_error_names_file_and_line() {
        let err = Error::pair_file("/p.tsv", Some(3), "label `2` is not 0 or 1");
        assert_eq!(err.to_string(), "/p.tsv:3: label `2` is not 0 or 1");
        let err = Error::pair_file("/p.tsv", None, "empty");
        assert_eq!(err.to_string(), "/p.tsv: empty");
    }
}
