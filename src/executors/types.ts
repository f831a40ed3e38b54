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
  /**
   * settings.fail_pipeline_on_error of the executor, for executors that record a failure on the item (as ContentFlow
   * does) unless it should fail the executor.
   */
  failPipelineOnError?: boolean;
  /** Registers work to run when the pipeline run ends (whatever its outcome), e.g. deleting temp files. */
  deferCleanup?: (cleanup: () => Promise<void> | void) => void;
  /**
   * Adds entries to the `details` of the executor log entry the runner writes on the item being processed (per-item
   * executors only), e.g. the tokens an AI call used.
   */
  addLogDetails?: (details: Record<string, unknown>) => void;
  /** Adds counts to the executor's totals in the execution record (`executor_outputs[id].usage`), e.g. tokens. */
  addUsage?: (counts: Record<string, number>) => void;
}

/** A pipeline compiled for an executor to run inside itself (subpipeline, for_each_content). */
export interface NestedPipeline {
  /** Executor ids of the nested pipeline, in run order. */
  readonly executorIds: readonly string[];
  /**
   * Runs the pipeline on `input` under `ctx.signal` (so the task's cancellation and the caller's timeouts apply)
   * and returns its output; throws when it fails or is cancelled, naming the failing executor.
   */
  run(input: Content[], ctx: ExecutorRunContext): Promise<Content[]>;
  close(): Promise<void>;
}

/** An executor step of an inline pipeline: like an entry of `executors:` in the YAML. */
export interface NestedStep {
  id: string;
  type: string;
  settings?: Record<string, unknown> | null;
}

/**
 * Lets an executor compile pipelines of its own while its pipeline is compiled, without importing the engine.
 * Both methods throw (with a message for the YAML's author) on unknown names, invalid executors, cycles and nesting
 * deeper than the engine allows.
 */
export interface NestedPipelines {
  /** The pipeline called `name` in the same YAML document (`pipeline:` or an entry of `pipelines:`). */
  named(name: string): NestedPipeline;
  /** The steps run one after the other; each step's id becomes `<idPrefix>.<step id>`. */
  sequence(idPrefix: string, steps: readonly NestedStep[]): NestedPipeline;
}

/** Process-wide dependencies executors may use (shared clients; nothing per task). */
export interface ExecutorDeps {
  config: Config;
  logger: Logger;
  /** Given by the pipeline compiler to the executors it creates; absent when an executor is created on its own. */
  pipelines?: NestedPipelines;
}

export interface ExecutorInstance {
  readonly id: string;
  readonly type: string;
  process(input: Content[], ctx: ExecutorRunContext): Promise<Content[]>;
  /**
   * Per-item executors (ContentFlow's ParallelExecutor) also implement this. The runner then applies the common
   * settings max_concurrent, timeout_secs and fail_pipeline_on_error per item, appends an executor log entry to
   * every item and keeps the items' order; one item may become several (e.g. table_row_splitter) or none.
   */
  processItem?(item: Content, ctx: ExecutorRunContext): Promise<Content | Content[]>;
  /** Release clients or temp files; called when the compiled pipeline is dropped. */
  close?(): Promise<void>;
  /** Notes for the pipeline's author found when the executor was created (shown by `pipeline check`, logged). */
  readonly compileWarnings?: readonly string[];
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

/**
 * A field of an item's data, as a dot path: the value of the setting `setting` (`fallback` when it is unset), plus
 * `suffix` when given; or a fixed `path`.
 */
export type DataFieldRef =
  | { setting: string; fallback: string; suffix?: string }
  | { path: string };

/** The fields of an item's data an executor reads and writes, for `pipeline check` (see pipeline/check.ts). */
export interface DataFields {
  /** Fields the executor needs on each item (without them it fails the item or finds nothing). */
  reads?: readonly DataFieldRef[];
  /**
   * Every field it adds to an item's data, keeping the others; undefined when not known (then no check trusts it).
   * An empty list: it writes none.
   */
  writes?: readonly DataFieldRef[];
}

export interface ExecutorDefinition<TSchema extends v.GenericSchema = v.GenericSchema> {
  type: string;
  category: ExecutorCategory;
  description: string;
  /** valibot schema of the executor's own settings (after ${ENV} substitution). */
  settings: TSchema;
  /** True when instances implement `crawl` (InputExecutorInstance); only those are picked as a pipeline's input. */
  crawls?: boolean;
  /**
   * Defaults of the common settings when the catalog gives this type others than max_concurrent 3, timeout_secs 300,
   * fail_pipeline_on_error true.
   */
  commonDefaults?: { max_concurrent?: number; timeout_secs?: number; fail_pipeline_on_error?: boolean };
  /**
   * Common setting names this executor also reads itself (they are then in its own settings too, and the runner's
   * note that they are ignored does not apply), e.g. for_each_content's max_concurrent and continue_on_error.
   */
  readsCommonSettings?: readonly string[];
  /** What it reads from and writes to items' data, where known (pipeline check warns about unwritten inputs). */
  dataFields?: DataFields;
  create(id: string, settings: v.InferOutput<TSchema>, deps: ExecutorDeps): ExecutorInstance;
}

export function isInputExecutor(e: ExecutorInstance): e is InputExecutorInstance {
  return typeof (e as InputExecutorInstance).crawl === "function";
}
