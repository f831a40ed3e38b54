// for_each_content: runs each item on its own through an inline chain of executor steps (settings.steps, each
// `{id, type, settings}` like an entry of `executors:`). The steps are compiled with the pipeline, so a wrong type or
// setting fails at compile time. Items run in parallel up to max_concurrent (default 5 here) and keep their order;
// the runner's continue_on_error applies (a failed item passes through with a failed log entry), and an item that
// takes longer than timeout_per_item_secs through all steps fails.
import * as v from "valibot";
import type { ExecutorDefinition, NestedStep } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, intSetting } from "../settings.ts";
import { linkedSignal } from "../../util/abort.ts";

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
  v.union([v.array(v.unknown()), v.string()], "steps must be a list of {id, type, settings}"),
  v.transform((x): unknown => {
    if (typeof x !== "string") return x;
    try {
      return JSON.parse(x);
    } catch {
      return undefined;
    }
  }),
  v.array(step, "steps must be a list of {id, type, settings} (or a JSON string of one)"),
  v.minLength(1, "steps must name at least one executor step"),
  v.check((list) => new Set(list.map((s) => s.id)).size === list.length, "step ids must be unique"),
);

const settings = v.object({
  steps: stepList,
  timeout_per_item_secs: v.optional(intSetting("timeout_per_item_secs", { min: 1, max: 86_400 }), 300),
  /** Items always keep their order here; accepted for compatibility. */
  preserve_order: v.optional(boolSetting("preserve_order"), true),
});

export const forEachContent: ExecutorDefinition<typeof settings> = {
  type: "for_each_content",
  category: "utility",
  description: "Runs each item through an inline chain of executor steps, items in parallel",
  settings,
  commonDefaults: { max_concurrent: 5, fail_pipeline_on_error: false, timeout_secs: 86_400 },
  itemErrors: "continue_on_error",
  create: (id, s, deps) => {
    if (!deps.pipelines) throw new Error("for_each_content can only run inside a compiled pipeline");
    const steps: NestedStep[] = s.steps.map((x) => ({ id: x.id, type: x.type, settings: x.settings ?? {} }));
    const chain = deps.pipelines.sequence(id, steps);
    const limit = s.timeout_per_item_secs;
    return perItemExecutor(id, "for_each_content", async (item, ctx): Promise<Content[]> => {
      const timer = new AbortController();
      const timeout = setTimeout(
        () => timer.abort(new Error(`item ${item.id.canonical_id} took longer than ${limit} s through the steps`)),
        limit * 1000,
      );
      const signal = linkedSignal(ctx.signal, timer.signal);
      try {
        return await chain.run([item], { ...ctx, signal: signal.signal });
      } catch (err) {
        if (timer.signal.aborted && !ctx.signal.aborted) throw timer.signal.reason;
        throw err;
      } finally {
        clearTimeout(timeout);
        signal.dispose();
      }
    }, () => chain.close());
  },
};
