//! Random streams, used everywhere randomness is needed (bootstrap resamples, tile subsample
//! draws, the projected kNN's subspace iteration).
//!
//! Reproducibility: every stream is a xoshiro256++ generator seeded from a hash of (seed,
//! purpose, index), never `seed ^ i`, so streams are independent and each one can be
//! recreated alone: resample i of a bootstrap, or draw b of a tile estimate, gives the same
//! numbers however the work is split between threads, processes or machines. The samplers are
//! portable: integers by Lemire's unbiased multiply-shift, normals by Box-Muller with the
//! pure-Rust `libm` (not the platform's), so the same seed gives the same numbers on every
//! platform and CPU.

pub use rand::Rng;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator of every stream.
pub type Stream = Xoshiro256PlusPlus;

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijective avalanche hash.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64's output function: [`mix64`] of `z` plus the golden-ratio increment.
#[inline]
pub fn splitmix64(z: u64) -> u64 {
    mix64(z.wrapping_add(GAMMA))
}

/// The stream of bootstrap resample `i` under `seed`.
pub fn resample_stream(seed: u64, i: u64) -> Stream {
    Stream::seed_from_u64(splitmix64(
        seed.wrapping_add(splitmix64(i ^ 0x5ca1_ab1e_f175_0000)),
    ))
}

/// Seed of stream `stream` within purpose `tag` under a user seed (three rounds of hashing).
pub fn stream_seed(seed: u64, tag: u64, stream: u64) -> u64 {
    let a = mix64(seed.wrapping_add(GAMMA));
    let b = mix64(a ^ tag.wrapping_mul(0xd6e8_feb8_6659_fd93).wrapping_add(GAMMA));
    mix64(
        b ^ stream
            .wrapping_mul(GAMMA)
            .wrapping_add(0x632b_e59b_d9b4_e019),
    )
}

/// The generator of stream `stream` within purpose `tag` under `seed`.
pub fn tagged_stream(seed: u64, tag: u64, stream: u64) -> Stream {
    Stream::seed_from_u64(stream_seed(seed, tag, stream))
}

/// Uniform integer in [0, n) (Lemire 2019, unbiased); `n >= 1`.
#[inline]
pub fn below<R: Rng>(rng: &mut R, n: u64) -> u64 {
    let mut m = (rng.next_u64() as u128) * (n as u128);
    let mut lo = m as u64;
    if lo < n {
        let t = n.wrapping_neg() % n;
        while lo < t {
            m = (rng.next_u64() as u128) * (n as u128);
            lo = m as u64;
        }
    }
    (m >> 64) as u64
}

/// Uniform integer in [lo, hi); `lo < hi`.
#[inline]
pub fn in_range<R: Rng>(rng: &mut R, lo: usize, hi: usize) -> usize {
    lo + below(rng, (hi - lo) as u64) as usize
}

/// Uniform in [0, 1) with 53 random bits.
#[inline]
pub fn unit<R: Rng>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal by Box-Muller (one value per call; the second is discarded), with the
/// portable `libm` logarithm and cosine.
#[inline]
pub fn normal<R: Rng>(rng: &mut R) -> f64 {
    // u1 in (0, 1], u2 in [0, 1)
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
    let u2 = unit(rng);
    (-2.0 * libm::log(u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_uniform() {
        let mut rng = resample_stream(1, 2);
        let mut hist = [0usize; 7];
        for _ in 0..70_000 {
            hist[below(&mut rng, 7) as usize] += 1;
        }
        for h in hist {
            assert!((9_400..10_600).contains(&h), "{hist:?}");
        }
        for _ in 0..1000 {
            let v = in_range(&mut rng, 5, 9);
            assert!((5..9).contains(&v));
        }
    }

    #[test]
    fn normal_moments() {
        let mut rng = tagged_stream(3, 1, 0);
        let xs: Vec<f64> = (0..200_000).map(|_| normal(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.01, "{m} {v}");
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a = resample_stream(7, 3).next_u64();
        assert_eq!(a, resample_stream(7, 3).next_u64());
        assert_ne!(a, resample_stream(7, 4).next_u64());
        assert_ne!(a, resample_stream(8, 3).next_u64());
        assert_ne!(
            tagged_stream(7, 1, 3).next_u64(),
            tagged_stream(7, 2, 3).next_u64()
        );
        // the pinned values of the first draws: a change here changes every user's samples
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
    }
}
