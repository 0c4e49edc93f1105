-- Migration number: 0002 	 2026-11-22T00:00:00.000Z
-- Accounts (issue 4). `email` is stored normalized by the store (NFC, trimmed, lower-cased: normalizeEmail in
-- src/stores/d1/users.ts); the CHECK and COLLATE NOCASE keep a row written any other way from slipping past
-- the unique index. Times are unix seconds.
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY NOT NULL,
  email TEXT NOT NULL COLLATE NOCASE UNIQUE
    CHECK (email = lower(trim(email)) AND length(email) BETWEEN 1 AND 254),
  password_hash TEXT NOT NULL,
  scopes TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL DEFAULT (unixepoch()),
  updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
  disabled_at INTEGER
) STRICT;
