// azure_blob_input_discovery: lists blobs of one container and emits one Content per blob, with the
// same settings, filters and content fields as ContentFlow's executor of that name.
// Differences from the Python executor, all deliberate: file_extensions may be a YAML list and is trimmed;
// numbers and booleans may be strings (after ${ENV} substitution); the account may come from
// BLOB_STORAGE_CONNECTION_STRING (Azurite) — see blob-clients.ts; `last_modified` is written as ISO UTC with Z.
import * as v from "valibot";
import { createHash } from "node:crypto";
import type { BlobItem } from "@azure/storage-blob";
import type { Content } from "../../model/content.ts";
import type {
  CrawlBatch,
  CrawlOptions,
  ExecutorDefinition,
  ExecutorDeps,
  ExecutorRunContext,
  InputExecutorInstance,
} from "../types.ts";
import { blobServiceClient, connectionStringAccount } from "../blob-clients.ts";
import { isStorageAccountName, notAnAccountName } from "../storage-account.ts";
import { boolSetting, intSetting } from "../settings.ts";

export const AZURE_BLOB_INPUT_DISCOVERY = "azure_blob_input_discovery";

/**
 * Blobs asked for per list call, whatever batch_size is: batch_size only groups the listed blobs into task
 * messages. Listing batch_size (100) per call made a crawl of a large container wait on a list call every 100
 * blobs. 2,500, half the service's maximum, from the crawl benchmark (BENCHMARKS.md, fourth round): at 200,000 blobs
 * 1,000 per call crawled at 0.74 of a bare loop listing 5,000 per call, 2,500 at 0.97 and 5,000 at 1.11 (the
 * emulator sorts the rest of the container on each call, so fewer calls weigh less), while the worker's peak memory
 * was 276, 324 and 450 MiB: the runtime keeps the garbage of parsing a listing response (its XML, the parsed blobs)
 * for a while, and a 5,000-blob response leaves twice as much as a 2,500-blob one.
 */
export const LIST_PAGE_SIZE = 2500;

/** Missing and null (an empty YAML value) both become "". */
function optionalText(name: string) {
  return v.pipe(v.nullish(v.string(`${name} must be a string`), ""), v.trim());
}

/** ".pdf, DOCX" or [".pdf", "docx"] → [".pdf", ".docx"]. */
const fileExtensions = v.pipe(
  v.nullish(
    v.union([v.string(), v.array(v.string())], "file_extensions must be a comma-separated string or a list"),
    "",
  ),
  v.transform((value) => {
    const parts = Array.isArray(value) ? value : value.split(",");
    return parts
      .map((p) => p.trim().toLowerCase())
      .filter((p) => p.length > 0)
      .map((p) => (p.startsWith(".") ? p : `.${p}`));
  }),
);

/** ISO date or date-time; without a zone it is UTC (as in the Python executor). */
function isoInstant(name: string) {
  return v.pipe(
    v.nullish(v.string()),
    v.transform((s) => (s ?? "").trim()),
    v.check(
      (s) => s === "" || !Number.isNaN(parseInstant(s)),
      `${name} must be an ISO date or date-time, e.g. 2025-01-31T00:00:00Z`,
    ),
    v.transform((s) => (s === "" ? undefined : new Date(parseInstant(s)))),
  );
}

function parseInstant(s: string): number {
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(s);
  const dateOnly = /^\d{4}-\d\d-\d\d$/.test(s);
  return Date.parse(dateOnly ? `${s}T00:00:00Z` : hasZone ? s : `${s}Z`);
}

export const AzureBlobInputDiscoverySettingsSchema = v.pipe(
  v.object({
    blob_storage_account: v.pipe(
      v.nullish(v.string("blob_storage_account must be a string"), ""),
      v.trim(),
      v.check((a) => a === "" || isStorageAccountName(a), (issue) => notAnAccountName(String(issue.input))),
    ),
    blob_storage_credential_type: v.optional(
      v.picklist(
        ["default_azure_credential", "azure_key_credential"],
        "blob_storage_credential_type must be default_azure_credential or azure_key_credential",
      ),
      "default_azure_credential",
    ),
    blob_storage_account_key: optionalText("blob_storage_account_key"),
    blob_container_name: v.pipe(
      v.nullish(v.string("blob_container_name must be a string"), ""),
      v.trim(),
      v.minLength(1, "blob_container_name is required"),
    ),
    prefix: optionalText("prefix"),
    file_extensions: fileExtensions,
    max_depth: v.optional(intSetting("max_depth", { min: 0 }), 0),
    max_results: v.optional(intSetting("max_results", { min: 0 }), 0),
    batch_size: v.optional(
      v.pipe(intSetting("batch_size", { min: 1 }), v.maxValue(5000, "batch_size must be at most 5000")),
      100,
    ),
    include_metadata: v.optional(boolSetting("include_metadata"), true),
    sort_by: v.optional(
      v.picklist(["name", "last_modified", "size"], "sort_by must be name, last_modified or size"),
      "name",
    ),
    sort_ascending: v.optional(boolSetting("sort_ascending"), true),
    min_size_bytes: v.optional(intSetting("min_size_bytes", { min: 0 }), 0),
    max_size_bytes: v.optional(intSetting("max_size_bytes", { min: 0 }), 0),
    modified_after: isoInstant("modified_after"),
    modified_before: isoInstant("modified_before"),
    polling_interval_seconds: v.optional(intSetting("polling_interval_seconds", { min: 1 })),
    /** Only `files` is crawled (the Python worker's crawl ignores virtual_folders too). */
    discover_mode: v.optional(
      v.picklist(["files", "virtual_folders"], "discover_mode must be files or virtual_folders"),
      "files",
    ),
  }),
  v.check(
    (s) => s.blob_storage_credential_type !== "azure_key_credential" || s.blob_storage_account_key !== "",
    "blob_storage_account_key is required when blob_storage_credential_type is azure_key_credential",
  ),
);
export type AzureBlobInputDiscoverySettings = v.InferOutput<typeof AzureBlobInputDiscoverySettingsSchema>;

/** Blob as listed, reduced to what filtering and Content need. */
export interface ListedBlob {
  name: string;
  size: number;
  lastModified: Date;
  contentType?: string;
  metadata?: Record<string, string>;
}

function fileSuffix(name: string): string {
  const filename = name.slice(name.lastIndexOf("/") + 1);
  const dot = filename.lastIndexOf(".");
  return dot > 0 && dot < filename.length - 1 ? filename.slice(dot).toLowerCase() : "";
}

/** The Python executor's filters, in its order; `checkpoint` keeps only strictly newer blobs. */
export function keepBlob(blob: ListedBlob, s: AzureBlobInputDiscoverySettings, checkpoint: Date | undefined): boolean {
  if (blob.name.endsWith("/")) return false;
  if (s.max_depth > 0) {
    const depth = blob.name.split("/").length - 1 - (s.prefix ? s.prefix.split("/").length - 1 : 0);
    if (depth > s.max_depth) return false;
  }
  if (s.file_extensions.length > 0 && !s.file_extensions.includes(fileSuffix(blob.name))) return false;
  if (s.min_size_bytes > 0 && blob.size < s.min_size_bytes) return false;
  if (s.max_size_bytes > 0 && blob.size > s.max_size_bytes) return false;
  const t = blob.lastModified.getTime();
  if (checkpoint && t <= checkpoint.getTime()) return false;
  if (s.modified_after && t < s.modified_after.getTime()) return false;
  if (s.modified_before && t > s.modified_before.getTime()) return false;
  return true;
}

export function sortBlobs(blobs: ListedBlob[], s: AzureBlobInputDiscoverySettings): ListedBlob[] {
  const dir = s.sort_ascending ? 1 : -1;
  const cmp = (a: ListedBlob, b: ListedBlob): number => {
    if (s.sort_by === "last_modified") return a.lastModified.getTime() - b.lastModified.getTime();
    if (s.sort_by === "size") return a.size - b.size;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  };
  return [...blobs].sort((a, b) => dir * cmp(a, b));
}

export function blobContent(
  blob: ListedBlob,
  where: { account: string; container: string; executorId: string; includeMetadata: boolean },
): Content {
  const now = new Date().toISOString();
  const metadata: Record<string, unknown> = {
    size: blob.size,
    last_modified: blob.lastModified.toISOString(),
    content_type: blob.contentType ?? null,
  };
  if (where.includeMetadata && blob.metadata && Object.keys(blob.metadata).length > 0) {
    metadata.blob_metadata = blob.metadata;
  }
  return {
    id: {
      canonical_id: `https://${where.account}.blob.core.windows.net/${where.container}/${blob.name}`,
      unique_id: createHash("sha1").update(`${where.account}/${where.container}/${blob.name}`).digest("hex"),
      source_name: where.account,
      source_type: "azure_blob",
      container: where.container,
      path: blob.name,
      filename: blob.name.slice(blob.name.lastIndexOf("/") + 1),
      metadata,
    },
    summary_data: {},
    data: {},
    executor_logs: [{
      executor_id: where.executorId,
      start_time: now,
      end_time: now,
      status: "completed",
      details: { blob_discovered: blob.name, container: where.container },
      errors: [],
    }],
  };
}

function toListed(item: BlobItem): ListedBlob {
  return {
    name: item.name,
    size: item.properties.contentLength ?? 0,
    lastModified: item.properties.lastModified,
    contentType: item.properties.contentType,
    metadata: item.metadata,
  };
}

class AzureBlobInputDiscovery implements InputExecutorInstance {
  readonly type = AZURE_BLOB_INPUT_DISCOVERY;
  readonly pollingIntervalSeconds?: number;
  private readonly account: string;

  constructor(
    readonly id: string,
    private readonly s: AzureBlobInputDiscoverySettings,
    private readonly deps: ExecutorDeps,
  ) {
    this.pollingIntervalSeconds = s.polling_interval_seconds;
    const account = s.blob_storage_account || deps.config.BLOB_STORAGE_ACCOUNT_NAME ||
      connectionStringAccount(deps.config.BLOB_STORAGE_CONNECTION_STRING);
    if (!account) {
      throw new Error(
        "blob_storage_account is required (or set BLOB_STORAGE_ACCOUNT_NAME / BLOB_STORAGE_CONNECTION_STRING)",
      );
    }
    this.account = account;
  }

  /**
   * In a pipeline: every matching blob, as one list (Python's process_input). max_results caps the blobs LISTED
   * (before filtering), in listing (name) order, as in the Python executor.
   */
  async process(_input: Content[], ctx: ExecutorRunContext): Promise<Content[]> {
    if (this.s.discover_mode === "virtual_folders") {
      throw new Error("azure_blob_input_discovery: discover_mode virtual_folders is not supported; use files");
    }
    const out: Content[] = [];
    for await (const batch of this.listed(undefined, ctx)) out.push(...batch.items);
    return out;
  }

  private get where() {
    return {
      account: this.account,
      container: this.s.blob_container_name,
      executorId: this.id,
      includeMetadata: this.s.include_metadata,
    };
  }

  /**
   * For the source worker. Without max_results: every matching blob modified after `checkpoint`, page by page.
   * With max_results: the whole container is listed and only the max_results OLDEST new blobs (by last-modified
   * time, then name; blobs `opts.isDone` says were enqueued already do not count) are yielded, oldest first. The
   * caller's checkpoint may then move to the newest yielded blob: every new blob older than it was yielded, and
   * the rest follow in the next crawls. (Capping the listing in name order, as process() does, would let the
   * checkpoint jump over blobs that were never listed: they would be lost.)
   */
  async *crawl(
    checkpoint: Date | undefined,
    ctx: ExecutorRunContext,
    opts: CrawlOptions = {},
  ): AsyncGenerator<CrawlBatch, void, void> {
    if (this.s.max_results <= 0) {
      yield* this.listed(checkpoint, ctx, { uncapped: true });
      return;
    }
    const cap = this.s.max_results;
    const older = (a: ListedBlob, b: ListedBlob) =>
      a.lastModified.getTime() - b.lastModified.getTime() || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    let oldest: ListedBlob[] = [];
    let found = 0;
    for await (const page of this.pages(ctx)) {
      for (const blob of page) {
        if (!keepBlob(blob, this.s, checkpoint)) continue;
        if (opts.isDone?.(blobContent(blob, this.where))) continue;
        found++;
        oldest.push(blob);
        if (oldest.length >= 2 * cap) oldest = oldest.sort(older).slice(0, cap);
      }
    }
    oldest = oldest.sort(older).slice(0, cap);
    if (found > cap) {
      ctx.logger.info("max_results reached: the oldest new blobs are queued now, the rest in the next crawls", {
        executor_id: this.id,
        max_results: cap,
        new_blobs: found,
      });
    }
    for (let i = 0; i < oldest.length; i += this.s.batch_size) {
      ctx.signal.throwIfAborted();
      const chunk = sortBlobs(oldest.slice(i, i + this.s.batch_size), this.s);
      yield {
        items: chunk.map((b) => blobContent(b, this.where)),
        maxModified: new Date(Math.max(...chunk.map((b) => b.lastModified.getTime()))),
      };
    }
  }

  /**
   * The container's blobs, LIST_PAGE_SIZE per list call, with the next call already under way while the caller
   * works through a page (at most one page ahead: memory stays at two pages whatever the container's size).
   */
  private async *pages(ctx: ExecutorRunContext): AsyncGenerator<ListedBlob[], void, void> {
    const service = blobServiceClient(this.deps.config, {
      account: this.account,
      accountKey: this.s.blob_storage_credential_type === "azure_key_credential"
        ? this.s.blob_storage_account_key
        : undefined,
    });
    const container = service.getContainerClient(this.s.blob_container_name);
    const pages = container
      .listBlobsFlat({
        prefix: this.s.prefix || undefined,
        includeMetadata: this.s.include_metadata,
        abortSignal: ctx.signal,
      })
      .byPage({ maxPageSize: LIST_PAGE_SIZE });
    let next = pages.next();
    try {
      for (;;) {
        const page = await next;
        if (page.done) return;
        ctx.signal.throwIfAborted();
        next = pages.next();
        yield page.value.segment.blobItems.map(toListed);
      }
    } finally {
      // A caller that stops early (max_results, an abort) leaves the read-ahead call to settle on its own.
      next.catch(() => undefined);
    }
  }

  /**
   * Matching blobs in groups of batch_size LISTED blobs (as the Python executor groups them), each group filtered
   * and sorted, in listing order; max_results caps the blobs listed unless `uncapped`. The listing itself asks for
   * LIST_PAGE_SIZE blobs per call whatever batch_size is.
   */
  private async *listed(
    checkpoint: Date | undefined,
    ctx: ExecutorRunContext,
    opts: { uncapped?: boolean } = {},
  ): AsyncGenerator<CrawlBatch, void, void> {
    const cap = opts.uncapped ? 0 : this.s.max_results;
    let listed = 0;
    for await (const page of this.pages(ctx)) {
      const raw = cap > 0 ? page.slice(0, cap - listed) : page;
      listed += raw.length;
      for (let i = 0; i < raw.length; i += this.s.batch_size) {
        ctx.signal.throwIfAborted();
        const group = raw.slice(i, i + this.s.batch_size);
        const kept = sortBlobs(group.filter((b) => keepBlob(b, this.s, checkpoint)), this.s);
        if (kept.length > 0) {
          yield {
            items: kept.map((b) => blobContent(b, this.where)),
            maxModified: new Date(Math.max(...kept.map((b) => b.lastModified.getTime()))),
          };
        }
      }
      if (cap > 0 && listed >= cap) return;
    }
  }
}

export const azureBlobInputDiscovery: ExecutorDefinition<typeof AzureBlobInputDiscoverySettingsSchema> = {
  type: AZURE_BLOB_INPUT_DISCOVERY,
  category: "input",
  crawls: true,
  description: "Lists blobs of a container (prefix, extensions, depth, size and date filters) as content items",
  settings: AzureBlobInputDiscoverySettingsSchema,
  dataFields: { writes: [] },
  create: (id, settings, deps) => new AzureBlobInputDiscovery(id, settings, deps),
};
