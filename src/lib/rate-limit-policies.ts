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
