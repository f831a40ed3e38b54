// Runs a compiled pipeline on a batch of content items. Executors start as soon as all their predecessors are done
// (parallel branches run concurrently); each receives its own deep copy where outputs are shared. Never throws for
// pipeline errors: the outcome is in the result (status completed | failed | cancelled).
import { type Content, type ExecutorLogEntry, nowIso } from "../model/content.ts";
import type { CompiledNode, CompiledPipeline } from "./compiled.ts";
import { TASK_INPUT } from "./graph.ts";
import type { ExecutorRunContext } from "../executors/types.ts";
import type { Logger } from "../log/logger.ts";
import { abortReason, linkedSignal, raceAbort } from "../util/abort.ts";
import { errorText } from "../util/errors.ts";
import { eachLimited } from "../util/each-limited.ts";
import { tracedExecutor } from "../telemetry/executor-span.ts";

export interface PipelineEvent {
  timestamp: string;
  event_type:
    | "executor_invoked"
    | "executor_completed"
    | "executor_failed"
    | "pipeline_completed"
    | "pipeline_failed"
    | "pipeline_cancelled"
    /** One per compile warning (an edge to an undefined executor, a YAML reading, …), first in the record. */
    | "pipeline_warning";
  executor_id?: string;
  duration_ms?: number;
  data?: Record<string, unknown>;
  error?: string;
}

export interface ExecutorOutput {
  status: "completed" | "failed";
  duration_ms: number;
  items_in: number;
  items_out: number;
  /** Items the executor failed on that were passed through (fail_pipeline_on_error false). */
  items_failed?: number;
  /** Items that did not meet settings.condition and were passed through untouched. */
  items_skipped?: number;
  /** Counts the executor reported through ctx.addUsage, summed over its items (e.g. prompt_tokens, calls). */
  usage?: Record<string, number>;
  error?: string;
}

export interface PipelineResult {
  pipeline_name: string;
  status: "completed" | "failed" | "cancelled";
  content: Content[];
  events: PipelineEvent[];
  executor_outputs: Record<string, ExecutorOutput>;
  error?: string;
  start_time: string;
  end_time: string;
  duration_seconds: number;
}

function logEntry(
  executorId: string,
  start: string,
  status: "completed" | "failed",
  errors: string[] = [],
  details: Record<string, unknown> = {},
): ExecutorLogEntry {
  return { executor_id: executorId, start_time: start, end_time: nowIso(), status, details, errors };
}

function withLog(item: Content, entry: ExecutorLogEntry): Content {
  return { ...item, executor_logs: [...(item.executor_logs ?? []), entry] };
}

function checkOutput(executorId: string, out: unknown): Content[] {
  const list = Array.isArray(out) ? out : [out];
  for (const c of list) {
    const id = (c as Content | null)?.id;
    if (
      typeof c !== "object" || c === null || typeof id !== "object" || id === null ||
      typeof id.canonical_id !== "string"
    ) {
      throw new Error(`executor '${executorId}' returned something that is not a content item`);
    }
  }
  return list as Content[];
}

interface NodeRun {
  out: Content[];
  failed: number;
  skipped: number;
  firstError?: string;
  /** Pages read, where the executor says (for its span). */
  pages?: number;
}

/**
 * Pages an extractor read for one item, where it says: `pages_analyzed` in its log details (Document Intelligence,
 * Content Understanding), or a `pages_processed` summary it set (pdf_extractor).
 */
function itemPages(details: Record<string, unknown>, before: Content, after: Content[]): number {
  if (typeof details.pages_analyzed === "number") return details.pages_analyzed;
  const was = before.summary_data?.pages_processed;
  const now = after[0]?.summary_data?.pages_processed;
  return typeof now === "number" && now !== was ? now : 0;
}

async function runPerItem(
  node: CompiledNode,
  items: Content[],
  selected: boolean[],
  ctx: ExecutorRunContext,
): Promise<NodeRun> {
  const processItem = node.instance.processItem!.bind(node.instance);
  // As in ContentFlow's ParallelExecutor: an item error fails the executor (and so the pipeline) when
  // fail_pipeline_on_error is set (the default); otherwise the item passes on unchanged with a failed log entry and
  // the others are processed; continue_on_error is accepted and ignored here, as ContentFlow ignores it (batch
  // executors that honour it, like for_each_content, read it themselves: ExecutorDefinition.readsCommonSettings).
  const { max_concurrent, timeout_secs, fail_pipeline_on_error } = node.common;
  const stopOnItemError = fail_pipeline_on_error;
  const results: Content[][] = items.map((item) => [item]);
  const stopItems = linkedSignal(ctx.signal);
  let failed = 0;
  let pages = 0;
  let firstError: string | undefined;
  let fatal: unknown;
  const indices = items.map((_, i) => i).filter((i) => selected[i]);
  try {
    await eachLimited(indices, max_concurrent, async (i) => {
      const start = nowIso();
      const item = items[i];
      const timer = new AbortController();
      const itemSignal = linkedSignal(stopItems.signal, timer.signal);
      const timeout = setTimeout(
        () => timer.abort(new Error(`timed out after ${timeout_secs} s`)),
        timeout_secs * 1000,
      );
      const details: Record<string, unknown> = {};
      const itemCtx: ExecutorRunContext = {
        ...ctx,
        signal: itemSignal.signal,
        addLogDetails: (more) => Object.assign(details, more),
      };
      try {
        const out = await raceAbort(processItem(item, itemCtx), itemSignal.signal);
        const checked = checkOutput(node.id, out);
        pages += itemPages(details, item, checked);
        results[i] = checked.map((c) => withLog(c, logEntry(node.id, start, "completed", [], { ...details })));
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const message = timer.signal.aborted ? abortReason(timer.signal) : errorText(err);
        failed++;
        firstError ??= `${item.id.canonical_id}: ${message}`;
        results[i] = [withLog(item, logEntry(node.id, start, "failed", [message], { ...details }))];
        if (stopOnItemError && fatal === undefined) {
          fatal = new Error(`item ${item.id.canonical_id}: ${message}`);
          stopItems.controller.abort(fatal);
        }
      } finally {
        clearTimeout(timeout);
        itemSignal.dispose();
      }
    }, stopItems.signal);
  } finally {
    stopItems.dispose();
  }
  if (fatal !== undefined) throw fatal;
  return { out: results.flat(), failed, skipped: selected.filter((s) => !s).length, firstError, pages };
}

async function runBatch(
  node: CompiledNode,
  items: Content[],
  selected: boolean[],
  ctx: ExecutorRunContext,
): Promise<NodeRun> {
  const chosen = items.filter((_, i) => selected[i]);
  const skipped = items.filter((_, i) => !selected[i]);
  if (chosen.length === 0 && items.length > 0) return { out: items, failed: 0, skipped: skipped.length };
  const out = checkOutput(node.id, await raceAbort(node.instance.process(chosen, ctx), ctx.signal));
  // Items that did not meet the condition follow the processed ones (a batch executor may merge or split items).
  return { out: [...out, ...skipped], failed: 0, skipped: skipped.length };
}

/** Which items meet the executor's condition, and the evaluation error of each item it could not be evaluated on. */
function evaluateConditions(
  node: CompiledNode,
  items: Content[],
): { selected: boolean[]; errors: Map<Content, string>; firstError?: string } {
  const errors = new Map<Content, string>();
  if (!node.condition) return { selected: items.map(() => true), errors };
  let firstError: string | undefined;
  const selected = items.map((item) => {
    try {
      return node.condition!.test(item);
    } catch (err) {
      const message = `condition '${node.condition!.source}' failed on item ${item.id.canonical_id}: ${errorText(err)}`;
      errors.set(item, message);
      firstError ??= message;
      return false;
    }
  });
  return { selected, errors, firstError };
}

/**
 * With fail_pipeline_on_error false, an item whose condition could not be evaluated passes on unprocessed with a
 * failed log entry naming its own error (ContentFlow passed the whole input on, unprocessed and without a record).
 * Those items left the executor untouched, as the same objects, so they are found by identity.
 */
function markConditionErrors(
  id: string,
  start: string,
  r: NodeRun,
  errors: Map<Content, string>,
  firstError: string | undefined,
): NodeRun {
  if (errors.size === 0) return r;
  const out = r.out.map((item) => {
    const message = errors.get(item);
    return message === undefined ? item : withLog(item, logEntry(id, start, "failed", [message]));
  });
  return {
    out,
    failed: r.failed + errors.size,
    skipped: r.skipped - errors.size,
    firstError: firstError ?? r.firstError,
  };
}

/**
 * What hands each executor the items of one of its sources: the last consumer of an executor's output gets it as
 * is; others get copies. The caller's input is never mutated, unless the caller handed it over (then its last
 * consumer gets it as is too). `results` holds the executors' outputs as they finish.
 */
function itemTaker(
  graph: CompiledPipeline["graph"],
  results: Map<string, Content[]>,
  input: Content[],
  inputHandedOver: boolean,
): (source: string) => Content[] {
  const consumersLeft = new Map<string, number>();
  for (const id of graph.order) {
    for (const pred of graph.preds.get(id)!) consumersLeft.set(pred, (consumersLeft.get(pred) ?? 0) + 1);
  }
  return (source) => {
    const left = (consumersLeft.get(source) ?? 1) - 1;
    consumersLeft.set(source, left);
    if (source === TASK_INPUT) return left === 0 && inputHandedOver ? input : structuredClone(input);
    const items = results.get(source) ?? [];
    if (left === 0 && !graph.sinks.includes(source)) {
      results.delete(source);
      return items;
    }
    return structuredClone(items);
  };
}

export async function runPipeline(
  p: CompiledPipeline,
  input: Content[],
  opts: {
    signal: AbortSignal;
    logger: Logger;
    /** The caller hands `input` over and does not use its items again: the last reader of it gets it uncopied. */
    inputHandedOver?: boolean;
  },
): Promise<PipelineResult> {
  const startMs = Date.now();
  const startIso = new Date(startMs).toISOString();
  // The compile warnings go into every execution's record, so that whoever reads it learns what was skipped.
  const events: PipelineEvent[] = p.warnings.map((warning) => ({
    timestamp: startIso,
    event_type: "pipeline_warning",
    data: { warning },
  }));
  const outputs: Record<string, ExecutorOutput> = {};
  const cleanups: Array<() => Promise<void> | void> = [];
  const run = linkedSignal(opts.signal);
  const { graph } = p;
  const results = new Map<string, Content[]>();
  const take = itemTaker(graph, results, input, opts.inputHandedOver === true);

  const finish = (status: PipelineResult["status"], content: Content[], error?: string): PipelineResult => {
    const event_type = status === "completed"
      ? "pipeline_completed"
      : status === "failed"
      ? "pipeline_failed"
      : "pipeline_cancelled";
    events.push({ timestamp: nowIso(), event_type, duration_ms: Date.now() - startMs, error });
    return {
      pipeline_name: p.name,
      status,
      content,
      events,
      executor_outputs: outputs,
      error,
      start_time: startIso,
      end_time: nowIso(),
      duration_seconds: (Date.now() - startMs) / 1000,
    };
  };
  const cancelled = () => finish("cancelled", [], `pipeline cancelled: ${abortReason(opts.signal)}`);

  // Each executor in its own span under the task's, when telemetry is on.
  const runNode = (id: string): Promise<Outcome> =>
    tracedExecutor(
      id,
      p.nodes.get(id)!.type,
      () => runNodeOf({ p, logger: opts.logger, signal: run.signal, events, outputs, cleanups, results, take }, id),
      (o) => outputs[id] && { ...outputs[id], pages: o.ok ? o.pages : undefined },
    );

  try {
    if (opts.signal.aborted) return cancelled();
    if (graph.order.length === 0) return finish("completed", opts.inputHandedOver ? input : structuredClone(input));
    const waiting = new Map(graph.order.map((id) => [id, graph.preds.get(id)!.filter((x) => x !== TASK_INPUT).length]));
    const ready = graph.order.filter((id) => waiting.get(id) === 0);
    const inFlight = new Map<string, Promise<[string, Outcome]>>();
    let failure: string | undefined;
    while (ready.length > 0 || inFlight.size > 0) {
      while (ready.length > 0 && failure === undefined && !run.signal.aborted) {
        const id = ready.shift()!;
        inFlight.set(id, runNode(id).then((o) => [id, o] as [string, Outcome]));
      }
      if (inFlight.size === 0) break;
      const [id, outcome] = await Promise.race(inFlight.values());
      inFlight.delete(id);
      if (!outcome.ok) {
        if (failure === undefined && !opts.signal.aborted) {
          failure = outcome.error;
          run.controller.abort(new Error(`stopped because ${failure}`));
        }
        continue;
      }
      for (const next of graph.succs.get(id)!) {
        const n = waiting.get(next)! - 1;
        waiting.set(next, n);
        if (n === 0) ready.push(next);
      }
    }
    if (opts.signal.aborted) return cancelled();
    if (failure !== undefined) return finish("failed", [], failure);
    return finish("completed", graph.sinks.flatMap((s) => results.get(s) ?? []));
  } finally {
    run.dispose();
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        opts.logger.warn("pipeline cleanup failed", { err });
      }
    }
  }
}

type Outcome = { ok: true; pages?: number } | { ok: false; error: string };

/** What the executors of one pipeline run share: where each records its events, output and result. */
interface RunShared {
  p: CompiledPipeline;
  logger: Logger;
  /** The run's signal: aborted on cancellation or when an executor fails the pipeline. */
  signal: AbortSignal;
  events: PipelineEvent[];
  outputs: Record<string, ExecutorOutput>;
  cleanups: Array<() => Promise<void> | void>;
  results: Map<string, Content[]>;
  /** The input items of a consumer of `source` (the last consumer gets them as is, others copies). */
  take: (source: string) => Content[];
}

/** Runs executor `id` on its predecessors' items, recording its events, output and result in `parent`. */
async function runNodeOf(parent: RunShared, id: string): Promise<Outcome> {
  const { p, signal, events, outputs, cleanups, results, take } = parent;
  const node = p.nodes.get(id)!;
  const items = p.graph.preds.get(id)!.flatMap(take);
  const t0 = Date.now();
  const start = nowIso();
  const logger = parent.logger.child({ executor_id: id, executor_type: node.type });
  events.push({
    timestamp: start,
    event_type: "executor_invoked",
    executor_id: id,
    data: { items_in: items.length },
  });
  if (node.common.debug_mode) logger.info("executor invoked", { items_in: items.length });
  const usage: Record<string, number> = {};
  const usageIfAny = () => (Object.keys(usage).length > 0 ? { usage: { ...usage } } : {});
  const ctx: ExecutorRunContext = {
    executorId: id,
    pipelineName: p.name,
    signal: signal,
    logger,
    debug: node.common.debug_mode,
    failPipelineOnError: node.common.fail_pipeline_on_error,
    deferCleanup: (fn) => cleanups.push(fn),
    addUsage: (counts) => {
      for (const [k, n] of Object.entries(counts)) if (Number.isFinite(n)) usage[k] = (usage[k] ?? 0) + n;
    },
  };
  try {
    const conditions = evaluateConditions(node, items);
    if (conditions.firstError !== undefined && node.common.fail_pipeline_on_error) {
      throw new Error(conditions.firstError);
    }
    const { selected } = conditions;
    const r = markConditionErrors(
      id,
      start,
      node.instance.processItem
        ? await runPerItem(node, items, selected, ctx)
        : await runBatch(node, items, selected, ctx),
      conditions.errors,
      conditions.firstError,
    );
    results.set(id, r.out);
    const duration_ms = Date.now() - t0;
    outputs[id] = {
      status: "completed",
      duration_ms,
      items_in: items.length,
      items_out: r.out.length,
      ...(r.failed ? { items_failed: r.failed, error: r.firstError } : {}),
      ...(r.skipped ? { items_skipped: r.skipped } : {}),
      ...usageIfAny(),
    };
    events.push({
      timestamp: nowIso(),
      event_type: "executor_completed",
      executor_id: id,
      duration_ms,
      data: { items_in: items.length, items_out: r.out.length, items_failed: r.failed, items_skipped: r.skipped },
      ...(r.firstError ? { error: r.firstError } : {}),
    });
    if (node.common.debug_mode) {
      logger.info("executor completed", { duration_ms, items_out: r.out.length, items_skipped: r.skipped });
    }
    if (r.failed) {
      logger.warn("executor failed on some items; they pass through", {
        items_failed: r.failed,
        error: r.firstError,
      });
    }
    return { ok: true, pages: r.pages };
  } catch (err) {
    const duration_ms = Date.now() - t0;
    const message = signal.aborted ? abortReason(signal) : errorText(err);
    outputs[id] = {
      status: "failed",
      duration_ms,
      items_in: items.length,
      items_out: 0,
      ...usageIfAny(),
      error: message,
    };
    events.push({ timestamp: nowIso(), event_type: "executor_failed", executor_id: id, duration_ms, error: message });
    if (signal.aborted) return { ok: false, error: message };
    logger.warn("executor failed", { error: message, fail_pipeline_on_error: node.common.fail_pipeline_on_error });
    if (node.common.fail_pipeline_on_error) return { ok: false, error: `executor '${id}' failed: ${message}` };
    // ContentFlow passes the input on unchanged; we also record the failure on each item.
    results.set(id, items.map((item) => withLog(item, logEntry(id, start, "failed", [message]))));
    outputs[id].items_out = items.length;
    return { ok: true };
  }
}
