// A local stand-in for Azure AI Document Intelligence, REST API 2024-11-30 (specification/ai/data-plane/
// DocumentIntelligence/stable/2024-11-30 in Azure/azure-rest-api-specs: AnalyzeDocument_Stream.json,
// AnalyzeDocument_Base64.json and the GetAnalyzeDocumentResult example):
// - POST {endpoint}/documentintelligence/documentModels/{modelId}:analyze?api-version=… with the document as the raw
//   body (or JSON {base64Source}) → 202, empty body, Operation-Location …/analyzeResults/{resultId}?api-version=…
// - GET …/documentModels/{modelId}/analyzeResults/{resultId} → 200 {status: notStarted|running|succeeded|failed,
//   createdDateTime, lastUpdatedDateTime, analyzeResult | error}.
// Keys go in Ocp-Apim-Subscription-Key (401 otherwise). prebuilt-layout answers pages with lines, paragraphs, a
// table and a figure, plus key-value pairs only when the request asks for the optional feature
// (features=keyValuePairs: since v4 no prebuilt model answers them by default, prebuilt-document is gone);
// prebuilt-read only pages, lines and paragraphs. As the spec's parameter patterns say, a modelId that does not match
// ^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$, a pages that does not match ^(\d+(-\d+)?)(,\s*(\d+(-\d+)?))*$ (so "1-" and
// "-3" too) and a feature outside DocumentAnalysisFeature are a 400 InvalidArgument. Faults: see fake-service.ts,
// plus operations that stay running or fail with an error body.
import { randomUUID } from "node:crypto";
import { type FakeService, type Fault, json, type ReceivedRequest, startFakeService } from "./fake-service.ts";

export interface FakeDocumentIntelligenceOptions {
  key?: string;
  /** Polls answered "running" before the outcome (default 1). */
  runningPolls?: number;
  /** What the operation ends with (default succeeded); "forever" stays running. */
  outcome?: "succeeded" | "failed" | "forever";
  /** The error object of a failed operation. */
  failure?: { code: string; message: string; innererror?: { code: string; message: string } };
  /** retry-after header on 202 and running polls (seconds). */
  retryAfter?: string;
  /** Adds a string of this many bytes to the analyzeResult (for response size limits). */
  resultPaddingBytes?: number;
}

export interface FakeDocumentIntelligence extends FakeService {
  options: FakeDocumentIntelligenceOptions;
  /** Documents received by analyze calls, in order. */
  documents: Buffer[];
  fault(route: "analyze" | "poll", ...faults: Fault[]): void;
}

interface Operation {
  modelId: string;
  polls: number;
  created: string;
  format: string;
  pages?: Set<number>;
  features: string[];
  apiVersion: string;
}

// The spec's patterns (DocumentIntelligence.json 2024-11-30, parameters DocumentModelAnalyzeRequestParams.*).
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

function invalidArgument(message: string) {
  return json(400, {
    error: {
      code: "InvalidArgument",
      message: "Invalid argument.",
      innererror: { code: "InvalidParameter", message },
    },
  });
}

const PAGE_LINES = [
  ["Contoso Invoice", "Invoice number: INV-100", "Total: $110.00"],
  ["Sales chart", "Thank you"],
];

function pageSet(spec: string | null): Set<number> | undefined {
  if (!spec) return undefined;
  const out = new Set<number>();
  for (const part of spec.split(",")) {
    const [a, b] = part.split("-").map((x) => Number(x.trim()));
    for (let n = a; n <= (b || a); n++) out.add(n);
  }
  return out;
}

const box = (x: number, y: number) => [x, y, x + 2, y, x + 2, y + 0.3, x, y + 0.3];

/** An AnalyzeResult as the service returns it, for a two-page invoice. */
export function layoutResult(
  modelId: string,
  format: string,
  apiVersion: string,
  pages?: Set<number>,
  features: string[] = [],
): Record<string, unknown> {
  const layout = modelId !== "prebuilt-read";
  const markdown = layout && format === "markdown";
  let content = "";
  const spanOf = (text: string, prefix = "", suffix = "") => {
    if (content) content += markdown ? "\n\n" : "\n";
    content += prefix;
    const offset = content.length;
    content += text + suffix;
    return { offset, length: text.length };
  };
  const resultPages: Record<string, unknown>[] = [];
  const paragraphs: Record<string, unknown>[] = [];
  let figureSpan: { offset: number; length: number } | undefined;
  PAGE_LINES.forEach((lines, i) => {
    const pageNumber = i + 1;
    if (pages && !pages.has(pageNumber)) return;
    const pageStart = content.length;
    const pageLines = lines.map((line, j) => {
      const isTitle = pageNumber === 1 && j === 0;
      const isFigure = layout && pageNumber === 2 && j === 0;
      if (isFigure) {
        const start = content.length + (content ? (markdown ? 2 : 1) : 0);
        const span = spanOf(line, markdown ? "<figure>\n\n" : "", markdown ? "\n\n</figure>" : "");
        figureSpan = { offset: start, length: content.length - start };
        return { content: line, polygon: box(1, 1 + j), spans: [span] };
      }
      const span = spanOf(line, markdown && isTitle ? "# " : "");
      paragraphs.push({
        ...(isTitle ? { role: "title" } : {}),
        content: line,
        boundingRegions: [{ pageNumber, polygon: box(1, 1 + j) }],
        spans: [span],
      });
      return { content: line, polygon: box(1, 1 + j), spans: [span] };
    });
    resultPages.push({
      pageNumber,
      angle: 0,
      width: 8.5,
      height: 11,
      unit: "inch",
      words: pageLines.flatMap((l) =>
        l.content.split(" ").map((w) => ({ content: w, polygon: l.polygon, confidence: 0.99, span: l.spans[0] }))
      ),
      lines: pageLines,
      spans: [{ offset: pageStart, length: content.length - pageStart }],
    });
  });
  const result: Record<string, unknown> = {
    apiVersion,
    modelId,
    stringIndexType: "utf16CodeUnit",
    contentFormat: markdown ? "markdown" : "text",
    content,
    pages: resultPages,
    paragraphs,
  };
  if (layout) {
    result.tables = [{
      rowCount: 2,
      columnCount: 2,
      cells: [
        { kind: "columnHeader", rowIndex: 0, columnIndex: 0, content: "Item", spans: [] },
        { kind: "columnHeader", rowIndex: 0, columnIndex: 1, content: "Amount", spans: [] },
        { rowIndex: 1, columnIndex: 0, content: "Consulting", spans: [] },
        { rowIndex: 1, columnIndex: 1, content: "$110.00", spans: [] },
      ],
      boundingRegions: [{ pageNumber: 1, polygon: box(1, 5) }],
      spans: [],
    }];
    if (features.includes("keyValuePairs")) {
      result.keyValuePairs = [
        { key: { content: "Invoice number:", spans: [] }, value: { content: "INV-100", spans: [] }, confidence: 0.9 },
        { key: { content: "Notes:", spans: [] }, confidence: 0.4 },
      ];
    }
    if (figureSpan) {
      result.figures = [{
        id: "2.1",
        boundingRegions: [{ pageNumber: 2, polygon: box(1, 1) }],
        spans: [figureSpan],
        elements: [],
        caption: { content: "Figure 1: Sales chart", boundingRegions: [], spans: [] },
      }];
    }
  }
  return result;
}

export async function startFakeDocumentIntelligence(
  options: FakeDocumentIntelligenceOptions = {},
): Promise<FakeDocumentIntelligence> {
  const operations = new Map<string, Operation>();
  const documents: Buffer[] = [];
  let endpoint = "";
  const state = { options };
  const route = (method: string, path: string) => {
    if (method === "POST" && /^\/documentintelligence\/documentModels\/[^/]+:analyze$/.test(path)) return "analyze";
    if (method === "GET" && /^\/documentintelligence\/documentModels\/[^/]+\/analyzeResults\/[^/]+$/.test(path)) {
      return "poll";
    }
    return undefined;
  };
  const handle = (name: string, req: ReceivedRequest) => {
    const o = state.options;
    if (o.key && req.headers["ocp-apim-subscription-key"] !== o.key) {
      return json(401, {
        error: {
          code: "401",
          message: "Access denied due to invalid subscription key or wrong API endpoint.",
        },
      });
    }
    const apiVersion = req.query.get("api-version") ?? "";
    if (apiVersion !== "2024-11-30") {
      return json(404, { error: { code: "404", message: "Resource not found" } });
    }
    if (name === "analyze") {
      const modelId = decodeURIComponent(/documentModels\/([^/]+):analyze$/.exec(req.path)![1]);
      if (!MODEL_ID.test(modelId)) return invalidArgument(`The parameter modelId is invalid: ${modelId}`);
      const pages = req.query.get("pages");
      if (pages !== null && !PAGES.test(pages)) return invalidArgument(`The parameter pages is invalid: ${pages}`);
      const features = (req.query.get("features") ?? "").split(",").map((f) => f.trim()).filter((f) => f);
      const unknown = features.find((f) => !FEATURES.includes(f));
      if (unknown) return invalidArgument(`The parameter features is invalid: ${unknown}`);
      let document = req.body;
      if (String(req.headers["content-type"]).startsWith("application/json")) {
        const parsed = JSON.parse(req.body.toString() || "{}");
        document = Buffer.from(parsed.base64Source ?? "", "base64");
      }
      if (document.length === 0) {
        return json(400, {
          error: {
            code: "InvalidRequest",
            message: "Invalid request.",
            innererror: { code: "InvalidContent", message: "The file is corrupted or format is unsupported." },
          },
        });
      }
      documents.push(document);
      const id = randomUUID();
      operations.set(id, {
        modelId,
        polls: 0,
        created: new Date().toISOString(),
        format: req.query.get("outputContentFormat") ?? "text",
        pages: pageSet(pages),
        features,
        apiVersion,
      });
      const headers: Record<string, string> = {
        "operation-location":
          `${endpoint}/documentintelligence/documentModels/${modelId}/analyzeResults/${id}?api-version=${apiVersion}`,
      };
      if (o.retryAfter) headers["retry-after"] = o.retryAfter;
      return { status: 202, headers };
    }
    const [, modelId, id] = /documentModels\/([^/]+)\/analyzeResults\/([^/]+)$/.exec(req.path)!;
    const op = operations.get(id);
    if (!op || op.modelId !== decodeURIComponent(modelId)) {
      return json(404, { error: { code: "NotFound", message: "Resource not found." } });
    }
    op.polls++;
    const base = { createdDateTime: op.created, lastUpdatedDateTime: new Date().toISOString() };
    if (o.outcome === "forever" || op.polls <= (o.runningPolls ?? 1)) {
      return json(200, { status: "running", ...base }, o.retryAfter ? { "retry-after": o.retryAfter } : {});
    }
    if (o.outcome === "failed") {
      return json(200, {
        status: "failed",
        ...base,
        error: o.failure ?? { code: "InternalServerError", message: "An unexpected error occurred." },
      });
    }
    return json(200, {
      status: "succeeded",
      ...base,
      analyzeResult: {
        ...layoutResult(op.modelId, op.format, op.apiVersion, op.pages, op.features),
        ...(o.resultPaddingBytes ? { padding: "x".repeat(o.resultPaddingBytes) } : {}),
      },
    });
  };
  const service = await startFakeService(route, handle);
  endpoint = service.endpoint;
  return Object.assign(service, state, { documents }) as FakeDocumentIntelligence;
}
