// The executor contract. Common settings (enabled, condition, fail_pipeline_on_error, debug_mode) are applied by
// the pipeline runner; an executor only sees its own, already validated settings.
import type * as v from "valibot";
import type { Content } from "../model/content.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";

export type ExecutorCategory = "input" | "extract" | "transform" | "output" | "utility";

export interface ExecutorRunContext {
  executorId: string;
  pipelineName: string;
  /** Aborted on task timeout or forced shutdown; long operations must pass it on. */
  signal: AbortSignal;
  logger: Logger;
  /** settings.debug_mode of the executor. */
  debug?: boolean;
  /** Registers work to run when the pipeline run ends (whatever its outcome), e.g. deleting temp files. */
  deferCleanup?: (cleanup: () => Promise<void> | void) => void;
}

/** Process-wide dependencies executors may use (shared clients; nothing per task). */
export interface ExecutorDeps {
  config: Config;
  logger: Logger;
}

export interface ExecutorInstance {
  readonly id: string;
  readonly type: string;
  process(input: Content[], ctx: ExecutorRunContext): Promise<Content[]>;
  /**
   * Per-item executors (ContentFlow's ParallelExecutor) also implement this. The runner then applies the common
   * settings max_concurrent, timeout_secs and continue_on_error, appends an executor log entry to every item and
   * keeps the items' order; one item may become several (e.g. table_row_splitter) or none.
   */
  processItem?(item: Content, ctx: ExecutorRunContext): Promise<Content | Content[]>;
  /** Release clients or temp files; called when the compiled pipeline is dropped. */
  close?(): Promise<void>;
}

export interface CrawlBatch {
  items: Content[];
  /** Newest source last-modified time among `items` (the checkpoint may advance to it once they are enqueued). */
  maxModified?: Date;
}

export interface CrawlOptions {
  /**
   * Whether the caller already enqueued this item (the checkpoint's recent keys). A crawl that yields only part of
   * what it finds (max_results) must not spend its quota on such items, or it would yield them again and again.
   */
  isDone?: (item: Content) => boolean;
}

/** Input executors also crawl their source for the source worker. */
export interface InputExecutorInstance extends ExecutorInstance {
  readonly pollingIntervalSeconds?: number;
  /**
   * Yields batches of items modified strictly after `checkpoint`; returns when the source is exhausted. A crawl
   * that yields only part of the new items must yield the OLDEST ones (by last-modified time), so that the caller
   * may move its checkpoint to the newest yielded item without skipping any item it never saw.
   */
  crawl(
    checkpoint: Date | undefined,
    ctx: ExecutorRunContext,
    opts?: CrawlOptions,
  ): AsyncGenerator<CrawlBatch, void, void>;
}

export interface ExecutorDefinition<TSchema extends v.GenericSchema = v.GenericSchema> {
  type: string;
  category: ExecutorCategory;
  description: string;
  /** valibot schema of the executor's own settings (after ${ENV} substitution). */
  settings: TSchema;
  /** True when instances implement `crawl` (InputExecutorInstance); only those are picked as a pipeline's input. */
  crawls?: boolean;
  /** Defaults of the common per-item settings when they differ from max_concurrent 3 / timeout_secs 300. */
  commonDefaults?: { max_concurrent?: number; timeout_secs?: number };
  create(id: string, settings: v.InferOutput<TSchema>, deps: ExecutorDeps): ExecutorInstance;
}

export function isInputExecutor(e: ExecutorInstance): e is InputExecutorInstance {
  return typeof (e as InputExecutorInstance).crawl === "function";
}
