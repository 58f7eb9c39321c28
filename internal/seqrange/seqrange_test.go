package seqrange

import (
	"fmt"
	"testing"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		in   []Range
		want string
	}{
		{nil, "[]"},
		{[]Range{{3, 4}, {1, 2}}, "[{1 4}]"},
		{[]Range{{5, 9}, {1, 2}, {6, 7}}, "[{1 2} {5 9}]"},
		{[]Range{{1, 5}, {2, 3}, {5, 8}, {10, 10}}, "[{1 8} {10 10}]"},
		{[]Range{{4, 3}, {7, 7}}, "[{7 7}]"},
		{[]Range{{1, 3}, {8, 8}, {12, 14}, {4, 4}, {9, 9}}, "[{1 4} {8 9} {12 14}]"},
	}
	for _, tt := range tests {
		in := fmt.Sprint(tt.in)
		if got := fmt.Sprint(Merge(tt.in)); got != tt.want {
			t.Errorf("Merge(%s) = %s; want %s", in, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		in   []Range
		want int64
	}{
		{nil, 0},
		{[]Range{{1, 1}}, 1},
		{[]Range{{1, 3}, {8, 8}, {12, 14}}, 7},
		{[]Range{{4, 3}, {7, 7}}, 1},
	}
	for _, tt := range tests {
		if got := Count(tt.in); got != tt.want {
			t.Errorf("Count(%v) = %d; want %d", tt.in, got, tt.want)
		}
	}
}
