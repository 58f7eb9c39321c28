// Package backoff computes the jittered, doubling wait between retries, one
// formula for every retrying part of the project (the machine's broker
// reconnects, the operator client, the gateway's forwarder).
//
// # Usage
//
//	p := backoff.Policy{Min: 200 * time.Millisecond, Max: 30 * time.Second}
//	for attempt := 1; ; attempt++ {
//		if err := try(); err == nil {
//			break
//		}
//		if err := clock.Sleep(ctx, p.Wait(attempt)); err != nil {
//			return err // the context ended
//		}
//	}
//
// The wait before attempt n+1 is drawn uniformly from [d/2, d] with
// d = Min·2^(n-1) capped at Max ("equal jitter"): half fixed so retries
// still slow down, half random so a fleet that failed together does not
// retry in lockstep.
//
// # Concurrency
//
// A Policy is a value; Wait is safe for concurrent use.
package backoff
