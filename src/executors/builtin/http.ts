// http: POSTs each content item (send_mode item) or the whole batch as a JSON list (send_mode batch) to
// settings.url and merges the JSON response into data[output_field]. The call goes through the outbound policy
// (src/net/outbound.ts): the host must be allowed by OUTBOUND_ALLOWED_HOSTS (checked when the pipeline is compiled)
// and must not resolve to a private/loopback/metadata address unless OUTBOUND_ALLOWED_PRIVATE_HOSTS allows it
// (checked on every call). Retries with exponential backoff and jitter on network errors, timeouts, 429 and 5xx;
// never follows redirects (as the Python executor). The response body is read up to MAX_HTTP_RESPONSE_BYTES.
// Header values may use ${VAR} for secrets; they are registered with the logger so they never appear in logs.
import * as v from "valibot";
import type { ExecutorDefinition, ExecutorInstance, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import {
  checkOutboundUrl,
  guardedFetch,
  OutboundBlockedError,
  type OutboundPolicy,
  outboundPolicy,
  readTextLimited,
  ResponseTooLargeError,
} from "../../net/outbound.ts";
import { perItemExecutor } from "../per-item.ts";
import { choiceSetting, intSetting, mapSetting, stringSetting } from "../settings.ts";
import { registerSecret } from "../../util/redact.ts";
import { linkedSignal } from "../../util/abort.ts";
import { sleepOrAbort } from "../../util/sleep.ts";
import { exponentialDelay, withJitter } from "../../util/backoff.ts";

const settings = v.object({
  url: v.pipe(
    stringSetting("url"),
    v.trim(),
    v.check((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), "url must be an http(s) URL"),
  ),
  method: v.optional(
    v.pipe(v.string(), v.toUpperCase(), v.picklist(["POST", "PUT", "PATCH"], "method must be POST, PUT or PATCH")),
    "POST",
  ),
  headers: v.optional(
    mapSetting(
      "headers",
      v.union([v.string(), v.pipe(v.number(), v.transform(String))], "header values must be strings"),
    ),
    {},
  ),
  send_mode: v.optional(choiceSetting("send_mode", ["item", "batch"]), "item"),
  output_field: v.optional(stringSetting("output_field"), "http_response"),
  request_timeout_secs: v.optional(intSetting("request_timeout_secs", { min: 1, max: 3600 }), 30),
  max_retries: v.optional(intSetting("max_retries", { min: 0, max: 10 }), 3),
  retry_backoff_ms: v.optional(intSetting("retry_backoff_ms", { min: 0, max: 60_000 }), 500),
});
type Settings = v.InferOutput<typeof settings>;

/** What a call needs besides the settings: the outbound policy and the response size limit. */
interface CallLimits {
  policy: OutboundPolicy;
  maxResponseBytes: number;
}

class HttpError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = "HttpError";
  }
}

async function attempt(s: Settings, limits: CallLimits, body: string, signal: AbortSignal): Promise<unknown> {
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new Error(`no response within ${s.request_timeout_secs} s`)),
    s.request_timeout_secs * 1000,
  );
  const linked = linkedSignal(signal, timeout.signal);
  try {
    let res: Response;
    try {
      res = await guardedFetch(s.url, {
        method: s.method,
        headers: { "content-type": "application/json", accept: "application/json", ...s.headers },
        body,
        signal: linked.signal,
      }, { policy: limits.policy, maxRedirects: 0 });
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof OutboundBlockedError) throw new HttpError(`${s.method} ${s.url}: ${err.message}`, false);
      const why = timeout.signal.aborted ? `no response within ${s.request_timeout_secs} s` : (err as Error).message;
      throw new HttpError(`${s.method} ${s.url}: ${why}`, true);
    }
    let text: string;
    try {
      text = await readTextLimited(res, limits.maxResponseBytes, "the response", "MAX_HTTP_RESPONSE_BYTES");
    } catch (err) {
      if (err instanceof ResponseTooLargeError) throw new HttpError(`${s.method} ${s.url}: ${err.message}`, false);
      throw err;
    }
    if (res.status >= 300 && res.status < 400) {
      throw new HttpError(`${s.method} ${s.url}: HTTP ${res.status} redirect not followed`, false);
    }
    if (!res.ok) {
      const snippet = text.slice(0, 200);
      throw new HttpError(
        `${s.method} ${s.url}: HTTP ${res.status}${snippet ? `: ${snippet}` : ""}`,
        res.status === 429 || res.status >= 500,
      );
    }
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(`${s.method} ${s.url}: the response is not JSON`, false);
    }
  } finally {
    clearTimeout(timer);
    linked.dispose();
  }
}

export async function callWithRetries(
  s: Settings,
  limits: CallLimits,
  payload: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  const body = JSON.stringify(payload);
  for (let n = 0;; n++) {
    try {
      return await attempt(s, limits, body, signal);
    } catch (err) {
      if (!(err instanceof HttpError) || !err.retryable || n >= s.max_retries) {
        throw n > 0 && err instanceof Error ? new Error(`${err.message} (after ${n + 1} attempts)`) : err;
      }
      // Half the exponential delay plus a random part of the other half.
      await sleepOrAbort(withJitter(exponentialDelay(s.retry_backoff_ms, n, Infinity), 0.5, 0.5), signal);
    }
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function merge(item: Content, field: string, response: unknown): Content {
  if (response === undefined) return item;
  const existing = item.data?.[field];
  const value = isRecord(existing) && isRecord(response) ? { ...existing, ...response } : response;
  return { ...item, data: { ...item.data, [field]: value } };
}

export const httpExecutor: ExecutorDefinition<typeof settings> = {
  type: "http",
  category: "transform",
  description: "Sends content items as JSON to an allowed HTTP endpoint and stores the JSON response",
  settings,
  create: (id, s, deps): ExecutorInstance => {
    const limits: CallLimits = {
      policy: outboundPolicy(deps.config),
      maxResponseBytes: deps.config.MAX_HTTP_RESPONSE_BYTES,
    };
    checkOutboundUrl(s.url, limits.policy);
    for (const [name, value] of Object.entries(s.headers)) {
      if (/auth|key|token|secret|cookie|signature|password/i.test(name)) registerSecret(value);
    }
    if (s.send_mode === "item") {
      return perItemExecutor(
        id,
        "http",
        async (item, ctx: ExecutorRunContext) =>
          merge(item, s.output_field, await callWithRetries(s, limits, item, ctx.signal)),
      );
    }
    return {
      id,
      type: "http",
      async process(input, ctx) {
        if (input.length === 0) return input;
        const response = await callWithRetries(s, limits, input, ctx.signal);
        if (response === undefined) return input;
        if (!Array.isArray(response) || response.length !== input.length) {
          throw new Error(
            `send_mode batch expects a JSON list with one entry per item (${input.length}) in the response`,
          );
        }
        return input.map((item, i) => merge(item, s.output_field, response[i]));
      },
    };
  },
};
