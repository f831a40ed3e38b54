// A local stand-in for Azure AI Content Understanding, REST API 2025-11-01 (specification/ai/data-plane/
// ContentUnderstanding/stable/2025-11-01 in Azure/azure-rest-api-specs: ContentAnalyzers_AnalyzeBinary, _GetResult,
// _GetResultFile and _UpdateDefaults, with the examples of 2025-11-01 and 2025-05-01-preview):
// - POST {endpoint}/contentunderstanding/analyzers/{analyzerId}:analyzeBinary?api-version=… (raw document) → 202
//   {id, status: "NotStarted"} + Operation-Location {endpoint}/contentunderstanding/analyzerResults/{id}?api-version=…
// - GET …/analyzerResults/{id} → 200 {id, status: NotStarted|Running|Succeeded|Failed, result | error}
// - GET …/analyzerResults/{id}/files/{path} → the file's bytes. Only the form the GA migration guide documents for a
//   figure is answered: path contents/{contentIndex}/figures/{figureId} (image/png), for a figure that content of
//   the result has (the spec leaves `path` open; its example's "figure-1.1" is no documented form, and ContentFlow's
//   files/figures/{figureId} is not one either); any other path is 404 NotFound
// - PATCH …/defaults (application/merge-patch+json {modelDeployments}) → 200 {modelDeployments}
// Keys go in Ocp-Apim-Subscription-Key (401 otherwise). Faults: see fake-service.ts, plus operations that stay
// running or fail with an error body. Errors have the spec's shape (Azure.Core Error: code, message, target,
// details[], innererror {code, innererror} — an inner error has no message).
// Analyzers other than the content-extraction ones (prebuilt-read, prebuilt-layout) use generative models: without
// the resource's default model deployments (PATCH /defaults) or `defaultsPreset`, analyze answers 400 with the reason
// in details[] (the wording is this fake's; the service refuses such a request, its exact words are not in the spec).
import { randomUUID } from "node:crypto";
import { type FakeService, type Fault, json, type ReceivedRequest, startFakeService } from "./fake-service.ts";

/** Azure.Core Error as the spec defines it. */
export interface FakeError {
  code: string;
  message: string;
  target?: string;
  details?: FakeError[];
  innererror?: FakeInnerError;
}

/** Azure.Core InnerError: a code and a nested inner error, no message. */
export interface FakeInnerError {
  code?: string;
  innererror?: FakeInnerError;
}

/** Analyzers that only extract content and need no model deployment. */
const EXTRACTION_ONLY = new Set(["prebuilt-read", "prebuilt-layout"]);

export interface FakeContentUnderstandingOptions {
  /** Default model deployments the resource already has (as if set in the portal), before any PATCH. */
  defaultsPreset?: Record<string, string>;
  key?: string;
  runningPolls?: number;
  outcome?: "succeeded" | "failed" | "forever";
  /** The error of a failed operation (Azure.Core Error). */
  failure?: FakeError;
  retryAfter?: string;
  /** Answer Operation-Location on this origin instead of the fake's own. */
  operationOrigin?: string;
  /** Figure ids whose file GET answers 404. */
  missingFigures?: string[];
}

export interface FakeContentUnderstanding extends FakeService {
  options: FakeContentUnderstandingOptions;
  documents: Buffer[];
  /** The resource's default model deployments, as PATCHed. */
  modelDeployments: Record<string, string>;
  fault(route: "analyze" | "poll" | "file" | "defaults", ...faults: Fault[]): void;
}

/** A PNG signature plus a little: enough to tell files apart. */
export function figurePng(id: string): Buffer {
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(`figure ${id}`)]);
}

/** The parts of the prebuilt analyzers' configs (ContentAnalyzerConfig) that shape the fake's answer. */
const PREBUILT_CONFIG: Record<
  string,
  { enableLayout: boolean; enableFigureAnalysis: boolean; enableFigureDescription: boolean }
> = {
  "prebuilt-read": { enableLayout: false, enableFigureAnalysis: false, enableFigureDescription: false },
  "prebuilt-layout": { enableLayout: true, enableFigureAnalysis: false, enableFigureDescription: false },
  "prebuilt-documentSearch": { enableLayout: true, enableFigureAnalysis: true, enableFigureDescription: true },
};

/** The `result` of a succeeded analysis of a two-page invoice. */
export function analyzeResult(analyzerId: string, apiVersion: string, mimeType: string): Record<string, unknown> {
  const markdown = "# Contoso Invoice\n\nInvoice number: INV-100\n\n<!-- PageBreak -->\n\n" +
    "![Sales chart](figures/2.1)\n\nThank you";
  const figureAt = markdown.indexOf("![");
  const content: Record<string, unknown> = {
    kind: "document",
    mimeType,
    markdown,
    startPageNumber: 1,
    endPageNumber: 2,
    unit: "inch",
    pages: [
      {
        pageNumber: 1,
        width: 8.5,
        height: 11,
        spans: [{ offset: 0, length: 42 }],
        lines: [
          { content: "Contoso Invoice", source: "D(1,1,1,3,1,3,1.3,1,1.3)", span: { offset: 2, length: 15 } },
          { content: "Invoice number: INV-100", source: "D(1,1,2,4,2,4,2.3,1,2.3)", span: { offset: 19, length: 23 } },
        ],
      },
      {
        pageNumber: 2,
        width: 8.5,
        height: 11,
        spans: [{ offset: figureAt, length: markdown.length - figureAt }],
        lines: [{
          content: "Thank you",
          source: "D(2,1,5,2,5,2,5.3,1,5.3)",
          span: { offset: markdown.length - 9, length: 9 },
        }],
      },
    ],
  };
  // Figures come with layout analysis (enableLayout: not prebuilt-read); their kind and description with figure
  // analysis and description (enableFigureAnalysis / enableFigureDescription: prebuilt-documentSearch).
  const config = PREBUILT_CONFIG[analyzerId] ?? PREBUILT_CONFIG["prebuilt-layout"];
  if (config.enableLayout) {
    content.figures = [{
      id: "2.1",
      ...(config.enableFigureAnalysis ? { kind: "chart" } : {}),
      source: "D(2,1,1,5,1,5,4,1,4)",
      span: { offset: figureAt, length: 27 },
      elements: [],
      caption: {
        content: "Sales chart",
        source: "D(2,1,4,3,4,3,4.3,1,4.3)",
        span: { offset: figureAt + 2, length: 11 },
      },
      ...(config.enableFigureDescription ? { description: "A bar chart of sales by quarter." } : {}),
    }];
  }
  if (analyzerId === "prebuilt-documentSearch") {
    content.fields = {
      Summary: { type: "string", valueString: "An invoice from Contoso for consulting services." },
    };
  }
  return { analyzerId, apiVersion, createdAt: new Date().toISOString(), warnings: [], contents: [content] };
}

interface Operation {
  analyzerId: string;
  polls: number;
  apiVersion: string;
  mimeType: string;
}

function mimeOf(doc: Buffer): string {
  if (doc.subarray(0, 5).toString() === "%PDF-") return "application/pdf";
  if (doc[0] === 0x89 && doc[1] === 0x50) return "image/png";
  return "application/octet-stream";
}

export async function startFakeContentUnderstanding(
  options: FakeContentUnderstandingOptions = {},
): Promise<FakeContentUnderstanding> {
  const operations = new Map<string, Operation>();
  const documents: Buffer[] = [];
  const modelDeployments: Record<string, string> = { ...options.defaultsPreset };
  let endpoint = "";
  const state = { options };
  const route = (method: string, path: string) => {
    if (method === "PATCH" && path === "/contentunderstanding/defaults") return "defaults";
    if (method === "POST" && /^\/contentunderstanding\/analyzers\/[^/]+:analyzeBinary$/.test(path)) return "analyze";
    if (method === "GET" && /^\/contentunderstanding\/analyzerResults\/[^/]+$/.test(path)) return "poll";
    if (method === "GET" && /^\/contentunderstanding\/analyzerResults\/[^/]+\/files\/.+$/.test(path)) return "file";
    return undefined;
  };
  const handle = (name: string, req: ReceivedRequest) => {
    const o = state.options;
    if (o.key && req.headers["ocp-apim-subscription-key"] !== o.key) {
      return json(401, {
        error: { code: "401", message: "Access denied due to invalid subscription key or wrong API endpoint." },
      });
    }
    const apiVersion = req.query.get("api-version") ?? "";
    if (apiVersion !== "2025-11-01") {
      return json(400, { error: { code: "InvalidRequest", message: `Unsupported api-version '${apiVersion}'.` } });
    }
    if (name === "defaults") {
      if (!String(req.headers["content-type"]).startsWith("application/merge-patch+json")) {
        return json(415, {
          error: { code: "UnsupportedMediaType", message: "Expected application/merge-patch+json." },
        });
      }
      const patch = JSON.parse(req.body.toString() || "{}").modelDeployments ?? {};
      for (const [model, deployment] of Object.entries(patch)) {
        if (deployment === null) delete modelDeployments[model];
        else modelDeployments[model] = String(deployment);
      }
      return json(200, { modelDeployments });
    }
    if (name === "analyze") {
      const analyzerId = decodeURIComponent(/analyzers\/([^/]+):analyzeBinary$/.exec(req.path)![1]);
      if (!analyzerId.startsWith("prebuilt-")) {
        return json(404, { error: { code: "ModelNotFound", message: `Analyzer '${analyzerId}' not found.` } });
      }
      if (req.body.length === 0) {
        return json(400, { error: { code: "InvalidRequest", message: "The request body is empty." } });
      }
      if (!EXTRACTION_ONLY.has(analyzerId) && Object.keys(modelDeployments).length === 0) {
        return json(400, {
          error: {
            code: "InvalidRequest",
            message: "Invalid request.",
            innererror: { code: "ModelDeploymentNotConfigured" },
            details: [{
              code: "ModelDeploymentNotConfigured",
              target: "modelDeployments",
              message: `Analyzer '${analyzerId}' needs model deployments: none is set for the resource ` +
                "(PATCH /contentunderstanding/defaults).",
            }],
          },
        });
      }
      documents.push(req.body);
      const id = randomUUID();
      operations.set(id, { analyzerId, polls: 0, apiVersion, mimeType: mimeOf(req.body) });
      const headers: Record<string, string> = {
        "operation-location": `${o.operationOrigin ?? endpoint}/contentunderstanding/analyzerResults/${id}` +
          `?api-version=${apiVersion}`,
      };
      if (o.retryAfter) headers["retry-after"] = o.retryAfter;
      return json(202, { id, status: "NotStarted" }, headers);
    }
    const id = decodeURIComponent(/analyzerResults\/([^/]+)/.exec(req.path)![1]);
    const op = operations.get(id);
    if (!op) return json(404, { error: { code: "NotFound", message: "Operation not found." } });
    if (name === "file") {
      const file = decodeURIComponent(/\/files\/(.+)$/.exec(req.path)![1]);
      const [, index, figure] = /^contents\/(\d+)\/figures\/(.+)$/.exec(file) ?? [];
      // The result has one content (index 0), whose one figure is 2.1 (none for prebuilt-read).
      const known = index === "0" && figure === "2.1" && op.analyzerId !== "prebuilt-read";
      if (!known || o.missingFigures?.includes(figure)) {
        return json(404, { error: { code: "NotFound", message: `File '${file}' not found.` } });
      }
      return { status: 200, headers: { "content-type": "image/png" }, body: figurePng(figure) };
    }
    op.polls++;
    if (o.outcome === "forever" || op.polls <= (o.runningPolls ?? 1)) {
      return json(200, { id, status: "Running" }, o.retryAfter ? { "retry-after": o.retryAfter } : {});
    }
    if (o.outcome === "failed") {
      return json(200, {
        id,
        status: "Failed",
        error: o.failure ?? { code: "InternalServerError", message: "An unexpected error occurred." },
      });
    }
    return json(200, { id, status: "Succeeded", result: analyzeResult(op.analyzerId, op.apiVersion, op.mimeType) });
  };
  const service = await startFakeService(route, handle);
  endpoint = service.endpoint;
  return Object.assign(service, state, { documents, modelDeployments }) as FakeContentUnderstanding;
}
