// fan_in_aggregator: join target; merges items by id.canonical_id (first occurrence wins per data/summary_data key).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../pipeline/content.ts";

const settings = v.looseObject({});

export const fanInAggregator: ExecutorDefinition<typeof settings> = {
  type: "fan_in_aggregator",
  category: "transform",
  description: "Merges the branches of a fan-out by id.canonical_id",
  settings,
  create: (id) => ({
    id,
    type: "fan_in_aggregator",
    async process(input) {
      const merged = new Map<string, Content>();
      for (const item of input) {
        const key = item.id.canonical_id;
        const seen = merged.get(key);
        if (!seen) {
          merged.set(key, structuredClone(item));
          continue;
        }
        seen.data = { ...(item.data ?? {}), ...(seen.data ?? {}) };
        seen.summary_data = { ...(item.summary_data ?? {}), ...(seen.summary_data ?? {}) };
      }
      return [...merged.values()];
    },
  }),
};
