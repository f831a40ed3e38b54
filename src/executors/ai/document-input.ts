// The document bytes an extractor sends, taken as ContentFlow does: data[content_field] when that setting is given
// and present (base64 text by default: the blob retriever's content_encoding base64), or the file named by
// data[temp_file_path_field] (only inside the temp directory); which one wins when both are there depends on the
// executor (`prefer`). When the item has neither and the caller allows it (`blobAccess`), the blob the item
// points at (azure_blob_input_discovery's id fields) is read instead: ContentFlow's extractors fail such an item,
// which is what the web UI's templates without a content retriever give them. Sizes are checked before anything is
// read.
import { readFile, stat } from "node:fs/promises";
import type { Content } from "../../model/content.ts";
import type { Config } from "../../config/schema.ts";
import { readableTempFile } from "../temp-files.ts";
import { type BlobLocation, blobName, discoveredBlob, readBlobBytes } from "../item-blob.ts";
import { maxDocumentBytes } from "../documents/limits.ts";

export interface DocumentInputSettings {
  content_field?: string;
  temp_file_path_field: string;
  content_encoding: "base64" | "utf-8";
  max_document_mb: number;
}

export interface DocumentInput {
  bytes: Uint8Array;
  /** "data.content", the file path or "blob <container>/<path>", for messages. */
  from: string;
  /** Where the bytes came from: the content field, the temp file, or the item's blob (read here). */
  source: "content" | "file" | "blob";
}

/** What reading the item's blob needs: the worker's configuration (credentials, MAX_DOCUMENT_MB) and the abort. */
export interface DiscoveredBlobAccess {
  config: Config;
  signal: AbortSignal;
}

function tooLarge(what: string, size: number, s: DocumentInputSettings): Error {
  return new Error(`${what} is ${size} bytes, more than max_document_mb (${s.max_document_mb} MB)`);
}

export async function readDocumentInput(
  item: Content,
  s: DocumentInputSettings,
  prefer: "content" | "file" = "content",
  blobAccess?: DiscoveredBlobAccess,
): Promise<DocumentInput> {
  const data = item.data ?? {};
  const path = data[s.temp_file_path_field];
  const hasFile = typeof path === "string" && path !== "";
  if (prefer === "file" && hasFile) return await readFileInput(path, s);
  if (s.content_field && data[s.content_field] !== undefined && data[s.content_field] !== null) {
    return contentInput(data[s.content_field], s);
  }
  if (hasFile) return await readFileInput(path, s);
  const blob = blobAccess && discoveredBlob(item);
  if (blobAccess && blob) return await readBlobInput(blob, s, blobAccess);
  const fields = [s.content_field && `'${s.content_field}'`, `'${s.temp_file_path_field}'`].filter(Boolean);
  throw new Error(`document missing: data needs ${fields.join(" or ")}`);
}

function contentInput(value: unknown, s: DocumentInputSettings): DocumentInput {
  const field = `data.${s.content_field}`;
  if (typeof value !== "string") {
    throw new Error(`${field} must be a string (${s.content_encoding}), not ${typeof value}`);
  }
  const estimated = s.content_encoding === "base64" ? Math.floor(value.length * 3 / 4) : value.length;
  if (estimated > s.max_document_mb * 1024 * 1024) throw tooLarge(field, estimated, s);
  let bytes: Uint8Array;
  if (s.content_encoding === "base64") {
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value.replace(/\s+/g, ""))) {
      throw new Error(`${field} is not base64 (set content_encoding: utf-8 for text)`);
    }
    bytes = Buffer.from(value, "base64");
  } else {
    bytes = new TextEncoder().encode(value);
  }
  if (bytes.byteLength === 0) throw new Error(`${field} is empty`);
  return { bytes, from: field, source: "content" };
}

async function readFileInput(path: string, s: DocumentInputSettings): Promise<DocumentInput> {
  const real = await readableTempFile(path);
  const { size } = await stat(real);
  if (size > s.max_document_mb * 1024 * 1024) throw tooLarge(`file ${path}`, size, s);
  if (size === 0) throw new Error(`file ${path} is empty`);
  return { bytes: new Uint8Array(await readFile(real)), from: path, source: "file" };
}

/** The blob's bytes, at most the lower of max_document_mb and the worker's MAX_DOCUMENT_MB. */
async function readBlobInput(
  at: BlobLocation,
  s: DocumentInputSettings,
  access: DiscoveredBlobAccess,
): Promise<DocumentInput> {
  const workerMb = access.config.MAX_DOCUMENT_MB;
  const bytes = await readBlobBytes(access.config, at, {
    maxBytes: maxDocumentBytes(s.max_document_mb, workerMb),
    limitSetting: s.max_document_mb < workerMb ? "max_document_mb" : "MAX_DOCUMENT_MB",
    signal: access.signal,
  });
  if (bytes.byteLength === 0) throw new Error(`${blobName(at)} is empty`);
  return {
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    from: blobName(at),
    source: "blob",
  };
}
