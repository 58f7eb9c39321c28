-- The forwarder's claim reads only the queues that are due: a queue with
-- nothing pending is parked at next_at = 2^62 (see store.Idle) and an
-- arrival brings it back to 0, so the claim no longer visits every machine
-- of the fleet each time it looks for work.
CREATE INDEX IF NOT EXISTS fwd_due ON fwd(next_at, machine);
