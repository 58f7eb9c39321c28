// Package seqrange holds runs of a machine's event sequence numbers, as
// the gateway's confirmations carry them ({"seqs":[[a,b],...]}): the
// gateway merges what it committed into them, the machine's outbox merges
// what it heard. One merge for both, so that the two ends cannot come to
// disagree on what a run means.
package seqrange
