package seqrange

import (
	"cmp"
	"slices"
)

// Range is an inclusive run of sequence numbers, From..To.
type Range struct{ From, To int64 }

// Merge returns rs sorted, with overlapping and adjacent ranges merged and
// empty ones (To < From) dropped; rs itself is left as it was.
func Merge(rs []Range) []Range {
	out := make([]Range, 0, len(rs))
	for _, r := range rs {
		if r.From <= r.To {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp.Compare(a.From, b.From) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.From <= merged[n-1].To+1 {
			merged[n-1].To = max(merged[n-1].To, r.To)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// Count returns how many sequence numbers the disjoint ranges rs hold.
func Count(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		if r.From <= r.To {
			n += r.To - r.From + 1
		}
	}
	return n
}
