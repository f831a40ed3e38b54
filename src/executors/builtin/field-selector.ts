// field_selector: keep (include) or drop (exclude) top-level or dotted `data` fields.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";

const fieldList = v.pipe(
  v.union([v.array(v.string()), v.string()]),
  v.transform((f) => {
    if (Array.isArray(f)) return f;
    try {
      const parsed = JSON.parse(f);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch { /* comma list */ }
    return f.split(",").map((s) => s.trim()).filter(Boolean);
  }),
);

const settings = v.looseObject({
  mode: v.optional(v.picklist(["include", "exclude"], "mode must be include or exclude"), "include"),
  fields: fieldList,
});

function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[path.at(-1)!] = value;
}

function deletePath(obj: Record<string, unknown>, path: string[]): void {
  const parent = getPath(obj, path.slice(0, -1));
  if (parent && typeof parent === "object") delete (parent as Record<string, unknown>)[path.at(-1)!];
}

export const fieldSelector: ExecutorDefinition<typeof settings> = {
  type: "field_selector",
  category: "transform",
  description: "Keeps or removes fields of content.data",
  settings,
  create: (id, s) => ({
    id,
    type: "field_selector",
    async process(input) {
      const paths = s.fields.map((f) => f.replace(/^data\./, "").split("."));
      return input.map((c) => {
        const data = structuredClone(c.data ?? {});
        if (s.mode === "exclude") {
          for (const p of paths) deletePath(data, p);
          return { ...c, data };
        }
        const kept: Record<string, unknown> = {};
        for (const p of paths) {
          const value = getPath(data, p);
          if (value !== undefined) setPath(kept, p, value);
        }
        return { ...c, data: kept };
      });
    },
  }),
};
