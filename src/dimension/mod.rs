//! Exact k-nearest neighbours and intrinsic-dimension estimators (tile, TwoNN, MLE).
//!
//! - [`knn`]: exact kNN by blocked brute force with a GEMM kernel (see that module), and
//!   [`kdtree`]: exact kNN by a k-d tree for low ambient dimension; [`project`]: exact kNN
//!   pruned by a principal-subspace bound, for points near a low-dimensional subspace of a
//!   high ambient dimension; `Algorithm::Auto` picks.
//! - [`estimators`]: TwoNN (Facco et al. 2017), MLE (Levina & Bickel 2004 with the
//!   MacKay & Ghahramani 2005 averaging of inverses), and the tile estimator (scaling of the
//!   mean log k-th neighbour distance with subsample size; Pettis et al. 1979, Costa & Hero 2004).
//!
//! Duplicate points (identical rows) make nearest-neighbour distances zero, which breaks every
//! estimator here (log 0). The estimators remove exact duplicate rows first, keeping the first
//! occurrence, and report how many were removed (the Python layer warns).

pub mod estimators;
pub mod kdtree;
pub mod knn;
pub mod project;

pub use estimators::{
    mle, mle_with, tile, tile_with, twonn, twonn_with, unique_rows, Mle, Tile, TileOptions, TwoNN,
    TwoNNMethod,
};
pub use knn::{knn, knn_with, Algorithm, Knn, KnnControl};

/// SplitMix64 finaliser (Steele, Lea & Flood 2014).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seed of stream `stream` within purpose `tag` derived from a user seed by hashing, so
/// streams are statistically independent (never `seed ^ i`).
pub fn stream_seed(seed: u64, tag: u64, stream: u64) -> u64 {
    let a = mix64(seed.wrapping_add(0x9e37_79b9_7f4a_7c15));
    let b = mix64(
        a ^ tag
            .wrapping_mul(0xd6e8_feb8_6659_fd93)
            .wrapping_add(0x9e37_79b9_7f4a_7c15),
    );
    mix64(
        b ^ stream
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(0x632b_e59b_d9b4_e019),
    )
}
