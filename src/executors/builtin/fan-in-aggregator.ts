// fan_in_aggregator: join target. Merges the items of all branches by id.canonical_id; per key of data and
// summary_data the first occurrence (first branch in the join's `from` order) wins; later copies' logs are dropped.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";

const settings = v.object({});

export function mergeByCanonicalId(items: Content[]): Content[] {
  const merged = new Map<string, Content>();
  for (const item of items) {
    const seen = merged.get(item.id.canonical_id);
    if (!seen) {
      merged.set(item.id.canonical_id, { ...item, data: { ...item.data }, summary_data: { ...item.summary_data } });
      continue;
    }
    seen.data = { ...item.data, ...seen.data };
    seen.summary_data = { ...item.summary_data, ...seen.summary_data };
  }
  return [...merged.values()];
}

export const fanInAggregator: ExecutorDefinition<typeof settings> = {
  type: "fan_in_aggregator",
  category: "transform",
  description: "Merges the branches of a fan-out by id.canonical_id",
  settings,
  create: (id) => ({
    id,
    type: "fan_in_aggregator",
    process: async (input) => mergeByCanonicalId(input),
  }),
};
