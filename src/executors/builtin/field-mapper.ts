// field_mapper: renames, moves or copies fields of content.data (dotted paths), copies id fields into data
// (source_id_mappings), and combines parallel lists into objects (object_mappings). Mappings may be YAML maps or
// the catalog's JSON strings (ContentFlow accepted only JSON strings).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, mapSetting, stringSetting } from "../settings.ts";

const pathString = v.pipe(
  v.string("a mapping value must be a field path string"),
  v.minLength(1, "a mapping value must not be empty"),
);

const fields = v.object({
  mappings: v.optional(mapSetting("mappings", pathString), {}),
  object_mappings: v.optional(mapSetting("object_mappings", v.record(v.string(), pathString)), {}),
  source_id_mappings: v.optional(mapSetting("source_id_mappings", pathString), {}),
  copy_mode: v.optional(choiceSetting("copy_mode", ["move", "copy"]), "copy"),
  create_nested: v.optional(boolSetting("create_nested"), true),
  overwrite_existing: v.optional(boolSetting("overwrite_existing"), true),
  template_fields: v.optional(boolSetting("template_fields"), true),
  nested_delimiter: v.optional(v.pipe(stringSetting("nested_delimiter"), v.minLength(1)), "."),
  list_handling: v.optional(choiceSetting("list_handling", ["first", "merge", "concatenate", "all"]), "merge"),
  join_separator: v.optional(stringSetting("join_separator"), "\n"),
  merge_filter_empty: v.optional(boolSetting("merge_filter_empty"), true),
  merge_deduplicate: v.optional(boolSetting("merge_deduplicate"), false),
  case_transform: v.optional(choiceSetting("case_transform", ["lower", "upper", "title", "camel", "snake"])),
  fail_on_missing_source: v.optional(boolSetting("fail_on_missing_source"), false),
  remove_empty_objects: v.optional(boolSetting("remove_empty_objects"), false),
});
const settings = v.pipe(
  fields,
  v.check(
    (s) =>
      Object.keys(s.mappings).length + Object.keys(s.object_mappings).length +
          Object.keys(s.source_id_mappings).length > 0,
    "at least one of mappings, object_mappings or source_id_mappings must be given",
  ),
);
type Settings = v.InferOutput<typeof settings>;

const FORBIDDEN = new Set(["__proto__", "prototype", "constructor"]);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export class FieldMapper {
  constructor(private readonly s: Settings) {}

  private keys(path: string): string[] {
    const keys = path.split(this.s.nested_delimiter);
    for (const k of keys) if (FORBIDDEN.has(k)) throw new Error(`field path '${path}' uses the reserved name '${k}'`);
    return keys;
  }

  private collect(list: unknown[], rest: string[]): unknown[] {
    let values: unknown[] = [];
    for (const item of list) {
      const value = this.get(item, rest);
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) values.push(...value);
      else values.push(value);
    }
    if (this.s.merge_filter_empty) values = values.filter((x) => x !== null && x !== undefined && x !== "");
    if (this.s.merge_deduplicate) {
      const seen = new Set<string>();
      values = values.filter((x) => {
        const key = JSON.stringify(x);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    return values;
  }

  /** Value at a path; lists met on the way are handled per list_handling. */
  get(data: unknown, keys: string[]): unknown {
    let cur = data;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (Array.isArray(cur)) {
        const rest = keys.slice(i);
        if (this.s.list_handling === "first") {
          const first = cur[0];
          if (!isRecord(first) || !Object.hasOwn(first, key)) return undefined;
          cur = first[key];
          continue;
        }
        if (this.s.list_handling === "all") return cur.map((item) => this.get(item, rest) ?? null);
        const values = this.collect(cur, rest);
        if (this.s.list_handling === "merge") return values.length ? values : undefined;
        if (values.length === 0) return undefined;
        return values.length === 1 ? values[0] : values.map(String).join(this.s.join_separator);
      }
      if (!isRecord(cur) || !Object.hasOwn(cur, key)) return undefined;
      cur = cur[key];
    }
    return cur;
  }

  private getPlain(data: unknown, keys: string[]): unknown {
    let cur = data;
    for (const key of keys) {
      if (Array.isArray(cur)) cur = cur[0];
      if (!isRecord(cur) || !Object.hasOwn(cur, key)) return undefined;
      cur = cur[key];
    }
    return cur;
  }

  set(data: Record<string, unknown>, path: string, value: unknown): void {
    const keys = this.keys(path);
    let cur = data;
    for (const key of keys.slice(0, -1)) {
      if (!Object.hasOwn(cur, key)) {
        if (!this.s.create_nested) {
          throw new Error(`cannot set '${path}': '${key}' does not exist and create_nested is false`);
        }
        cur[key] = {};
      } else if (!isRecord(cur[key])) {
        throw new Error(`cannot set '${path}': '${key}' is not an object`);
      }
      cur = cur[key] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1];
    if (Object.hasOwn(cur, last) && !this.s.overwrite_existing) return;
    cur[last] = value;
  }

  private remove(data: Record<string, unknown>, path: string): void {
    const keys = this.keys(path);
    const parent = this.getPlain(data, keys.slice(0, -1));
    if (isRecord(parent)) delete parent[keys[keys.length - 1]];
  }

  /** `{a.b}` placeholders replaced from data; unknown ones are left as they are. */
  private template(text: string, lookup: (path: string) => unknown): string {
    return text.replace(/\{([^{}]+)\}/g, (whole, path: string) => {
      const value = lookup(path.trim());
      return value === undefined || value === null
        ? whole
        : typeof value === "object"
        ? JSON.stringify(value)
        : String(value);
    });
  }

  private transformCase(path: string): string {
    switch (this.s.case_transform) {
      case "lower":
        return path.toLowerCase();
      case "upper":
        return path.toUpperCase();
      case "title":
        return path.toLowerCase().replace(/(^|[^A-Za-z])([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase());
      case "camel": {
        const [head, ...tail] = path.split("_");
        return head.toLowerCase() + tail.map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join("");
      }
      case "snake":
        return path.replace(/(.)([A-Z][a-z]+)/g, "$1_$2").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
      default:
        return path;
    }
  }

  private combine(
    data: Record<string, unknown>,
    mapping: Record<string, string>,
  ): Record<string, unknown>[] | undefined {
    const entries = Object.entries(mapping);
    const split = entries.map(([, p]) => this.keys(p));
    const common: string[] = [];
    for (let i = 0; split.every((k) => k.length > i && k[i] === split[0][i]); i++) common.push(split[0][i]);
    let ancestor: string[] | undefined;
    for (let n = common.length; n > 0; n--) {
      if (Array.isArray(this.getPlain(data, common.slice(0, n)))) {
        ancestor = common.slice(0, n);
        break;
      }
    }
    const keep = (o: Record<string, unknown>) => !this.s.merge_filter_empty || Object.values(o).some((x) => x !== null);
    if (!ancestor) {
      const columns = entries.map(([key, path]) => {
        const value = this.get(data, this.keys(path));
        if (value === undefined || value === null) {
          if (this.s.fail_on_missing_source) throw new Error(`source field '${path}' not found for object mapping`);
          return [key, []] as const;
        }
        return [key, Array.isArray(value) ? value : [value]] as const;
      });
      const length = Math.max(0, ...columns.map(([, values]) => values.length));
      const out = Array.from(
        { length },
        (_, i) => Object.fromEntries(columns.map(([key, values]) => [key, values[i] ?? null])),
      ).filter(keep);
      return out.length ? out : undefined;
    }
    const list = this.getPlain(data, ancestor) as unknown[];
    const out = list.map((item) =>
      Object.fromEntries(entries.map(([key], j) => [key, this.get(item, split[j].slice(ancestor!.length)) ?? null]))
    ).filter(keep);
    return out.length ? out : undefined;
  }

  private removeEmptyObjects(data: Record<string, unknown>): void {
    for (const [key, value] of Object.entries(data)) {
      if (!isRecord(value)) continue;
      this.removeEmptyObjects(value);
      if (Object.keys(value).length === 0) delete data[key];
    }
  }

  apply(item: Content): Content {
    const data = structuredClone(item.data ?? {});
    const id = item.id as Record<string, unknown>;
    for (const [target, spec] of Object.entries(this.s.source_id_mappings)) {
      let value: unknown;
      if (this.s.template_fields && spec.includes("{")) {
        value = this.template(
          spec,
          (p) => (p.startsWith("id.") ? this.getPlain(id, this.keys(p.slice(3))) : undefined),
        );
      } else if (spec === "id" || spec === "content.id") value = structuredClone(item.id);
      else if (spec.startsWith("id.")) value = this.getPlain(id, this.keys(spec.slice(3)));
      else value = spec;
      if (value === undefined || value === null) {
        if (this.s.fail_on_missing_source) throw new Error(`id field '${spec}' not found`);
        continue;
      }
      this.set(data, target, value);
    }
    for (const [target, mapping] of Object.entries(this.s.object_mappings)) {
      const combined = this.combine(data, mapping);
      if (combined !== undefined) this.set(data, target, combined);
    }
    for (const [rawSource, rawTarget] of Object.entries(this.s.mappings)) {
      const lookup = (p: string) => this.getPlain(data, this.keys(p));
      const source = this.s.template_fields ? this.template(rawSource, lookup) : rawSource;
      const target = this.transformCase(this.s.template_fields ? this.template(rawTarget, lookup) : rawTarget);
      const value = this.get(data, this.keys(source));
      if (value === undefined || value === null) {
        if (this.s.fail_on_missing_source) throw new Error(`source field '${source}' not found`);
        continue;
      }
      this.set(data, target, structuredClone(value));
      if (this.s.copy_mode === "move" && source !== target) this.remove(data, source);
    }
    if (this.s.copy_mode === "move" && this.s.remove_empty_objects) this.removeEmptyObjects(data);
    return { ...item, data };
  }
}

export const fieldMapper: ExecutorDefinition<typeof settings> = {
  type: "field_mapper",
  category: "transform",
  description: "Renames, moves or copies fields of content.data and copies id fields into data",
  settings,
  create: (id, s) => {
    const mapper = new FieldMapper(s);
    return perItemExecutor(id, "field_mapper", async (item) => mapper.apply(item));
  },
};
