// azure_document_intelligence_extractor: sends each item's document (data[content_field], else the file at
// data[temp_file_path_field]) to Azure AI Document Intelligence (model_id, default prebuilt-layout) through the
// official REST SDK, polls the analysis and writes data[output_field] (default doc_intell_output) = {text, tables,
// key_value_pairs (extract_key_value_pairs, which also asks for the keyValuePairs feature), figures, pages} as
// ContentFlow does, plus
// summary_data.pages_analyzed / extraction_status. Pages analysed also go into the item's executor log details.
// Auth: doc_intelligence_credential_key when set, otherwise DefaultAzureCredential.
import * as v from "valibot";
import type { DocumentAnalysisFeature, DocumentIntelligenceClient } from "@azure-rest/ai-document-intelligence";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import {
  boolSetting,
  choiceSetting,
  intSetting,
  numberSetting,
  stringListSetting,
  stringSetting,
} from "../settings.ts";
import { endpointSetting } from "../ai/endpoint-setting.ts";
import { servicePipelineOptions } from "../ai/service-pipeline.ts";
import { checkTokenTarget, sdkCredential, type TokenTarget } from "../ai/credentials.ts";
import { readDocumentInput } from "../ai/document-input.ts";
import { pollUntilDone } from "../ai/long-running.ts";
import { retryAfterMs } from "../ai/retry.ts";
import { AiServiceError, httpFailure } from "../ai/service-error.ts";
import { itemFailure } from "../ai/executor-errors.ts";
import { issuesText } from "../../util/valibot-issues.ts";
import { assertOutboundUrl, checkOutboundUrl, type OutboundPolicy, outboundPolicy } from "../../net/outbound.ts";
import { errorText } from "../../util/errors.ts";

const TYPE = "azure_document_intelligence_extractor";
const SERVICE = "Document Intelligence";

// The spec's patterns and feature names (DocumentIntelligence.json 2024-11-30, DocumentModelAnalyzeRequestParams):
// the service answers 400 InvalidArgument to anything else, so such settings are refused when the pipeline compiles.
const MODEL_ID = /^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$/;
const PAGES = /^(\d+(-\d+)?)(,\s*(\d+(-\d+)?))*$/;
const FEATURES = [
  "ocrHighResolution",
  "languages",
  "barcodes",
  "formulas",
  "keyValuePairs",
  "styleFont",
  "queryFields",
];

const settings = v.pipe(
  v.object({
    model_id: v.optional(
      v.pipe(
        stringSetting("model_id"),
        v.trim(),
        v.regex(MODEL_ID, "model_id is not a Document Intelligence model id (2-64 of letters, digits, . _ ~ -)"),
      ),
      "prebuilt-layout",
    ),
    output_format: v.optional(choiceSetting("output_format", ["markdown", "text"]), "markdown"),
    doc_intel_features: v.optional(
      v.pipe(
        stringListSetting("doc_intel_features"),
        v.check(
          (list) => list.every((f) => FEATURES.includes(f)),
          (issue) =>
            `doc_intel_features: unknown feature '${
              (issue.input as string[]).find((f) => !FEATURES.includes(f))
            }' (known: ${FEATURES.join(", ")})`,
        ),
      ),
      [],
    ),
    extract_text: v.optional(boolSetting("extract_text"), true),
    extract_tables: v.optional(boolSetting("extract_tables"), true),
    extract_key_value_pairs: v.optional(boolSetting("extract_key_value_pairs"), false),
    extract_figures: v.optional(boolSetting("extract_figures"), true),
    pages: v.optional(
      v.pipe(
        stringSetting("pages"),
        v.trim(),
        v.regex(PAGES, 'pages must be 1-based page numbers and ranges like "1-3,5,7-9"'),
      ),
    ),
    locale: v.optional(v.pipe(stringSetting("locale"), v.trim())),
    content_field: v.optional(stringSetting("content_field")),
    temp_file_path_field: v.optional(stringSetting("temp_file_path_field"), "temp_file_path"),
    output_field: v.optional(stringSetting("output_field"), "doc_intell_output"),
    include_full_result: v.optional(boolSetting("include_full_result"), false),
    doc_intelligence_endpoint: endpointSetting("doc_intelligence_endpoint", "AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT"),
    doc_intelligence_credential_type: v.optional(
      choiceSetting("doc_intelligence_credential_type", ["default_azure_credential", "azure_key_credential"]),
      "default_azure_credential",
    ),
    doc_intelligence_credential_key: v.optional(stringSetting("doc_intelligence_credential_key")),
    // Settings of this port (not in the ContentFlow catalog).
    doc_intelligence_api_version: v.optional(
      v.pipe(stringSetting("doc_intelligence_api_version"), v.trim()),
      "2024-11-30",
    ),
    content_encoding: v.optional(choiceSetting("content_encoding", ["base64", "utf-8"]), "base64"),
    max_document_mb: v.optional(intSetting("max_document_mb", { min: 1, max: 2000 }), 500),
    max_response_mb: v.optional(intSetting("max_response_mb", { min: 1, max: 2000 }), 200),
    request_timeout_secs: v.optional(intSetting("request_timeout_secs", { min: 1, max: 3600 }), 120),
    max_retries: v.optional(intSetting("max_retries", { min: 0, max: 10 }), 3),
    retry_backoff_secs: v.optional(numberSetting("retry_backoff_secs", { min: 0, max: 60 }), 1),
    polling_interval_secs: v.optional(numberSetting("polling_interval_secs", { min: 0.01, max: 60 }), 1),
  }),
  v.check(
    (s) => !(s.doc_intelligence_credential_type === "azure_key_credential") || !!s.doc_intelligence_credential_key,
    "doc_intelligence_credential_key must be set when doc_intelligence_credential_type is azure_key_credential",
  ),
);
type Settings = v.InferOutput<typeof settings>;

// The parts of the 2024-11-30 AnalyzeResult that are read; everything else is kept as is for include_full_result.
const Span = v.object({ offset: v.number(), length: v.number() });
const AnalyzeResultSchema = v.looseObject({
  content: v.optional(v.string()),
  pages: v.optional(
    v.array(v.looseObject({
      pageNumber: v.number(),
      width: v.optional(v.number()),
      height: v.optional(v.number()),
      unit: v.optional(v.string()),
      lines: v.optional(v.array(v.looseObject({ content: v.optional(v.string()) }))),
    })),
  ),
  paragraphs: v.optional(v.array(v.looseObject({ content: v.optional(v.string()) }))),
  tables: v.optional(
    v.array(v.looseObject({
      rowCount: v.number(),
      columnCount: v.number(),
      cells: v.array(v.looseObject({
        rowIndex: v.number(),
        columnIndex: v.number(),
        content: v.optional(v.string()),
        kind: v.optional(v.string()),
      })),
    })),
  ),
  keyValuePairs: v.optional(
    v.array(v.looseObject({
      key: v.optional(v.looseObject({ content: v.optional(v.string()) })),
      value: v.optional(v.looseObject({ content: v.optional(v.string()) })),
    })),
  ),
  figures: v.optional(
    v.array(v.looseObject({
      id: v.optional(v.string()),
      boundingRegions: v.optional(v.array(v.looseObject({ pageNumber: v.number() }))),
      spans: v.optional(v.array(Span)),
      caption: v.optional(v.looseObject({ content: v.optional(v.string()) })),
    })),
  ),
});
type AnalyzeResult = v.InferOutput<typeof AnalyzeResultSchema>;

const OperationSchema = v.looseObject({
  status: v.string(),
  analyzeResult: v.optional(v.unknown()),
  error: v.optional(v.unknown()),
});

/** ContentFlow's extract_text: the content, else the paragraphs joined by blank lines. */
function text(r: AnalyzeResult): string {
  if (r.content) return r.content;
  return (r.paragraphs ?? []).map((p) => p.content).filter((c): c is string => !!c).join("\n\n");
}

function tables(r: AnalyzeResult) {
  return (r.tables ?? []).map((t) => ({
    row_count: t.rowCount,
    column_count: t.columnCount,
    cells: t.cells.map((c) => ({
      row_index: c.rowIndex,
      column_index: c.columnIndex,
      content: c.content ?? null,
      kind: c.kind ?? null,
    })),
  }));
}

function keyValuePairs(r: AnalyzeResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of r.keyValuePairs ?? []) {
    if (kv.key?.content && kv.value?.content) out[kv.key.content] = kv.value.content;
  }
  return out;
}

function figures(r: AnalyzeResult) {
  const content = r.content ?? "";
  return (r.figures ?? []).map((f, i) => ({
    id: f.id || i,
    page_number: f.boundingRegions?.[0]?.pageNumber ?? -1,
    content: (f.spans ?? []).map((s) => content.slice(s.offset, s.offset + s.length)).join(""),
    caption: f.caption?.content ?? "",
  }));
}

function pages(r: AnalyzeResult) {
  return (r.pages ?? []).map((p) => ({
    page_number: p.pageNumber,
    width: p.width ?? null,
    height: p.height ?? null,
    unit: p.unit ?? null,
    text: (p.lines ?? []).map((l) => l.content).filter((c): c is string => !!c).join("\n"),
  }));
}

/**
 * The optional analysis features to request: doc_intel_features, plus keyValuePairs when extract_key_value_pairs is
 * on. Since v4 (2024-11-30) no prebuilt model returns key-value pairs unless asked (prebuilt-document, which did, is
 * gone); ContentFlow passes only doc_intel_features, so its key_value_pairs stay empty unless the list names it.
 */
export function analysisFeatures(s: Pick<Settings, "doc_intel_features" | "extract_key_value_pairs">): string[] {
  const out = [...new Set(s.doc_intel_features)];
  if (s.extract_key_value_pairs && !out.includes("keyValuePairs")) out.push("keyValuePairs");
  return out;
}

/** The extracted fields in ContentFlow's shape and order. */
export function documentIntelligenceOutput(r: AnalyzeResult, s: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.extract_text) out.text = text(r);
  if (s.extract_tables) out.tables = tables(r);
  if (s.extract_key_value_pairs) out.key_value_pairs = keyValuePairs(r);
  if (s.extract_figures) out.figures = figures(r);
  if (r.pages && r.pages.length > 0) out.pages = pages(r);
  return out;
}

function resultIdFrom(operationLocation: string, endpoint: string): string {
  if (!URL.canParse(operationLocation)) throw new AiServiceError(`${SERVICE}: Operation-Location is not a URL`);
  const url = new URL(operationLocation);
  if (url.origin !== new URL(endpoint).origin) {
    throw new AiServiceError(`${SERVICE}: Operation-Location points to another host (${url.host}); not followed`);
  }
  const id = /\/analyzeResults\/([^/?]+)/.exec(url.pathname)?.[1];
  if (!id) throw new AiServiceError(`${SERVICE}: Operation-Location has no analyzeResults id`);
  return decodeURIComponent(id);
}

/** Parse errors of the SDK (a non-JSON or cut body) become readable messages. */
async function sdkCall<T>(what: string, call: () => PromiseLike<T>, signal: AbortSignal): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (signal.aborted || err instanceof AiServiceError) throw err;
    const e = err as { message?: string; statusCode?: number; code?: string };
    if (e.code === "PARSE_ERROR" || /parsing the response body/i.test(e.message ?? "")) {
      throw new AiServiceError(`${what}: HTTP ${e.statusCode ?? "?"}: the answer is not valid JSON`, e.statusCode);
    }
    throw new AiServiceError(`${what}: ${errorText(err)}`, e.statusCode);
  }
}

async function analyze(
  client: DocumentIntelligenceClient,
  item: Content,
  s: Settings,
  ctx: ExecutorRunContext,
  policy: OutboundPolicy,
): Promise<Content> {
  const input = await readDocumentInput(item, s);
  await assertOutboundUrl(s.doc_intelligence_endpoint, policy);
  const signal = ctx.signal;
  const features = analysisFeatures(s);
  const started = await sdkCall(
    `${SERVICE} analyze`,
    () =>
      client.path("/documentModels/{modelId}:analyze", s.model_id).post({
        contentType: "application/octet-stream",
        body: input.bytes,
        queryParameters: {
          ...(s.pages ? { pages: s.pages } : {}),
          ...(s.locale ? { locale: s.locale } : {}),
          ...(features.length > 0
            ? {
              features: {
                value: features as DocumentAnalysisFeature[],
                explode: false as const,
                style: "form" as const,
              },
            }
            : {}),
          outputContentFormat: s.output_format,
          stringIndexType: "utf16CodeUnit",
        },
        abortSignal: signal,
      }),
    signal,
  );
  if (started.status !== "202") throw httpFailure(`${SERVICE} analyze`, Number(started.status), started.body);
  const operationLocation = String(started.headers["operation-location"] ?? "");
  if (!operationLocation) throw new AiServiceError(`${SERVICE} analyze: HTTP 202 without Operation-Location`, 202);
  const resultId = resultIdFrom(operationLocation, s.doc_intelligence_endpoint);
  const firstWait = retryAfterMs(new Headers(started.headers));

  const { value: operation, polls } = await pollUntilDone({
    what: `${SERVICE} analysis ${resultId}`,
    signal,
    firstDelayMs: firstWait ?? s.polling_interval_secs * 1000,
    maxDelayMs: Math.max(s.polling_interval_secs * 1000, 15_000),
    poll: async () => {
      const res = await sdkCall(
        `${SERVICE} get analyze result`,
        () =>
          client.path("/documentModels/{modelId}/analyzeResults/{resultId}", s.model_id, resultId).get({
            abortSignal: signal,
          }),
        signal,
      );
      if (res.status !== "200") throw httpFailure(`${SERVICE} get analyze result`, Number(res.status), res.body);
      const parsed = v.safeParse(OperationSchema, res.body);
      if (!parsed.success) {
        throw new AiServiceError(`${SERVICE} get analyze result: unexpected answer (${issuesText(parsed.issues)})`);
      }
      return {
        status: parsed.output.status,
        value: parsed.output,
        error: parsed.output.error,
        retryAfterMs: retryAfterMs(new Headers(res.headers)),
      };
    },
  });
  const parsed = v.safeParse(AnalyzeResultSchema, operation.analyzeResult);
  if (!parsed.success) {
    throw new AiServiceError(
      `${SERVICE} analysis ${resultId}: unexpected analyzeResult (${issuesText(parsed.issues)})`,
    );
  }
  const result = parsed.output;
  const pagesAnalyzed = result.pages?.length ?? 0;
  ctx.addLogDetails?.({ pages_analyzed: pagesAnalyzed, model_id: s.model_id, result_id: resultId, polls });
  const data: Record<string, unknown> = { ...item.data };
  if (s.include_full_result) data[`${s.output_field}_full_result`] = operation.analyzeResult;
  data[s.output_field] = documentIntelligenceOutput(result, s);
  return {
    ...item,
    data,
    summary_data: { ...item.summary_data, pages_analyzed: pagesAnalyzed, extraction_status: "success" },
  };
}

export const azureDocumentIntelligenceExtractor: ExecutorDefinition<typeof settings> = {
  type: TYPE,
  category: "extract",
  description: "Extracts text, tables, key-value pairs, figures and pages with Azure AI Document Intelligence",
  settings,
  dataFields: {
    writes: [
      { setting: "output_field", fallback: "doc_intell_output" },
      { setting: "output_field", fallback: "doc_intell_output", suffix: "_full_result" },
    ],
  },
  create: (id, s, deps) => {
    const policy = outboundPolicy(deps.config);
    checkOutboundUrl(s.doc_intelligence_endpoint, policy);
    const tokenTarget: TokenTarget = {
      endpoint: s.doc_intelligence_endpoint,
      service: "cognitive_services",
      setting: "doc_intelligence_endpoint",
      config: deps.config,
    };
    if (!s.doc_intelligence_credential_key) checkTokenTarget(tokenTarget);
    // The SDK is loaded at the first document, not with every worker; the settings are checked now.
    const makeClient = (sdk: typeof import("@azure-rest/ai-document-intelligence")) =>
      sdk.default(s.doc_intelligence_endpoint, sdkCredential(s.doc_intelligence_credential_key, tokenTarget), {
        apiVersion: s.doc_intelligence_api_version,
        allowInsecureConnection: s.doc_intelligence_endpoint.startsWith("http:"),
        ...servicePipelineOptions({
          service: SERVICE,
          retry: {
            maxRetries: s.max_retries,
            initialDelayMs: s.retry_backoff_secs * 1000,
            factor: 2,
            maxDelayMs: deps.config.AI_MAX_RETRY_DELAY_SECONDS * 1000,
          },
          callsPerEndpoint: deps.config.AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT,
          requestTimeoutMs: s.request_timeout_secs * 1000,
          maxResponseBytes: s.max_response_mb * 1024 * 1024,
          maxResponseSetting: "max_response_mb",
          // Each accepted analyze is a billed analysis: not sent again once the service may have accepted it.
          runsOnce: (request) =>
            request.method === "POST" && /:analyze(\?|$)/.test(request.url) ? "analyze" : undefined,
        }),
      });
    let clientLoading: Promise<DocumentIntelligenceClient> | undefined;
    const client = () => {
      clientLoading ??= import("@azure-rest/ai-document-intelligence").then(makeClient);
      clientLoading.catch(() => (clientLoading = undefined));
      return clientLoading;
    };
    return perItemExecutor(id, TYPE, async (item, ctx) => {
      try {
        return await analyze(await client(), item, s, ctx, policy);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw itemFailure(TYPE, id, item, err);
      }
    });
  },
};
