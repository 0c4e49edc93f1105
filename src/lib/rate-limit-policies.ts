/**
 * The rate-limit policies, defined once: the configuration sets each (RATE_LIMIT_GLOBAL, _AUTH, _USER, _REFRESH,
 * _PASSWORD_RESET, _REPEAT_REGISTRATION), the engine decides them, the metrics count them.
 */
export const RATE_LIMIT_POLICIES = [
  'global',
  'auth',
  'user',
  'refresh',
  'password_reset',
  'repeat_registration',
] as const
export type RateLimitPolicy = (typeof RATE_LIMIT_POLICIES)[number]

/**
 * The policies decided by an exact sliding log (never more than the limit in any window of its length), the
 * others by the library's approximate sliding window. `auth`, because a login bound must hold in every window;
 * the message policies, because their counts are small and an attacker who times the window's fixed buckets would
 * get twice the limit into one inbox, and because an owner refused a message must still hold the link sent last
 * (the window is no longer than the link's lifetime).
 */
export const EXACT_POLICIES: ReadonlySet<RateLimitPolicy> = new Set(['auth', 'password_reset', 'repeat_registration'])
