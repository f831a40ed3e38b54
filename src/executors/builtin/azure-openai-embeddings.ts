// azure_openai_embeddings: the embedding vector of data[input_field] (a dot path) in data[output_field], with
// summary_data.embedding_dimensions / embedding_model / embedding_status as ContentFlow. A failed item passes on
// (fail_pipeline_on_error: false) with the error in its executor log entry; ContentFlow also wrote embedding_status
// "failed" and embedding_error into its summary_data, which our executors cannot do (they never change the items
// they are given).
// Beyond ContentFlow: when the field holds a list (strings, or chunks with a `text`), each entry is embedded — in
// requests of at most batch_size inputs — and data[output_field] holds the list of vectors in the same order
// (ContentFlow embedded the list's Python text form as one string). Tokens are recorded like the chat executors'.
import * as v from "valibot";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { intSetting, numberSetting, stringSetting } from "../settings.ts";
import { perItemExecutor } from "../per-item.ts";
import { getPath, splitPath } from "../paths.ts";
import { credentialSettings } from "../ai/auth.ts";
import type { AzureOpenAIService } from "../ai/openai-client.ts";
import { itemError, openAIServiceFor, usageCounts } from "../ai/chat-executor.ts";
import { addUsage, recordUsage, type TokenUsage } from "../ai/usage.ts";
import { pythonStr } from "../ai/prompt-text.ts";

const TYPE = "azure_openai_embeddings";

const settings = v.object({
  /** Unset: the worker's AZURE_OPENAI_ENDPOINT. */
  endpoint: v.optional(v.pipe(stringSetting("endpoint"), v.trim())),
  deployment_name: v.pipe(stringSetting("deployment_name"), v.trim(), v.minLength(1, "deployment_name is required")),
  api_version: v.optional(v.pipe(stringSetting("api_version"), v.trim()), "2024-02-01"),
  ...credentialSettings,
  input_field: v.optional(stringSetting("input_field"), "text"),
  output_field: v.optional(stringSetting("output_field"), "embedding"),
  dimensions: v.optional(intSetting("dimensions", { min: 1, max: 100_000 })),
  /** Not in ContentFlow's catalog: inputs per request when the field holds a list. */
  batch_size: v.optional(intSetting("batch_size", { min: 1, max: 2048 }), 16),
  /** Not in ContentFlow's catalog (its SDK retried twice): retries of throttled or failed calls. */
  max_retries: v.optional(intSetting("max_retries", { min: 0, max: 10 }), 2),
  retry_backoff_seconds: v.optional(numberSetting("retry_backoff_seconds", { min: 0, max: 600 }), 1),
  retry_backoff_factor: v.optional(numberSetting("retry_backoff_factor", { min: 1, max: 10 }), 2),
});
type Settings = v.InferOutput<typeof settings>;

/** The texts to embed: one for a scalar field, one per entry for a list (a chunk's `text` when it has one). */
function inputsOf(value: unknown): { texts: string[]; list: boolean } {
  if (!Array.isArray(value)) return { texts: [pythonStr(value)], list: false };
  const texts = value.map((entry) => {
    if (entry && typeof entry === "object" && !Array.isArray(entry) && "text" in entry) {
      return pythonStr((entry as { text: unknown }).text);
    }
    return pythonStr(entry);
  });
  return { texts, list: true };
}

async function embedItem(service: AzureOpenAIService, s: Settings, item: Content, ctx: ExecutorRunContext) {
  const data = item.data ?? {};
  if (Object.keys(data).length === 0) throw new Error("Content must have data");
  const value = getPath(data, splitPath(s.input_field));
  if (value === undefined || value === null) {
    throw new Error(`Content missing, required input field '${s.input_field}'`);
  }
  const { texts, list } = inputsOf(value);
  if (texts.length === 0 || texts.some((t) => !t.trim())) throw new Error("Input text is empty");
  const vectors: number[][] = [];
  let usage: TokenUsage = {};
  let attempts = 0;
  for (let at = 0; at < texts.length; at += s.batch_size) {
    const input = list ? texts.slice(at, at + s.batch_size) : texts[0];
    const answer = await service.embed(input, { dimensions: s.dimensions }, {
      signal: ctx.signal,
      onRetry: (r) =>
        ctx.logger.warn("Azure OpenAI call will be retried", {
          item: item.id.canonical_id,
          retry: r.retry,
          delay_ms: r.delayMs,
          reason: r.reason,
        }),
    });
    vectors.push(...answer.vectors);
    usage = addUsage(usage, answer.usage);
    attempts += answer.attempts;
    recordUsage(TYPE, answer.usage);
    ctx.addUsage?.(usageCounts(answer.usage));
  }
  ctx.addLogDetails?.({
    token_usage: {
      deployment: s.deployment_name,
      embedding_tokens: usage.embedding_tokens ?? null,
      total_tokens: usage.total_tokens ?? null,
      inputs: texts.length,
      requests: Math.ceil(texts.length / s.batch_size),
      attempts,
    },
  });
  return {
    ...item,
    data: { ...data, [s.output_field]: list ? vectors : vectors[0] },
    summary_data: {
      ...item.summary_data,
      embedding_dimensions: vectors[0].length,
      embedding_model: s.deployment_name,
      embedding_status: "success",
    },
  };
}

export const azureOpenAIEmbeddings: ExecutorDefinition<typeof settings> = {
  type: TYPE,
  category: "transform",
  description: "Stores the Azure OpenAI embedding vector of each item's text",
  settings,
  dataFields: {
    reads: [{ setting: "input_field", fallback: "text" }],
    writes: [{ setting: "output_field", fallback: "embedding" }],
  },
  create: (id, s, deps) => {
    // Errors thrown here fail the pipeline's compilation; the compiler names the executor.
    const service = openAIServiceFor(s, deps);
    return perItemExecutor(id, TYPE, async (item, ctx) => {
      try {
        return await embedItem(service, s, item, ctx);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw itemError(TYPE, id, item, err);
      }
    });
  },
};
