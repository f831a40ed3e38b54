// ai_search_index_output: writes search documents to an Azure AI Search index through @azure/search-documents.
// index_mode chunks (default): one document per entry of data[chunk_iterator_field]; otherwise one document per
// item. Fields come from content_to_index_mappings (source path → index field), looked up first in the item (its id
// {unique_id, canonical_id, filename}, data and summary_data merged) and then in the chunk ("chunk." prefixes are
// dropped), as ContentFlow does. Batches of batch_size (and under the 16 MB request limit) are sent with
// index_action_type; documents the service rejects with a retryable status (409, 422, 503) are sent again up to
// max_retries times, others fail the item with their keys and messages. Summary: indexed_count, index_status.
// Before the first batch the index definition is read once (GET /indexes('{index}'); a role that may only write
// documents gets 403, and then the documents go as mapped): with it, the key field is the index's, objects and lists
// bound for Edm.String fields are sent as JSON text, values that cannot fit their field's type fail the item naming
// document and field, and indexed_at is added only when the index has it. Keys the service refuses (anything but
// letters, digits, -, _ and =, or a leading _) are sent URL-safe base64 encoded (ContentFlow sends them raw, which
// Azure refuses for the whole batch).
import * as v from "valibot";
import { Buffer } from "node:buffer";
import type { IndexDocumentsAction, SearchClient } from "@azure/search-documents";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, mapSetting, numberSetting, stringSetting } from "../settings.ts";
import { endpointSetting } from "../ai/endpoint-setting.ts";
import { servicePipelineOptions } from "../ai/service-pipeline.ts";
import { checkTokenTarget, sdkCredential, type TokenTarget } from "../ai/credentials.ts";
import { sleepOrAbort } from "../../util/sleep.ts";
import { AiServiceError } from "../ai/service-error.ts";
import { itemFailure } from "../ai/executor-errors.ts";
import { assertOutboundUrl, checkOutboundUrl, outboundPolicy } from "../../net/outbound.ts";
import { serviceErrorText } from "../../util/errors.ts";

const TYPE = "ai_search_index_output";
const SERVICE = "AI Search";
/** AI Search refuses index requests over 16 MB; batches stay under this. */
export const MAX_BATCH_BYTES = 15 * 1024 * 1024;
/** Per-document statuses worth another try (the service's documentation: conflicts, throttling, unavailable). */
const RETRYABLE_DOCUMENT_STATUSES = new Set([409, 422, 429, 503]);

const settings = v.pipe(
  v.object({
    ai_search_account: v.optional(
      v.pipe(
        stringSetting("ai_search_account"),
        v.trim(),
        v.regex(/^[a-z0-9][a-z0-9-]{0,59}$/, "ai_search_account must be a search service name (a-z, 0-9, -)"),
      ),
    ),
    ai_search_credential_type: v.optional(
      choiceSetting("ai_search_credential_type", ["default_azure_credential", "azure_key_credential"]),
      "default_azure_credential",
    ),
    ai_search_api_key: v.optional(stringSetting("ai_search_api_key")),
    ai_search_api_version: v.optional(
      v.pipe(stringSetting("ai_search_api_version"), v.trim(), v.regex(/^[\w.-]+$/, "not an API version")),
      "2024-07-01",
    ),
    ai_search_index: v.pipe(
      stringSetting("ai_search_index"),
      v.trim(),
      v.regex(/^[a-z0-9][a-z0-9-]{0,127}$/, "ai_search_index must be an index name (a-z, 0-9, -)"),
    ),
    index_mode: v.optional(choiceSetting("index_mode", ["chunks", "document", "documents"]), "chunks"),
    chunk_iterator_field: v.optional(stringSetting("chunk_iterator_field"), "chunks"),
    content_to_index_mappings: mapSetting(
      "content_to_index_mappings",
      v.pipe(v.string("content_to_index_mappings values must be index field names"), v.minLength(1)),
    ),
    index_action_type: v.optional(
      v.picklist(
        ["upload", "merge", "mergeOrUpload", "delete"],
        "index_action_type must be one of: upload, merge, mergeOrUpload, delete",
      ),
      "mergeOrUpload",
    ),
    batch_size: v.optional(intSetting("batch_size", { min: 1, max: 1000 }), 100),
    add_timestamp: v.optional(boolSetting("add_timestamp"), true),
    max_retries: v.optional(intSetting("max_retries", { min: 1, max: 10 }), 3),
    retry_delay: v.optional(numberSetting("retry_delay", { min: 0, max: 300 }), 1.0),
    // Settings of this port (not in the ContentFlow catalog).
    ai_search_endpoint: v.optional(endpointSetting("ai_search_endpoint", "AZURE_AI_SEARCH_ENDPOINT")),
    request_timeout_secs: v.optional(intSetting("request_timeout_secs", { min: 1, max: 3600 }), 60),
  }),
  v.check(
    (s) => s.ai_search_account !== undefined || s.ai_search_endpoint !== undefined,
    "ai_search_account (or ai_search_endpoint) is required",
  ),
  v.check(
    (s) => s.ai_search_credential_type !== "azure_key_credential" || !!s.ai_search_api_key,
    "ai_search_api_key must be set when ai_search_credential_type is azure_key_credential",
  ),
);
type Settings = v.InferOutput<typeof settings>;
type Doc = Record<string, unknown>;

function isRecord(x: unknown): x is Doc {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** ContentFlow's _get_nested_value: "chunk." is removed from the path, then a dotted walk through objects. */
function nestedValue(data: unknown, path: string): unknown {
  let current = data;
  for (const key of path.replaceAll("chunk.", "").split(".")) {
    if (!isRecord(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

function applyMappings(source: unknown, mappings: Record<string, string>, target: Doc): void {
  for (const [from, to] of Object.entries(mappings)) {
    const value = nestedValue(source, from);
    if (value !== undefined && value !== null) target[to] = value;
  }
}

/** The item as the mappings see it: its id's names, then data, then summary_data (later keys win). */
function itemSource(item: Content): Doc {
  return {
    id: { unique_id: item.id.unique_id, canonical_id: item.id.canonical_id, filename: item.id.filename ?? null },
    ...item.data,
    ...item.summary_data,
  };
}

/** The parts of an index definition this executor uses (SearchField: name, type, key). */
export interface IndexDefinition {
  keyField: string;
  types: Map<string, string>;
}

const KEY_CHARS = /^[A-Za-z0-9_=-]+$/;
const MAX_KEY_CHARS = 1024;

/**
 * A document key the service accepts: a valid key as it is, anything else (a blob URL, a path) as URL-safe base64
 * without padding, which keeps it unique and reversible. Keys still too long or starting with "_" are refused.
 */
export function searchKey(value: unknown): string {
  const raw = typeof value === "number" || typeof value === "bigint" ? String(value) : value;
  if (typeof raw !== "string" || raw === "") throw new AiServiceError("the document key is missing or not a string");
  const key = KEY_CHARS.test(raw) && !raw.startsWith("_") ? raw : Buffer.from(raw, "utf8").toString("base64url");
  if (key.startsWith("_") || key.length > MAX_KEY_CHARS) {
    throw new AiServiceError(
      `the document key ${JSON.stringify(raw.slice(0, 80))} cannot be made a search key ` +
        `(at most ${MAX_KEY_CHARS} letters, digits, -, _ or =, not starting with _)`,
    );
  }
  return key;
}

/** Whether a JSON value fits an EDM type as the service reads it (null fits any field). */
function fitsType(value: unknown, type: string): boolean {
  if (value === null) return true;
  const collection = /^Collection\((.+)\)$/.exec(type);
  if (collection) return Array.isArray(value) && value.every((x) => x !== null && fitsType(x, collection[1]));
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
    case "Edm.Half":
      return typeof value === "number";
    case "Edm.Boolean":
      return typeof value === "boolean";
    case "Edm.DateTimeOffset":
      return typeof value === "string" && !Number.isNaN(Date.parse(value));
    case "Edm.ComplexType":
      return isRecord(value);
    default:
      return true;
  }
}

const jsonText = (x: unknown) => (typeof x === "object" && x !== null ? JSON.stringify(x) : x);

/**
 * A mapped document made to fit the index: the key made a valid search key, objects and lists bound for Edm.String
 * (or items bound for Collection(Edm.String)) turned into JSON text, "" bound for other scalar types sent as null. A value that still cannot fit its field is an
 * error naming the field, the type and what the value is.
 */
export function fitDocument(doc: Doc, keyField: string, index?: IndexDefinition): Doc {
  const out: Doc = { ...doc };
  if (Object.hasOwn(out, keyField)) out[keyField] = searchKey(out[keyField]);
  if (!index) return out;
  for (const [field, value] of Object.entries(out)) {
    const type = index.types.get(field);
    if (!type) continue;
    let fitted = value;
    if (type === "Edm.String") fitted = jsonText(value);
    if (type === "Collection(Edm.String)" && Array.isArray(value)) fitted = value.map(jsonText);
    // "" is no value for a date or number field (the generator's unknown metadata_storage_last_modified, as in
    // ContentFlow); Azure refuses it for the whole batch, so it goes as null.
    if (value === "" && type !== "Edm.String" && !type.startsWith("Collection(")) fitted = null;
    if (!fitsType(fitted, type)) {
      const kind = Array.isArray(value)
        ? "a list"
        : value === null
        ? "null"
        : typeof value === "object"
        ? "an object"
        : `a ${typeof value}`;
      throw new AiServiceError(
        `document ${JSON.stringify(String(out[keyField] ?? "?"))}: field '${field}' is ${type} in the index, ` +
          `the mapped value is ${kind}`,
      );
    }
    out[field] = fitted;
  }
  return out;
}

export function indexDocuments(item: Content, s: Settings, index?: IndexDefinition): Doc[] {
  const source = itemSource(item);
  if (s.index_mode === "chunks") {
    const chunks = nestedValue(item.data, s.chunk_iterator_field);
    if (!Array.isArray(chunks)) return [];
    return chunks.filter(isRecord).map((chunk) => {
      const doc: Doc = {};
      applyMappings(source, s.content_to_index_mappings, doc);
      applyMappings(chunk, s.content_to_index_mappings, doc);
      return doc;
    });
  }
  const doc: Doc = {};
  applyMappings(source, s.content_to_index_mappings, doc);
  if (s.add_timestamp && (!index || index.types.has("indexed_at"))) doc.indexed_at = new Date().toISOString();
  return [doc];
}

/** Splits documents into batches of at most `size` documents and MAX_BATCH_BYTES of JSON. */
export function batches(docs: Doc[], size: number, maxBytes = MAX_BATCH_BYTES): Doc[][] {
  const out: Doc[][] = [];
  let current: Doc[] = [];
  let bytes = 0;
  for (const [i, doc] of docs.entries()) {
    const docBytes = new TextEncoder().encode(JSON.stringify(doc)).byteLength + 40;
    if (docBytes > maxBytes) {
      throw new Error(`search document ${i} is ${docBytes} bytes of JSON, over the request limit`);
    }
    if (current.length >= size || bytes + docBytes > maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(doc);
    bytes += docBytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

async function indexBatch(
  client: SearchClient<Doc>,
  docs: Doc[],
  s: Settings,
  keyField: string,
  ctx: ExecutorRunContext,
): Promise<number> {
  let pending = docs;
  for (let attempt = 1;; attempt++) {
    const { IndexDocumentsBatch } = await import("@azure/search-documents");
    const batch = new IndexDocumentsBatch<Doc>(
      pending.map((doc) => ({ __actionType: s.index_action_type, ...doc }) as IndexDocumentsAction<Doc>),
    );
    let results;
    try {
      results = (await client.indexDocuments(batch, { abortSignal: ctx.signal })).results;
    } catch (err) {
      if (ctx.signal.aborted || err instanceof AiServiceError) throw err;
      throw new AiServiceError(`${SERVICE} index ${s.ai_search_index}: ${serviceErrorText(err)}`);
    }
    const failedKeys = new Map(results.filter((r) => !r.succeeded).map((r) => [r.key, r]));
    if (failedKeys.size === 0) return docs.length;
    const retryable = [...failedKeys.values()].every((r) => RETRYABLE_DOCUMENT_STATUSES.has(r.statusCode));
    if (!retryable || attempt >= s.max_retries) {
      const sample = [...failedKeys.values()].slice(0, 3)
        .map((r) => `${r.key} (${r.statusCode}${r.errorMessage ? `: ${r.errorMessage}` : ""})`).join(", ");
      throw new AiServiceError(
        `${SERVICE} index ${s.ai_search_index}: ${failedKeys.size} of ${pending.length} documents rejected: ${sample}` +
          (attempt > 1 ? ` (after ${attempt} attempts)` : ""),
      );
    }
    pending = pending.filter((doc) => failedKeys.has(String(doc[keyField])));
    if (pending.length === 0) {
      throw new AiServiceError(`${SERVICE} index ${s.ai_search_index}: rejected keys not found among the documents`);
    }
    ctx.logger.warn("some search documents were rejected; sending them again", {
      rejected: failedKeys.size,
      attempt,
    });
    await sleepOrAbort(s.retry_delay * 1000, ctx.signal);
  }
}

/** The index's key field for matching per-document results: the target of a mapping named "id", else "id". */
function keyFieldOf(s: Settings): string {
  return s.content_to_index_mappings["id"] ?? s.content_to_index_mappings["chunk.id"] ?? "id";
}

export const aiSearchIndexOutput: ExecutorDefinition<typeof settings> = {
  type: TYPE,
  category: "output",
  description: "Indexes documents or chunks into an Azure AI Search index",
  settings,
  create: (id, s, deps) => {
    const endpoint = s.ai_search_endpoint ?? `https://${s.ai_search_account}.search.windows.net`;
    const policy = outboundPolicy(deps.config);
    checkOutboundUrl(endpoint, policy);
    const tokenTarget: TokenTarget = {
      endpoint,
      service: "ai_search",
      setting: s.ai_search_endpoint !== undefined ? "ai_search_endpoint" : "ai_search_account",
      config: deps.config,
    };
    if (!s.ai_search_api_key) checkTokenTarget(tokenTarget);
    // The SDK is loaded when the first document is indexed, not with every worker; the settings are checked now.
    const clientOptions = (endpoint: string) => ({
      serviceVersion: s.ai_search_api_version,
      apiVersion: s.ai_search_api_version,
      allowInsecureConnection: endpoint.startsWith("http:"),
      ...servicePipelineOptions({
        service: SERVICE,
        namespace: "Microsoft.Search",
        retry: {
          maxRetries: s.max_retries - 1,
          initialDelayMs: s.retry_delay * 1000,
          factor: 2,
          maxDelayMs: deps.config.AI_MAX_RETRY_DELAY_SECONDS * 1000,
        },
        callsPerEndpoint: deps.config.AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT,
        requestTimeoutMs: s.request_timeout_secs * 1000,
        maxResponseBytes: 16 * 1024 * 1024,
      }),
    });
    const makeClient = (sdk: typeof import("@azure/search-documents")) =>
      new sdk.SearchClient<Doc>(
        endpoint,
        s.ai_search_index,
        sdkCredential(s.ai_search_api_key, tokenTarget),
        clientOptions(endpoint),
      );
    // The index definition, read once: a refusal (401/403: a role that may write documents only, 404) is remembered
    // and the documents go as mapped; other failures are tried again with the next item.
    let definition: Promise<IndexDefinition | undefined> | undefined;
    const indexDefinition = (ctx: ExecutorRunContext) => {
      definition ??= import("@azure/search-documents").then(async (sdk) => {
        const client = new sdk.SearchIndexClient(
          endpoint,
          sdkCredential(s.ai_search_api_key, tokenTarget),
          clientOptions(endpoint),
        );
        try {
          const index = await client.getIndex(s.ai_search_index, { abortSignal: ctx.signal });
          const types = new Map(index.fields.map((f) => [f.name, String(f.type)]));
          const key = index.fields.find((f) => "key" in f && f.key)?.name;
          return { keyField: key ?? keyFieldOf(s), types };
        } catch (err) {
          const status = (err as { statusCode?: number }).statusCode;
          ctx.logger.warn("the search index definition could not be read; documents go as mapped", {
            index: s.ai_search_index,
            error: serviceErrorText(err),
          });
          if (status === undefined || ![401, 403, 404].includes(status)) definition = undefined;
          return undefined;
        }
      });
      return definition;
    };
    let clientLoading: Promise<SearchClient<Doc>> | undefined;
    const searchClient = () => {
      clientLoading ??= import("@azure/search-documents").then(makeClient);
      clientLoading.catch(() => (clientLoading = undefined));
      return clientLoading;
    };
    return perItemExecutor(id, TYPE, async (item, ctx) => {
      try {
        const mapped = indexDocuments(item, s);
        if (mapped.length > 0) await assertOutboundUrl(endpoint, policy);
        const index = mapped.length > 0 ? await indexDefinition(ctx) : undefined;
        const keyField = index?.keyField ?? keyFieldOf(s);
        const docs = (index ? indexDocuments(item, s, index) : mapped).map((doc) => fitDocument(doc, keyField, index));
        if (docs.length === 0) {
          ctx.logger.warn("no chunks to index", { field: s.chunk_iterator_field, item: item.id.canonical_id });
        }
        let indexed = 0;
        const parts = batches(docs, s.batch_size);
        const client = parts.length > 0 ? await searchClient() : undefined;
        for (const part of parts) indexed += await indexBatch(client!, part, s, keyField, ctx);
        ctx.addLogDetails?.({ indexed_count: indexed, batches: parts.length });
        return {
          ...item,
          summary_data: { ...item.summary_data, indexed_count: indexed, index_status: "success" },
        };
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw itemFailure(TYPE, id, item, err);
      }
    });
  },
};
