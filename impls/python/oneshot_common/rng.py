"""The shared pseudo-random generator of oneshot-bench (docs/sampling.md).

xoshiro256** seeded through SplitMix64 from a 64-bit seed and a stream name, plus Lemire's
unbiased integer draw in [0, n) and a 53-bit float in [0, 1). The Rust implementation
(impls/rust/core/src/rng.rs) is bit-for-bit the same; tests/vectors/rng.json pins both.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64-bit hash, used to turn a stream name into seed bits."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


class Rng:
    """xoshiro256** with SplitMix64 seeding; one instance per named stream."""

    __slots__ = ("_s0", "_s1", "_s2", "_s3")

    def __init__(self, seed: int, stream: str) -> None:
        if not 0 <= seed <= MASK64:
            raise ValueError(f"seed must be in [0, 2^64), got {seed}")
        x = seed ^ fnv1a64(stream.encode("utf-8"))
        state = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            state.append(z ^ (z >> 31))
        self._s0, self._s1, self._s2, self._s3 = state

    def next_u64(self) -> int:
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        x = (s1 * 5) & MASK64
        result = ((((x << 7) | (x >> 57)) & MASK64) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & MASK64
        self._s0, self._s1, self._s2, self._s3 = s0, s1, s2, s3
        return result

    def below(self, n: int) -> int:
        """Uniform integer in [0, n) by Lemire's multiply-and-reject method (n >= 1)."""
        if n < 1:
            raise ValueError(f"below() needs n >= 1, got {n}")
        # next_u64() inlined: this is the hot call of pair sampling (about 35% faster).
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        x = (s1 * 5) & MASK64
        m = ((((x << 7) | (x >> 57)) & MASK64) * 9 & MASK64) * n
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        self._s0, self._s1, self._s2, self._s3 = s0, s1, s2, ((s3 << 45) | (s3 >> 19)) & MASK64
        low = m & MASK64
        if low < n:
            threshold = ((1 << 64) - n) % n
            while low < threshold:
                m = self.next_u64() * n
                low = m & MASK64
        return m >> 64

    def uniform(self) -> float:
        """Float in [0, 1) from the top 53 bits of one draw."""
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)
