//! Kafka's key partitioning: the partition a keyed record goes to with the Java client's default
//! partitioner, which librdkafka reproduces as `partitioner=murmur2_random` (what the audit
//! producer uses). Knowing it lets a read go straight to the partition holding a chain.

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with the seed `0x9747b28c`, the bytes read as
/// little-endian words, returned as Java's signed `int`.
pub(super) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for w in words.by_ref() {
        let &[a, b, c, d] = w else {
            continue; // chunks_exact: every chunk is 4 bytes
        };
        let mut k = u32::from_le_bytes([a, b, c, d]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition (of `count`) a record with this key is produced to:
/// `toPositive(murmur2(key)) % count`, as the Java client and librdkafka's `murmur2_random` do.
/// `None` when the topic has no partitions.
pub(super) fn partition_for(key: &[u8], count: usize) -> Option<i32> {
    if count == 0 {
        return None;
    }
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    i32::try_from(positive as usize % count).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafkas_own_test_vectors() {
        // Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "murmur2({:?})", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_the_count() {
        // toPositive(-973932308) = 1173551340; toPositive(479470107) = 479470107.
        assert_eq!(partition_for(b"21", 3), Some(0)); // 1_173_551_340 % 3
        assert_eq!(partition_for(b"abc", 7), Some(4)); // 479_470_107 % 7
        assert_eq!(partition_for(b"abc", 1), Some(0));
        assert_eq!(partition_for(b"abc", 0), None);
        assert_eq!(partition_for(b"", 1), Some(0));
    }
}
