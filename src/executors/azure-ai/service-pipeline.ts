// Pipeline policies that SDK clients (@azure-rest/ai-document-intelligence, @azure/search-documents) get from us in
// place of their own retry policy (their `retryOptions.maxRetries` is set to 0):
// - retries as in retry.ts (Retry-After honoured, capped exponential backoff), on the outside;
// - per try: a slot of the endpoint limiter, a time limit for the answer's headers, and a size limit on the body
//   (the body is streamed and read up to the limit instead of buffered whole by the HTTP client).
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import { RestError } from "@azure/core-rest-pipeline";
import { retryAfterMs, type RetryOptions, withRetries } from "./retry.ts";
import { acquireEndpointSlot } from "./endpoint-limiter.ts";
import { AiServiceError } from "./service-error.ts";
import { readNodeStreamLimited } from "./limited-read.ts";

export interface ServicePolicyOptions {
  retry: RetryOptions;
  /** Time limit for the answer's headers, per try. */
  requestTimeoutMs: number;
  /** Largest response body read; larger ones fail the call. */
  maxResponseBytes: number;
  /** Used in messages, e.g. "Document Intelligence". */
  service: string;
}

function callerAborted(request: PipelineRequest): boolean {
  return request.abortSignal?.aborted === true;
}

/** SDK requests carry native AbortSignals (core-rest-pipeline wraps others before they reach the transport). */
function callerSignal(request: PipelineRequest): AbortSignal | undefined {
  return request.abortSignal as AbortSignal | undefined;
}

function retryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServiceRetry",
    async sendRequest(request, next) {
      const { value } = await withRetries<PipelineResponse>(
        async () => {
          try {
            const response = await next(request);
            if (response.status < 400) return { done: true, value: response };
            return {
              done: false,
              value: response,
              status: response.status,
              retryAfterMs: retryAfterMs((name) => response.headers.get(name)),
            };
          } catch (err) {
            if (callerAborted(request)) throw err;
            if (err instanceof AiServiceError) return { done: false, error: err, retryable: false };
            const timedOut = (err as Error)?.name === "AbortError";
            const message = timedOut
              ? `${options.service}: no answer within ${options.requestTimeoutMs / 1000} s`
              : `${options.service}: ${(err as Error)?.message ?? String(err)}`;
            return { done: false, error: new AiServiceError(message), retryable: isTransient(err) || timedOut };
          }
        },
        options.retry,
        callerSignal(request),
      );
      return value;
    },
  };
}

/** Network errors worth another try (connection refused or reset, DNS hiccups, sockets closed early). */
function isTransient(err: unknown): boolean {
  if (err instanceof RestError) return err.statusCode === undefined;
  const code = (err as { code?: string })?.code;
  return typeof code === "string" && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|AI_AGAIN|NOTFOUND)|UND_ERR/.test(code);
}

function perTryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServicePerTry",
    async sendRequest(request, next) {
      const release = await acquireEndpointSlot(request.url, callerSignal(request));
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
          const bytes = await readNodeStreamLimited(
            stream,
            options.maxResponseBytes,
            `${options.service} answer`,
            declared,
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
