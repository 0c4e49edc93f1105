-- Migration number: 0001 	 2026-11-22T00:00:00.000Z
-- Gateway metadata. The `schema` row lets GET /health tell an unmigrated database from a healthy one.
CREATE TABLE IF NOT EXISTS gateway_meta (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

INSERT OR IGNORE INTO gateway_meta (key, value) VALUES ('schema', '1');
