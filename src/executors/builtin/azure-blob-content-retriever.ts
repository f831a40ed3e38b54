// azure_blob_content_retriever: downloads the blob an item points at (id.source_name = account, id.container,
// id.path; source_type azure_blob) into a temp file (data.temp_file_path) and/or into data.content as text
// (UTF-8, or base64 with content_encoding: base64). Temp files get unique names and are deleted when the pipeline
// run ends (ContentFlow never deleted them and names could collide). The blob is read by item-blob.ts, at most
// MAX_DOCUMENT_MB; accounts resolve through blob-clients.ts, so BLOB_STORAGE_CONNECTION_STRING (Azurite) and shared
// keys work, not only Azure AD.
import * as v from "valibot";
import { randomUUID } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ExecutorDefinition, ExecutorDeps, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, stringSetting } from "../settings.ts";
import { itemBlobAccount, readBlobBytes } from "../item-blob.ts";
import { tempFolderSetting } from "../temp-files.ts";
import { maxDocumentBytes } from "../documents/limits.ts";

const settings = v.object({
  include_content_bytes_as_field: v.optional(boolSetting("include_content_bytes_as_field"), false),
  use_temp_file_for_content: v.optional(boolSetting("use_temp_file_for_content"), true),
  temp_folder: tempFolderSetting(),
  content_encoding: v.optional(choiceSetting("content_encoding", ["utf-8", "base64"]), "utf-8"),
  blob_storage_account_key: v.optional(stringSetting("blob_storage_account_key")),
});
type Settings = v.InferOutput<typeof settings>;

function safeName(path: string): string {
  const base = path.split(/[\\/]/).pop() || "blob";
  return base.replace(/[^A-Za-z0-9._-]/g, "_").slice(-100);
}

async function retrieve(item: Content, s: Settings, deps: ExecutorDeps, ctx: ExecutorRunContext): Promise<Content> {
  if (item.id.source_type !== "azure_blob") {
    throw new Error(`unsupported source type '${item.id.source_type ?? ""}' (only azure_blob)`);
  }
  if (!item.id.container || !item.id.path) throw new Error("id.container and id.path are required to download a blob");
  const account = itemBlobAccount(item);
  if (!account) {
    throw new Error("cannot tell the storage account: id.source_name is empty and id.canonical_id is not a blob URL");
  }
  // At most MAX_DOCUMENT_MB: a larger blob fails this item instead of filling the memory.
  const bytes = await readBlobBytes(deps.config, { account, container: item.id.container, path: item.id.path }, {
    maxBytes: maxDocumentBytes(undefined, deps.config.MAX_DOCUMENT_MB),
    limitSetting: "MAX_DOCUMENT_MB",
    signal: ctx.signal,
    accountKey: s.blob_storage_account_key,
  });
  const data: Record<string, unknown> = { ...item.data };
  if (s.use_temp_file_for_content) {
    await mkdir(s.temp_folder, { recursive: true });
    const file = join(s.temp_folder, `${randomUUID()}_${safeName(item.id.path)}`);
    ctx.deferCleanup?.(() => rm(file, { force: true }));
    await writeFile(file, bytes);
    data.temp_file_path = file;
  }
  if (s.include_content_bytes_as_field) {
    data.content = s.content_encoding === "base64" ? bytes.toString("base64") : new TextDecoder().decode(bytes);
  }
  return { ...item, data };
}

export const azureBlobContentRetriever: ExecutorDefinition<typeof settings> = {
  type: "azure_blob_content_retriever",
  category: "input",
  description: "Downloads each item's blob into a temp file and/or data.content",
  settings,
  dataFields: { writes: [{ path: "temp_file_path" }, { path: "content" }] },
  create: (id, s, deps) =>
    perItemExecutor(id, "azure_blob_content_retriever", (item, ctx) => retrieve(item, s, deps, ctx)),
};
