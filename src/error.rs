//! The crate's error type. Core modules return `Result<T, Error>`; the binding layer maps
//! `InvalidArgument`/`Parse` to `ValueError`, `Type` to `TypeError`, `Memory` to `MemoryError`, and the rest to
//! `RuntimeError`/`KeyboardInterrupt`.

use thiserror::Error as ThisError;

#[derive(Debug, Clone, PartialEq, ThisError)]
pub enum Error {
    /// A bad value for a named argument. `arg` is the user-facing argument name.
    #[error("{arg}: {msg}")]
    InvalidArgument { arg: String, msg: String },
    /// A wrong kind of value (e.g. non-numeric data).
    #[error("{arg}: {msg}")]
    Type { arg: String, msg: String },
    /// A formula that does not parse; `pos` is the 0-based character offset.
    #[error("formula syntax error at position {pos}: {msg}\n  {formula}\n  {caret}")]
    Parse {
        pos: usize,
        msg: String,
        formula: String,
        caret: String,
    },
    /// A numerical failure that is not the user's fault in an obvious way.
    #[error("numerical error: {0}")]
    Numerical(String),
    /// A request for more memory than may be used (see `crate::mem`); the message names the
    /// argument that sets the size and how to ask for less.
    #[error("{0}")]
    Memory(String),
    /// The work was cancelled (e.g. Ctrl-C observed between chunks).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn arg(arg: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            arg: arg.into(),
            msg: msg.into(),
        }
    }
    pub fn parse(formula: &str, pos: usize, msg: impl Into<String>) -> Self {
        let col = formula[..pos.min(formula.len())].chars().count();
        Error::Parse {
            pos: col,
            msg: msg.into(),
            formula: formula.to_string(),
            caret: format!("{}^", " ".repeat(col)),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Check that every value is finite; name the argument and the first bad index otherwise.
pub fn check_finite(arg: &str, xs: &[f64]) -> Result<()> {
    if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
        return Err(Error::arg(
            arg,
            format!(
                "contains a non-finite value ({}) at index {i}; remove or impute NaN/inf values first",
                xs[i]
            ),
        ));
    }
    Ok(())
}
