// pass_through: no-op that records a completed executor log entry per item.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { nowIso } from "../../pipeline/content.ts";

const settings = v.looseObject({});

export const passThrough: ExecutorDefinition<typeof settings> = {
  type: "pass_through",
  category: "utility",
  description: "Passes content through unchanged (records an executor log entry)",
  settings,
  create: (id) => ({
    id,
    type: "pass_through",
    async process(input) {
      const t = nowIso();
      return input.map((c) => ({
        ...c,
        executor_logs: [...(c.executor_logs ?? []), { executor_id: id, start_time: t, end_time: t, status: "completed", details: {}, errors: [] }],
      }));
    },
  }),
};
