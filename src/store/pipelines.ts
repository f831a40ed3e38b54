// Pipeline documents for the processing worker: a point read that tells "not found" (permanent) from errors worth
// a retry (the Python worker turned every error into "Pipeline not found", failing tasks for good on a passing outage), and compiled pipelines
// cached per (pipeline id, _etag, excluded input executor) so a task does not re-parse and re-create executors
// (the Python worker rebuilt the pipeline for every task and never closed it). A pipeline replaced by a newer version is closed once no task uses it any more.
import type { Container } from "@azure/cosmos";
import type { CompiledPipeline } from "../pipeline/index.ts";
import { type PipelineDoc, PipelineDocSchema } from "../model/documents.ts";
import { type DocRead, readDoc } from "./read-doc.ts";

export type PipelineRead = DocRead<PipelineDoc>;

/** The pipeline document: 404 → not-found; invalid → malformed; other errors are thrown (the caller retries later). */
export function readPipelineDoc(container: Container, id: string, signal?: AbortSignal): Promise<PipelineRead> {
  return readDoc(container, id, PipelineDocSchema, signal);
}

interface CacheEntry {
  pipelineId: string;
  version: string;
  pipeline: CompiledPipeline;
  users: number;
  stale: boolean;
}

/**
 * A counted reference to a compiled pipeline in the cache (not a lease: nothing expires); the pipeline is closed
 * when the last holder of a replaced version calls release().
 */
export interface PipelineHandle {
  pipeline: CompiledPipeline;
  /** Whether this call compiled it (false = cache hit). */
  compiled: boolean;
  release(): void;
}

export type CompileFn = (doc: PipelineDoc, excludeExecutor: string | null) => CompiledPipeline;

export class CompiledPipelineCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(private readonly compile: CompileFn) {}

  get size(): number {
    return this.entries.size;
  }

  /** The compiled pipeline for this document version; compile errors are thrown. Call release() when done. */
  acquire(doc: PipelineDoc, excludeExecutor: string | null): PipelineHandle {
    const version = doc._etag ?? doc.yaml;
    const key = JSON.stringify([doc.id, version, excludeExecutor]);
    let entry = this.entries.get(key);
    const compiled = !entry;
    if (!entry) {
      const pipeline = this.compile(doc, excludeExecutor);
      entry = { pipelineId: doc.id, version, pipeline, users: 0, stale: false };
      this.entries.set(key, entry);
      this.retireOlderVersions(doc.id, version);
    }
    entry.users++;
    const held = entry;
    let released = false;
    return {
      pipeline: held.pipeline,
      compiled,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.stale && held.users === 0) void held.pipeline.close().catch(() => undefined);
      },
    };
  }

  private retireOlderVersions(pipelineId: string, current: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.pipelineId !== pipelineId || entry.version === current) continue;
      this.entries.delete(key);
      entry.stale = true;
      if (entry.users === 0) void entry.pipeline.close().catch(() => undefined);
    }
  }

  /** Closes every cached pipeline (worker shutdown). */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.pipeline.close()));
  }
}
