// cross_document_field_aggregator: deterministic figures across the documents of a consolidated set (the item from
// document_set_collector): per aggregation, the values at field_path in each document (in set order) and the
// requested operations (sum, avg, min, max, count, delta, pct_change, trend, values), stored in data[output_key].
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import { listOrJsonSetting } from "../settings.ts";
import { documentSetKeys, documentSetOf, fieldAcrossDocuments, withSetResult } from "../document-set.ts";

export const OPERATIONS = ["sum", "avg", "min", "max", "count", "delta", "pct_change", "trend", "values"] as const;
type Operation = (typeof OPERATIONS)[number];

const aggregation = v.object({
  field_path: v.pipe(v.string("field_path must be a string"), v.trim(), v.minLength(1, "field_path is empty")),
  operations: v.pipe(
    v.array(
      v.picklist(OPERATIONS, `operations must be some of: ${OPERATIONS.join(", ")}`),
      "operations must be a list",
    ),
  ),
  output_key: v.optional(v.pipe(v.string("output_key must be a string"), v.trim(), v.minLength(1))),
});

const settings = v.object({
  ...documentSetKeys("field_aggregations"),
  /** A YAML list or the catalog's JSON string of one. */
  aggregations: listOrJsonSetting(aggregation, {
    notAList: "aggregations must be a list of {field_path, operations, output_key}",
    badList: "aggregations must be a list of {field_path, operations, output_key} (or a JSON string)",
  }),
});

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Python's float(): numbers, booleans and numeric strings; anything else is not a number. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "boolean") return value ? 1 : 0;
  // Unambiguous (\d+(?:\.\d*)? rather than \d+\.?\d*), so a long run of digits is matched in linear time.
  if (typeof value === "string" && /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

function trend(values: number[]): Record<string, unknown> {
  if (values.length < 2) return { direction: "insufficient_data", confidence: 0.0 };
  let up = 0, down = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i] > values[i - 1]) up++;
    else if (values[i] < values[i - 1]) down++;
  }
  const changes = up + down;
  if (changes === 0) return { direction: "stable", confidence: 1.0 };
  const [direction, confidence] = up === changes
    ? ["increasing", 1.0]
    : down === changes
    ? ["decreasing", 1.0]
    : up > down
    ? ["mostly_increasing", round2(up / changes)]
    : down > up
    ? ["mostly_decreasing", round2(down / changes)]
    : ["mixed", 0.5];
  const first = values[0], last = values[values.length - 1];
  return {
    direction,
    confidence,
    overall_change: last - first,
    overall_pct_change: first !== 0 ? round2(((last - first) / Math.abs(first)) * 100) : null,
    periods_analyzed: values.length,
  };
}

export function aggregate(
  withRoles: Array<[string, unknown]>,
  operations: Operation[],
  fieldPath: string,
): Record<string, unknown> {
  const result: Record<string, unknown> = { field_path: fieldPath, document_count: withRoles.length };
  const numeric: Array<[string, number]> = [];
  for (const [role, value] of withRoles) {
    const n = value === undefined || value === null ? undefined : asNumber(value);
    if (n !== undefined) numeric.push([role, n]);
  }
  const ops = new Set(operations);
  if (ops.has("values")) result.values = withRoles.map(([role, value]) => ({ role, value: value ?? null }));
  if (ops.has("count")) result.count = numeric.length;
  if (numeric.length === 0) {
    for (const op of operations) if (op !== "values" && op !== "count") result[op] = null;
    return result;
  }
  const values = numeric.map(([, n]) => n);
  const pairs = numeric.slice(1).map(([role, n], i) => ({ from: numeric[i][0], to: role, prev: numeric[i][1], n }));
  if (ops.has("sum")) result.sum = values.reduce((a, b) => a + b, 0);
  if (ops.has("avg")) result.avg = values.reduce((a, b) => a + b, 0) / values.length;
  if (ops.has("min")) result.min = Math.min(...values);
  if (ops.has("max")) result.max = Math.max(...values);
  if (ops.has("delta")) result.delta = pairs.map((p) => ({ from: p.from, to: p.to, delta: p.n - p.prev }));
  if (ops.has("pct_change")) {
    result.pct_change = pairs.map((p) => ({
      from: p.from,
      to: p.to,
      pct_change: p.prev !== 0 ? round2(((p.n - p.prev) / Math.abs(p.prev)) * 100) : null,
    }));
  }
  if (ops.has("trend")) result.trend = trend(values);
  return result;
}

export const crossDocumentFieldAggregator: ExecutorDefinition<typeof settings> = {
  type: "cross_document_field_aggregator",
  category: "utility",
  description: "Sums, averages, deltas, percentage changes and trends of fields across a document set",
  settings,
  create: (id, s) => ({
    id,
    type: "cross_document_field_aggregator",
    async process(input) {
      if (input.length === 0) throw new Error(`executor '${id}': received no items (expected a consolidated set)`);
      return input.map((item): Content => {
        const start = nowIso();
        const t0 = Date.now();
        const set = documentSetOf(item, s.set_data_key, id);
        const results: Record<string, unknown> = {};
        for (const agg of s.aggregations) {
          const key = agg.output_key ?? agg.field_path.split(".").at(-1)!;
          results[key] = aggregate(fieldAcrossDocuments(set, agg.field_path), agg.operations, agg.field_path);
        }
        return withSetResult(item, s.output_key, {
          type: "field_aggregations",
          set_id: set.set_id ?? "",
          set_name: set.set_name ?? "",
          total_documents: set.total_documents ?? 0,
          aggregations: results,
          computed_at: nowIso(),
        }, { executorId: id, start, startedMs: t0, set });
      });
    },
  }),
};
