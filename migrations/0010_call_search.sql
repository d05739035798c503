-- The call log's text index: per block, the trigrams of its calls' searched text (path, query,
-- headers, bodies; lower-cased), as 16-bit hashes with the side they were found on (request,
-- response) in bit 16. A search for text reads only the blocks whose set holds every trigram of
-- it, found through a GIN index (docs/call-log.md, "How filters search").
--
-- The server computes the set as its call-log writer adds each call to its block, so
-- PostgreSQL only stores it: one array and its index entries per block, not per call (a trigram
-- index over every call's text cost PostgreSQL about 80 µs a call, see 0006).
--
-- Blocks written before this migration, and by a server that does not compute the set yet,
-- hold the key -1 alone: every search reads them.
ALTER TABLE call_blocks ADD COLUMN trigrams int4[] NOT NULL DEFAULT '{-1}';

CREATE INDEX call_blocks_trigrams_idx ON call_blocks USING gin (trigrams);
