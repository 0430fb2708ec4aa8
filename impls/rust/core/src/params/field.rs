//! Helpers that turn a job's JSON into typed values with errors naming the field path, shared
//! by the job file ([`crate::job`]) and every task's params.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// Deserialise `value` into `T`, naming the failing field below `prefix` in the error.
pub(crate) fn typed<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = match (prefix, path.as_str()) {
            (_, ".") => prefix.to_owned(),
            ("job", _) => path,
            _ => format!("{prefix}.{path}"),
        };
        Error::job(field, err.into_inner().to_string())
    })
}

/// A JSON value described for an error message, shortened.
pub(crate) fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing (missing field)".to_owned(),
        Some(Value::String(text)) => format!("string {text:?}"),
        Some(other) => {
            let text = other.to_string();
            if text.chars().count() > 60 {
                format!("{}...", text.chars().take(57).collect::<String>())
            } else {
                text
            }
        }
    }
}

/// `Ok` when `ok`, else an invalid-job error naming `field`.
pub(crate) fn check(ok: bool, field: &str, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::job(field, message()))
    }
}
