// Azure OpenAI calls through the official `openai` SDK: chat completions and embeddings, with our own retry loop
// (the SDK's is off) so that 429/503 Retry-After, capped backoff, the per-endpoint concurrency gate and the task's
// AbortSignal all apply; every request goes through the outbound policy (src/net/outbound.ts: allowed hosts, no
// private or metadata addresses unless allowed, redirects not followed); request and response bodies have size
// limits; answers are validated before use; errors name the call and the HTTP status, never the key.
//
// Endpoints: a resource endpoint (https://<name>.openai.azure.com/ or .cognitiveservices.azure.com/) is called as
// {endpoint}/openai/deployments/{deployment}/...?api-version=...; an endpoint ending in /openai/v1 (the form in
// ContentFlow's web templates) is Azure's v1 API, called as {endpoint}/chat/completions with the deployment as
// `model` and no api-version. Each request (one per try) is a dependency span when telemetry is on.
import type { OpenAI } from "openai";
import type { APIConnectionError, APIError, APIUserAbortError } from "openai/error";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import * as v from "valibot";
import type { Config } from "../../config/schema.ts";
import {
  checkOutboundUrl,
  guardedFetch,
  OutboundBlockedError,
  type OutboundPolicy,
  outboundPolicy,
  OutboundResolveError,
} from "../../net/outbound.ts";
import { readStreamLimited, ResponseTooLargeError } from "../../util/read-limited.ts";
import { errorText } from "../../util/errors.ts";
import type { AiAuth } from "./auth.ts";
import { withEndpointSlot } from "./endpoint-limiter.ts";
import { isRetryableStatus, retryAfterMs, type RetryPolicy, withRetries } from "./retry.ts";
import type { TokenUsage } from "./usage.ts";
import { dependencyCall } from "../../telemetry/dependency-span.ts";

/** The parts of the `openai` SDK we use. */
interface OpenAISdk {
  OpenAI: typeof import("openai").OpenAI;
  AzureOpenAI: typeof import("openai").AzureOpenAI;
  APIError: typeof APIError;
  APIConnectionError: typeof APIConnectionError;
  APIUserAbortError: typeof APIUserAbortError;
}

let sdk: OpenAISdk | undefined;
let sdkLoading: Promise<OpenAISdk> | undefined;

/**
 * The SDK is loaded at the first AI call, not with the worker: a worker whose pipelines make no AI call does not
 * carry it in memory. Settings are still checked when the pipeline is compiled (the constructor below).
 */
function loadSdk(): Promise<OpenAISdk> {
  sdkLoading ??= Promise.all([import("openai"), import("openai/error")]).then(([main, errors]) =>
    sdk = {
      OpenAI: main.OpenAI,
      AzureOpenAI: main.AzureOpenAI,
      APIError: errors.APIError,
      APIConnectionError: errors.APIConnectionError,
      APIUserAbortError: errors.APIUserAbortError,
    }
  );
  sdkLoading.catch(() => (sdkLoading = undefined)); // a failed load is tried again by the next call
  return sdkLoading;
}

/** Errors of the SDK's kinds exist only once it is loaded. */
const isApiError = (err: unknown): err is APIError => sdk !== undefined && err instanceof sdk.APIError;
const isConnectionError = (err: unknown): err is APIConnectionError =>
  sdk !== undefined && err instanceof sdk.APIConnectionError;
const isUserAbort = (err: unknown): boolean => sdk !== undefined && err instanceof sdk.APIUserAbortError;

/** The API version used when a pipeline gives none (GA, and the contract our tests' fake follows). */
export const DEFAULT_CHAT_API_VERSION = "2024-10-21";
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface OpenAIEndpoint {
  /** `deployments`: /openai/deployments/{d}/…?api-version; `v1`: {base}/chat/completions with model = deployment. */
  style: "deployments" | "v1";
  /** The SDK's base URL. */
  baseURL: string;
  /** Host shown in error messages. */
  host: string;
}

/** Reads the endpoint setting; throws a plain message for anything that is not an http(s) URL. */
export function parseOpenAIEndpoint(endpoint: string): OpenAIEndpoint {
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    throw new Error(`endpoint '${endpoint}' is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("endpoint must be an http(s) URL");
  if (url.username || url.password) throw new Error("endpoint must not contain a user name or password");
  if (url.search || url.hash) throw new Error("endpoint must not contain a query or fragment");
  const path = url.pathname.replace(/\/+$/, "");
  const host = url.host;
  if (/\/openai\/v1$/i.test(path)) return { style: "v1", baseURL: `${url.origin}${path}`, host };
  if (/\/openai$/i.test(path)) return { style: "deployments", baseURL: `${url.origin}${path}`, host };
  return { style: "deployments", baseURL: `${url.origin}${path}/openai`, host };
}

/** Process-wide limits for AI calls, from the worker configuration. */
export interface AiCallLimits {
  maxConcurrentPerEndpoint: number;
  maxRetryDelayMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Where calls may go (OUTBOUND_ALLOWED_HOSTS, OUTBOUND_ALLOWED_PRIVATE_HOSTS); every request is checked. */
  outbound?: OutboundPolicy;
}

export function aiCallLimits(config: Config): AiCallLimits {
  return {
    maxConcurrentPerEndpoint: config.AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT,
    maxRetryDelayMs: config.AI_MAX_RETRY_DELAY_SECONDS * 1000,
    maxRequestBytes: MAX_REQUEST_BYTES,
    maxResponseBytes: MAX_RESPONSE_BYTES,
    outbound: outboundPolicy(config),
  };
}

/** A failed AI call: what was called, the HTTP status when there was an answer, and whether a retry could help. */
export class AzureAiCallError extends Error {
  override name = "AzureAiCallError";
  constructor(message: string, readonly status: number | undefined, readonly attempts: number) {
    super(message);
  }
}

/** A request past the size limit: never sent, never retried. */
export class AiRequestTooLargeError extends Error {
  override name = "AiRequestTooLargeError";
}

/** A 2xx answer whose body is not what the contract says (retried: proxies and cut connections do this). */
export class AiMalformedResponseError extends Error {
  override name = "AiMalformedResponseError";
}

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** `fetch` with each call (one per try: our retry loop calls the SDK again) in a dependency span. */
function tracedFetch(fetch: FetchLike): FetchLike {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    return dependencyCall("Microsoft.CognitiveServices", method, url, () => fetch(input, init), (r) => r.status);
  };
}

function byteLength(body: unknown): number | undefined {
  if (typeof body === "string") return new TextEncoder().encode(body).byteLength;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return body.byteLength;
  return undefined;
}

/** Wraps a fetch so request bodies and response bodies are size-limited (the SDK reads the limited copy). */
export function sizeLimitedFetch(inner: FetchLike, limits: Pick<AiCallLimits, "maxRequestBytes" | "maxResponseBytes">) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const size = byteLength(init?.body);
    if (size !== undefined && size > limits.maxRequestBytes) {
      throw new AiRequestTooLargeError(`the request (${size} bytes) is larger than ${limits.maxRequestBytes} bytes`);
    }
    const res = await inner(input, init);
    const declared = Number(res.headers.get("content-length") ?? "");
    const body = res.body
      ? await readStreamLimited(res.body, limits.maxResponseBytes, "the response", {
        declaredBytes: res.headers.has("content-length") && Number.isFinite(declared) ? declared : undefined,
      })
      : new Uint8Array();
    const empty = res.status === 204 || res.status === 205 || res.status === 304;
    return new Response(empty ? null : (body as Uint8Array<ArrayBuffer>), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

const UsageSchema = v.looseObject({
  prompt_tokens: v.optional(v.number()),
  completion_tokens: v.optional(v.number()),
  total_tokens: v.optional(v.number()),
});

const ChatCompletionSchema = v.looseObject({
  choices: v.pipe(
    v.array(
      v.looseObject({
        finish_reason: v.optional(v.nullable(v.string())),
        message: v.looseObject({
          content: v.optional(v.nullable(v.string())),
          refusal: v.optional(v.nullable(v.string())),
        }),
      }),
    ),
    v.minLength(1, "no choices in the answer"),
  ),
  usage: v.optional(v.nullable(UsageSchema)),
});

const EmbeddingsSchema = v.looseObject({
  data: v.array(v.looseObject({ index: v.number(), embedding: v.array(v.number()) })),
  usage: v.optional(v.nullable(UsageSchema)),
});

function issues(result: { issues: v.BaseIssue<unknown>[] }): string {
  return result.issues.map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${i.message}` : i.message;
  }).join("; ");
}

export interface ChatMessage {
  role: "system" | "user";
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  temperature?: number;
  /** The answer's length limit: `max_tokens` to a chat model, `max_completion_tokens` to a reasoning model. */
  max_tokens?: number;
  /** Sent as is: {type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema: {...}}. */
  response_format?: Record<string, unknown>;
}

export interface ChatAnswer {
  text: string;
  finishReason: string | null;
  usage: TokenUsage;
  /** The answer as the service sent it (for include_full_response). */
  raw: unknown;
  attempts: number;
}

export interface EmbeddingsAnswer {
  vectors: number[][];
  usage: TokenUsage;
  attempts: number;
}

export interface CallContext {
  signal: AbortSignal;
  /** Called before each retry (for logs). */
  onRetry?: (info: { retry: number; delayMs: number; reason: string }) => void;
}

export interface AzureOpenAIServiceOptions {
  endpoint: string;
  deployment: string;
  /** For the deployments style; ignored by the v1 style. */
  apiVersion?: string;
  auth: AiAuth;
  limits: AiCallLimits;
  /** Retries after the first attempt, first wait and growth (the catalog's max_retries, retry_backoff_*). */
  retry: Omit<RetryPolicy, "maxDelayMs">;
  /** The fetch the SDK uses (tests and the outbound guard pass theirs); size limits are added around it. */
  fetch?: FetchLike;
  /** What the deployment serves (see ModelKind); default auto. */
  modelKind?: ModelKind;
}

/**
 * What a deployment serves. A chat model (gpt-4o, gpt-4.1, …) takes `max_tokens` and any temperature; a reasoning
 * model (o1, o3, o4-mini, gpt-5, …) refuses both: it takes `max_completion_tokens` and only the default temperature.
 * `auto` sends the chat form until the deployment refuses it for one of those two reasons, then sends the reasoning
 * form from then on (remembered per endpoint and deployment for the life of the process).
 */
export const MODEL_KINDS = ["auto", "chat", "reasoning"] as const;
export type ModelKind = typeof MODEL_KINDS[number];

/** The endpoint + deployment pairs that refused the chat form in this process (see ModelKind's auto). */
const knownReasoningDeployments = new Set<string>();

/** The length and sampling fields of a chat completion body, in the form the deployment accepts. */
export function chatLimitFields(
  request: Pick<ChatRequest, "temperature" | "max_tokens">,
  reasoning: boolean,
): { temperature?: number; max_tokens?: number; max_completion_tokens?: number } {
  if (reasoning) return request.max_tokens !== undefined ? { max_completion_tokens: request.max_tokens } : {};
  return {
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.max_tokens !== undefined ? { max_tokens: request.max_tokens } : {}),
  };
}

/**
 * Whether an error answer says that the deployment is a reasoning model: Azure's 400 `unsupported_parameter` for
 * `max_tokens` or `unsupported_value` for `temperature` (error.code and error.param of its error body).
 */
export function refusesChatForm(status: number | undefined, error: { code?: unknown; param?: unknown }): boolean {
  if (status !== 400) return false;
  return (error.code === "unsupported_parameter" && error.param === "max_tokens") ||
    (error.code === "unsupported_value" && error.param === "temperature");
}

/** One Azure OpenAI deployment as used by an executor instance. */
export class AzureOpenAIService {
  readonly endpoint: OpenAIEndpoint;
  private clientLoading?: Promise<OpenAI>;
  private readonly secret?: string;
  private readonly fetch: FetchLike;

  constructor(private readonly opts: AzureOpenAIServiceOptions) {
    this.endpoint = parseOpenAIEndpoint(opts.endpoint);
    const policy = opts.limits.outbound;
    if (policy) checkOutboundUrl(this.endpoint.baseURL, policy);
    const guarded: FetchLike | undefined = policy
      ? (input, init) =>
        guardedFetch(input instanceof Request ? input.url : input, init ?? {}, { policy, maxRedirects: 0 })
      : undefined;
    this.fetch = tracedFetch(sizeLimitedFetch(opts.fetch ?? guarded ?? globalThis.fetch, opts.limits));
    if (opts.auth.kind === "key") this.secret = opts.auth.apiKey;
  }

  /** The SDK client, made at the first call. */
  private client(): Promise<OpenAI> {
    this.clientLoading ??= loadSdk().then((loaded) => this.makeClient(loaded));
    this.clientLoading.catch(() => (this.clientLoading = undefined));
    return this.clientLoading;
  }

  private makeClient(loaded: OpenAISdk): OpenAI {
    const { opts } = this;
    // Everything explicit, so that none of the SDK's OPENAI_* environment defaults (admin key, organization, log
    // level that prints requests) applies to calls taken from pipeline settings.
    const common = {
      baseURL: this.endpoint.baseURL,
      fetch: this.fetch,
      maxRetries: 0,
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      logLevel: "off" as const,
    };
    if (this.endpoint.style === "v1") {
      return new loaded.OpenAI({ ...common, apiKey: opts.auth.kind === "key" ? opts.auth.apiKey : opts.auth.token });
    }
    return new loaded.AzureOpenAI({
      ...common,
      apiVersion: opts.apiVersion ?? DEFAULT_CHAT_API_VERSION,
      deployment: opts.deployment,
      // null, not undefined: the SDK would otherwise take AZURE_OPENAI_API_KEY from the environment and refuse to
      // combine it with the token provider.
      ...(opts.auth.kind === "key"
        ? { apiKey: opts.auth.apiKey }
        : { azureADTokenProvider: opts.auth.token, apiKey: null as unknown as undefined }),
    });
  }

  /** "deployment 'x' at host" for messages. */
  get target(): string {
    return `deployment '${this.opts.deployment}' at ${this.endpoint.host}`;
  }

  async chat(request: ChatRequest, ctx: CallContext): Promise<ChatAnswer> {
    const body = (reasoning: boolean): ChatCompletionCreateParamsNonStreaming => ({
      model: this.opts.deployment,
      messages: request.messages,
      ...chatLimitFields(request, reasoning),
      // Passed through as the pipeline wrote it; the service validates it.
      ...(request.response_format
        ? {
          response_format: request
            .response_format as unknown as ChatCompletionCreateParamsNonStreaming["response_format"],
        }
        : {}),
    });
    const kind = this.opts.modelKind ?? "auto";
    const known = `${this.endpoint.baseURL}\n${this.opts.deployment}`;
    const { value, attempts } = await this.call("chat completion", ctx, async (signal) => {
      const client = await this.client();
      const reasoning = kind === "reasoning" || (kind === "auto" && knownReasoningDeployments.has(known));
      let raw: unknown;
      try {
        raw = await client.chat.completions.create(body(reasoning), { signal });
      } catch (err) {
        // A reasoning deployment met in auto mode: send the same request in its form, at once and only once.
        if (kind !== "auto" || reasoning || !isApiError(err) || !refusesChatForm(err.status, apiErrorBody(err))) {
          throw err;
        }
        knownReasoningDeployments.add(known);
        raw = await client.chat.completions.create(body(true), { signal });
      }
      const parsed = v.safeParse(ChatCompletionSchema, raw);
      if (!parsed.success) throw new AiMalformedResponseError(`unexpected answer: ${issues(parsed)}`);
      return { raw, parsed: parsed.output };
    });
    const choice = value.parsed.choices[0];
    const finishReason = choice.finish_reason ?? null;
    const text = choice.message.content;
    if (text === null || text === undefined) {
      const why = choice.message.refusal
        ? `the model refused: ${choice.message.refusal}`
        : finishReason === "content_filter"
        ? "the service's content filter withheld the answer"
        : `the answer has no text (finish_reason ${finishReason})`;
      throw new AzureAiCallError(`chat completion (${this.target}): ${why}`, 200, attempts);
    }
    const usage = value.parsed.usage ?? {};
    return {
      text,
      finishReason,
      usage: {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage.total_tokens,
      },
      raw: value.raw,
      attempts,
    };
  }

  /** Embeds one text (sent as a string, as ContentFlow) or a list of texts (sent as a list, one vector each). */
  async embed(input: string | string[], opts: { dimensions?: number }, ctx: CallContext): Promise<EmbeddingsAnswer> {
    const inputs = typeof input === "string" ? [input] : input;
    const body = {
      model: this.opts.deployment,
      input,
      ...(opts.dimensions !== undefined ? { dimensions: opts.dimensions } : {}),
    };
    const { value, attempts } = await this.call("embeddings", ctx, async (signal) => {
      const raw = await (await this.client()).embeddings.create(body, { signal });
      const parsed = v.safeParse(EmbeddingsSchema, raw);
      if (!parsed.success) throw new AiMalformedResponseError(`unexpected answer: ${issues(parsed)}`);
      const byIndex = new Map(parsed.output.data.map((d) => [d.index, d.embedding]));
      const vectors = inputs.map((_, i) => byIndex.get(i));
      if (vectors.some((x) => x === undefined) || parsed.output.data.length !== inputs.length) {
        throw new AiMalformedResponseError(
          `unexpected answer: ${parsed.output.data.length} embeddings for ${inputs.length} inputs`,
        );
      }
      return { vectors: vectors as number[][], usage: parsed.output.usage ?? {} };
    });
    return {
      vectors: value.vectors,
      usage: { embedding_tokens: value.usage.prompt_tokens, total_tokens: value.usage.total_tokens },
      attempts,
    };
  }

  /** One call with the endpoint gate held per attempt (not while waiting to retry) and our retry policy. */
  private async call<T>(
    what: string,
    ctx: CallContext,
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<{ value: T; attempts: number }> {
    const { limits } = this.opts;
    let attempts = 0;
    try {
      const value = await withRetries(async (n) => {
        attempts = n;
        return await withEndpointSlot(
          this.endpoint.baseURL,
          limits.maxConcurrentPerEndpoint,
          ctx.signal,
          () => attempt(ctx.signal),
        );
      }, {
        policy: { ...this.opts.retry, maxDelayMs: limits.maxRetryDelayMs },
        signal: ctx.signal,
        classify: classifyFailure,
        onRetry: (e) => ctx.onRetry?.({ retry: e.retry, delayMs: e.delayMs, reason: this.describe(e.error) }),
      });
      return { value, attempts };
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? err;
      const status = isApiError(err) && typeof err.status === "number" ? err.status : undefined;
      const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
      throw new AzureAiCallError(`${what} (${this.target}) failed${tries}: ${this.describe(err)}`, status, attempts);
    }
  }

  /** A short reason: HTTP status and the service's error code and message, with any key blanked out. */
  private describe(err: unknown): string {
    let text: string;
    const limit = causeOf(err, AiRequestTooLargeError) ?? causeOf(err, ResponseTooLargeError) ??
      causeOf(err, OutboundBlockedError) ?? causeOf(err, OutboundResolveError);
    if (limit) text = limit.message;
    else if (isApiError(err) && typeof err.status === "number") {
      const body = err.error as { code?: unknown; message?: unknown } | undefined;
      const code = typeof body?.code === "string" || typeof body?.code === "number" ? ` ${body.code}` : "";
      const message = typeof body?.message === "string" ? body.message : "";
      text = `HTTP ${err.status}${code}${message ? `: ${message.slice(0, 500)}` : ""}`;
    } else if (isConnectionError(err)) {
      const cause = (err as { cause?: unknown }).cause;
      text = `no answer from the service (${cause instanceof Error ? cause.message : err.message})`;
    } else if (err instanceof SyntaxError) {
      text = `the answer is not valid JSON (${err.message.slice(0, 200)})`;
    } else text = errorText(err);
    return this.secret ? text.split(this.secret).join("***") : text;
  }
}

/** The `error` object of an API error's body (the SDK also copies code and param onto the error itself). */
function apiErrorBody(err: APIError): { code?: unknown; param?: unknown } {
  const body = err.error as { code?: unknown; param?: unknown } | undefined;
  return { code: body?.code ?? err.code, param: body?.param ?? err.param };
}

function causeOf<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return e;
  }
  return undefined;
}

/** Which failures may pass on a later attempt, and how long the service asked us to wait. */
export function classifyFailure(err: unknown): { retryable: boolean; retryAfterMs?: number } {
  if (causeOf(err, AiRequestTooLargeError) || causeOf(err, ResponseTooLargeError)) return { retryable: false };
  if (causeOf(err, OutboundBlockedError)) return { retryable: false };
  if (causeOf(err, OutboundResolveError)) return { retryable: true };
  if (isUserAbort(err)) return { retryable: false };
  if (isApiError(err) && typeof err.status === "number") {
    return { retryable: isRetryableStatus(err.status), retryAfterMs: retryAfterMs(err.headers) };
  }
  if (isConnectionError(err)) return { retryable: true };
  if (err instanceof AiMalformedResponseError || err instanceof SyntaxError) return { retryable: true };
  return { retryable: false };
}
