// One call to an Azure AI service REST API (for services without an SDK we can use, e.g. Content Understanding):
// through guardedFetch (the outbound policy, checked per try after DNS resolution), retries as in retry.ts, a slot of
// the endpoint's concurrency gate per try, a time limit for the answer's headers, a size limit on the body, and
// redirects refused (a redirect could carry the key to another host). Each try is a dependency span when telemetry
// is on (src/telemetry/dependency-span.ts).
import {
  isRetryableStatus,
  mayHaveReached,
  NOT_SENT_AGAIN,
  retryAfterMs,
  type RetryPolicy,
  withRetries,
} from "./retry.ts";
import { endpointGate } from "./endpoint-limiter.ts";
import { AiServiceError } from "./service-error.ts";
import { classifyFailedTry, keptFromResend, RetryableAnswer, TransientFailure } from "./failed-try.ts";
import { guardedFetch, OutboundBlockedError, type OutboundPolicy, readBodyLimited } from "../../net/outbound.ts";
import { ResponseTooLargeError } from "../../util/read-limited.ts";
import { linkedSignal } from "../../util/abort.ts";
import { errorText } from "../../util/errors.ts";
import { dependencyCall } from "../../telemetry/dependency-span.ts";

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
  retry: RetryPolicy;
  /** Calls at once to one endpoint from this process (AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT). */
  callsPerEndpoint: number;
  requestTimeoutMs: number;
  maxResponseBytes: number;
  /** The setting that raises maxResponseBytes, named in the error. */
  maxResponseSetting?: string;
  policy: OutboundPolicy;
  /**
   * false for calls that start billed work (an analyze POST): once the request may have been accepted (no answer in
   * time, a cut answer, 408/500/502/504: retry.ts mayHaveAccepted, mayHaveReached) it is not sent again, so a
   * document is not analysed and billed twice. Refusals that start nothing (409, 429, 503) and connections refused
   * are retried. Default true.
   */
  idempotent?: boolean;
}

export interface ServiceAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** Tries made, retries included. */
  attempts: number;
  /** A failed answer of a billed call (idempotent: false) that was not sent again: the service may have accepted it. */
  notSentAgain?: boolean;
}

/** What to add to the message of a failed answer: why it was not sent again, or the tries made. */
export function attemptsNote(answer: ServiceAnswer): string {
  if (answer.notSentAgain) return NOT_SENT_AGAIN;
  return answer.attempts > 1 ? ` (after ${answer.attempts} attempts)` : "";
}

/** The call's auth headers; a failure here (no token, plain http) is not worth a retry. */
async function authHeaders(call: ServiceCall): Promise<Record<string, string>> {
  try {
    return (await call.authHeaders?.()) ?? {};
  } catch (err) {
    if (call.signal.aborted) throw err;
    throw new AiServiceError(`${call.what}: ${errorText(err)}`);
  }
}

async function tryOnce(call: ServiceCall, attempts: number): Promise<ServiceAnswer> {
  const auth = await authHeaders(call);
  const release = await endpointGate(call.url, call.callsPerEndpoint).acquire(call.signal);
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new Error("timeout")), call.requestTimeoutMs);
  const linked = linkedSignal(call.signal, timer.signal);
  try {
    const headers = { ...call.headers, ...auth };
    let res: Response;
    try {
      res = await dependencyCall("Microsoft.CognitiveServices", call.method, call.url, () =>
        guardedFetch(call.url, {
          method: call.method,
          headers,
          body: call.body as BodyInit | undefined,
          signal: linked.signal,
        }, { policy: call.policy, maxRedirects: 0 }), (r) => r.status);
    } finally {
      clearTimeout(timeout);
    }
    const body = await readBodyLimited(res, call.maxResponseBytes, `${call.what} answer`, call.maxResponseSetting);
    return { status: res.status, headers: res.headers, body, attempts };
  } catch (err) {
    if (call.signal.aborted || err instanceof AiServiceError) throw err;
    if (err instanceof ResponseTooLargeError) throw new AiServiceError(err.message);
    if (err instanceof OutboundBlockedError) throw new AiServiceError(`${call.what}: ${err.message}`);
    const message = timer.signal.aborted
      ? `${call.what}: no answer within ${call.requestTimeoutMs / 1000} s`
      : `${call.what}: ${errorText(err)}`;
    throw new TransientFailure(message, mayHaveReached(err, timer.signal.aborted));
  } finally {
    linked.dispose();
    release();
  }
}

/** Sends the call, retrying as configured; returns the last answer whatever its status (callers check it). */
export async function callService(call: ServiceCall): Promise<ServiceAnswer> {
  let attempts = 0;
  const runsOnce = call.idempotent === false;
  try {
    return await withRetries(async () => {
      const answer = await tryOnce(call, ++attempts);
      if (answer.status >= 300 && answer.status < 400) {
        throw new AiServiceError(`${call.what}: HTTP ${answer.status} redirect not followed`, answer.status);
      }
      if (answer.status >= 400 && isRetryableStatus(answer.status)) {
        throw new RetryableAnswer(answer.status, retryAfterMs(answer.headers), answer);
      }
      return answer;
    }, {
      policy: call.retry,
      signal: call.signal,
      classify: (err) => classifyFailedTry(err, runsOnce),
    });
  } catch (err) {
    if (err instanceof RetryableAnswer) {
      const answer = err.answer as ServiceAnswer;
      return keptFromResend(err, runsOnce) ? { ...answer, notSentAgain: true } : answer;
    }
    if (attempts > 1 && err instanceof AiServiceError) err.message += ` (after ${attempts} attempts)`;
    throw err;
  }
}
