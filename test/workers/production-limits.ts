/**
 * Production limits that local workerd does not enforce, emulated for every workers test (R-PWD-3 in
 * docs/requirements.md): deployed Workers refuse PBKDF2 above 100,000 iterations, so a hash that works here must not
 * ask for more. The wrapper also counts PBKDF2 derivations, for tests that prove a request spent no KDF work
 * (src/test-support/kdf.ts).
 */
import { installPbkdf2Limit } from '../../src/test-support/kdf'

installPbkdf2Limit()
