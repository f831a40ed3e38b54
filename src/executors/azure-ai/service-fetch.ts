// One call to an Azure AI service REST API over fetch (for services without an SDK we can use, e.g. Content
// Understanding): retries as in retry.ts, a slot of the endpoint limiter per try, a time limit for the answer's
// headers, a size limit on the body, redirects refused (a redirect could carry the key to another host).
import { retryAfterMs, type RetryOptions, withRetries } from "./retry.ts";
import { acquireEndpointSlot } from "./endpoint-limiter.ts";
import { AiServiceError } from "./service-error.ts";
import { readResponseLimited } from "./limited-read.ts";
import { linkedSignal } from "../../util/abort.ts";

export interface ServiceCall {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Computed per try (a bearer token may be refreshed between tries). */
  authHeaders?: () => Promise<Record<string, string>>;
  body?: Uint8Array | string;
  /** "Content Understanding analyze", used in messages. */
  what: string;
  signal: AbortSignal;
  retry: RetryOptions;
  requestTimeoutMs: number;
  maxResponseBytes: number;
}

export interface ServiceAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  attempts: number;
}

async function tryOnce(call: ServiceCall): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const release = await acquireEndpointSlot(call.url, call.signal);
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new Error("timeout")), call.requestTimeoutMs);
  const linked = linkedSignal(call.signal, timer.signal);
  try {
    const headers = { ...call.headers, ...(await call.authHeaders?.()) };
    let res: Response;
    try {
      res = await fetch(call.url, {
        method: call.method,
        headers,
        body: call.body as BodyInit | undefined,
        redirect: "manual",
        signal: linked.signal,
      });
    } finally {
      clearTimeout(timeout);
    }
    const body = await readResponseLimited(res, call.maxResponseBytes, `${call.what} answer`);
    return { status: res.status, headers: res.headers, body };
  } catch (err) {
    if (call.signal.aborted) throw err;
    if (err instanceof AiServiceError) throw err;
    const message = timer.signal.aborted
      ? `${call.what}: no answer within ${call.requestTimeoutMs / 1000} s`
      : `${call.what}: ${(err as Error)?.message ?? String(err)}`;
    throw new TransientError(message);
  } finally {
    linked.dispose();
    release();
  }
}

class TransientError extends AiServiceError {
  override name = "AiServiceError";
}

/** Sends the call, retrying as configured; returns the last answer whatever its status (callers check it). */
export async function callService(call: ServiceCall): Promise<ServiceAnswer> {
  const { value, attempts } = await withRetries<Omit<ServiceAnswer, "attempts">>(
    async () => {
      try {
        const answer = await tryOnce(call);
        if (answer.status >= 300 && answer.status < 400) {
          return {
            done: false,
            error: new AiServiceError(`${call.what}: HTTP ${answer.status} redirect not followed`, answer.status),
            retryable: false,
          };
        }
        if (answer.status < 400) return { done: true, value: answer };
        return {
          done: false,
          value: answer,
          status: answer.status,
          retryAfterMs: retryAfterMs((name) => answer.headers.get(name)),
        };
      } catch (err) {
        if (call.signal.aborted) throw err;
        return { done: false, error: err, retryable: err instanceof TransientError };
      }
    },
    call.retry,
    call.signal,
  );
  return { ...value, attempts };
}
