// field_selector: keep (include) or drop (exclude) fields of content.data by dotted path or shell-style wildcard
// ("metadata.*"). Exclusion removes exactly the matching fields (ContentFlow kept a parent whole, so nested
// exclusions did nothing). Selected fields whose value is null are left out, as in ContentFlow.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, stringListSetting, stringSetting } from "../settings.ts";
import { deletePath, getPath, setPath, splitPath } from "../paths.ts";
import { globPattern } from "../../util/linear-regex.ts";

const fields = v.object({
  mode: v.optional(choiceSetting("mode", ["include", "exclude"]), "include"),
  fields: v.pipe(stringListSetting("fields"), v.minLength(1, "fields must name at least one field")),
  nested_delimiter: v.optional(v.pipe(stringSetting("nested_delimiter"), v.minLength(1)), "."),
  preserve_structure: v.optional(boolSetting("preserve_structure"), true),
  conditional_selection: v.optional(boolSetting("conditional_selection"), false),
  condition_field: v.optional(stringSetting("condition_field")),
  condition_operator: v.optional(
    choiceSetting("condition_operator", ["equals", "not_equals", "contains", "not_contains", "exists", "not_exists"]),
    "equals",
  ),
  condition_value: v.optional(v.unknown()),
  keep_id_fields: v.optional(boolSetting("keep_id_fields"), true),
  fail_on_missing_field: v.optional(boolSetting("fail_on_missing_field"), false),
  add_selection_metadata: v.optional(boolSetting("add_selection_metadata"), false),
});
const settings = v.pipe(
  fields,
  v.check(
    (s) => !s.conditional_selection || !!s.condition_field,
    "condition_field is required when conditional_selection is true",
  ),
);
type Settings = v.InferOutput<typeof settings>;

/** Keys ContentFlow always keeps in data when keep_id_fields is on. */
const ID_FIELDS = ["id", "canonical_id", "source_id"];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Every field path in data, parents before children. */
function allPaths(data: Record<string, unknown>, delimiter: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    const path = prefix ? `${prefix}${delimiter}${key}` : key;
    out.push(path);
    if (isRecord(value)) out.push(...allPaths(value, delimiter, path));
  }
  return out;
}

function conditionHolds(s: Settings, data: Record<string, unknown>): boolean {
  const value = getPath(data, splitPath(s.condition_field ?? "", s.nested_delimiter));
  if (s.condition_operator === "exists") return value !== undefined && value !== null;
  if (s.condition_operator === "not_exists") return value === undefined || value === null;
  if (value === undefined || value === null) return false;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const expected = String(s.condition_value ?? "");
  if (s.condition_operator === "equals") return text === expected;
  if (s.condition_operator === "not_equals") return text !== expected;
  if (s.condition_operator === "contains") return text.includes(expected);
  return !text.includes(expected);
}

export function selectFields(
  s: Settings,
  data: Record<string, unknown>,
): { data: Record<string, unknown>; kept: number; removed: number } {
  const d = s.nested_delimiter;
  const paths = allPaths(data, d);
  const matched = new Set<string>();
  for (const pattern of s.fields) {
    // A wildcard pattern (ContentFlow: one with * or ?) matches as Python's fnmatch does, in linear time.
    if (/[*?]/.test(pattern)) {
      const glob = globPattern(pattern);
      for (const p of paths) if (glob.matchesWhole(p)) matched.add(p);
    } else if (paths.includes(pattern)) {
      matched.add(pattern);
    } else if (s.fail_on_missing_field) {
      throw new Error(`field '${pattern}' not found in content data`);
    }
  }
  const isKeptId = (p: string) => s.keep_id_fields && ID_FIELDS.includes(p);
  let out: Record<string, unknown>;
  if (s.mode === "include") {
    const keep = paths.filter((p) => matched.has(p) || isKeptId(p));
    out = {};
    for (const p of keep) {
      const value = getPath(data, splitPath(p, d));
      // ContentFlow writes only the selected fields that hold a value: a null one is left out.
      if (value === null || value === undefined) continue;
      if (s.preserve_structure) setPath(out, splitPath(p, d), structuredClone(value));
      else out[p] = structuredClone(value);
    }
  } else {
    out = structuredClone(data);
    for (const p of matched) if (!isKeptId(p)) deletePath(out, splitPath(p, d));
    // As when including: a kept top-level field that is null is left out (a null inside a kept object stays).
    for (const [key, value] of Object.entries(out)) if (value === null) delete out[key];
    if (!s.preserve_structure) {
      const flat: Record<string, unknown> = {};
      for (const p of allPaths(out, d)) {
        const value = getPath(out, splitPath(p, d));
        if (!isRecord(value) || Object.keys(value).length === 0) flat[p] = value;
      }
      out = flat;
    }
  }
  const kept = allPaths(out, d).length;
  return { data: out, kept, removed: Math.max(0, paths.length - kept) };
}

export const fieldSelector: ExecutorDefinition<typeof settings> = {
  type: "field_selector",
  category: "transform",
  description: "Keeps or removes fields of content.data (dotted paths, wildcards)",
  settings,
  create: (id, s) =>
    perItemExecutor(id, "field_selector", async (item) => {
      const data = item.data ?? {};
      if (s.conditional_selection && !conditionHolds(s, data)) return item;
      const r = selectFields(s, data);
      const summary_data = s.add_selection_metadata
        ? {
          ...item.summary_data,
          field_selection: { mode: s.mode, fields_selected: r.kept, fields_removed: r.removed, patterns: s.fields },
        }
        : item.summary_data;
      return { ...item, data: r.data, summary_data };
    }),
};
