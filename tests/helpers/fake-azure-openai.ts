// A local stand-in for Azure OpenAI on loopback, following the published REST contract (azure-rest-api-specs,
// specification/cognitiveservices/data-plane/AzureOpenAI/inference/stable/2024-10-21/inference.json and its
// examples chat_completions.json / embeddings.json), plus Azure's v1 routes (/openai/v1/...):
//   POST /openai/deployments/{deployment}/chat/completions?api-version=…   POST /openai/v1/chat/completions
//   POST /openai/deployments/{deployment}/embeddings?api-version=…         POST /openai/v1/embeddings
// Auth: `api-key: <key>` or `Authorization: Bearer <token>`. Requests are validated as the service does (messages,
// temperature range, response_format text | json_object | json_schema, "json" in the messages for json_object,
// embeddings input string or 1..2048 non-empty strings, dimensions, encoding_format float | base64) and errors use
// the contract's errorResponse shape {"error": {code, message, param, type}}. Tests script the answers and faults:
// 429 with Retry-After (seconds or HTTP-date), 500/503, malformed or truncated bodies, slow answers. Every request
// is kept so tests can assert prompts, fields and batch sizes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sleep } from "./wait.ts";

export interface ReceivedRequest {
  method: string;
  path: string;
  /** "chat" | "embeddings" | "other" */
  operation: string;
  style: "deployments" | "v1" | "unknown";
  deployment?: string;
  apiVersion?: string | null;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export interface ChatReply {
  content: string | null;
  finish_reason?: string;
  refusal?: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens?: number };
}

export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; retryAfterMs?: string; code?: string; message?: string }
  | { kind: "malformed"; body?: string }
  | { kind: "slow"; delayMs: number }
  | { kind: "hang" }
  | { kind: "huge"; bytes: number };

export interface FakeAzureOpenAIOptions {
  /** Accepted `api-key` values. */
  apiKeys?: string[];
  /** Accepted bearer tokens. */
  tokens?: string[];
  /** Known deployments (others get 404 DeploymentNotFound); default any. */
  deployments?: string[];
  /**
   * Deployments of a reasoning model (o-series, gpt-5): as Azure answers them, `max_tokens` is refused (400
   * unsupported_parameter: they take `max_completion_tokens`) and so is any `temperature` but the default 1 (400
   * unsupported_value).
   */
  reasoningDeployments?: string[];
  /** The chat answer for a request; default: a short echo of the last user message. */
  chat?: (req: ReceivedRequest) => ChatReply | string;
  /** Embedding length when the request has no `dimensions`. */
  defaultDimensions?: number;
}

export interface FakeAzureOpenAI {
  /** Resource endpoint, e.g. http://127.0.0.1:1234/ */
  endpoint: string;
  /** The v1 endpoint form, e.g. http://127.0.0.1:1234/openai/v1/ */
  v1Endpoint: string;
  requests: ReceivedRequest[];
  /** Most requests being answered at the same time so far. */
  peakConcurrency: number;
  /** Faults played on the next requests, one per request, in order. */
  enqueueFaults(...faults: Fault[]): void;
  setChat(fn: (req: ReceivedRequest) => ChatReply | string): void;
  reset(): void;
  close(): Promise<void>;
}

function approxTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function messageText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages.map((m) => {
    const c = (m as { content?: unknown }).content;
    if (typeof c === "string") return c;
    if (Array.isArray(c)) return c.map((p) => (p as { text?: string }).text ?? "").join("");
    return "";
  }).join("\n");
}

/** A deterministic unit-length vector for a text (same text, same vector). */
export function fakeVector(text: string, dimensions: number): number[] {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    seed = Math.imul(seed ^ (seed >>> 15), 2246822507) >>> 0;
    out.push(((seed % 2000) - 1000) / 1000);
  }
  const norm = Math.sqrt(out.reduce((a, x) => a + x * x, 0)) || 1;
  return out.map((x) => Math.fround(x / norm));
}

function base64Floats(vector: number[]): string {
  const buf = new Float32Array(vector);
  return Buffer.from(buf.buffer).toString("base64");
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "apim-request-id": crypto.randomUUID(),
    "x-request-id": crypto.randomUUID(),
    ...headers,
  });
  res.end(text);
}

/**
 * What Azure refuses in a chat request to a reasoning deployment, in its own words (the texts and codes Azure OpenAI
 * returns for o-series and gpt-5 deployments).
 */
function reasoningRefusal(body: Record<string, unknown>): { code: string; param: string; message: string } | undefined {
  if (body.max_tokens !== undefined && body.max_tokens !== null) {
    return {
      code: "unsupported_parameter",
      param: "max_tokens",
      message:
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    };
  }
  if (body.temperature !== undefined && body.temperature !== null && body.temperature !== 1) {
    return {
      code: "unsupported_value",
      param: "temperature",
      message: `Unsupported value: 'temperature' does not support ${
        String(body.temperature)
      } with this model. Only the default (1) value is supported.`,
    };
  }
  return undefined;
}

function error(res: ServerResponse, status: number, code: string, message: string, param?: string) {
  send(res, status, {
    error: { code, message, param: param ?? null, type: status < 500 ? "invalid_request_error" : null },
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function validateChat(body: Record<string, unknown>): string | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return "'messages' must be a non-empty array";
  for (const m of messages) {
    const role = (m as { role?: unknown }).role;
    if (!["system", "user", "assistant", "tool", "function"].includes(String(role))) {
      return `Invalid value for 'role': '${String(role)}'`;
    }
  }
  if (body.temperature !== undefined && body.temperature !== null) {
    const t = body.temperature;
    if (typeof t !== "number" || t < 0 || t > 2) return "'temperature' must be a number from 0 to 2";
  }
  for (const field of ["max_tokens", "max_completion_tokens"]) {
    if (body[field] !== undefined && body[field] !== null && !Number.isInteger(body[field])) {
      return `'${field}' must be an integer`;
    }
  }
  const format = body.response_format as
    | { type?: unknown; json_schema?: { name?: unknown; schema?: unknown } }
    | undefined;
  if (format !== undefined && format !== null) {
    if (!["text", "json_object", "json_schema"].includes(String(format.type))) {
      return `Invalid value for 'response_format.type': '${String(format.type)}'`;
    }
    if (format.type === "json_schema" && (typeof format.json_schema?.name !== "string" || !format.json_schema.schema)) {
      return "'response_format.json_schema' must have a name and a schema";
    }
    if (format.type === "json_object" && !/json/i.test(messageText(body))) {
      return "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.";
    }
  }
  return undefined;
}

function validateEmbeddings(body: Record<string, unknown>): string | undefined {
  const input = body.input;
  if (typeof input !== "string") {
    if (!Array.isArray(input) || input.length < 1 || input.length > 2048) {
      return "'input' must be a string or an array of 1 to 2048 strings";
    }
    if (input.some((x) => typeof x !== "string" || x.length === 0)) return "'input' items must be non-empty strings";
  }
  if (body.dimensions !== undefined && body.dimensions !== null) {
    if (!Number.isInteger(body.dimensions) || (body.dimensions as number) < 1) return "'dimensions' must be >= 1";
  }
  if (body.encoding_format !== undefined && body.encoding_format !== null) {
    if (!["float", "base64"].includes(String(body.encoding_format))) return "'encoding_format' must be float or base64";
  }
  return undefined;
}

function route(path: string): Pick<ReceivedRequest, "operation" | "style" | "deployment"> {
  let m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(path);
  if (m) {
    return {
      style: "deployments",
      deployment: decodeURIComponent(m[1]),
      operation: m[2] === "embeddings" ? "embeddings" : "chat",
    };
  }
  m = /^\/openai\/v1\/(chat\/completions|embeddings)$/.exec(path);
  if (m) return { style: "v1", operation: m[1] === "embeddings" ? "embeddings" : "chat" };
  return { style: "unknown", operation: "other" };
}

export async function startFakeAzureOpenAI(opts: FakeAzureOpenAIOptions = {}): Promise<FakeAzureOpenAI> {
  const requests: ReceivedRequest[] = [];
  const faults: Fault[] = [];
  let chat = opts.chat ?? ((r: ReceivedRequest) => {
    const messages = r.body.messages as Array<{ role: string; content: string }>;
    const last = [...messages].reverse().find((m) => m.role === "user");
    return `echo: ${String(last?.content ?? "").slice(0, 40)}`;
  });
  let inFlight = 0;
  const state = { peak: 0 };
  const sockets = new Set<import("node:net").Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const text = await readBody(req);
    let body: Record<string, unknown> = {};
    let bodyOk = true;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      bodyOk = false;
    }
    const headers: Record<string, string> = {};
    for (const [k, val] of Object.entries(req.headers)) headers[k] = Array.isArray(val) ? val.join(", ") : String(val);
    const where = route(url.pathname);
    const received: ReceivedRequest = {
      method: req.method ?? "",
      path: url.pathname,
      ...where,
      apiVersion: url.searchParams.get("api-version"),
      headers,
      body,
    };
    requests.push(received);

    if (req.method !== "POST" || where.style === "unknown") return error(res, 404, "404", "Resource not found");
    const key = headers["api-key"];
    const bearer = /^Bearer (.+)$/.exec(headers["authorization"] ?? "")?.[1];
    const keyOk = key !== undefined && (opts.apiKeys ?? []).includes(key);
    const tokenOk = bearer !== undefined &&
      ((opts.tokens ?? []).includes(bearer) || (opts.apiKeys ?? []).includes(bearer));
    if (!keyOk && !tokenOk) {
      return error(
        res,
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
      );
    }
    if (where.style === "deployments" && !received.apiVersion) {
      return error(res, 404, "404", "Resource not found");
    }
    const deployment = where.deployment ?? (typeof body.model === "string" ? body.model : undefined);
    received.deployment = deployment;
    if (opts.deployments && (!deployment || !opts.deployments.includes(deployment))) {
      return error(
        res,
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
      );
    }

    const fault = faults.shift();
    if (fault?.kind === "status") {
      const extra: Record<string, string> = {};
      if (fault.retryAfter !== undefined) extra["retry-after"] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) extra["retry-after-ms"] = fault.retryAfterMs;
      const message = fault.message ??
        (fault.status === 429
          ? "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds."
          : "The server had an error while processing your request. Sorry about that!");
      return send(res, fault.status, { error: { code: fault.code ?? String(fault.status), message } }, extra);
    }
    if (fault?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(fault.body ?? '{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assist');
    }
    if (fault?.kind === "hang") return; // never answers; the client must give up on its own
    if (fault?.kind === "slow") await sleep(fault.delayMs);
    if (fault?.kind === "huge") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(`{"pad":"${"x".repeat(fault.bytes)}"}`);
    }

    if (!bodyOk) return error(res, 400, "BadRequest", "We could not parse the JSON body of your request.");
    const created = Math.floor(Date.now() / 1000);
    if (where.operation === "chat") {
      const problem = validateChat(body);
      if (problem) return error(res, 400, "BadRequest", problem);
      const refusal = deployment !== undefined && (opts.reasoningDeployments ?? []).includes(deployment)
        ? reasoningRefusal(body)
        : undefined;
      if (refusal) return error(res, 400, refusal.code, refusal.message, refusal.param);
      const answer = chat(received);
      const reply: ChatReply = typeof answer === "string" ? { content: answer } : answer;
      const prompt = approxTokens(messageText(body));
      const completion = approxTokens(reply.content ?? "");
      const usage = reply.usage ?? { prompt_tokens: prompt, completion_tokens: completion };
      return send(res, 200, {
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: "chat.completion",
        created,
        model: "gpt-4.1-mini-2025-04-14",
        system_fingerprint: "fp_fake",
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
        choices: [{
          index: 0,
          finish_reason: reply.finish_reason ?? "stop",
          logprobs: null,
          message: { role: "assistant", content: reply.content, refusal: reply.refusal ?? null },
          content_filter_results: {},
        }],
        usage: { ...usage, total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens },
      });
    }
    const problem = validateEmbeddings(body);
    if (problem) return error(res, 400, "BadRequest", problem);
    const inputs = typeof body.input === "string" ? [body.input] : body.input as string[];
    const dims = (body.dimensions as number | undefined) ?? opts.defaultDimensions ?? 8;
    const base64 = body.encoding_format === "base64";
    const tokens = inputs.reduce((n, s) => n + approxTokens(s), 0);
    return send(res, 200, {
      object: "list",
      model: "text-embedding-3-large",
      data: inputs.map((s, index) => {
        const vector = fakeVector(s, dims);
        return { object: "embedding", index, embedding: base64 ? base64Floats(vector) : vector };
      }),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  };

  const server: Server = createServer((req, res) => {
    inFlight++;
    state.peak = Math.max(state.peak, inFlight);
    res.on("close", () => inFlight--);
    handle(req, res).catch((err) => {
      if (!res.headersSent) error(res, 500, "500", `fake failed: ${(err as Error).message}`);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}/`;
  return {
    endpoint,
    v1Endpoint: `${endpoint}openai/v1/`,
    requests,
    get peakConcurrency() {
      return state.peak;
    },
    enqueueFaults: (...f) => faults.push(...f),
    setChat: (fn) => (chat = fn),
    reset: () => {
      requests.length = 0;
      faults.length = 0;
      state.peak = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
