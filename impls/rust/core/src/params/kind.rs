//! The kinds of task and their protocol names: the one table of task names, and the error for
//! a name that is not in it.

use serde_json::Value;

use super::field::describe;
use crate::error::Error;
use crate::program::impl_id;

/// The kinds of task, without their parameters: the one table of task names that the job's
/// check, [`parse_params`], [`Task::name`] and the error messages read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Sample,
    Load,
    Init,
    Forward,
    Step,
    Augment,
    Evaluate,
    Train,
    Serve,
}

impl TaskKind {
    /// Every task this program implements, in the protocol's order.
    pub const ALL: [TaskKind; 9] = [
        TaskKind::Sample,
        TaskKind::Load,
        TaskKind::Init,
        TaskKind::Forward,
        TaskKind::Step,
        TaskKind::Augment,
        TaskKind::Evaluate,
        TaskKind::Train,
        TaskKind::Serve,
    ];

    /// The task's protocol name.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Sample => "sample",
            TaskKind::Load => "load",
            TaskKind::Init => "init",
            TaskKind::Forward => "forward",
            TaskKind::Step => "step",
            TaskKind::Augment => "augment",
            TaskKind::Evaluate => "evaluate",
            TaskKind::Train => "train",
            TaskKind::Serve => "serve",
        }
    }

    /// The task of this protocol name, if this program implements it.
    pub fn from_name(name: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Protocol tasks this program does not implement yet (rejected with a clear message).
pub const NOT_IMPLEMENTED: &[&str] = &[];

/// The names of [`TaskKind::ALL`], joined by `separator`, each between `quote`s.
pub(crate) fn task_names(quote: &str, separator: &str) -> String {
    TaskKind::ALL
        .iter()
        .map(|kind| format!("{quote}{}{quote}", kind.name()))
        .collect::<Vec<_>>()
        .join(separator)
}

pub(crate) fn unknown_task(task: &str) -> Error {
    let known = task_names("`", ", ");
    if NOT_IMPLEMENTED.contains(&task) {
        Error::job(
            "task",
            format!(
                "`{task}` is not implemented by {}, expected one of {known}",
                impl_id()
            ),
        )
    } else {
        Error::job(
            "task",
            format!(
                "got {}, expected one of {known}",
                describe(Some(&Value::from(task)))
            ),
        )
    }
}
