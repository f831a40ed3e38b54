// The HTTP transport of the Azure SDK clients a worker uses on every task (Cosmos DB and the storage queues): the
// runtime's own fetch instead of the SDKs' default client, which is built on node:http.
//
// Why: under Bun (the compiled binary's runtime) node:http is an emulation layer over Bun's native HTTP client,
// and a Cosmos or queue call through it costs about twice the CPU of the same call through fetch (BENCHMARKS.md,
// "Where a task's CPU goes"). Under Deno the difference is smaller but goes the same way.
//
// What fetch does not cover is handed to the SDK's default client unchanged: streamed request or response bodies,
// upload/download progress callbacks, proxy and TLS settings given in code, multipart bodies. Those are not on the
// per-task path (blob downloads stream and keep the default client). SDK_HTTP_CLIENT=node puts every call back on
// the default client (for a proxy setup that only node:http honours, say), still through the adapters below.
//
// Each request attempt through these adapters, over fetch or the default client, is a dependency span when
// telemetry is on (src/telemetry/dependency-span.ts): Cosmos DB calls as Microsoft.DocumentDB, queue and blob calls as
// Microsoft.Storage (a download that streams: its span ends when the answer's headers are in).
import {
  createDefaultHttpClient,
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
  RestError,
} from "@azure/core-rest-pipeline";
import { type CompatResponse, toHttpHeadersLike, type WebResourceLike } from "@azure/core-http-compat";
import type { RequestPolicy } from "@azure/storage-queue";
import { type AzureNamespace, dependencyCall } from "../telemetry/dependency-span.ts";

/** SDK_HTTP_CLIENT: the runtime's fetch, or the SDKs' own node:http client for every call. */
export type SdkTransport = "fetch" | "node";

let defaultClient: HttpClient | undefined;

/** The SDK's own client, created once per process (it pools its connections). */
function sdkDefaultClient(): HttpClient {
  defaultClient ??= createDefaultHttpClient();
  return defaultClient;
}

const cosmosClients: Record<SdkTransport, HttpClient> = {
  fetch: { sendRequest: (request) => sendTraced("Microsoft.DocumentDB", "fetch", request) },
  node: { sendRequest: (request) => sendTraced("Microsoft.DocumentDB", "node", request) },
};

/** The transport for core-rest-pipeline based SDKs (Cosmos DB). */
export function sdkHttpClient(transport: SdkTransport = "fetch"): HttpClient {
  return cosmosClients[transport];
}

/**
 * The same transport in the older request-policy shape that the storage SDKs take as `httpClient` (they convert
 * it back to a core-rest-pipeline client internally).
 */
export function storageHttpClient(transport: SdkTransport = "fetch"): RequestPolicy {
  return storageClients[transport];
}

/** The storage SDKs' request in core-rest-pipeline's shape, sent by `transport`, the answer in theirs. */
function storageAdapter(transport: SdkTransport): RequestPolicy {
  return { sendRequest: (web) => sendStorageRequest(transport, web) };
}

async function sendStorageRequest(transport: SdkTransport, web: WebResourceLike): Promise<CompatResponse> {
  const request: PipelineRequest = {
    url: web.url,
    method: web.method,
    headers: createHttpHeaders(web.headers.rawHeaders()),
    body: web.body,
    timeout: web.timeout,
    withCredentials: web.withCredentials,
    requestId: web.requestId,
    abortSignal: web.abortSignal as AbortSignal | undefined,
    streamResponseStatusCodes: web.streamResponseStatusCodes,
    onUploadProgress: web.onUploadProgress,
    onDownloadProgress: web.onDownloadProgress,
    proxySettings: web.proxySettings,
    agent: web.agent,
    formData: web.formData,
    // As the storage SDK sets for its own pipeline (Azurite is plain http); bearer tokens are still refused over
    // http by the SDK's authentication policy before a request gets here.
    allowInsecureConnection: true,
  };
  const response = await sendTraced("Microsoft.Storage", transport, request);
  // `request: web` matters: the storage SDK finds its own original request (and with it how to parse the
  // answer) through the object it handed us.
  return {
    request: web,
    status: response.status,
    headers: toHttpHeadersLike(response.headers),
    bodyAsText: response.bodyAsText,
    readableStreamBody: response.readableStreamBody,
    blobBody: response.blobBody,
    browserStreamBody: response.browserStreamBody,
  } as CompatResponse;
}

const storageClients: Record<SdkTransport, RequestPolicy> = {
  fetch: storageAdapter("fetch"),
  node: storageAdapter("node"),
};

/** True when fetch can send this request and read its answer as text without losing anything the SDK asked for. */
export function fetchCanSend(request: PipelineRequest): boolean {
  if (request.streamResponseStatusCodes && request.streamResponseStatusCodes.size > 0) return false;
  if (request.onUploadProgress || request.onDownloadProgress) return false;
  if (request.proxySettings || request.tlsSettings || request.formData || request.multipartBody) return false;
  if (request.requestOverrides) return false;
  const body = request.body;
  if (body === undefined || body === null || typeof body === "string") return true;
  return body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob;
}

/** One request attempt, in a dependency span of `namespace` when a span is active (telemetry on). */
function sendTraced(
  namespace: AzureNamespace,
  transport: SdkTransport,
  request: PipelineRequest,
): Promise<PipelineResponse> {
  const send = transport === "fetch" ? sendWithFetch : (r: PipelineRequest) => sdkDefaultClient().sendRequest(r);
  return dependencyCall(namespace, request.method, request.url, () => send(request), (r) => r.status);
}

async function sendWithFetch(request: PipelineRequest): Promise<PipelineResponse> {
  if (!fetchCanSend(request)) return await sdkDefaultClient().sendRequest(request);
  if (request.abortSignal?.aborted) throw abortError("The operation was aborted before the request was sent.");
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  request.abortSignal?.addEventListener("abort", onAbort, { once: true });
  const timer = request.timeout > 0 ? setTimeout(onAbort, request.timeout) : undefined;
  try {
    const res = await fetch(request.url, {
      method: request.method,
      headers: [...request.headers],
      body: request.body as BodyInit | undefined,
      signal: controller.signal,
      redirect: "manual", // the SDK pipelines follow redirects themselves
    });
    const responseHeaders = createHttpHeaders();
    res.headers.forEach((value, name) => responseHeaders.set(name, value));
    const response: PipelineResponse = { request, status: res.status, headers: responseHeaders };
    if (request.method === "HEAD") await res.body?.cancel();
    else response.bodyAsText = await res.text();
    return response;
  } catch (err) {
    if (controller.signal.aborted) {
      throw abortError(
        request.abortSignal?.aborted
          ? "The operation was aborted."
          : `The request timed out after ${request.timeout} ms.`,
      );
    }
    // Network failures: the code the SDKs' retry policies look for (their default client uses it too).
    // Deno's fetch says only "fetch failed" and keeps the reason (refused, DNS, TLS) in `cause`: both go into the
    // message, and the original error stays the cause (src/util/dependency-error.ts reads it).
    const message = err instanceof Error ? err.message : String(err);
    const cause = (err as { cause?: { message?: unknown } } | null)?.cause;
    const detail = typeof cause?.message === "string" && cause.message ? `: ${cause.message}` : "";
    const sendError = new RestError(`Error sending request: ${message}${detail}`, {
      code: RestError.REQUEST_SEND_ERROR,
      request,
    });
    Object.defineProperty(sendError, "cause", { value: err, enumerable: false, configurable: true });
    throw sendError;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    request.abortSignal?.removeEventListener("abort", onAbort);
  }
}

/** An error named AbortError, which is what the SDKs' retry and timeout handling recognise. */
function abortError(message: string): Error {
  const err = new Error(message);
  err.name = "AbortError";
  return err;
}
