-- A machine is looked up by its serial or by its rvmId (GET
-- /api/machines/{serial}, the operator's machine routes). Without an index
-- on rvm_id the OR read every machine of the fleet: at 10,000 machines a
-- page per machine cost more than the peak's storing.
CREATE INDEX IF NOT EXISTS machines_rvm_id ON machines(rvm_id);
