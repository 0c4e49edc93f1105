-- Migration number: 0004 	 2026-11-22T00:00:00.000Z
-- Verified addresses, and single-use account tokens: address verification (REGISTRATION=verify) and password
-- reset. Times are unix seconds.

-- NULL: the address was never proven, and the account cannot sign in. An account created by SQL sets it
-- (e.g. `unixepoch()`) to be usable.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
-- Accounts from before this migration could sign in: they count as verified since they were created.
UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL;

-- Only SHA-256 hex of a token is stored; the raw token exists once, in the account event that carries it to its
-- owner. A verification token carries the password hash registered with it: the one that takes effect when that
-- token is used (src/stores/d1/account-tokens.ts).
CREATE TABLE IF NOT EXISTS account_tokens (
  token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) = 64),
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  consumed_at INTEGER,
  pending_password_hash TEXT,
  CHECK (expires_at > created_at),
  CHECK ((purpose = 'verify_email') = (pending_password_hash IS NOT NULL))
) STRICT;

-- Issuing a token deletes the user's unconsumed ones of the same purpose.
CREATE INDEX IF NOT EXISTS account_tokens_user_purpose ON account_tokens (user_id, purpose);
-- The daily cron deletes expired tokens (and consumed ones) in bounded batches.
CREATE INDEX IF NOT EXISTS account_tokens_expires_at ON account_tokens (expires_at);
