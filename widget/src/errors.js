// The typed errors of the client: one class per thing a page does differently (wait, give up, sign in again,
// retry), built from the gateway's {"error": {"code", "message", "request_id"}} in one place.

export class AIChatError extends Error {
  constructor(message, { code = "error", status = 0, requestId = null, details = null } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.details = details;
  }
}

/** Too many requests or tokens for now: `retryAfter` seconds until another may pass. */
export class RateLimitedError extends AIChatError {
  constructor(message, init = {}) {
    super(message, init);
    this.retryAfter = init.retryAfter ?? null;
  }
}

/** The site's (or key's) spending budget is used up until its period ends. */
export class BudgetExhaustedError extends RateLimitedError {}

/** The gateway refused who we are: unknown site, origin not allowed, bad or expired user token, no session. */
export class AuthError extends AIChatError {}

/** The conversation (or other resource) does not exist for this caller. */
export class NotFoundError extends AIChatError {}

/** The request itself was refused (a field, a size, a preset rule): retrying the same request will not help. */
export class BadRequestError extends AIChatError {}

/** The gateway or every provider behind it failed; a retry later may work. */
export class UpstreamError extends AIChatError {}

/** No answer reached us: offline, the gateway unreachable, or the stream cut before it ended. */
export class NetworkError extends AIChatError {}

const BUDGET_CODES = new Set(["budget_exhausted"]);

/** The typed error for an HTTP status and the gateway's error object (`body.error`). */
export function errorFor(status, error, retryAfterHeader = null) {
  const code = (error && error.code) || "http_" + status;
  const message = (error && error.message) || `the gateway answered ${status}`;
  const init = { code, status, requestId: (error && error.request_id) || null, details: error || null };
  if (status === 429) {
    const retryAfter = parseRetryAfter(retryAfterHeader);
    const Type = BUDGET_CODES.has(code) ? BudgetExhaustedError : RateLimitedError;
    return new Type(message, { ...init, retryAfter });
  }
  if (status === 401 || status === 403) return new AuthError(message, init);
  if (status === 404) return new NotFoundError(message, init);
  if (status >= 400 && status < 500) return new BadRequestError(message, init);
  return new UpstreamError(message, init);
}

/** Seconds from a Retry-After header: a number of seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value) {
  if (value == null || value === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
