/** The rows the D1 refresh-token store reads, and its one read of a presented token. */

/** A presented token joined with its family and user: the one read `rotate` decides on. */
export interface PresentedRow {
  id: string
  family_id: string
  user_id: string
  parent_id: string | null
  child_id: string | null
  status: 'active' | 'rotated' | 'revoked'
  expires_at: number
  rotated_at: number | null
  grace_ciphertext: string | null
  client: string
  idle_ttl_seconds: number
  idle_expires_at: number
  absolute_expires_at: number
  family_revoked_at: number | null
  user_disabled_at: number | null
}

export const SELECT_PRESENTED = `SELECT t.id, t.family_id, t.user_id, t.parent_id, t.child_id, t.status, t.expires_at, t.rotated_at,
    t.grace_ciphertext, f.client, f.idle_ttl_seconds, f.idle_expires_at, f.absolute_expires_at,
    f.revoked_at AS family_revoked_at, u.disabled_at AS user_disabled_at
  FROM refresh_tokens t
  JOIN refresh_token_families f ON f.id = t.family_id
  JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = ?1`

export interface TokenRow {
  id: string
  token_hash: string
  status: 'active' | 'rotated' | 'revoked'
  expires_at: number
}
