// for_each_content: runs each item on its own through an inline chain of executor steps (settings.steps, each
// `{id, type, settings}` like an entry of `executors:`). The steps are compiled with the pipeline, so a wrong type or
// setting fails at compile time. Items run in parallel up to max_concurrent (default 5) and keep their order. An item
// that fails (or takes longer than timeout_per_item_secs through all steps) passes on unchanged with a failed log
// entry when continue_on_error is true (the default); otherwise it fails the executor, and then
// fail_pipeline_on_error (default false here) decides, as in ContentFlow.
import * as v from "valibot";
import type { ExecutorDefinition, ExecutorRunContext, NestedStep } from "../types.ts";
import { type Content, type ExecutorLogEntry, nowIso } from "../../model/content.ts";
import { boolSetting, intSetting, listOrJsonSetting } from "../settings.ts";
import { linkedSignal, raceAbort } from "../../util/abort.ts";
import { eachLimited } from "../../util/each-limited.ts";

const stepId = v.pipe(
  v.union([v.string(), v.pipe(v.number(), v.transform(String))], "a step's id must be a string"),
  v.trim(),
  v.minLength(1, "a step's id must not be empty"),
  v.check((id) => !id.includes("."), "a step's id must not contain '.' (it becomes '<executor id>.<step id>')"),
);

const step = v.looseObject({
  id: stepId,
  type: v.pipe(v.string("a step's type must be a string"), v.trim(), v.minLength(1, "a step needs a type")),
  settings: v.optional(v.nullable(v.record(v.string(), v.unknown(), "a step's settings must be a mapping"))),
});

/** A YAML list of steps, or the catalog's JSON string of one. */
const stepList = v.pipe(
  listOrJsonSetting(step, {
    notAList: "steps must be a list of {id, type, settings}",
    badList: "steps must be a list of {id, type, settings} (or a JSON string of one)",
  }),
  v.minLength(1, "steps must name at least one executor step"),
  v.check((list) => new Set(list.map((s) => s.id)).size === list.length, "step ids must be unique"),
);

const settings = v.object({
  steps: stepList,
  max_concurrent: v.optional(intSetting("max_concurrent", { min: 1, max: 100 }), 5),
  timeout_per_item_secs: v.optional(intSetting("timeout_per_item_secs", { min: 1, max: 86_400 }), 300),
  continue_on_error: v.optional(boolSetting("continue_on_error"), true),
  /** Items always keep their order here; accepted for compatibility. */
  preserve_order: v.optional(boolSetting("preserve_order"), true),
});

function entry(
  id: string,
  start: string,
  status: "completed" | "failed",
  details: Record<string, unknown>,
  errors: string[] = [],
): ExecutorLogEntry {
  return { executor_id: id, start_time: start, end_time: nowIso(), status, details, errors };
}

export const forEachContent: ExecutorDefinition<typeof settings> = {
  type: "for_each_content",
  category: "utility",
  description: "Runs each item through an inline chain of executor steps, items in parallel",
  settings,
  commonDefaults: { fail_pipeline_on_error: false },
  readsCommonSettings: ["max_concurrent", "continue_on_error"],
  create: (id, s, deps) => {
    if (!deps.pipelines) throw new Error("for_each_content can only run inside a compiled pipeline");
    const steps: NestedStep[] = s.steps.map((x) => ({ id: x.id, type: x.type, settings: x.settings ?? {} }));
    const chain = deps.pipelines.sequence(id, steps);
    const limit = s.timeout_per_item_secs;

    /** One item through all steps, within timeout_per_item_secs. */
    const runItem = async (item: Content, index: number, ctx: ExecutorRunContext): Promise<Content[]> => {
      const timer = new AbortController();
      const timeout = setTimeout(
        () =>
          timer.abort(
            new Error(`item ${index} (${item.id.canonical_id}) took longer than ${limit} s through the steps`),
          ),
        limit * 1000,
      );
      const signal = linkedSignal(ctx.signal, timer.signal);
      try {
        return await raceAbort(chain.run([item], { ...ctx, signal: signal.signal }), signal.signal);
      } catch (err) {
        if (timer.signal.aborted && !ctx.signal.aborted) throw timer.signal.reason;
        throw err;
      } finally {
        clearTimeout(timeout);
        signal.dispose();
      }
    };

    return {
      id,
      type: "for_each_content",
      async process(input, ctx) {
        const results: Content[][] = input.map(() => []);
        let fatal: Error | undefined;
        // Stops starting items once one fails with continue_on_error false, or the task is cancelled.
        const stop = linkedSignal(ctx.signal);
        await eachLimited(input, s.max_concurrent, async (item, i) => {
          const start = nowIso();
          const t0 = Date.now();
          try {
            const out = await runItem(item, i, ctx);
            const details = {
              item_index: i,
              steps_completed: steps.length,
              duration_seconds: (Date.now() - t0) / 1000,
            };
            results[i] = out.map((c, n) => ({
              ...c,
              executor_logs: [
                ...(c.executor_logs ?? []),
                entry(id, start, "completed", out.length > 1 ? { ...details, list_index: n } : details),
              ],
            }));
          } catch (err) {
            if (ctx.signal.aborted) return;
            const message = `item ${i} (${item.id.canonical_id}): ${(err as Error).message}`;
            if (!s.continue_on_error) {
              fatal ??= new Error(message);
              stop.controller.abort(fatal);
              return;
            }
            ctx.logger.warn("for_each_content: an item failed and passes on unchanged", { error: message });
            results[i] = [{
              ...item,
              executor_logs: [
                ...(item.executor_logs ?? []),
                entry(id, start, "failed", { item_index: i, step_count: steps.length }, [message]),
              ],
            }];
          }
        }, stop.signal).finally(() => stop.dispose());
        ctx.signal.throwIfAborted();
        if (fatal) throw fatal;
        return results.flat();
      },
      close: () => chain.close(),
    };
  },
};
