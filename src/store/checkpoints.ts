// Crawl checkpoints (vault_crawl_checkpoints), one document per vault + pipeline + input executor.
//
// checkpoint_timestamp = the newest source last-modified time among items that were enqueued (the storage
// service's times, never this worker's clock). A crawl lists items modified after
// `checkpoint_timestamp − overlap_seconds`; `recent_keys` holds the items already enqueued inside that window, so
// a blob that shares the checkpoint's second (blob times have 1 s resolution) or became visible late is still
// found, and nothing already enqueued is sent twice. overlap_seconds = the last crawl's duration + a margin: a
// blob committed while a crawl was listing has a time no older than that.
//
// Writes are conditional: If-Match on the document's etag and the writer's lease epoch >= the stored epoch (a
// fenced ex-holder is refused). Progress is merged, never replaced: the timestamp only moves forward.
//
// The Python worker's checkpoint (id `<pipeline_id>_<executor_id>`, `checkpoint_timestamp` = the start of its last
// crawl, no vault in the id) lives in the same container. A vault without a checkpoint of ours starts from it (items
// modified after it), so swapping the Python worker for this one does not process everything again; after each
// complete crawl we move it forward to our own timestamp, so a Python worker (rollback, mixed fleet) does not
// either. Only a Python checkpoint naming this vault (or no vault) counts: the Python worker crawled only the
// first vault of a pipeline, so another vault of the same pipeline was never crawled.
import * as v from "valibot";
import { createHash } from "node:crypto";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import { readDoc } from "./read-doc.ts";
import { parsePythonTime, pythonIsoTime } from "../util/python-time.ts";

const checkpointFields = {
  id: v.string(),
  pipeline_id: v.string(),
  vault_id: v.string(),
  executor_id: v.string(),
  checkpoint_timestamp: v.string(),
  worker_id: v.optional(v.nullable(v.string()), null),
  epoch: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  overlap_seconds: v.optional(v.pipe(v.number(), v.minValue(0)), 0),
  recent_keys: v.optional(v.array(v.string()), []),
  items_enqueued_total: v.optional(v.number(), 0),
  updated_at: v.optional(v.nullable(v.string()), null),
  /**
   * The Python worker's checkpoint this vault started from: crawls never reach back before it (the overlap window
   * would otherwise list items the Python worker already queued, which recent_keys does not know).
   */
  crawl_floor: v.optional(v.nullable(v.string()), null),
};
export const CheckpointDocSchema = v.looseObject({ ...checkpointFields, _etag: v.string() });
export type CheckpointDoc = v.InferOutput<typeof CheckpointDocSchema>;
const CheckpointBodySchema = v.object(checkpointFields);
type CheckpointBody = v.InferOutput<typeof CheckpointBodySchema>;

/** Stored when a crawl was interrupted before any checkpoint existed: "everything is newer than this". */
export const NO_CHECKPOINT = "1970-01-01T00:00:00.000Z";
/** Overlap never below this: blob last-modified times have one-second resolution. */
export const MIN_OVERLAP_SECONDS = 2;
export const OVERLAP_MARGIN_SECONDS = 2;
/** Bound on recent_keys (about 45 bytes each); dropping keys can only cause a duplicate, never a loss. */
export const MAX_RECENT_KEYS = 10_000;

export interface CheckpointKey {
  vaultId: string;
  pipelineId: string;
  executorId: string;
}

/** Cosmos ids may not contain / \ ? #. */
export function checkpointId(key: CheckpointKey): string {
  const clean = (s: string) => s.replace(/[\/\\?#]/g, "_");
  return `${clean(key.vaultId)}_${clean(key.pipelineId)}_${clean(key.executorId)}`;
}

/** A version of an item: its unique id at a given last-modified time (`<iso>|<16 hex of sha1(unique_id)>`). */
export function itemVersionKey(uniqueId: string, lastModified: Date): string {
  const hash = createHash("sha1").update(uniqueId).digest("hex").slice(0, 16);
  return `${lastModified.toISOString()}|${hash}`;
}

function keyTime(key: string): number {
  return Date.parse(key.slice(0, key.indexOf("|")));
}

export interface Checkpoint {
  doc: CheckpointDoc;
  /** undefined when the stored value is NO_CHECKPOINT. */
  timestamp: Date | undefined;
  overlapSeconds: number;
  recentKeys: Set<string>;
  /** Crawls list items modified after max(timestamp − overlap, floor). */
  floor?: Date;
}

function toCheckpoint(doc: CheckpointDoc): Checkpoint {
  const t = Date.parse(doc.checkpoint_timestamp);
  return {
    doc,
    timestamp: Number.isNaN(t) || doc.checkpoint_timestamp === NO_CHECKPOINT ? undefined : new Date(t),
    overlapSeconds: doc.overlap_seconds,
    recentKeys: new Set(doc.recent_keys),
    floor: parsePythonTime(doc.crawl_floor),
  };
}

/** The time a crawl lists from (items modified strictly after it); undefined = everything. */
export function crawlFrom(checkpoint: Checkpoint | undefined): Date | undefined {
  if (!checkpoint?.timestamp) return checkpoint?.floor;
  const from = checkpoint.timestamp.getTime() - checkpoint.overlapSeconds * 1000;
  return new Date(checkpoint.floor ? Math.max(from, checkpoint.floor.getTime()) : from);
}

/** Items a crawl has dealt with: enqueued now, or skipped because recent_keys already had them. */
export interface DoneItem {
  key: string;
  lastModified: Date;
}

/**
 * The done items of a crawl in memory bounded by MAX_RECENT_KEYS, whatever the vault's size: only the newest
 * MAX_RECENT_KEYS keys are kept (between 1× and 2× that many before each compaction). mergeProgress gives the same
 * result for them as for every done item: it keeps the newest MAX_RECENT_KEYS keys of a window that ends at the
 * newest item, and the newest item's time is that of the newest key (keys start with their ISO time).
 */
export class DoneItems {
  private kept: DoneItem[] = [];
  /** Items added, all told. */
  count = 0;

  add(item: DoneItem): void {
    this.count++;
    this.kept.push(item);
    if (this.kept.length >= 2 * MAX_RECENT_KEYS) this.compact();
  }

  /** The newest MAX_RECENT_KEYS items (by key). */
  items(): DoneItem[] {
    this.compact();
    return this.kept;
  }

  private compact(): void {
    if (this.kept.length <= MAX_RECENT_KEYS) return;
    this.kept.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const unique = this.kept.filter((d, i) => i === 0 || d.key !== this.kept[i - 1].key);
    this.kept = unique.slice(Math.max(0, unique.length - MAX_RECENT_KEYS));
  }
}

export interface CrawlProgress {
  /** The listing ran to the end and every listed item was enqueued. */
  complete: boolean;
  done: DoneItem[];
  /** Newest time among done items without a per-item time (other input executors); may be undefined. */
  maxModified?: Date;
  enqueuedCount: number;
  crawlSeconds: number;
  /** The Python worker's checkpoint the crawl started from (kept as the checkpoint's crawl_floor). */
  floor?: Date;
}

function newestKeys(keys: Iterable<string>): string[] {
  const sorted = [...keys].sort();
  return sorted.length > MAX_RECENT_KEYS ? sorted.slice(sorted.length - MAX_RECENT_KEYS) : sorted;
}

/**
 * The state after a crawl, merged into what is stored now (possibly written by another holder meanwhile).
 * A complete crawl moves the timestamp to the newest done item; an interrupted one keeps the timestamp (older
 * unlisted items may still be missing) and only remembers what it enqueued. undefined = nothing to write.
 */
export function mergeProgress(
  current: Checkpoint | undefined,
  progress: CrawlProgress,
): { timestamp: string; overlapSeconds: number; recentKeys: string[] } | undefined {
  const keys = new Set([...(current?.recentKeys ?? []), ...progress.done.map((d) => d.key)]);
  if (!progress.complete) {
    if (progress.enqueuedCount === 0) return undefined;
    return {
      timestamp: current?.doc.checkpoint_timestamp ?? NO_CHECKPOINT,
      overlapSeconds: current?.overlapSeconds ?? MIN_OVERLAP_SECONDS,
      recentKeys: newestKeys(keys),
    };
  }
  const previous = current?.timestamp?.getTime();
  let newest = previous ?? Number.NEGATIVE_INFINITY;
  for (const d of progress.done) newest = Math.max(newest, d.lastModified.getTime());
  if (progress.maxModified) newest = Math.max(newest, progress.maxModified.getTime());
  if (!Number.isFinite(newest)) return undefined;
  // An empty crawl (or one that only met items it had already enqueued) changes nothing worth a write.
  if (progress.enqueuedCount === 0 && newest === previous) return undefined;
  const overlapSeconds = Math.max(MIN_OVERLAP_SECONDS, Math.ceil(progress.crawlSeconds) + OVERLAP_MARGIN_SECONDS);
  const windowStart = newest - overlapSeconds * 1000;
  const inWindow = [...keys].filter((k) => keyTime(k) > windowStart);
  return { timestamp: new Date(newest).toISOString(), overlapSeconds, recentKeys: newestKeys(inWindow) };
}

/** The Python worker's checkpoint id for a pipeline's input executor. */
export function pythonCheckpointId(pipelineId: string, executorId: string): string {
  return `${pipelineId}_${executorId}`;
}

const PythonCheckpointDocSchema = v.looseObject({
  id: v.string(),
  pipeline_id: v.optional(v.nullable(v.string()), null),
  vault_id: v.optional(v.nullable(v.string()), null),
  executor_id: v.optional(v.nullable(v.string()), null),
  checkpoint_timestamp: v.optional(v.nullable(v.string()), null),
  worker_id: v.optional(v.nullable(v.string()), null),
  _etag: v.string(),
});
type PythonCheckpointDoc = v.InferOutput<typeof PythonCheckpointDocSchema>;

export interface PythonCheckpoint {
  doc: PythonCheckpointDoc;
  timestamp: Date;
}

export class FencedError extends Error {
  constructor(id: string, mine: number, stored: number) {
    super(`checkpoint ${id} was written under lease epoch ${stored}; this worker's epoch ${mine} is stale`);
    this.name = "FencedError";
  }
}

export class CheckpointStore {
  constructor(private readonly container: Container) {}

  async read(key: CheckpointKey): Promise<Checkpoint | undefined> {
    const id = checkpointId(key);
    const read = await readDoc(this.container, id, CheckpointDocSchema);
    if (read.kind === "malformed") throw new Error(`checkpoint document ${id} is malformed: ${read.problem}`);
    return read.kind === "found" ? toCheckpoint(read.doc) : undefined;
  }

  /**
   * Merges a crawl's progress into the stored checkpoint under lease `epoch`. Throws FencedError when a newer
   * lease holder has written it. Returns the stored checkpoint (unchanged when there was nothing to record).
   */
  async record(
    key: CheckpointKey,
    epoch: number,
    workerId: string,
    progress: CrawlProgress,
  ): Promise<Checkpoint | undefined> {
    const id = checkpointId(key);
    for (let attempt = 0; attempt < 6; attempt++) {
      const current = await this.read(key);
      if (current && current.doc.epoch > epoch) throw new FencedError(id, epoch, current.doc.epoch);
      const next = mergeProgress(current, progress);
      if (!next) return current;
      const body: CheckpointBody = {
        ...(current ? stripSystemFields(current.doc) : {}),
        id,
        pipeline_id: key.pipelineId,
        vault_id: key.vaultId,
        executor_id: key.executorId,
        checkpoint_timestamp: next.timestamp,
        worker_id: workerId,
        epoch,
        overlap_seconds: next.overlapSeconds,
        recent_keys: next.recentKeys,
        items_enqueued_total: (current?.doc.items_enqueued_total ?? 0) + progress.enqueuedCount,
        updated_at: new Date().toISOString(),
        crawl_floor: current?.doc.crawl_floor ?? progress.floor?.toISOString() ?? null,
      };
      try {
        const { resource } = current
          ? await this.container.item(id, id).replace(body, {
            accessCondition: { type: "IfMatch", condition: current.doc._etag },
          })
          : await this.container.items.create(body);
        return toCheckpoint({ ...body, _etag: resource?._etag ?? "" });
      } catch (err) {
        const status = cosmosStatus(err);
        // Someone wrote in between: read again, re-check the epoch, merge again.
        if (status === 412 || status === 409 || status === 404) continue;
        throw err;
      }
    }
    throw new Error(`checkpoint ${id}: too many concurrent writers; progress not recorded`);
  }

  /**
   * The Python worker's checkpoint for this vault's pipeline and executor, when there is one that applies to this
   * vault (see the top of this file). A malformed one is ignored (the crawl then starts from the beginning).
   */
  async readPython(key: CheckpointKey): Promise<PythonCheckpoint | undefined> {
    const id = pythonCheckpointId(key.pipelineId, key.executorId);
    const read = await readDoc(this.container, id, PythonCheckpointDocSchema);
    if (read.kind !== "found") return undefined;
    const doc = read.doc;
    // One of ours whose id happens to look the same carries an epoch; the fields must name this pipeline/executor.
    if ((doc as Record<string, unknown>).epoch !== undefined) return undefined;
    if (doc.pipeline_id !== null && doc.pipeline_id !== key.pipelineId) return undefined;
    if (doc.executor_id !== null && doc.executor_id !== key.executorId) return undefined;
    if (doc.vault_id !== null && doc.vault_id !== key.vaultId) return undefined;
    const timestamp = parsePythonTime(doc.checkpoint_timestamp);
    return timestamp ? { doc, timestamp } : undefined;
  }

  /**
   * Moves an existing Python checkpoint that applies to this vault forward to `timestamp` (never back), If-Match.
   * Returns whether it was written; a Python worker writing at the same moment wins (it upserts without an etag).
   */
  async advancePython(key: CheckpointKey, timestamp: Date, workerId: string): Promise<boolean> {
    const current = await this.readPython(key);
    if (!current || current.timestamp.getTime() >= timestamp.getTime()) return false;
    const { _etag, _rid: _r, _self: _s, _ts: _t, _attachments: _a, ...fields } = current.doc as
      & PythonCheckpointDoc
      & Record<string, unknown>;
    const body = { ...fields, checkpoint_timestamp: pythonIsoTime(timestamp), worker_id: workerId };
    try {
      await this.container.item(current.doc.id, current.doc.id).replace(body, {
        accessCondition: { type: "IfMatch", condition: _etag },
      });
      return true;
    } catch (err) {
      const status = cosmosStatus(err);
      if (status === 412 || status === 404) return false;
      throw err;
    }
  }
}

function stripSystemFields(doc: CheckpointDoc): Partial<CheckpointBody> {
  const { _etag: _e, _rid: _r, _self: _s, _ts: _t, _attachments: _a, ...rest } = doc as
    & CheckpointDoc
    & Record<string, unknown>;
  return rest as Partial<CheckpointBody>;
}
