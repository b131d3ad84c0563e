package upstream

import (
	"math"
	"math/rand/v2"
)

// hashString is 64-bit FNV-1a, computed in place so that hashing a request's key allocates
// nothing.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: it spreads the bits of key^server so that nearby keys
// (addresses that differ in one byte) give unrelated rendezvous scores.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// weightedScore is the weighted rendezvous score w / -ln(u) of a hash read as a uniform u in
// (0, 1): a server of weight 2 wins twice as many keys as one of weight 1.
func weightedScore(h uint64, w int) float64 {
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return float64(w) / -math.Log(u)
}

// randN is a random int in [0, n), from the runtime's per-thread generator: no lock, no
// allocation.
func randN(n int) int { return rand.IntN(n) }
