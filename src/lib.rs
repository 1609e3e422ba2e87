//! scalingfit core: pure Rust, no Python. The PyO3 layer lives in `python/` behind the
//! `python` cargo feature and only converts arguments and results.
//!
//! - [`expr`]: the formula language (parser, compiled tape, exact reverse-mode derivatives).
//! - [`fit`]: Levenberg-Marquardt on squared or Huber loss, multi-start, covariance.
//! - [`bootstrap`]: reproducible parallel resampled fits.
//! - [`dimension`]: exact kNN and intrinsic-dimension estimators.
//! - [`mem`]: refusing requests for more memory than the machine has.

// `!(x > 0.0)` is the deliberate NaN-rejecting form of `x <= 0.0` throughout the numerics, and
// index loops over several parallel arrays read better than zipped iterators in the kernels.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

pub mod bootstrap;
pub mod dimension;
pub mod error;
pub mod expr;
pub mod fit;
pub mod forms;
pub mod mem;
pub mod parallel;
pub mod rng;
pub mod simd;

pub use error::{Error, Result};

#[cfg(feature = "python")]
mod python;
