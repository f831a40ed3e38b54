// document_set_initializer: makes the items it receives one document set. Orders them (ordering_strategy) and stamps
// summary_data.document_set_{id,name,role,order,total} on each, for document_set_collector and the cross_document_*
// executors downstream.
import * as v from "valibot";
import { randomUUID } from "node:crypto";
import type { ExecutorDefinition } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import { choiceSetting, intSetting, mapSetting, stringSetting } from "../settings.ts";
import { isRecord, logEntry, valueAtPath } from "../document-set.ts";

const STRATEGIES = ["filename_alpha", "filename_numeric", "explicit_mapping", "last_modified", "input_order"] as const;

const settings = v.object({
  set_id: v.optional(v.pipe(stringSetting("set_id"), v.trim())),
  set_name: v.optional(stringSetting("set_name")),
  ordering_strategy: v.optional(choiceSetting("ordering_strategy", STRATEGIES), "filename_alpha"),
  role_field: v.optional(v.pipe(stringSetting("role_field"), v.trim())),
  role_mapping: v.optional(
    mapSetting("role_mapping", v.union([v.string(), v.pipe(v.number(), v.transform(String))], "roles are strings")),
  ),
  validate_set_size: v.optional(intSetting("validate_set_size", { min: 0 }), 0),
});
type Settings = v.InferOutput<typeof settings>;

function nameOf(c: Content): string {
  return c.id.filename || c.id.path || c.id.canonical_id;
}

/** The numbers in a name, for filename_numeric ("Q10" after "Q9"); names without numbers sort by text, first. */
function numericKey(name: string): Array<number | string> {
  const numbers = name.match(/\d+/g);
  return numbers ? numbers.map(Number) : [0, name.toLowerCase()];
}

function compareKeys(a: Array<number | string>, b: Array<number | string>): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    if (typeof x === "number") return -1;
    if (typeof y === "number") return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function lastModified(c: Content): number {
  const value = c.id.metadata?.last_modified;
  const ms = typeof value === "string" || typeof value === "number" ? new Date(value).getTime() : NaN;
  return Number.isNaN(ms) ? -Infinity : ms;
}

function ordered(items: Content[], s: Settings): Content[] {
  const by = <K>(key: (c: Content) => K, cmp: (a: K, b: K) => number) => {
    const keyed = items.map((c) => ({ c, k: key(c) }));
    return keyed.sort((a, b) => cmp(a.k, b.k)).map((x) => x.c);
  };
  switch (s.ordering_strategy) {
    case "filename_alpha":
      return by((c) => nameOf(c).toLowerCase(), (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    case "filename_numeric":
      return by((c) => numericKey(nameOf(c)), compareKeys);
    case "last_modified":
      return by(lastModified, (a, b) => (a === b ? 0 : a < b ? -1 : 1));
    case "explicit_mapping": {
      if (!s.role_mapping) return items;
      const patterns = Object.keys(s.role_mapping).map((p) => p.toLowerCase());
      return by((c) => {
        const name = (c.id.filename || c.id.path || "").toLowerCase();
        const at = patterns.findIndex((p) => name.includes(p));
        return at < 0 ? patterns.length : at;
      }, (a, b) => a - b);
    }
    default:
      return items;
  }
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isRecord(value)) return Object.keys(value).length > 0;
  return true;
}

function roleOf(c: Content, s: Settings): string {
  const name = nameOf(c);
  if (s.role_field) {
    let value: unknown;
    if (s.role_field.startsWith("data.")) value = valueAtPath(c.data ?? {}, s.role_field.slice(5));
    else if (c.id.metadata) {
      const metadata = c.id.metadata;
      value = Object.hasOwn(metadata, s.role_field)
        ? metadata[s.role_field]
        : s.role_field.startsWith("metadata.")
        ? valueAtPath(metadata, s.role_field.slice(9))
        : undefined;
    }
    if (truthy(value)) return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  if (s.role_mapping) {
    for (const [pattern, role] of Object.entries(s.role_mapping)) {
      if (name.toLowerCase().includes(pattern.toLowerCase())) return role;
    }
  }
  const dot = name.lastIndexOf(".");
  return dot >= 0 ? name.slice(0, dot) : name;
}

export const documentSetInitializer: ExecutorDefinition<typeof settings> = {
  type: "document_set_initializer",
  category: "utility",
  description: "Makes the items a document set: orders them and stamps set id, name, role, order and total",
  settings,
  create: (id, s) => ({
    id,
    type: "document_set_initializer",
    async process(input) {
      const start = nowIso();
      if (input.length === 0) return [];
      if (s.validate_set_size > 0 && input.length !== s.validate_set_size) {
        throw new Error(
          `executor '${id}': expected ${s.validate_set_size} documents in the set but received ${input.length}`,
        );
      }
      const setId = s.set_id || randomUUID();
      const setName = s.set_name || `document_set_${setId.slice(0, 8)}`;
      const total = input.length;
      return ordered(input, s).map((c, order) => {
        const role = roleOf(c, s);
        return {
          ...c,
          summary_data: {
            ...c.summary_data,
            document_set_id: setId,
            document_set_name: setName,
            document_set_role: role,
            document_set_order: order,
            document_set_total: total,
          },
          executor_logs: [
            ...(c.executor_logs ?? []),
            logEntry(id, start, { set_id: setId, role, order, total }),
          ],
        };
      });
    },
  }),
};
