// azure_content_understanding_extractor: sends each item's document (the file at data[temp_file_path_field], else
// data[content_field]) to Azure AI Content Understanding (POST …/analyzers/{analyzer_id}:analyzeBinary, REST API
// content_understanding_api_version, default 2025-11-01), polls the Operation-Location until the analysis is done
// and stores the whole final answer ({id, status, result: {contents: […]}}) in data[output_field] as ContentFlow
// does; with retrieve_figures the figure images are fetched too (data[figures_output_field], bytes as base64).
// content_understanding_model_mappings is sent once per executor as the resource's default model deployments
// (PATCH …/defaults), as ContentFlow does; it is required (ContentFlow's catalog marks it so) unless the analyzer is a
// content extractor that uses no generative model (prebuilt-read, prebuilt-layout), and {} sends nothing (the
// resource's defaults were set elsewhere). Auth: content_understanding_subscription_key when set, else
// DefaultAzureCredential.
// An item with neither field that points at a blob (azure_blob_input_discovery's id fields) has that blob read with
// the worker's blob credentials and analysed (fetch_discovered_blob, on by default): three of the web UI's templates
// go from discovery straight to this extractor, whose ContentFlow version fails them ("Document missing required
// content").
import * as v from "valibot";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import type { Logger } from "../../log/logger.ts";
import type { Config } from "../../config/schema.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, mapSetting, numberSetting, stringSetting } from "../settings.ts";
import { endpointSetting } from "../ai/endpoint-setting.ts";
import { attemptsNote, callService, type ServiceAnswer, type ServiceCall } from "../ai/service-fetch.ts";
import { restAuthHeaders } from "../ai/credentials.ts";
import { COGNITIVE_SERVICES_SCOPE } from "../ai/auth.ts";
import { readDocumentInput } from "../ai/document-input.ts";
import { pollUntilDone } from "../ai/long-running.ts";
import { retryAfterMs } from "../ai/retry.ts";
import { AiServiceError, httpFailure } from "../ai/service-error.ts";
import { itemFailure } from "../ai/executor-errors.ts";
import { issuesText } from "../../util/valibot-issues.ts";
import { checkOutboundUrl, type OutboundPolicy, outboundPolicy } from "../../net/outbound.ts";

const TYPE = "azure_content_understanding_extractor";
const SERVICE = "Content Understanding";
/**
 * The content extraction analyzers, which use no generative model and so need no default model deployments. Every
 * other analyzer (prebuilt-documentSearch, prebuilt-invoice, custom ones) is refused by the service without them.
 */
const CONTENT_EXTRACTORS = new Set(["prebuilt-read", "prebuilt-layout"]);
const MAPPINGS_EXAMPLE =
  '{"gpt-4.1":"<deployment>","gpt-4.1-mini":"<deployment>","text-embedding-3-large":"<deployment>"}';

const settings = v.pipe(
  v.object({
    analyzer_id: v.optional(
      v.pipe(stringSetting("analyzer_id"), v.trim(), v.regex(/^[a-zA-Z0-9._-]{1,64}$/, "analyzer_id is not an id")),
      "prebuilt-documentSearch",
    ),
    content_field: v.optional(stringSetting("content_field")),
    temp_file_path_field: v.optional(stringSetting("temp_file_path_field"), "temp_file_path"),
    output_field: v.optional(stringSetting("output_field"), "content_understanding_output"),
    retrieve_figures: v.optional(boolSetting("retrieve_figures"), false),
    figures_output_field: v.optional(stringSetting("figures_output_field"), "figures"),
    content_understanding_endpoint: endpointSetting(
      "content_understanding_endpoint",
      "AZURE_CONTENT_UNDERSTANDING_ENDPOINT",
    ),
    content_understanding_credential_type: v.optional(
      choiceSetting("content_understanding_credential_type", [
        "default_azure_credential",
        "azure_key_credential",
        "subscription_key",
      ]),
      "default_azure_credential",
    ),
    content_understanding_subscription_key: v.optional(stringSetting("content_understanding_subscription_key")),
    content_understanding_api_version: v.optional(
      v.pipe(stringSetting("content_understanding_api_version"), v.trim(), v.regex(/^[\w.-]+$/, "not an API version")),
      "2025-11-01",
    ),
    content_understanding_timeout: v.optional(
      intSetting("content_understanding_timeout", { min: 1, max: 86_400 }),
      180,
    ),
    content_understanding_polling_interval: v.optional(
      numberSetting("content_understanding_polling_interval", { min: 0.01, max: 300 }),
      2,
    ),
    content_understanding_max_retries: v.optional(
      intSetting("content_understanding_max_retries", { min: 0, max: 10 }),
      3,
    ),
    content_understanding_retry_backoff_factor: v.optional(
      numberSetting("content_understanding_retry_backoff_factor", { min: 1, max: 10 }),
      2.0,
    ),
    content_understanding_model_mappings: v.optional(
      mapSetting("content_understanding_model_mappings", v.nullable(v.string())),
    ),
    // Settings of this port (not in the ContentFlow catalog).
    content_encoding: v.optional(choiceSetting("content_encoding", ["base64", "utf-8"]), "base64"),
    max_document_mb: v.optional(intSetting("max_document_mb", { min: 1, max: 2000 }), 200),
    max_response_mb: v.optional(intSetting("max_response_mb", { min: 1, max: 2000 }), 200),
    fetch_discovered_blob: v.optional(boolSetting("fetch_discovered_blob"), true),
  }),
  v.forward(
    v.partialCheck(
      [["content_understanding_model_mappings"], ["analyzer_id"]],
      (s) => s.content_understanding_model_mappings !== undefined || CONTENT_EXTRACTORS.has(s.analyzer_id),
      (issue) =>
        `is required for analyzer ${
          (issue.input as { analyzer_id: string }).analyzer_id
        } (as in ContentFlow): the resource's default model deployments, e.g. ${MAPPINGS_EXAMPLE}, or {} when ` +
        "they are already set; only prebuilt-read and prebuilt-layout run without them",
    ),
    ["content_understanding_model_mappings"],
  ),
  v.check(
    (s) =>
      !(s.content_understanding_credential_type === "azure_key_credential" ||
        s.content_understanding_credential_type === "subscription_key") || !!s.content_understanding_subscription_key,
    "content_understanding_subscription_key must be set when content_understanding_credential_type is azure_key_credential or subscription_key",
  ),
);
type Settings = v.InferOutput<typeof settings>;

const OperationSchema = v.looseObject({
  id: v.optional(v.string()),
  status: v.string(),
  error: v.optional(v.unknown()),
  result: v.optional(
    v.looseObject({
      contents: v.optional(
        v.array(v.looseObject({
          kind: v.optional(v.string()),
          startPageNumber: v.optional(v.number()),
          endPageNumber: v.optional(v.number()),
          pages: v.optional(v.array(v.unknown())),
          figures: v.optional(v.array(v.looseObject({ id: v.optional(v.string()) }))),
        })),
      ),
    }),
  ),
});
type Operation = v.InferOutput<typeof OperationSchema>;

function jsonBody(what: string, status: number, body: Uint8Array): unknown {
  if (body.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new AiServiceError(`${what}: HTTP ${status}: the answer is not valid JSON`, status);
  }
}

/** An HTTP failure of a call, with the number of tries when it was retried, or why it was not. */
function failed(what: string, answer: ServiceAnswer): AiServiceError {
  const err = httpFailure(what, answer.status, new TextDecoder().decode(answer.body));
  err.message += attemptsNote(answer);
  return err;
}

function sameOrigin(url: string, endpoint: string, what: string): string {
  if (!URL.canParse(url)) throw new AiServiceError(`${what}: Operation-Location is not a URL`);
  if (new URL(url).origin !== new URL(endpoint).origin) {
    throw new AiServiceError(`${what}: Operation-Location points to another host (${new URL(url).host}); not followed`);
  }
  return url;
}

/** Pages the analysis covered: per content, its pages list, else its page range. */
export function pagesAnalyzed(op: Operation): number {
  let pages = 0;
  for (const c of op.result?.contents ?? []) {
    if (c.pages) pages += c.pages.length;
    else if (c.startPageNumber !== undefined && c.endPageNumber !== undefined) {
      pages += c.endPageNumber - c.startPageNumber + 1;
    }
  }
  return pages;
}

class ContentUnderstanding {
  private defaultsSent?: Promise<void>;
  private readonly auth: () => Promise<Record<string, string>>;
  private readonly policy: OutboundPolicy;

  constructor(
    private readonly s: Settings,
    private readonly logger: Logger,
    private readonly limits: Config,
  ) {
    this.policy = outboundPolicy(limits);
    checkOutboundUrl(s.content_understanding_endpoint, this.policy);
    this.auth = restAuthHeaders(
      s.content_understanding_subscription_key,
      "Ocp-Apim-Subscription-Key",
      COGNITIVE_SERVICES_SCOPE,
      {
        endpoint: s.content_understanding_endpoint,
        service: "cognitive_services",
        setting: "content_understanding_endpoint",
        config: limits,
      },
    );
  }

  private url(path: string): string {
    return `${this.s.content_understanding_endpoint}/contentunderstanding${path}` +
      `?api-version=${encodeURIComponent(this.s.content_understanding_api_version)}`;
  }

  private call(
    method: ServiceCall["method"],
    url: string,
    what: string,
    signal: AbortSignal,
    extra: Partial<ServiceCall> = {},
  ) {
    const s = this.s;
    return callService({
      method,
      url,
      what: `${SERVICE} ${what}`,
      signal,
      authHeaders: this.auth,
      retry: {
        maxRetries: s.content_understanding_max_retries,
        initialDelayMs: 1000,
        factor: s.content_understanding_retry_backoff_factor,
        maxDelayMs: this.limits.AI_MAX_RETRY_DELAY_SECONDS * 1000,
      },
      callsPerEndpoint: this.limits.AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT,
      requestTimeoutMs: s.content_understanding_timeout * 1000,
      maxResponseBytes: s.max_response_mb * 1024 * 1024,
      maxResponseSetting: "max_response_mb",
      policy: this.policy,
      ...extra,
    });
  }

  /** PATCH /defaults with the model deployments, once per executor (again after a failure). */
  ensureDefaults(signal: AbortSignal): Promise<void> {
    const mappings = this.s.content_understanding_model_mappings;
    if (!mappings || Object.keys(mappings).length === 0) return Promise.resolve();
    this.defaultsSent ??= (async () => {
      const what = "update defaults";
      const answer = await this.call("PATCH", this.url("/defaults"), what, signal, {
        headers: { "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ modelDeployments: mappings }),
      });
      if (answer.status !== 200) throw failed(`${SERVICE} ${what}`, answer);
    })().catch((err) => {
      this.defaultsSent = undefined;
      throw err;
    });
    return this.defaultsSent;
  }

  async analyze(bytes: Uint8Array, signal: AbortSignal): Promise<Operation & Record<string, unknown>> {
    const s = this.s;
    const what = `analyze (${s.analyzer_id})`;
    // An analysis is billed once accepted: after a timeout or a cut answer the POST is not sent again.
    const started = await this.call("POST", this.url(`/analyzers/${s.analyzer_id}:analyzeBinary`), what, signal, {
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
      idempotent: false,
    });
    if (started.status !== 202 && started.status !== 200) {
      const err = failed(`${SERVICE} ${what}`, started);
      const mappings = s.content_understanding_model_mappings;
      if (started.status === 400 && mappings && Object.keys(mappings).length === 0) {
        err.message += "; content_understanding_model_mappings is {}, so the resource's own default model " +
          "deployments are used: if it has none, set them here or once with PATCH /contentunderstanding/defaults";
      }
      throw err;
    }
    const location = started.headers.get("operation-location");
    if (!location) throw new AiServiceError(`${SERVICE} ${what}: HTTP ${started.status} without Operation-Location`);
    const pollUrl = sameOrigin(location, s.content_understanding_endpoint, `${SERVICE} ${what}`);
    const firstWait = retryAfterMs(started.headers);
    const { value } = await pollUntilDone({
      what: `${SERVICE} analysis`,
      signal,
      firstDelayMs: firstWait ?? s.content_understanding_polling_interval * 1000,
      maxDelayMs: Math.max(s.content_understanding_polling_interval * 1000, 15_000),
      timeoutMs: s.content_understanding_timeout * 1000,
      poll: async () => {
        const answer = await this.call("GET", pollUrl, "get analyze result", signal);
        if (answer.status !== 200) throw failed(`${SERVICE} get analyze result`, answer);
        const body = jsonBody(`${SERVICE} get analyze result`, answer.status, answer.body);
        const parsed = v.safeParse(OperationSchema, body);
        if (!parsed.success) {
          throw new AiServiceError(`${SERVICE} get analyze result: unexpected answer (${issuesText(parsed.issues)})`);
        }
        return {
          status: parsed.output.status,
          value: parsed.output as Operation & Record<string, unknown>,
          error: parsed.output.error,
          retryAfterMs: retryAfterMs(answer.headers),
        };
      },
    });
    return value;
  }

  /**
   * ContentFlow's _retrieve_figures: one GET per figure (…/files/contents/{i}/figures/{id}); a figure that fails is
   * skipped with a warning.
   */
  async figures(op: Operation, signal: AbortSignal): Promise<Record<string, unknown>[]> {
    if (!op.id) {
      this.logger.warn("no operation id in the analysis result; figures not retrieved");
      return [];
    }
    const out: Record<string, unknown>[] = [];
    for (const [contentIndex, content] of (op.result?.contents ?? []).entries()) {
      for (const figure of (content.figures ?? []) as Array<Record<string, unknown> & { id?: string }>) {
        if (!figure.id) continue;
        // GET …/files/{+path} with path contents/{contentIndex}/figures/{figureId}, the form the GA migration guide
        // documents (the spec leaves the path open). ContentFlow asks for files/figures/{id}, which it does not name.
        const path = `/analyzerResults/${encodeURIComponent(op.id)}/files/contents/${contentIndex}/figures/` +
          encodeURIComponent(figure.id);
        try {
          const answer = await this.call("GET", this.url(path), `get figure ${figure.id}`, signal);
          if (answer.status !== 200) throw failed(`${SERVICE} get figure ${figure.id}`, answer);
          const entry: Record<string, unknown> = {
            id: figure.id,
            bytes: Buffer.from(answer.body).toString("base64"),
            content_type: "image/png",
          };
          for (const key of ["boundingRegions", "source", "span", "caption", "description", "elements"]) {
            if (key in figure) entry[key] = figure[key];
          }
          out.push(entry);
        } catch (err) {
          if (signal.aborted) throw err;
          this.logger.warn("figure not retrieved", { figure_id: figure.id, error: (err as Error).message });
        }
      }
    }
    return out;
  }
}

async function extract(
  cu: ContentUnderstanding,
  item: Content,
  s: Settings,
  ctx: ExecutorRunContext,
  config: Config,
): Promise<Content> {
  const blobAccess = s.fetch_discovered_blob ? { config, signal: ctx.signal } : undefined;
  const input = await readDocumentInput(item, s, "file", blobAccess);
  await cu.ensureDefaults(ctx.signal);
  const op = await cu.analyze(input.bytes, ctx.signal);
  const data: Record<string, unknown> = { ...item.data, [s.output_field]: op };
  let figures = 0;
  if (s.retrieve_figures) {
    const list = await cu.figures(op, ctx.signal);
    figures = list.length;
    if (list.length > 0) data[s.figures_output_field] = list;
  }
  ctx.addLogDetails?.({
    pages_analyzed: pagesAnalyzed(op),
    analyzer_id: s.analyzer_id,
    operation_id: op.id ?? null,
    ...(input.source === "blob" ? { document_read_from: input.from } : {}),
    ...(s.retrieve_figures ? { figures_retrieved: figures } : {}),
  });
  return {
    ...item,
    data,
    summary_data: { ...item.summary_data, extraction_status: "success", analyzer_id: s.analyzer_id },
  };
}

export const azureContentUnderstandingExtractor: ExecutorDefinition<typeof settings> = {
  type: TYPE,
  category: "extract",
  description: "Analyzes documents with Azure AI Content Understanding analyzers (prebuilt-documentSearch, …)",
  settings,
  dataFields: {
    writes: [
      { setting: "output_field", fallback: "content_understanding_output" },
      { setting: "figures_output_field", fallback: "figures" },
    ],
  },
  create: (id, s, deps) => {
    const cu = new ContentUnderstanding(s, deps.logger.child({ executor_id: id, executor_type: TYPE }), deps.config);
    return perItemExecutor(id, TYPE, async (item, ctx) => {
      try {
        return await extract(cu, item, s, ctx, deps.config);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw itemFailure(TYPE, id, item, err);
      }
    });
  },
};
