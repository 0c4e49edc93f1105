/**
 * Sealing of a rotated token's child for the refresh grace window: the child is kept on its parent's row,
 * AES-256-GCM-encrypted under a key derived from the parent's raw token, so that only whoever presents the
 * parent again can get the same child back. The store decides when a sealed child may be opened.
 */
import { base64url } from 'jose'

const HKDF_SALT = new TextEncoder().encode('edgeward/refresh-grace/v1')
const IV_BYTES = 12

/** The AES-GCM key protecting a child on its parent's row; `binding` (parent id and child id) is the HKDF info. */
async function graceKey(parentRaw: string, binding: string, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey('raw', new TextEncoder().encode(parentRaw), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: new TextEncoder().encode(binding) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    [usage],
  )
}

/**
 * Seals `childRaw` under `parentRaw` as base64url(iv ‖ ciphertext). A hash alone cannot give the same child back
 * inside the window; this does, and the alternatives are worse:
 * - No secret to configure, rotate or leak: the key exists only while someone presents the parent. A dump of D1
 *   yields nothing usable (the parent's plaintext is not in it; SHA-256 and HKDF are independent derivations).
 * - An HMAC chain (child = HMAC(K, parent)) makes every descendant computable from K plus any one ancestor ever
 *   leaked, for the family's whole life; here an old token decrypts nothing, because the store clears a
 *   grandparent's ciphertext as soon as its child rotates, and every ciphertext once older than the longest window.
 * - Keeping the child in Upstash would add a second store and a second failure mode to rotation.
 * Whoever holds the immediate parent inside the window gets the current child: that is the grace rule itself.
 */
export async function sealChild(parentRaw: string, binding: string, childRaw: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const key = await graceKey(parentRaw, binding, 'encrypt')
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(childRaw))
  const out = new Uint8Array(iv.byteLength + sealed.byteLength)
  out.set(iv)
  out.set(new Uint8Array(sealed), iv.byteLength)
  return base64url.encode(out)
}

/** The child sealed by `sealChild` with the same parent and binding, or null when anything does not match. */
export async function openChild(parentRaw: string, binding: string, sealed: string): Promise<string | null> {
  try {
    const bytes = base64url.decode(sealed)
    const key = await graceKey(parentRaw, binding, 'decrypt')
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.slice(0, IV_BYTES) },
      key,
      bytes.slice(IV_BYTES),
    )
    return new TextDecoder().decode(plain)
  } catch {
    return null
  }
}
