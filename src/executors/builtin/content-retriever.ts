// content_retriever: reads the document an item points at, from a local file (id.source_type local_file, id.path)
// or a blob (azure_blob: account from blob_storage_account / id.source_name, container id.container or
// blob_container_name, id.path), into a temp file (data.temp_file_path) and/or data.content (text, or base64 with
// content_encoding: base64), and sets data.metadata {source, path, size, ...} as ContentFlow does. Local files are
// read only inside the temp directory or LOCAL_FILE_ROOTS; everything is limited to MAX_DOCUMENT_MB (or the
// lower max_file_size_mb). Temp files get unique names and are deleted when the pipeline run ends.
import * as v from "valibot";
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ExecutorDefinition, ExecutorDeps, ExecutorRunContext } from "../types.ts";
import type { Content, ContentIdentifier } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, stringSetting } from "../settings.ts";
import { readBlobBytes } from "../item-blob.ts";
import { storageAccountSetting } from "../storage-account.ts";
import { readableLocalFile, tempFolderSetting } from "../temp-files.ts";
import { DocumentError, formatBytes, maxDocumentBytes } from "../documents/limits.ts";

const settings = v.pipe(
  v.object({
    include_content_bytes_as_field: v.optional(boolSetting("include_content_bytes_as_field"), false),
    use_temp_file_for_content: v.optional(boolSetting("use_temp_file_for_content"), true),
    temp_folder: tempFolderSetting(),
    content_encoding: v.optional(choiceSetting("content_encoding", ["utf-8", "base64"]), "utf-8"),
    blob_storage_account: v.optional(storageAccountSetting("blob_storage_account")),
    blob_storage_account_credential_type: v.optional(
      choiceSetting("blob_storage_account_credential_type", ["default_azure_credential", "azure_key_credential"]),
      "default_azure_credential",
    ),
    blob_storage_account_key: v.optional(stringSetting("blob_storage_account_key")),
    blob_container_name: v.optional(stringSetting("blob_container_name"), "documents"),
    max_file_size_mb: v.optional(intSetting("max_file_size_mb", { min: 0, max: 4096 })),
  }),
  v.check(
    (s) => s.blob_storage_account_credential_type !== "azure_key_credential" || !!s.blob_storage_account_key,
    "blob_storage_account_key is required when blob_storage_account_credential_type is azure_key_credential",
  ),
);
type Settings = v.InferOutput<typeof settings>;

function tooLarge(what: string, size: number, max: number): DocumentError {
  return new DocumentError(`${what} is ${formatBytes(size)}, more than the limit of ${formatBytes(max)}`);
}

async function readLocal(id: ContentIdentifier, deps: ExecutorDeps, maxBytes: number) {
  if (!id.path) throw new Error("id.path is required for a local_file item");
  let real: string;
  try {
    real = await readableLocalFile(id.path, deps.config.LOCAL_FILE_ROOTS);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      throw new Error(`Local file '${id.path}' not found for document '${id.canonical_id}'`);
    }
    throw err;
  }
  const handle = await open(real, "r");
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`Local file '${id.path}' is not a regular file`);
    if (stat.size > maxBytes) throw tooLarge(`local file '${id.path}'`, stat.size, maxBytes);
    const bytes = Buffer.alloc(stat.size);
    let offset = 0;
    while (offset < stat.size) {
      const { bytesRead } = await handle.read(bytes, offset, stat.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    const metadata = { source: "local_file", path: id.path, size: stat.size, modified: stat.mtimeMs / 1000 };
    return { bytes: bytes.subarray(0, offset), metadata };
  } finally {
    await handle.close();
  }
}

async function readBlob(id: ContentIdentifier, s: Settings, deps: ExecutorDeps, ctx: ExecutorRunContext, max: number) {
  if (!id.path) throw new Error("id.path is required for an azure_blob item");
  const bytes = await readBlobBytes(deps.config, {
    account: s.blob_storage_account || id.source_name || undefined,
    container: id.container || s.blob_container_name,
    path: id.path,
  }, {
    maxBytes: max,
    limitSetting: "max_file_size_mb or MAX_DOCUMENT_MB",
    signal: ctx.signal,
    accountKey: s.blob_storage_account_credential_type === "azure_key_credential"
      ? s.blob_storage_account_key
      : undefined,
  });
  return { bytes, metadata: { source: "blob", container: id.container ?? null, path: id.path, size: bytes.length } };
}

function safeName(path: string): string {
  return path.replace(/[\\/]/g, "_").replace(/[^A-Za-z0-9._-]/g, "_").slice(-100) || "content";
}

async function retrieve(item: Content, s: Settings, deps: ExecutorDeps, ctx: ExecutorRunContext): Promise<Content> {
  const id = item.id;
  if (!id.canonical_id || !id.source_name) {
    throw new Error("Document identifier must have canonical_id and source_name");
  }
  const maxBytes = maxDocumentBytes(s.max_file_size_mb, deps.config.MAX_DOCUMENT_MB);
  let got: { bytes: Buffer; metadata: Record<string, unknown> };
  if (id.source_type === "local_file") got = await readLocal(id, deps, maxBytes);
  else if (id.source_type === "azure_blob") got = await readBlob(id, s, deps, ctx, maxBytes);
  else {
    throw new Error(`Unsupported source type: '${id.source_type ?? ""}'. Supported: 'local_file', 'azure_blob'`);
  }
  const data: Record<string, unknown> = { ...item.data };
  if (got.bytes.length > 0 && s.use_temp_file_for_content) {
    await mkdir(s.temp_folder, { recursive: true });
    const file = join(s.temp_folder, `${randomUUID()}_${safeName(id.path ?? "content")}`);
    ctx.deferCleanup?.(() => rm(file, { force: true }));
    await writeFile(file, got.bytes);
    data.temp_file_path = file;
  }
  if (s.include_content_bytes_as_field && got.bytes.length > 0) {
    data.content = s.content_encoding === "base64" ? got.bytes.toString("base64") : new TextDecoder().decode(got.bytes);
  }
  data.metadata = got.metadata;
  return { ...item, data };
}

export const contentRetriever: ExecutorDefinition<typeof settings> = {
  type: "content_retriever",
  category: "input",
  description: "Reads each item's local file or blob into a temp file and/or data.content, with data.metadata",
  settings,
  create: (id, s, deps) => perItemExecutor(id, "content_retriever", (item, ctx) => retrieve(item, s, deps, ctx)),
};
