// subpipeline: runs another pipeline of the same YAML document (settings.pipeline names it) on the items this
// executor receives and passes that pipeline's output on. The named pipeline is compiled with this one, so an unknown
// name, a cycle (a pipeline reaching itself through sub-pipelines) or nesting that is too deep fails at compile time.
import * as v from "valibot";
import type { ExecutorDefinition, NestedPipeline } from "../types.ts";
import { boolSetting, intSetting, stringSetting } from "../settings.ts";

const settings = v.object({
  pipeline: v.pipe(
    stringSetting("pipeline"),
    v.trim(),
    v.minLength(1, "pipeline must name a pipeline of the same YAML document"),
  ),
  /** The agent framework's superstep limit in ContentFlow; our graphs have no loops, so it has no effect. */
  max_iterations: v.optional(intSetting("max_iterations", { min: 1, max: 10_000 }), 100),
  /** ContentFlow could make the sub-pipeline's outputs final outputs; here they always go to the successors. */
  allow_direct_output: v.optional(boolSetting("allow_direct_output"), false),
});

export const subpipeline: ExecutorDefinition<typeof settings> = {
  type: "subpipeline",
  category: "utility",
  description: "Runs another pipeline of the same YAML document on the items and passes its output on",
  settings,
  create: (id, s, deps) => {
    if (!deps.pipelines) throw new Error("sub-pipelines can only run inside a compiled pipeline");
    const nested: NestedPipeline = deps.pipelines.named(s.pipeline);
    return {
      id,
      type: "subpipeline",
      process: (input, ctx) => nested.run(input, ctx),
      close: () => nested.close(),
    };
  },
};
