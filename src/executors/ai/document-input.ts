// The document bytes an extractor sends, taken as ContentFlow does: data[content_field] when that setting is given
// and present (base64 text by default: the blob retriever's content_encoding base64), or the file named by
// data[temp_file_path_field] (only inside the temp directory); which one wins when both are there depends on the
// executor (`prefer`). Sizes are checked before anything is read.
import { readFile, stat } from "node:fs/promises";
import type { Content } from "../../model/content.ts";
import { readableTempFile } from "../temp-files.ts";

export interface DocumentInputSettings {
  content_field?: string;
  temp_file_path_field: string;
  content_encoding: "base64" | "utf-8";
  max_document_mb: number;
}

export interface DocumentInput {
  bytes: Uint8Array;
  /** "data.content" or the file path, for messages. */
  from: string;
}

function tooLarge(what: string, size: number, s: DocumentInputSettings): Error {
  return new Error(`${what} is ${size} bytes, more than max_document_mb (${s.max_document_mb} MB)`);
}

export async function readDocumentInput(
  item: Content,
  s: DocumentInputSettings,
  prefer: "content" | "file" = "content",
): Promise<DocumentInput> {
  const data = item.data ?? {};
  const path = data[s.temp_file_path_field];
  const hasFile = typeof path === "string" && path !== "";
  if (prefer === "file" && hasFile) return await readFileInput(path, s);
  if (s.content_field && data[s.content_field] !== undefined && data[s.content_field] !== null) {
    return contentInput(data[s.content_field], s);
  }
  if (hasFile) return await readFileInput(path, s);
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
  return { bytes, from: field };
}

async function readFileInput(path: string, s: DocumentInputSettings): Promise<DocumentInput> {
  const real = await readableTempFile(path);
  const { size } = await stat(real);
  if (size > s.max_document_mb * 1024 * 1024) throw tooLarge(`file ${path}`, size, s);
  if (size === 0) throw new Error(`file ${path} is empty`);
  return { bytes: new Uint8Array(await readFile(real)), from: path };
}
