// azure_blob_output: writes each item (or data[content_field]) as JSON, optionally gzip-compressed, to
// <container>/<path_template><filename_template>, and records summary_data.blob_output. Placeholders:
// {id.unique_id} {id.canonical_id} {id.filename} (any id field), {document_id}, any data / summary_data path,
// {timestamp} (YYYYMMDD_HHMMSS, UTC), {year} {month} {day} {date}, {executor_id}, {pipeline_name},
// {created_year|month|day} (from data.created_at). Missing values become "unknown"; "/" and "\" in values become "_".
import * as v from "valibot";
import { gzipSync } from "node:zlib";
import type { ExecutorDefinition, ExecutorDeps, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, stringListSetting, stringSetting } from "../settings.ts";
import { blobErrorMessage, blobServiceClient, connectionStringAccount } from "../blob-clients.ts";
import { storageAccountSetting } from "../storage-account.ts";

const fields = v.object({
  storage_account_name: v.optional(storageAccountSetting("storage_account_name")),
  credential_type: v.optional(
    choiceSetting("credential_type", ["default_azure_credential", "azure_key_credential"]),
    "default_azure_credential",
  ),
  credential_key: v.optional(stringSetting("credential_key")),
  container_name: v.pipe(stringSetting("container_name"), v.trim(), v.minLength(1, "container_name is required")),
  path_template: v.optional(stringSetting("path_template"), "{executor_id}/{year}/{month}/{day}/"),
  filename_template: v.optional(stringSetting("filename_template"), "{id.unique_id}_{timestamp}.json"),
  content_field: v.optional(stringSetting("content_field")),
  metadata_fields: v.optional(stringListSetting("metadata_fields")),
  compression: v.optional(
    v.pipe(
      stringSetting("compression"),
      v.trim(),
      v.toLowerCase(),
      v.check((c) => c !== "zip", "compression zip is not supported; use gzip"),
      v.picklist(["none", "gzip"], "compression must be gzip or none"),
    ),
    "none",
  ),
  overwrite_existing: v.optional(boolSetting("overwrite_existing"), true),
  add_timestamp: v.optional(boolSetting("add_timestamp"), true),
  pretty_print: v.optional(boolSetting("pretty_print"), true),
});
const settings = v.pipe(
  fields,
  v.check(
    (s) => s.credential_type !== "azure_key_credential" || !!s.credential_key,
    "credential_key is required when credential_type is azure_key_credential",
  ),
);
type Settings = v.InferOutput<typeof settings>;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function lookup(source: Record<string, unknown>, path: string): unknown {
  let cur: unknown = source;
  for (const key of path.split(".")) {
    if (!isRecord(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

const pad = (n: number) => String(n).padStart(2, "0");

export function templateValues(
  item: Content,
  executorId: string,
  pipelineName: string,
  now: Date,
): Record<string, unknown> {
  const values: Record<string, unknown> = {
    ...item.data,
    ...item.summary_data,
    id: { ...item.id },
    document_id: item.id.canonical_id || item.id.unique_id,
  };
  const date = `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())}`;
  Object.assign(values, {
    timestamp: `${date.replaceAll("-", "")}_${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${
      pad(now.getUTCSeconds())
    }`,
    year: String(now.getUTCFullYear()),
    month: pad(now.getUTCMonth() + 1),
    day: pad(now.getUTCDate()),
    date,
    executor_id: executorId,
    pipeline_name: pipelineName,
  });
  const created = typeof values.created_at === "string" ? new Date(values.created_at) : undefined;
  if (created && !Number.isNaN(created.getTime())) {
    Object.assign(values, {
      created_year: String(created.getUTCFullYear()),
      created_month: pad(created.getUTCMonth() + 1),
      created_day: pad(created.getUTCDate()),
    });
  }
  return values;
}

export function formatTemplate(template: string, values: Record<string, unknown>): string {
  return template.replace(/\{([^{}]+)\}/g, (_m, path: string) => {
    const value = lookup(values, path.trim());
    if (value === undefined || value === null) return "unknown";
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    const safe = text.replace(/[\\/]/g, "_");
    return safe === "." || safe === ".." ? "_" : safe;
  });
}

export function blobPath(pathPart: string, filename: string): string {
  const dir = pathPart.replace(/^\/+/, "");
  return dir === "" || dir.endsWith("/") ? dir + filename : `${dir}/${filename}`;
}

/** Blob metadata: names must be C# identifiers, values ASCII. */
function blobMetadata(item: Content, s: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  const source = { ...item.data, ...item.summary_data, id: { ...item.id } };
  for (const field of s.metadata_fields ?? []) {
    const value = lookup(source, field);
    if (value === undefined || value === null) continue;
    const name = field.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(\d)/, "_$1");
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    out[name] = /^[\x20-\x7e]*$/.test(text) ? text : encodeURIComponent(text);
  }
  if (s.add_timestamp) out.written_at = new Date().toISOString();
  return out;
}

function serialize(item: Content, s: Settings, logger: ExecutorRunContext["logger"]): Uint8Array {
  let payload: unknown = item;
  if (s.content_field) {
    payload = lookup(item.data ?? {}, s.content_field);
    if (payload === undefined) {
      logger.warn("content_field not found; writing {}", {
        content_field: s.content_field,
        canonical_id: item.id.canonical_id,
      });
      payload = {};
    }
  }
  const json = new TextEncoder().encode(JSON.stringify(payload, null, s.pretty_print ? 2 : undefined));
  return s.compression === "gzip" ? gzipSync(json) : json;
}

function resolveAccount(s: Settings, deps: ExecutorDeps): string {
  const account = s.storage_account_name || deps.config.BLOB_STORAGE_ACCOUNT_NAME ||
    connectionStringAccount(deps.config.BLOB_STORAGE_CONNECTION_STRING);
  if (!account) {
    throw new Error(
      "storage_account_name is required (or set BLOB_STORAGE_ACCOUNT_NAME / BLOB_STORAGE_CONNECTION_STRING)",
    );
  }
  return account;
}

export const azureBlobOutput: ExecutorDefinition<typeof settings> = {
  type: "azure_blob_output",
  category: "output",
  description: "Writes each content item as a JSON blob",
  settings,
  commonDefaults: { timeout_secs: 60 },
  create: (id, s, deps) => {
    const account = resolveAccount(s, deps);
    const accountKey = s.credential_type === "azure_key_credential" ? s.credential_key : undefined;
    return perItemExecutor(id, "azure_blob_output", async (item, ctx) => {
      const container = blobServiceClient(deps.config, { account, accountKey }).getContainerClient(s.container_name);
      const values = templateValues(item, id, ctx.pipelineName, new Date());
      let filename = formatTemplate(s.filename_template, values);
      if (s.compression === "gzip" && !filename.endsWith(".gz")) filename += ".gz";
      const path = blobPath(formatTemplate(s.path_template, values), filename);
      const body = serialize(item, s, ctx.logger);
      let response;
      try {
        response = await container.getBlockBlobClient(path).upload(body, body.byteLength, {
          blobHTTPHeaders: { blobContentType: s.compression === "gzip" ? "application/gzip" : "application/json" },
          metadata: blobMetadata(item, s),
          conditions: s.overwrite_existing ? undefined : { ifNoneMatch: "*" },
          abortSignal: ctx.signal,
        });
      } catch (err) {
        const e = err as { statusCode?: number; message?: string };
        if (e.statusCode === 409 && !s.overwrite_existing) {
          throw new Error(`blob ${s.container_name}/${path} already exists and overwrite_existing is false`);
        }
        if (ctx.signal.aborted) throw err;
        throw new Error(blobErrorMessage(err, `writing blob ${s.container_name}/${path}`));
      }
      return {
        ...item,
        summary_data: {
          ...item.summary_data,
          blob_output: {
            container: s.container_name,
            blob_path: path,
            blob_size: body.byteLength,
            blob_etag: response.etag ?? null,
            blob_last_modified: response.lastModified?.toISOString() ?? null,
            write_status: "success",
          },
        },
      };
    });
  },
};
