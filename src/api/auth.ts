// HTTP API guards: bearer-token authentication (API_TOKEN) and request limits (body size, handler time).
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Compares two secrets in time independent of where they differ. Both sides are hashed first so the
 * comparison always runs on equal-length (32-byte) buffers, which also hides the expected token's length.
 */
export function constantTimeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/** Indirection so a test can observe that requests are checked with the constant-time comparison. */
export const tokenComparison = { equal: constantTimeEqual };

function unauthorized(c: Context, error: "missing_token" | "invalid_token", message: string): Response {
  // RFC 6750 §3: a request without credentials gets a bare challenge; a bad token gets error="invalid_token".
  const challenge = error === "missing_token"
    ? `Bearer realm="contentflow-worker"`
    : `Bearer realm="contentflow-worker", error="invalid_token"`;
  c.header("WWW-Authenticate", challenge);
  c.header("Cache-Control", "no-store");
  return c.json({ error: "unauthorized", reason: error, message }, 401);
}

/** Requires `Authorization: Bearer <token>`; 401 with a WWW-Authenticate challenge and a JSON body otherwise. */
export function bearerAuth(token: string): MiddlewareHandler {
  if (!token) throw new Error("bearerAuth needs a non-empty token (install it only when API_TOKEN is set)");
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (!header) return unauthorized(c, "missing_token", "this endpoint requires 'Authorization: Bearer <API_TOKEN>'");
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return unauthorized(c, "invalid_token", "the Authorization header is not of the form 'Bearer <token>'");
    if (!tokenComparison.equal(match[1], token)) {
      return unauthorized(c, "invalid_token", "the bearer token is not valid");
    }
    await next();
  };
}

export interface RequestLimitOptions {
  /** Largest request body accepted, checked against Content-Length and while the body streams in. */
  maxBodyBytes: number;
  /** Time the rest of the chain (body read + handler) may take before the client gets 503. */
  timeoutMs: number;
}

/** 413 for bodies over `maxBodyBytes`, 503 (with Retry-After) when handling takes longer than `timeoutMs`. */
export function requestLimits(opts: RequestLimitOptions): MiddlewareHandler {
  const limitBody = bodyLimit({
    maxSize: opts.maxBodyBytes,
    onError: (c) =>
      c.json({ error: "payload_too_large", message: `request body exceeds ${opts.maxBodyBytes} bytes` }, 413),
  });
  return async (c, next) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), opts.timeoutMs);
    });
    const handled = Promise.resolve(limitBody(c, next));
    try {
      const outcome = await Promise.race([handled, timedOut]);
      if (outcome === "timeout") {
        // The handler keeps running to its end; its late result or error is dropped.
        handled.catch(() => {});
        c.header("Retry-After", "1");
        return c.json({ error: "timeout", message: `request took longer than ${opts.timeoutMs} ms` }, 503);
      }
      return outcome instanceof Response ? outcome : undefined;
    } finally {
      clearTimeout(timer);
    }
  };
}
