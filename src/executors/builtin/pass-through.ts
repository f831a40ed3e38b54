// pass_through: changes nothing; the runner records a completed executor log entry on each item, as ContentFlow does.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";

const settings = v.object({});

export const passThrough: ExecutorDefinition<typeof settings> = {
  type: "pass_through",
  category: "utility",
  description: "Passes content through unchanged (records an executor log entry)",
  settings,
  create: (id) => perItemExecutor(id, "pass_through", async (item) => item),
};
