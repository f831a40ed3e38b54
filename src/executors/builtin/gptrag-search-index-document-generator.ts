// gptrag_search_index_document_generator: turns each item's chunks (data[chunk_field], dotted paths allowed) or, when
// there are none, its whole text (data[content_field]) into Azure AI Search documents of the GPT-RAG index schema
// (id, parent_id, metadata_storage_*, chunk_id, content, page, offset, length, title, category, url, summary,
// relatedImages, relatedFiles, source, …) in data[output_field] (default search_documents), as ContentFlow does.
// No service is called: ai_search_index_output sends them.
import * as v from "valibot";
import { createHash } from "node:crypto";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, intSetting, stringSetting } from "../settings.ts";

const TYPE = "gptrag_search_index_document_generator";

const settings = v.object({
  chunk_field: v.optional(stringSetting("chunk_field"), "chunks"),
  content_field: v.optional(stringSetting("content_field"), "text"),
  max_chunk_size: v.optional(intSetting("max_chunk_size", { min: 1, max: 16 * 1024 * 1024 }), 32766),
  extract_title: v.optional(boolSetting("extract_title"), true),
  title_field: v.optional(stringSetting("title_field")),
  max_title_length: v.optional(intSetting("max_title_length", { min: 1, max: 10_000 }), 50),
  category_field: v.optional(stringSetting("category_field")),
  default_category: v.optional(stringSetting("default_category")),
  summary_field: v.optional(stringSetting("summary_field"), "summary"),
  source_value: v.optional(stringSetting("source_value")),
  related_images_field: v.optional(stringSetting("related_images_field")),
  related_files_field: v.optional(stringSetting("related_files_field")),
  id_prefix: v.optional(stringSetting("id_prefix")),
  parent_id_field: v.optional(stringSetting("parent_id_field")),
  url_field: v.optional(stringSetting("url_field")),
  output_field: v.optional(stringSetting("output_field"), "search_documents"),
  add_output_metadata: v.optional(boolSetting("add_output_metadata"), false),
});
type Settings = v.InferOutput<typeof settings>;

type Json = Record<string, unknown>;

function isRecord(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Dotted path into data; only own keys of objects. */
function nested(data: unknown, path: string | undefined): unknown {
  if (!path) return undefined;
  let current = data;
  for (const key of path.split(".")) {
    if (!isRecord(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** Python's truthiness for the values these fields hold. */
function truthy(x: unknown): boolean {
  if (x === undefined || x === null || x === false || x === 0 || x === "") return false;
  if (Array.isArray(x)) return x.length > 0;
  if (isRecord(x)) return Object.keys(x).length > 0;
  return true;
}

function text(x: unknown): string {
  if (typeof x === "string") return x;
  if (x === undefined || x === null) return "";
  return typeof x === "object" ? JSON.stringify(x) : String(x);
}

/** The first `maxBytes` bytes of the UTF-8 text, without a broken character at the end. */
export function truncateUtf8(value: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(value);
  if (bytes.byteLength <= maxBytes) return value;
  const cut = new TextDecoder().decode(bytes.subarray(0, maxBytes));
  // Trailing replacement characters dropped by a loop: /\uFFFD+$/ was quadratic on a long run of them.
  let end = cut.length;
  while (end > 0 && cut.charCodeAt(end - 1) === 0xfffd) end--;
  return cut.slice(0, end);
}

/** Python's str[:n] (code points, not UTF-16 units). */
function head(value: string, n: number): string {
  return Array.from(value).slice(0, n).join("");
}

/** Only [A-Za-z0-9_-] may stay in an AI Search key; runs of others become one "-", trimmed at the ends. */
function sanitizeKeyPart(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/-+/g, "-").replace(/^-+|-+$/g, "");
}

export function documentId(item: Content, chunkIndex: number, prefix?: string): string {
  let base = sanitizeKeyPart(item.id.canonical_id || item.id.path || "") || "doc";
  if (base.length > 128) base = `${base.slice(0, 64)}-${createHash("sha256").update(base).digest("hex")}`;
  return `${prefix ?? ""}${base}-c${String(chunkIndex).padStart(5, "0")}`;
}

function storagePath(item: Content): string {
  if (!item.id.container && !item.id.path) return "";
  return `/${item.id.container ?? ""}/${item.id.path ?? ""}`;
}

function title(item: Content, s: Settings): string | undefined {
  const fromField = nested(item.data, s.title_field);
  if (truthy(fromField)) return head(text(fromField), s.max_title_length);
  if (s.extract_title) {
    const content = nested(item.data, s.content_field);
    if (truthy(content)) {
      for (const line of text(content).split("\n")) {
        const trimmed = line.trim();
        if (trimmed.startsWith("# ")) return head(trimmed.slice(2).trim(), s.max_title_length);
      }
    }
  }
  if (item.id.filename) return head(item.id.filename.split(".")[0], s.max_title_length);
  return undefined;
}

function related(item: Content, chunk: Json, chunkKey: string, field: string | undefined): unknown {
  if (!field) return [];
  const fromChunk = chunk[chunkKey];
  if (truthy(fromChunk)) return fromChunk;
  const fromItem = nested(item.data, field);
  return truthy(fromItem) ? fromItem : [];
}

function searchDocument(item: Content, chunk: Json, chunkIndex: number, s: Settings): Json {
  const parent = nested(item.data, s.parent_id_field);
  const url = nested(item.data, s.url_field);
  const category = nested(item.data, s.category_field);
  const summary = nested(item.data, s.summary_field);
  const content = text(chunk[s.content_field]);
  const lastModified = item.id.metadata?.last_modified;
  return {
    id: documentId(item, chunkIndex, s.id_prefix),
    parent_id: truthy(parent) ? text(parent) : storagePath(item),
    metadata_storage_path: storagePath(item),
    metadata_storage_name: item.id.filename ?? "",
    metadata_storage_last_modified: lastModified ?? "",
    metadata_security_group_ids: [],
    metadata_security_user_ids: [],
    metadata_security_rbac_scope: [],
    chunk_id: chunkIndex,
    content,
    imageCaptions: "",
    page: "page_number" in chunk ? chunk.page_number : 0,
    offset: "offset" in chunk ? chunk.offset : 0,
    length: Array.from(content).length,
    title: title(item, s) ?? "",
    category: truthy(category) ? text(category) : s.default_category ?? "",
    filepath: storagePath(item),
    url: truthy(url) ? text(url) : item.id.canonical_id,
    summary: truthy(summary) ? text(summary) : "",
    relatedImages: related(item, chunk, "related_images", s.related_images_field),
    relatedFiles: related(item, chunk, "related_files", s.related_files_field),
    source: s.source_value || item.id.source_type || "",
  };
}

export function searchDocuments(item: Content, s: Settings, ctx?: ExecutorRunContext): Json[] {
  const chunks = nested(item.data, s.chunk_field);
  if (!Array.isArray(chunks) || chunks.length === 0) {
    const whole = truncateUtf8(text(nested(item.data, s.content_field)), s.max_chunk_size);
    return [searchDocument(item, { [s.content_field]: whole, chunk_index: 0 }, 0, s)];
  }
  let truncated = 0;
  const docs = chunks.map((chunk, i) => {
    if (!isRecord(chunk)) throw new Error(`${s.chunk_field}[${i}] is not an object`);
    const content = text(chunk[s.content_field]);
    const cut = truncateUtf8(content, s.max_chunk_size);
    if (cut !== content) truncated++;
    return searchDocument(item, { ...chunk, [s.content_field]: cut }, i, s);
  });
  if (truncated > 0) {
    ctx?.logger.warn("chunks truncated to max_chunk_size bytes", { truncated, max_chunk_size: s.max_chunk_size });
  }
  return docs;
}

export const gptragSearchIndexDocumentGenerator: ExecutorDefinition<typeof settings> = {
  type: TYPE,
  category: "transform",
  description: "Builds Azure AI Search documents of the GPT-RAG index schema from chunks or the whole text",
  settings,
  create: (id, s) =>
    perItemExecutor(id, TYPE, (item, ctx) => {
      const docs = searchDocuments(item, s, ctx);
      ctx.addLogDetails?.({ documents_generated: docs.length });
      const summary = s.add_output_metadata
        ? {
          ...item.summary_data,
          gptrag_search_index_documents: { documents_generated: docs.length, timestamp: new Date().toISOString() },
        }
        : item.summary_data;
      return Promise.resolve({ ...item, data: { ...item.data, [s.output_field]: docs }, summary_data: summary });
    }),
};
