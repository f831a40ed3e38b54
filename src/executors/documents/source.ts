// Where an extractor finds the document of a content item: bytes in data[content_field] (a Uint8Array, or base64
// text as content retrievers write with content_encoding: base64) or the file named by data[temp_file_path_field]
// (only inside the temp directory). The size limit is checked before anything is read into memory.
import { Buffer } from "node:buffer";
import { open } from "node:fs/promises";
import type { Content } from "../../model/content.ts";
import { readableTempFile } from "../temp-files.ts";
import { DocumentError, formatBytes } from "./limits.ts";

export interface DocumentSource {
  bytes: Uint8Array;
  /** How errors name the document: file name, else path, else canonical id. */
  name: string;
}

export interface SourceOptions {
  /** Undefined: only the temp file is used (pdf/word/powerpoint default, as in ContentFlow). */
  contentField?: string;
  tempFileField: string;
  maxBytes: number;
  /** "PDF", "Word document", … for messages. */
  kind: string;
}

export function documentName(item: Content): string {
  return item.id.filename || item.id.path || item.id.canonical_id;
}

/** Base64 with line breaks and up to two "=", tested on the text without its trailing whitespace: with the
 * whitespace in the pattern (`={0,2}\s*$`) a long run of line breaks took quadratic time to refuse. */
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}$/;

function bytesOf(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof value === "string" && value.length > 0 && BASE64.test(value.trimEnd())) {
    const compact = value.replace(/\s+/g, "");
    if (compact.length % 4 === 0) return new Uint8Array(Buffer.from(compact, "base64"));
  }
  return undefined;
}

async function readLimited(path: string, maxBytes: number, what: string): Promise<Uint8Array> {
  const handle = await open(await readableTempFile(path), "r");
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new DocumentError(`${what} is ${formatBytes(size)}, more than the limit of ${formatBytes(maxBytes)}`);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(bytes, offset, size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return offset === size ? bytes : bytes.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

export async function documentBytes(item: Content, opts: SourceOptions): Promise<DocumentSource> {
  const data = item.data ?? {};
  const name = documentName(item);
  const what = `${opts.kind} '${name}'`;
  if (opts.contentField !== undefined && Object.hasOwn(data, opts.contentField)) {
    const bytes = bytesOf(data[opts.contentField]);
    if (bytes) {
      if (bytes.byteLength > opts.maxBytes) {
        throw new DocumentError(
          `${what} is ${formatBytes(bytes.byteLength)}, more than the limit of ${formatBytes(opts.maxBytes)}`,
        );
      }
      return { bytes, name };
    }
  }
  const path = data[opts.tempFileField];
  if (typeof path === "string" && path !== "") {
    try {
      return { bytes: await readLimited(path, opts.maxBytes, what), name };
    } catch (err) {
      if (err instanceof DocumentError) throw err;
      const code = (err as { code?: string }).code;
      if (code === "ENOENT") throw new DocumentError(`${what}: temp file ${path} does not exist`);
      throw new DocumentError(`${what}: ${(err as Error).message}`);
    }
  }
  const fields = opts.contentField !== undefined
    ? `'${opts.contentField}' (bytes or base64 text) or '${opts.tempFileField}' (a file path)`
    : `'${opts.tempFileField}' (a file path)`;
  throw new DocumentError(`${opts.kind} missing required content for '${name}': data needs ${fields}`);
}
