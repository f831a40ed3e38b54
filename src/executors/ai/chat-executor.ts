// The shared body of ContentFlow's Azure OpenAI "agent" executors (azure_openai_agent and the analysis executors built
// on it: text_summarizer, entity_extractor, sentiment_analyser, content_classifier, pii_detector, keyword_extractor,
// language_detector, content_translator). Per item: read data[input_field] (a dot path), send it as the user message
// with the executor's instructions as the system message, store the answer in data[output_field] (parsed as JSON
// when asked), set summary_data.agent_execution_status / response_length, and record the tokens used in the item's
// executor log details, the execution record's executor outputs and the process-wide usage totals.
//
// ContentFlow (agent-framework 1.0's OpenAIChatClient) calls the Responses API; we call Chat Completions, which
// every Azure OpenAI deployment and API version serves. The stored fields are the same; `<output>_agent_full_response`
// holds the chat completion as the service sent it instead of agent-framework's AgentResponse.
import * as v from "valibot";
import type { Content } from "../../model/content.ts";
import type { DataFields, ExecutorDeps, ExecutorInstance, ExecutorRunContext } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, intSetting, mapSetting, numberSetting, stringSetting } from "../settings.ts";
import { getPath, splitPath } from "../paths.ts";
import { credentialSettings, resolveAuth } from "./auth.ts";
import {
  aiCallLimits,
  AzureOpenAIService,
  type ChatAnswer,
  DEFAULT_CHAT_API_VERSION,
  MODEL_KINDS,
  type ModelKind,
  parseOpenAIEndpoint,
} from "./openai-client.ts";
import { recordUsage, type TokenUsage } from "./usage.ts";
import { pythonStr } from "./prompt-text.ts";
import { errorText } from "../../util/errors.ts";

/** Defaults that differ between the chat executors (from ContentFlow's executor catalog). */
export interface ChatDefaults {
  output_field: string;
  max_tokens: number;
  temperature?: number;
  deployment_name?: string;
}

/**
 * Not in ContentFlow's catalog: what the deployment serves — chat (max_tokens and temperature sent as set), reasoning
 * (max_tokens sent as max_completion_tokens, temperature not sent) or auto (the chat form until the deployment refuses
 * it, then the reasoning form). See ModelKind.
 */
export const modelKindSetting = v.optional(
  v.picklist(MODEL_KINDS, `model_kind must be one of ${MODEL_KINDS.join(", ")}`),
  "auto",
);

/** Settings every chat executor has, with the catalog's names. */
export function chatSettingEntries(defaults: ChatDefaults) {
  return {
    /** Unset: the worker's AZURE_OPENAI_ENDPOINT (see aiEndpoint). */
    endpoint: v.optional(v.pipe(stringSetting("endpoint"), v.trim())),
    deployment_name: defaults.deployment_name === undefined
      ? v.pipe(stringSetting("deployment_name"), v.trim(), v.minLength(1, "deployment_name must not be empty"))
      : v.optional(v.pipe(stringSetting("deployment_name"), v.trim()), defaults.deployment_name),
    /** Not in ContentFlow's catalog: the api-version of resource endpoints (the /openai/v1 form needs none). */
    api_version: v.optional(v.pipe(stringSetting("api_version"), v.trim()), DEFAULT_CHAT_API_VERSION),
    ...credentialSettings,
    input_field: v.optional(stringSetting("input_field"), "text"),
    output_field: v.optional(stringSetting("output_field"), defaults.output_field),
    include_full_response: v.optional(boolSetting("include_full_response"), false),
    temperature: defaults.temperature === undefined
      ? v.optional(numberSetting("temperature", { min: 0, max: 2 }))
      : v.optional(numberSetting("temperature", { min: 0, max: 2 }), defaults.temperature),
    max_tokens: v.optional(intSetting("max_tokens", { min: 1, max: 1_000_000 }), defaults.max_tokens),
    model_kind: modelKindSetting,
    max_retries: v.optional(intSetting("max_retries", { min: 0, max: 10 }), 3),
    retry_backoff_seconds: v.optional(numberSetting("retry_backoff_seconds", { min: 0, max: 600 }), 1),
    retry_backoff_factor: v.optional(numberSetting("retry_backoff_factor", { min: 1, max: 10 }), 2),
    /**
     * Not in ContentFlow's catalog: "json_object" (JSON mode), "text", or a JSON schema object for structured outputs
     * ({name, schema, strict?}); sent as the request's response_format. Unset: none is sent, as ContentFlow.
     */
    response_format: v.optional(
      v.union([
        v.picklist(["text", "json_object"], "response_format must be text, json_object or a JSON schema mapping"),
        mapSetting("response_format", v.unknown()),
      ], "response_format must be text, json_object or a JSON schema mapping"),
    ),
  };
}

export type ChatSettings = v.InferOutput<v.ObjectSchema<ReturnType<typeof chatSettingEntries>, undefined>>;

/** How a specialised executor shapes the call and the stored answer. */
export interface ChatBehaviour {
  /** System instructions (built from the executor's own settings). */
  instructions: string;
  /** Parse the answer's outermost {...} as JSON (ContentFlow's parse_response_as_json). */
  parseJson: boolean;
  /** Further changes to the item after the answer is stored (e.g. pii_detector's redacted text). */
  afterAnswer?: (item: Content, answer: string) => void;
}

/** ContentFlow's JSON extraction: the text from the first "{" to the last "}", parsed; undefined when that fails. */
export function parseJsonObject(text: string): unknown {
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start === -1 || end === -1 || end < start) return undefined;
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
}

/** Python's len(): characters for text, keys for a mapping, entries for a list. */
function pythonLength(value: unknown): number {
  if (typeof value === "string") return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === "object") return Object.keys(value).length;
  return 0;
}

function usageDetails(answer: ChatAnswer, deployment: string): Record<string, unknown> {
  return {
    deployment,
    prompt_tokens: answer.usage.prompt_tokens ?? null,
    completion_tokens: answer.usage.completion_tokens ?? null,
    total_tokens: answer.usage.total_tokens ?? null,
    finish_reason: answer.finishReason,
    attempts: answer.attempts,
  };
}

/** Tokens and calls in the form ctx.addUsage sums over the executor's items. */
export function usageCounts(usage: TokenUsage): Record<string, number> {
  const out: Record<string, number> = { calls: 1 };
  for (const [k, n] of Object.entries(usage)) if (typeof n === "number") out[k] = n;
  return out;
}

/** The error an executor throws for an item: executor, item and cause (the HTTP status is in the cause). */
export function itemError(type: string, id: string, item: Content, err: unknown): Error {
  const cause = errorText(err);
  const e = new Error(`${type} '${id}', item '${item.id.canonical_id}': ${cause}`);
  e.name = err instanceof Error ? err.name : "Error";
  return e;
}

/** The pipeline's endpoint, else the worker's AZURE_OPENAI_ENDPOINT (as ContentFlow's SDK clients fell back to). */
export function aiEndpoint(endpoint: string | undefined, config: ExecutorDeps["config"]): string {
  const chosen = endpoint || config.AZURE_OPENAI_ENDPOINT;
  if (!chosen) throw new Error("endpoint is required (or set AZURE_OPENAI_ENDPOINT for the worker)");
  return chosen;
}

/** The connection and retry settings every Azure OpenAI executor has (catalog names). */
export interface OpenAIConnectionSettings {
  endpoint?: string;
  deployment_name: string;
  api_version: string;
  credential_type?: Parameters<typeof resolveAuth>[0]["credential_type"];
  api_key?: string;
  max_retries: number;
  retry_backoff_seconds: number;
  retry_backoff_factor: number;
  /** Chat executors only (embeddings have no such choice). */
  model_kind?: ModelKind;
}

/**
 * The service client for an executor's settings. Throws (failing the pipeline's compilation, where the compiler
 * names the executor) when the endpoint is missing or refused.
 */
export function openAIServiceFor(s: OpenAIConnectionSettings, deps: ExecutorDeps): AzureOpenAIService {
  const endpoint = aiEndpoint(s.endpoint, deps.config);
  parseOpenAIEndpoint(endpoint); // a malformed endpoint is named as such before the token rule looks at it
  return new AzureOpenAIService({
    endpoint,
    deployment: s.deployment_name,
    apiVersion: s.api_version,
    auth: resolveAuth(s, {
      target: {
        endpoint,
        service: "cognitive_services",
        setting: s.endpoint ? "endpoint" : "AZURE_OPENAI_ENDPOINT",
        config: deps.config,
      },
    }),
    modelKind: s.model_kind,
    limits: aiCallLimits(deps.config),
    retry: {
      maxRetries: s.max_retries,
      initialDelayMs: s.retry_backoff_seconds * 1000,
      factor: s.retry_backoff_factor,
    },
  });
}

/**
 * What a chat executor reads and writes in items' data: data[input_field] in, data[output_field] (and its
 * `_agent_full_response` with include_full_response) out.
 */
export function chatDataFields(outputField: string, opts: { writesKnown?: boolean } = {}): DataFields {
  return {
    reads: [{ setting: "input_field", fallback: "text" }],
    ...(opts.writesKnown === false ? {} : {
      writes: [
        { setting: "output_field", fallback: outputField },
        { setting: "output_field", fallback: outputField, suffix: "_agent_full_response" },
      ],
    }),
  };
}

/** An executor instance that runs `behaviour` against the deployment named in `s`. */
export function createChatExecutor(
  type: string,
  id: string,
  s: ChatSettings,
  deps: ExecutorDeps,
  behaviour: ChatBehaviour,
): ExecutorInstance {
  // Errors thrown here fail the pipeline's compilation; the compiler names the executor.
  const service = openAIServiceFor(s, deps);
  const responseFormat = s.response_format === undefined
    ? undefined
    : typeof s.response_format === "string"
    ? { type: s.response_format }
    : { type: "json_schema", json_schema: s.response_format };
  const inputPath = splitPath(s.input_field);

  return perItemExecutor(id, type, async (item: Content, ctx: ExecutorRunContext) => {
    const data = item.data ?? {};
    if (Object.keys(data).length === 0) throw itemError(type, id, item, new Error("Content must have data"));
    const value = getPath(data, inputPath);
    if (value === undefined || value === null) {
      throw itemError(
        type,
        id,
        item,
        new Error(`Content missing required input. Field '${s.input_field}' not found.`),
      );
    }
    let answer: ChatAnswer;
    try {
      answer = await service.chat({
        messages: [{ role: "system", content: behaviour.instructions }, { role: "user", content: pythonStr(value) }],
        temperature: s.temperature,
        max_tokens: s.max_tokens,
        response_format: responseFormat,
      }, {
        signal: ctx.signal,
        onRetry: (r) =>
          ctx.logger.warn("Azure OpenAI call will be retried", {
            item: item.id.canonical_id,
            retry: r.retry,
            delay_ms: r.delayMs,
            reason: r.reason,
          }),
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw itemError(type, id, item, err);
    }
    recordUsage(type, answer.usage);
    ctx.addUsage?.(usageCounts(answer.usage));
    ctx.addLogDetails?.({ token_usage: usageDetails(answer, s.deployment_name) });

    let stored: unknown = answer.text;
    if (behaviour.parseJson) {
      const parsed = parseJsonObject(answer.text);
      if (parsed !== undefined && parsed !== null) stored = parsed;
    }
    const out: Content = {
      ...item,
      data: {
        ...data,
        [s.output_field]: stored,
        ...(s.include_full_response ? { [`${s.output_field}_agent_full_response`]: answer.raw } : {}),
      },
      summary_data: {
        ...item.summary_data,
        agent_execution_status: "success",
        response_length: answer.text ? pythonLength(stored) : 0,
      },
    };
    behaviour.afterAnswer?.(out, answer.text);
    return out;
  });
}
