// Pipeline policies that SDK clients (@azure-rest/ai-document-intelligence, @azure/search-documents) get from us in
// place of their own retry policy (their `retryOptions.maxRetries` is set to 0):
// - retries as in retry.ts (Retry-After honoured up to AI_MAX_RETRY_DELAY_SECONDS, capped exponential backoff), on
//   the outside;
// - per try: a slot of the endpoint's concurrency gate (AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT), a time limit for the
//   answer's headers, and a size limit on the body (streamed and read up to the limit instead of buffered whole).
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import { RestError } from "@azure/core-rest-pipeline";
import { isRetryableStatus, retryAfterMs, type RetryPolicy, withRetries } from "./retry.ts";
import { endpointGate } from "./endpoint-limiter.ts";
import { AiServiceError } from "./service-error.ts";
import { readStreamLimited, ResponseTooLargeError } from "../../util/read-limited.ts";
import { errorText } from "../../util/errors.ts";

export interface ServicePolicyOptions {
  retry: RetryPolicy;
  /** Calls at once to one endpoint from this process (AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT). */
  callsPerEndpoint: number;
  /** Time limit for the answer's headers, per try. */
  requestTimeoutMs: number;
  /** Largest response body read; larger ones fail the call. */
  maxResponseBytes: number;
  /** The setting that raises maxResponseBytes, named in the error. */
  maxResponseSetting?: string;
  /** Used in messages, e.g. "Document Intelligence". */
  service: string;
}

/** SDK requests carry native AbortSignals (core-rest-pipeline wraps others before they reach the transport). */
function callerSignal(request: PipelineRequest): AbortSignal | undefined {
  return request.abortSignal as AbortSignal | undefined;
}

/** A retryable answer, thrown inside the retry loop and returned as is when the retries are spent. */
class RetryableAnswer extends Error {
  override name = "RetryableAnswer";
  constructor(readonly response: PipelineResponse) {
    super(`HTTP ${response.status}`);
  }
}

/** A failure without an answer (connection error, no answer in time) that another try may get past. */
class TransientFailure extends AiServiceError {
  override name = "AiServiceError";
}

/** Network errors worth another try (connection refused or reset, DNS hiccups, sockets closed early). */
function isTransient(err: unknown): boolean {
  if (err instanceof RestError) return err.statusCode === undefined;
  const code = (err as { code?: string })?.code;
  return typeof code === "string" && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|AI_AGAIN|NOTFOUND)|UND_ERR/.test(code);
}

function retryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServiceRetry",
    async sendRequest(request, next) {
      const signal = callerSignal(request);
      try {
        return await withRetries(async () => {
          let response: PipelineResponse;
          try {
            response = await next(request);
          } catch (err) {
            if (signal?.aborted || err instanceof AiServiceError) throw err;
            if (err instanceof ResponseTooLargeError) throw new AiServiceError(err.message);
            const timedOut = (err as Error)?.name === "AbortError";
            const message = timedOut
              ? `${options.service}: no answer within ${options.requestTimeoutMs / 1000} s`
              : `${options.service}: ${errorText(err)}`;
            throw timedOut || isTransient(err) ? new TransientFailure(message) : new AiServiceError(message);
          }
          if (response.status >= 400 && isRetryableStatus(response.status)) throw new RetryableAnswer(response);
          return response;
        }, {
          policy: options.retry,
          signal,
          classify: (err) =>
            err instanceof RetryableAnswer
              ? {
                retryable: true,
                retryAfterMs: retryAfterMs(new Headers(err.response.headers.toJSON({ preserveCase: false }))),
              }
              : { retryable: err instanceof TransientFailure },
        });
      } catch (err) {
        if (err instanceof RetryableAnswer) return err.response;
        throw err;
      }
    },
  };
}

function perTryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServicePerTry",
    async sendRequest(request, next) {
      const release = await endpointGate(request.url, options.callsPerEndpoint).acquire(callerSignal(request));
      const streamedByCaller = request.streamResponseStatusCodes !== undefined;
      try {
        if (!request.timeout) request.timeout = options.requestTimeoutMs;
        if (streamedByCaller) return await next(request);
        request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
        const response = await next(request);
        const stream = response.readableStreamBody;
        response.readableStreamBody = undefined;
        if (stream) {
          const declared = Number(response.headers.get("content-length") ?? NaN);
          const bytes = await readStreamLimited(
            stream as AsyncIterable<Uint8Array>,
            options.maxResponseBytes,
            `${options.service} answer`,
            {
              limitSetting: options.maxResponseSetting,
              declaredBytes: Number.isFinite(declared) ? declared : undefined,
            },
          );
          response.bodyAsText = new TextDecoder().decode(bytes);
        }
        return response;
      } finally {
        if (!streamedByCaller) request.streamResponseStatusCodes = undefined;
        release();
      }
    },
  };
}

/** The `additionalPolicies` and `retryOptions` to give an SDK client. */
export function servicePipelineOptions(options: ServicePolicyOptions) {
  return {
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [
      { policy: retryPolicy(options), position: "perCall" as const },
      { policy: perTryPolicy(options), position: "perRetry" as const },
    ],
  };
}
