// A local stand-in for Azure AI Search's document indexing (Documents_Index of specification/search/data-plane/
// Azure.Search, example SearchIndexIndexDocuments.json): POST {endpoint}/indexes('{index}')/docs/search.index
// ?api-version=… (also /indexes/{index}/docs/index) with {value: [{"@search.action": upload|merge|mergeOrUpload|
// delete, <key>, …fields}]} → 200 when every document succeeded, 207 otherwise, with {value: [{key, status,
// errorMessage, statusCode}]} per document (201 created, 200 updated or deleted, 404 merge of a missing document).
// The key goes in the api-key header (403 otherwise, as the service does). Requests over 16 MB get 413; unknown
// fields, missing keys, keys the service refuses (anything but letters, digits, -, _ and =, a leading _, over 1,024
// characters) and values that do not fit the field's type in `schema` are a 400 for the whole batch, as in Azure.
// With a `schema`, GET /indexes('{index}') (Indexes_Get of searchservice.json) answers the index definition;
// `denyIndexRead` answers it 403 as for a data-only role. Per-document faults: `rejectKeys`.
import { type FakeService, type Fault, json, type ReceivedRequest, startFakeService } from "./fake-service.ts";

/** A field of the index definition (SearchField of the spec: name, type, key). */
export interface FakeSearchField {
  name: string;
  type: string;
  key?: boolean;
}

export interface FakeAiSearchOptions {
  key?: string;
  index?: string;
  keyField?: string;
  /** The index's fields (any field is accepted when unset and no schema is given). */
  fields?: string[];
  /** The index definition: field names, the key field and the types values are checked against. */
  schema?: FakeSearchField[];
  /** GET of the index definition answers 403 (a role that may write documents but not read the index). */
  denyIndexRead?: boolean;
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
const KEY_CHARS = /^[A-Za-z0-9_=-]+$/;

/** Whether a JSON value fits an EDM type as the service reads it (null fits any field). */
function fitsType(value: unknown, type: string): boolean {
  if (value === null) return true;
  const collection = /^Collection\((.+)\)$/.exec(type);
  if (collection) return Array.isArray(value) && value.every((v) => v !== null && fitsType(v, collection[1]));
  switch (type) {
    case "Edm.String":
      return typeof value === "string";
    case "Edm.Int32":
    case "Edm.Int64":
    case "Edm.Int16":
    case "Edm.SByte":
    case "Edm.Byte":
      return typeof value === "number" && Number.isInteger(value);
    case "Edm.Double":
    case "Edm.Single":
      return typeof value === "number" || value === "NaN" || value === "INF" || value === "-INF";
    case "Edm.Boolean":
      return typeof value === "boolean";
    case "Edm.DateTimeOffset":
      return typeof value === "string" && !Number.isNaN(Date.parse(value));
    case "Edm.ComplexType":
      return typeof value === "object" && !Array.isArray(value);
    default:
      return true;
  }
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return "StartArray";
  if (typeof value === "object" && value !== null) return "StartObject";
  return "PrimitiveValue";
}

const invalid = (details: string) =>
  json(400, { error: { code: "", message: `The request is invalid. Details: ${details}` } });

export async function startFakeAiSearch(options: FakeAiSearchOptions = {}): Promise<FakeAiSearch> {
  const documents = new Map<string, Record<string, unknown>>();
  const batches: Record<string, unknown>[][] = [];
  const state = { options };
  const route = (method: string, path: string) => {
    if (method === "GET" && /^\/indexes(\('[^']+'\)|\/[^/]+)$/.test(path)) return "definition";
    if (method !== "POST") return undefined;
    if (/^\/indexes\('[^']+'\)\/docs\/search\.index$/.test(path)) return "index";
    if (/^\/indexes\/[^/]+\/docs\/index$/.test(path)) return "index";
    return undefined;
  };
  const handle = (name: string, req: ReceivedRequest) => {
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
    if (name === "definition") {
      if (o.denyIndexRead || !o.schema) return json(403, { error: { code: "", message: "Authorization failed." } });
      return json(200, { name: index, fields: o.schema.map((f) => ({ key: false, ...f })) });
    }
    if (req.body.length > MAX_REQUEST_BYTES) {
      return json(413, { error: { code: "", message: "The request is too large." } });
    }
    const actions = (JSON.parse(req.body.toString()).value ?? []) as Record<string, unknown>[];
    batches.push(actions);
    const keyField = o.schema?.find((f) => f.key)?.name ?? o.keyField ?? "id";
    const fieldNames = o.schema?.map((f) => f.name) ?? o.fields;
    for (const [i, action] of actions.entries()) {
      const key = action[keyField];
      if (typeof key !== "string" || key === "") {
        return invalid(`actions : ${i}: Document key cannot be missing or empty.`);
      }
      if (!KEY_CHARS.test(key) || key.startsWith("_") || key.length > 1024) {
        return invalid(
          `Invalid document key: '${key}'. Keys can only contain letters, digits, underscore (_), dash (-), or equal sign (=).`,
        );
      }
      for (const [field, value] of Object.entries(action)) {
        const type = o.schema?.find((f) => f.name === field)?.type;
        if (type && !fitsType(value, type)) {
          return invalid(
            `parameters : An unexpected '${
              jsonKind(value)
            }' node was found for property named '${field}' when reading from the JSON reader. A value of type '${type}' was expected.`,
          );
        }
        if (field !== "@search.action" && fieldNames && !fieldNames.includes(field)) {
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
