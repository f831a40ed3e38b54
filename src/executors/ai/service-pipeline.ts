// Pipeline policies that SDK clients (@azure-rest/ai-document-intelligence, @azure/search-documents) get from us in
// place of their own retry policy (their `retryOptions.maxRetries` is set to 0):
// - retries as in retry.ts (Retry-After honoured up to AI_MAX_RETRY_DELAY_SECONDS, capped exponential backoff), on
//   the outside; a request that starts billed work (`runsOnce`) is not sent again once the service may have accepted
//   it (retry.ts: mayHaveAccepted, mayHaveReached);
// - per try: a slot of the endpoint's concurrency gate (AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT), a time limit for the
//   answer's headers, and a size limit on the body (streamed and read up to the limit instead of buffered whole),
//   and a dependency span when telemetry is on (src/telemetry/dependency-span.ts).
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";
import { RestError } from "@azure/core-rest-pipeline";
import {
  isRetryableStatus,
  mayHaveReached,
  NOT_SENT_AGAIN,
  retryAfterMs,
  type RetryPolicy,
  withRetries,
} from "./retry.ts";
import { endpointGate } from "./endpoint-limiter.ts";
import { AiServiceError, httpFailure } from "./service-error.ts";
import { classifyFailedTry, keptFromResend, RetryableAnswer, TransientFailure } from "./failed-try.ts";
import { readStreamLimited, ResponseTooLargeError } from "../../util/read-limited.ts";
import { errorText } from "../../util/errors.ts";
import { type AzureNamespace, dependencyCall } from "../../telemetry/dependency-span.ts";

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
  /** The service's az.namespace on its dependency spans; default Microsoft.CognitiveServices. */
  namespace?: AzureNamespace;
  /**
   * The name of a request that starts billed work ("analyze"), which must not run twice; undefined for others. Such a
   * request is sent again only when the service surely did not take it (429, 503, a connection refused), never after
   * a 408/500/502/504, a cut answer or no answer in time.
   */
  runsOnce?: (request: PipelineRequest) => string | undefined;
}

/** SDK requests carry native AbortSignals (core-rest-pipeline wraps others before they reach the transport). */
function callerSignal(request: PipelineRequest): AbortSignal | undefined {
  return request.abortSignal as AbortSignal | undefined;
}

/** Network errors worth another try (connection refused or reset, DNS hiccups, sockets closed early). */
function isTransient(err: unknown): boolean {
  if (err instanceof RestError) return err.statusCode === undefined;
  const code = (err as { code?: string })?.code;
  return typeof code === "string" && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT|AI_AGAIN|NOTFOUND)|UND_ERR/.test(code);
}

/** One try through the rest of the pipeline; failures become AiServiceError (TransientFailure when worth a retry). */
async function tryOnce(
  request: PipelineRequest,
  next: (request: PipelineRequest) => Promise<PipelineResponse>,
  options: ServicePolicyOptions,
  once: string | undefined,
): Promise<PipelineResponse> {
  let response: PipelineResponse;
  try {
    response = await next(request);
  } catch (err) {
    if (callerSignal(request)?.aborted || err instanceof AiServiceError) throw err;
    if (err instanceof ResponseTooLargeError) throw new AiServiceError(err.message);
    const timedOut = (err as Error)?.name === "AbortError";
    const what = once === undefined ? options.service : `${options.service} ${once}`;
    const message = timedOut
      ? `${what}: no answer within ${options.requestTimeoutMs / 1000} s`
      : `${what}: ${errorText(err)}`;
    if (!timedOut && !isTransient(err)) throw new AiServiceError(message);
    throw new TransientFailure(message, mayHaveReached(err, timedOut));
  }
  if (response.status >= 400 && isRetryableStatus(response.status)) {
    const headers = new Headers(response.headers.toJSON({ preserveCase: false }));
    throw new RetryableAnswer(response.status, retryAfterMs(headers), response);
  }
  return response;
}

function retryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServiceRetry",
    async sendRequest(request, next) {
      const once = options.runsOnce?.(request);
      const runsOnce = once !== undefined;
      try {
        return await withRetries(() => tryOnce(request, next, options, once), {
          policy: options.retry,
          signal: callerSignal(request),
          classify: (err) => classifyFailedTry(err, runsOnce),
        });
      } catch (err) {
        if (!(err instanceof RetryableAnswer)) throw err;
        const response = err.answer as PipelineResponse;
        if (!keptFromResend(err, runsOnce)) return response;
        // The SDK would only see a failed status: say why it was not sent again.
        const failure = httpFailure(`${options.service} ${once}`, response.status, response.bodyAsText ?? "");
        failure.message += NOT_SENT_AGAIN;
        throw failure;
      }
    },
  };
}

function perTryPolicy(options: ServicePolicyOptions): PipelinePolicy {
  return {
    name: "contentflowServicePerTry",
    async sendRequest(request, nextPolicy) {
      const namespace = options.namespace ?? "Microsoft.CognitiveServices";
      const next = (r: PipelineRequest) =>
        dependencyCall(namespace, r.method, r.url, () => nextPolicy(r), (answer) => answer.status);
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
