package gateway

import (
	"fmt"
	"testing"
	"time"

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
			a.add("M", s, time.Time{})
		}
		if tt.restore != nil {
			a.restore(map[string][]seqrange.Range{"M": tt.restore})
		}
		if got := fmt.Sprint(a.take(time.Time{}, 0)["M"]); got != tt.want && !(tt.want == "[]" && got == "[]") {
			t.Errorf("add %v, restore %v = %s; want %s", tt.seqs, tt.restore, got, tt.want)
		}
		if rest := a.take(time.Time{}, 0); len(rest) != 0 {
			t.Errorf("take twice: %v left", rest)
		}
	}
}

// A machine's ack is due once its first held seq has waited the age, or
// once it holds ackSoon seqs; a restored (unsent) ack is due at once.
func TestAcksDue(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	const age = 10 * time.Second
	tests := []struct {
		name     string
		seqs     int64         // held: 1..seqs
		noted    time.Duration // before the flush
		restored bool
		due      bool
	}{
		{"young, few", 3, 9 * time.Second, false, false},
		{"old enough", 3, 10 * time.Second, false, true},
		{"young, many", ackSoon, time.Second, false, true},
		{"young, one short of many", ackSoon - 1, time.Second, false, false},
		{"restored after a failed flush", 1, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a acks
			now := t0.Add(time.Minute)
			for s := int64(1); s <= tt.seqs; s++ {
				a.add("M", s, now.Add(-tt.noted))
			}
			if tt.restored {
				a.restore(a.take(time.Time{}, 0))
			}
			got := a.take(now, age)
			if _, due := got["M"]; due != tt.due {
				t.Fatalf("due = %v; want %v", due, tt.due)
			}
			if left := a.take(time.Time{}, 0); tt.due == (len(left) != 0) {
				t.Errorf("left after the flush: %v", left)
			}
		})
	}
}
