//! scalingfit core: pure Rust, no Python. The PyO3 layer lives in `python/` behind the
//! `python` cargo feature and only converts arguments and results.
//!
//! - [`expr`]: the formula language (parser, compiled tape, exact reverse-mode derivatives).
//! - [`fit`]: Levenberg-Marquardt on squared or Huber loss, multi-start, covariance.
//! - [`bootstrap`]: reproducible parallel resampled fits.
//! - [`dimension`]: exact kNN and intrinsic-dimension estimators.

pub mod bootstrap;
pub mod dimension;
pub mod error;
pub mod expr;
pub mod fastmath;
pub mod fit;
pub mod forms;
pub mod parallel;
pub mod simd;
pub mod sumexp;

pub use error::{Error, Result};

#[cfg(feature = "python")]
mod python;
