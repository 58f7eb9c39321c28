package gateway

import (
	"fmt"
	"testing"

	"github.com/deposit-rvm/rvm/internal/seqrange"
)

// Seqs held in any order, repeated or not, become sorted ranges merged
// where they touch; restore merges a failed flush back in.
func TestAckRanges(t *testing.T) {
	tests := []struct {
		seqs    []int64
		restore []seqrange.Range
		want    string
	}{
		{[]int64{1, 2, 3}, nil, "[{1 3}]"},
		{[]int64{3, 1, 2}, nil, "[{1 3}]"},
		{[]int64{5, 1, 3}, nil, "[{1 1} {3 3} {5 5}]"},
		{[]int64{5, 1, 3, 2, 4}, nil, "[{1 5}]"},
		{[]int64{7, 7, 8, 6, 6}, nil, "[{6 8}]"},
		{[]int64{10, 20, 11, 19, 0, -1}, nil, "[{10 11} {19 20}]"},
		{[]int64{4, 9}, []seqrange.Range{{From: 1, To: 3}, {From: 8, To: 8}, {From: 12, To: 14}}, "[{1 4} {8 9} {12 14}]"},
		{nil, []seqrange.Range{{From: 5, To: 6}, {From: 1, To: 2}, {From: 3, To: 4}}, "[{1 6}]"},
	}
	for _, tt := range tests {
		var a acks
		for _, s := range tt.seqs {
			a.add("M", s)
		}
		if tt.restore != nil {
			a.restore(map[string][]seqrange.Range{"M": tt.restore})
		}
		if got := fmt.Sprint(a.take()["M"]); got != tt.want && !(tt.want == "[]" && got == "[]") {
			t.Errorf("add %v, restore %v = %s; want %s", tt.seqs, tt.restore, got, tt.want)
		}
		if rest := a.take(); len(rest) != 0 {
			t.Errorf("take twice: %v left", rest)
		}
	}
}
