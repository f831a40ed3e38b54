// A local stand-in for Azure AI Search's document indexing (Documents_Index of specification/search/data-plane/
// Azure.Search, example SearchIndexIndexDocuments.json): POST {endpoint}/indexes('{index}')/docs/search.index
// ?api-version=… (also /indexes/{index}/docs/index) with {value: [{"@search.action": upload|merge|mergeOrUpload|
// delete, <key>, …fields}]} → 200 when every document succeeded, 207 otherwise, with {value: [{key, status,
// errorMessage, statusCode}]} per document (201 created, 200 updated or deleted, 404 merge of a missing document).
// The key goes in the api-key header (403 otherwise, as the service does). Requests over 16 MB get 413; unknown
// fields and missing keys 400 for the whole batch. Per-document faults: `rejectKeys`.
import { type FakeService, type Fault, json, type ReceivedRequest, startFakeService } from "./fake-service.ts";

export interface FakeAiSearchOptions {
  key?: string;
  index?: string;
  keyField?: string;
  /** The index's fields (any field is accepted when unset). */
  fields?: string[];
  /** Per-document rejections: key → status and message, for `times` requests (default: always). */
  rejectKeys?: Record<string, { statusCode: number; message: string; times?: number }>;
}

export interface FakeAiSearch extends FakeService {
  options: FakeAiSearchOptions;
  /** The index's documents by key. */
  documents: Map<string, Record<string, unknown>>;
  /** The actions of each index request, in order. */
  batches: Record<string, unknown>[][];
  fault(route: "index", ...faults: Fault[]): void;
}

const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export async function startFakeAiSearch(options: FakeAiSearchOptions = {}): Promise<FakeAiSearch> {
  const documents = new Map<string, Record<string, unknown>>();
  const batches: Record<string, unknown>[][] = [];
  const state = { options };
  const route = (method: string, path: string) => {
    if (method !== "POST") return undefined;
    if (/^\/indexes\('[^']+'\)\/docs\/search\.index$/.test(path)) return "index";
    if (/^\/indexes\/[^/]+\/docs\/index$/.test(path)) return "index";
    return undefined;
  };
  const handle = (_name: string, req: ReceivedRequest) => {
    const o = state.options;
    if (o.key && req.headers["api-key"] !== o.key) {
      return json(403, { error: { code: "", message: "Authorization failed." } });
    }
    const index = decodeURIComponent(/^\/indexes(?:\('([^']+)'\)|\/([^/]+))/.exec(req.path)!.slice(1).find(Boolean)!);
    if (o.index && index !== o.index) {
      return json(404, { error: { code: "", message: `The index '${index}' for service 'fake' was not found.` } });
    }
    if (!req.query.get("api-version")) {
      return json(400, {
        error: { code: "", message: "The api-version query parameter (?api-version=) is required." },
      });
    }
    if (req.body.length > MAX_REQUEST_BYTES) {
      return json(413, { error: { code: "", message: "The request is too large." } });
    }
    const actions = (JSON.parse(req.body.toString()).value ?? []) as Record<string, unknown>[];
    batches.push(actions);
    const keyField = o.keyField ?? "id";
    for (const [i, action] of actions.entries()) {
      const key = action[keyField];
      if (typeof key !== "string" || key === "") {
        return json(400, {
          error: {
            code: "",
            message: `The request is invalid. Details: actions : ${i}: Document key cannot be missing or empty.`,
          },
        });
      }
      for (const field of Object.keys(action)) {
        if (field !== "@search.action" && o.fields && !o.fields.includes(field)) {
          return json(400, {
            error: {
              code: "",
              message:
                `The request is invalid. Details: The property '${field}' does not exist on type 'search.documentFields'. Make sure to only use property names that are defined by the type.`,
            },
          });
        }
      }
    }
    const value = actions.map((action) => {
      const { "@search.action": kind = "upload", ...fields } = action;
      const key = String(fields[keyField]);
      const reject = o.rejectKeys?.[key];
      if (reject && (reject.times === undefined || reject.times > 0)) {
        if (reject.times !== undefined) reject.times--;
        return { key, status: false, errorMessage: reject.message, statusCode: reject.statusCode };
      }
      const existing = documents.get(key);
      if (kind === "delete") {
        documents.delete(key);
        return { key, status: true, errorMessage: null, statusCode: 200 };
      }
      if (kind === "merge" && !existing) {
        return { key, status: false, errorMessage: "Document not found.", statusCode: 404 };
      }
      const merged = kind === "upload" ? fields : { ...existing, ...fields };
      documents.set(key, merged);
      return { key, status: true, errorMessage: null, statusCode: existing ? 200 : 201 };
    });
    return json(value.every((r) => r.status) ? 200 : 207, { value });
  };
  const service = await startFakeService(route, handle);
  return Object.assign(service, state, { documents, batches }) as FakeAiSearch;
}
