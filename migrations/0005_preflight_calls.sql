-- Browser preflights the runtime answers for a mock are logged too, with their own outcome.
ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
ALTER TABLE calls ADD CONSTRAINT calls_outcome_check
    CHECK (outcome IN ('matched', 'no_match', 'fallback', 'refused', 'over_quota', 'preflight'));
