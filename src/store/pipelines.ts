// Pipeline documents for the processing worker: a point read that tells "not found" (permanent) from errors worth
// a retry (the Python worker turned every error into "Pipeline not found", its bug P7), and compiled pipelines
// cached per (pipeline id, _etag, excluded input executor) so a task does not re-parse and re-create executors
// (its bug P9). A pipeline replaced by a newer version is closed once no task uses it any more.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import type { CompiledPipeline } from "../pipeline/index.ts";
import { cosmosStatus } from "./cosmos.ts";
import { describeIssues, type PipelineDoc, PipelineDocSchema } from "../model/documents.ts";

export type PipelineRead =
  | { kind: "found"; doc: PipelineDoc }
  | { kind: "not-found" }
  | { kind: "malformed"; problem: string };

/** 404 → not-found; an invalid document → malformed; every other error is thrown (the caller retries later). */
export async function readPipelineDoc(container: Container, id: string, signal?: AbortSignal): Promise<PipelineRead> {
  let raw: unknown;
  try {
    const response = await container.item(id, id).read({ abortSignal: signal });
    if (response.statusCode === 404) return { kind: "not-found" };
    raw = response.resource;
  } catch (err) {
    if (cosmosStatus(err) === 404) return { kind: "not-found" };
    throw err;
  }
  if (raw === undefined) return { kind: "not-found" };
  const parsed = v.safeParse(PipelineDocSchema, raw);
  return parsed.success
    ? { kind: "found", doc: parsed.output }
    : { kind: "malformed", problem: describeIssues(parsed.issues) };
}

interface CacheEntry {
  pipelineId: string;
  version: string;
  pipeline: CompiledPipeline;
  users: number;
  stale: boolean;
}

export interface PipelineLease {
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
  acquire(doc: PipelineDoc, excludeExecutor: string | null): PipelineLease {
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
