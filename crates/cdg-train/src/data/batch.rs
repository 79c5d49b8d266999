//! Deterministic shuffled mini-batches.

use super::DataError;
use super::rng::{rng_for, shuffle};

/// What to do with the last, smaller batch of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remainder {
    /// Drop it (training: every step sees a full batch, as batch statistics need).
    Drop,
    /// Keep it (evaluation: every image is seen once).
    Keep,
}

/// Domain tag ("batch" in ASCII) that keeps shuffling streams apart from other uses of a seed.
const SHUFFLE_DOMAIN: u64 = 0x0062_6174_6368;

/// The order in which epoch `epoch` visits `n` items: a permutation that depends only on
/// `(seed, epoch)`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rng_for(seed, &[SHUFFLE_DOMAIN, epoch]);
    shuffle(&mut rng, &mut order);
    order
}

/// An iterator over the index lists of one epoch's mini-batches.
#[derive(Debug, Clone)]
pub struct BatchSampler {
    order: Vec<usize>,
    batch: usize,
    pos: usize,
    end: usize,
}

impl BatchSampler {
    /// Shuffled batches of `batch` indices out of `n`, determined by `(seed, epoch)`.
    pub fn shuffled(
        n: usize,
        batch: usize,
        seed: u64,
        epoch: u64,
        remainder: Remainder,
    ) -> Result<Self, DataError> {
        Self::from_order(epoch_permutation(n, seed, epoch), batch, remainder)
    }

    /// Batches of `batch` consecutive indices 0, 1, … (evaluation order).
    pub fn sequential(n: usize, batch: usize, remainder: Remainder) -> Result<Self, DataError> {
        Self::from_order((0..n).collect(), batch, remainder)
    }

    fn from_order(
        order: Vec<usize>,
        batch: usize,
        remainder: Remainder,
    ) -> Result<Self, DataError> {
        if batch == 0 {
            return Err(DataError::invalid(
                "BatchSampler",
                "batch size 0, expected at least 1",
            ));
        }
        let end = match remainder {
            Remainder::Drop => order.len() / batch * batch,
            Remainder::Keep => order.len(),
        };
        Ok(BatchSampler {
            order,
            batch,
            pos: 0,
            end,
        })
    }

    /// Number of batches in the whole epoch (consumed or not).
    pub fn batches_per_epoch(&self) -> usize {
        self.end.div_ceil(self.batch)
    }
}

impl Iterator for BatchSampler {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.pos >= self.end {
            return None;
        }
        let stop = (self.pos + self.batch).min(self.end);
        let out = self.order[self.pos..stop].to_vec();
        self.pos = stop;
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.pos).div_ceil(self.batch);
        (left, Some(left))
    }
}

impl ExactSizeIterator for BatchSampler {}
