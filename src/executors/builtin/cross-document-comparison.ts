// cross_document_comparison: sends the documents of a consolidated set (the item from document_set_collector) to an
// Azure OpenAI deployment with comparison instructions, and stores the analysis in data[output_key]. One chat call per
// set item; the answer is parsed as JSON (its outermost {...}) for output_format json / structured, kept as text for
// markdown or when it does not parse.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import {
  boolSetting,
  choiceSetting,
  intSetting,
  numberSetting,
  stringListSetting,
  stringSetting,
} from "../settings.ts";
import {
  type DocumentSet,
  documentSetKeys,
  documentSetOf,
  documentsInOrder,
  valueAtPath,
  withSetResult,
} from "../document-set.ts";
import { credentialSettings } from "../ai/auth.ts";
import { DEFAULT_CHAT_API_VERSION } from "../ai/openai-client.ts";
import { recordUsage } from "../ai/usage.ts";
import { modelKindSetting, openAIServiceFor, parseJsonObject, usageCounts } from "../ai/chat-executor.ts";

const settings = v.object({
  ...documentSetKeys("cross_document_analysis"),
  /** Unset: the worker's AZURE_OPENAI_ENDPOINT, as for the other Azure OpenAI executors. */
  endpoint: v.optional(v.pipe(stringSetting("endpoint"), v.trim())),
  deployment_name: v.pipe(stringSetting("deployment_name"), v.trim(), v.minLength(1, "deployment_name is required")),
  api_version: v.optional(v.pipe(stringSetting("api_version"), v.trim()), DEFAULT_CHAT_API_VERSION),
  ...credentialSettings,
  comparison_instructions: v.optional(stringSetting("comparison_instructions")),
  comparison_fields: v.optional(stringListSetting("comparison_fields")),
  output_format: v.optional(choiceSetting("output_format", ["json", "markdown", "structured"]), "structured"),
  include_trend_analysis: v.optional(boolSetting("include_trend_analysis"), true),
  include_variance_detection: v.optional(boolSetting("include_variance_detection"), true),
  variance_threshold_pct: v.optional(numberSetting("variance_threshold_pct", { min: 0 }), 10.0),
  temperature: v.optional(numberSetting("temperature", { min: 0, max: 2 }), 0.2),
  max_tokens: v.optional(intSetting("max_tokens", { min: 1, max: 1_000_000 }), 2000),
  model_kind: modelKindSetting,
  max_retries: v.optional(intSetting("max_retries", { min: 0, max: 10 }), 3),
  retry_backoff_seconds: v.optional(numberSetting("retry_backoff_seconds", { min: 0, max: 600 }), 1),
  retry_backoff_factor: v.optional(numberSetting("retry_backoff_factor", { min: 1, max: 10 }), 2),
});
type Settings = v.InferOutput<typeof settings>;

/** A number as Python's str() prints a float ("10.0", "12.5"). */
function pythonFloat(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

/** The system message: ContentFlow's wording, so that answers keep the same shape. */
export function comparisonInstructions(s: Settings): string {
  let text = s.comparison_instructions ||
    "You are an expert document analyst specializing in cross-document comparison. " +
      "You will receive data from multiple documents in a set. Your task is to analyze " +
      "the data across all documents and provide a comprehensive comparison.";
  if (s.output_format === "json") {
    text += "\n\nProvide your analysis as valid JSON with the following structure: " +
      '{"summary": "...", "comparisons": [...], "trends": [...], "variances": [...], "recommendations": [...]}';
  } else if (s.output_format === "structured") {
    text += "\n\nProvide your analysis as valid JSON with clearly labeled sections: " +
      "summary, key_findings, comparisons, trends (if applicable), variances (if applicable), and recommendations.";
  } else {
    text += "\n\nProvide your analysis in markdown format with clear headings for each section: " +
      "Summary, Key Findings, Comparisons, Trends (if applicable), Variances (if applicable), and Recommendations.";
  }
  if (s.include_trend_analysis) {
    text += "\n\nInclude period-over-period trend analysis. Identify upward/downward trends, " +
      "growth rates, and any inflection points.";
  }
  if (s.include_variance_detection) {
    text += `\n\nFlag significant variances where changes exceed ${pythonFloat(s.variance_threshold_pct)}% ` +
      "between consecutive periods. Explain potential causes for each variance.";
  }
  return text;
}

/** The user message: the set's documents in order, all their data or only comparison_fields. */
export function comparisonQuery(set: DocumentSet, s: Settings): string {
  const payload = documentsInOrder(set).map((d) => {
    const entry: Record<string, unknown> = { role: d.role ?? "", order: d.order ?? 0, filename: d.filename ?? "" };
    if (s.comparison_fields?.length) {
      for (const path of s.comparison_fields) {
        const value = valueAtPath(d, path);
        if (value !== undefined && value !== null) entry[path.split(".").at(-1)!] = value;
      }
    } else {
      entry.data = d.data ?? {};
      entry.summary_data = d.summary_data ?? {};
    }
    return entry;
  });
  return `Document Set: ${set.set_name ?? "Unknown"}\nTotal Documents: ${set.total_documents ?? 0}\n\n` +
    `Document Data:\n${JSON.stringify(payload, null, 2)}`;
}

export const crossDocumentComparison: ExecutorDefinition<typeof settings> = {
  type: "cross_document_comparison",
  category: "utility",
  description: "Compares the documents of a set with an Azure OpenAI deployment (trends, variances, insights)",
  settings,
  create: (id, s, deps) => {
    // Errors thrown here fail the pipeline's compilation; the compiler names the executor.
    const service = openAIServiceFor(s, deps);
    const instructions = comparisonInstructions(s);
    return {
      id,
      type: "cross_document_comparison",
      async process(input, ctx) {
        if (input.length === 0) throw new Error(`executor '${id}': received no items (expected a consolidated set)`);
        const out: Content[] = [];
        for (const item of input) {
          const start = nowIso();
          const t0 = Date.now();
          const set = documentSetOf(item, s.set_data_key, id);
          let text: string;
          try {
            const answer = await service.chat({
              messages: [{ role: "system", content: instructions }, { role: "user", content: comparisonQuery(set, s) }],
              temperature: s.temperature,
              max_tokens: s.max_tokens,
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
            recordUsage("cross_document_comparison", answer.usage);
            ctx.addUsage?.(usageCounts(answer.usage));
            text = answer.text;
          } catch (err) {
            if (ctx.signal.aborted) throw err;
            throw new Error(`executor '${id}', item ${item.id.canonical_id}: ${(err as Error).message}`);
          }
          const parsed = s.output_format === "markdown" ? undefined : parseJsonObject(text);
          out.push(withSetResult(item, s.output_key, {
            type: "cross_document_comparison",
            set_id: set.set_id ?? "",
            set_name: set.set_name ?? "",
            documents_compared: set.total_documents ?? 0,
            analysis: parsed ?? text,
            output_format: s.output_format,
            generated_at: nowIso(),
          }, { executorId: id, start, startedMs: t0, set }));
        }
        return out;
      },
    };
  },
};
