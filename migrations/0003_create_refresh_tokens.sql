-- Migration number: 0003 	 2026-11-22T00:00:00.000Z
-- Refresh-token families (one per login) and their rotated tokens (R-RT-1…14). Only SHA-256 hex of a token is
-- stored. `grace_ciphertext` holds the child token of a rotated row, AES-GCM-encrypted under a key derived from
-- the *parent's* raw token (never stored), so only the immediate parent's holder can read it, and only inside the
-- grace window: src/stores/d1/refresh-tokens.ts explains the design. Times are unix seconds.
-- D1 enforces foreign keys on every connection (as if `PRAGMA foreign_keys = ON`); the store tests check the cascade.

CREATE TABLE IF NOT EXISTS refresh_token_families (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- Idle timeout, seconds, fixed at login; idle_expires_at = min(last use + idle_ttl_seconds, absolute_expires_at).
  idle_ttl_seconds INTEGER NOT NULL CHECK (idle_ttl_seconds > 0),
  idle_expires_at INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  revoked_at INTEGER,
  revoked_reason TEXT,
  CHECK (idle_expires_at <= absolute_expires_at)
) STRICT;

CREATE INDEX IF NOT EXISTS refresh_token_families_user_id ON refresh_token_families (user_id);
-- purgeExpired: idle_expires_at never exceeds absolute_expires_at, so this one index finds every dead family.
CREATE INDEX IF NOT EXISTS refresh_token_families_idle_expires_at ON refresh_token_families (idle_expires_at);

CREATE TABLE IF NOT EXISTS refresh_tokens (
  id TEXT PRIMARY KEY NOT NULL,
  family_id TEXT NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
  parent_id TEXT,
  child_id TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rotated', 'revoked')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  rotated_at INTEGER,
  revoked_at INTEGER,
  grace_ciphertext TEXT
) STRICT;

CREATE INDEX IF NOT EXISTS refresh_tokens_family_id ON refresh_tokens (family_id, status);
CREATE INDEX IF NOT EXISTS refresh_tokens_user_id ON refresh_tokens (user_id);
-- A token has at most one child: a second child of the same parent would fork the family.
CREATE UNIQUE INDEX IF NOT EXISTS refresh_tokens_parent_id ON refresh_tokens (parent_id) WHERE parent_id IS NOT NULL;
-- purgeExpired clears grace ciphertexts once no grace window can still be open.
CREATE INDEX IF NOT EXISTS refresh_tokens_grace ON refresh_tokens (rotated_at) WHERE grace_ciphertext IS NOT NULL;
