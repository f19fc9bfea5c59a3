//! A seeded xorshift64 generator (Marsaglia's 13/7/17): the simulated fleet's choices and the
//! test suite's fuzzers repeat exactly from a seed, with no dependency. Not for anything that
//! must be unpredictable: ids come from the operating system ([`super::runtime::new_id`]).

/// The generator's state; never zero (zero is the one state xorshift cannot leave).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xorshift(u64);

/// What a zero seed is replaced with.
const NONZERO: u64 = 0x9E37_79B9_7F4A_7C15;

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(if seed == 0 { NONZERO } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..=hi` (`lo` when `hi <= lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo + 1)
        }
    }

    /// An index in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_from_a_seed_and_stays_in_range() {
        let (mut a, mut b) = (Xorshift::new(7), Xorshift::new(7));
        let first: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..100).map(|_| b.next_u64()).collect::<Vec<_>>());
        for _ in 0..1000 {
            assert!((5..=9).contains(&a.range(5, 9)));
            assert!(a.below(3) < 3);
        }
        assert_eq!(a.range(4, 4), 4);
        assert_eq!(a.range(9, 2), 9);
        assert_eq!(a.below(0), 0);
        assert!(!a.chance(0));
        assert!(a.chance(100));
    }

    #[test]
    fn is_marsaglias_13_7_17() {
        // 1 → 8193 → 8257 → 8257 · (2^17 + 1): the simulated fleet's runs depend on this sequence.
        assert_eq!(Xorshift::new(1).next_u64(), 1_082_269_761);
    }

    #[test]
    fn a_zero_seed_does_not_stick_at_zero() {
        let mut z = Xorshift::new(0);
        assert!((0..10).map(|_| z.next_u64()).all(|n| n != 0));
    }
}
