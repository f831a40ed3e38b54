// valibot building blocks for executor settings. Settings come from YAML written by people and from ${VAR}
// substitution (always a string), so numbers and booleans also accept their string forms, lists accept a YAML list,
// a JSON list or a comma-separated string, and maps accept a YAML mapping or a JSON object string (the catalog's
// form). Null and "" mean "not set" (ContentFlow's get_setting), see withoutEmptyValues.
import * as v from "valibot";
import { booleanText, integerText } from "../util/setting-text.ts";

export function intSetting(name: string, bounds: { min?: number; max?: number } = {}) {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  const range = bounds.max !== undefined ? `from ${min} to ${max}` : `>= ${min}`;
  const message = `${name} must be a whole number ${range}`;
  return v.pipe(
    v.union([
      v.number(message),
      integerText(message),
    ], message),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}

export function numberSetting(name: string, bounds: { min?: number; max?: number } = {}) {
  const { min = -Infinity, max = Infinity } = bounds;
  const message = `${name} must be a number` + (bounds.min !== undefined ? ` >= ${min}` : "") +
    (bounds.max !== undefined ? ` <= ${max}` : "");
  return v.pipe(
    v.union([
      v.number(message),
      v.pipe(
        v.string(message),
        v.trim(),
        v.regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, message),
        v.transform(Number),
      ),
    ], message),
    v.finite(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}

export function boolSetting(name: string) {
  const message = `${name} must be true or false`;
  return v.union([v.boolean(message), booleanText(message)], message);
}

export function stringSetting(name: string) {
  return v.pipe(
    v.union([v.string(), v.pipe(v.number(), v.transform(String))], `${name} must be a string`),
  );
}

export function choiceSetting<const T extends readonly [string, ...string[]]>(name: string, options: T) {
  const message = `${name} must be one of: ${options.join(", ")}`;
  return v.pipe(v.string(message), v.trim(), v.toLowerCase(), v.picklist(options, message));
}

function jsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A YAML list, a JSON list string ('["a","b"]') or a comma-separated string ("a, b"); entries trimmed. */
export function stringListSetting(name: string) {
  const message = `${name} must be a list of strings, a JSON list or a comma-separated string`;
  return v.pipe(
    v.union([v.array(v.union([v.string(), v.number()]), message), v.string(message)], message),
    v.transform((value): unknown => {
      if (Array.isArray(value)) return value.map(String);
      const trimmed = value.trim();
      if (trimmed.startsWith("[")) return jsonText(trimmed);
      return trimmed.split(",");
    }),
    v.array(v.union([v.string(), v.number()]), `${name}: a JSON list must hold strings`),
    v.transform((list) => list.map((s) => String(s).trim()).filter((s) => s.length > 0)),
  );
}

/** A YAML mapping or a JSON object string (ContentFlow's catalog passes maps as JSON strings). */
export function mapSetting<T extends v.GenericSchema>(name: string, valueSchema: T) {
  const message = `${name} must be a mapping (YAML) or a JSON object string`;
  return v.pipe(
    v.union([v.record(v.string(), v.unknown()), v.string()], message),
    v.transform((value): unknown => (typeof value === "string" ? jsonText(value.trim()) : value)),
    v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), message),
    v.record(v.string(), valueSchema),
  );
}

/**
 * A YAML list, or the catalog's JSON string of one, whose entries match `entry`. `notAList` is the message for
 * anything else; `badList` for a list (or JSON text) whose entries do not match or that is not a list at all.
 */
export function listOrJsonSetting<T extends v.GenericSchema>(
  entry: T,
  messages: { notAList: string; badList: string },
) {
  return v.pipe(
    v.union([v.array(v.unknown()), v.string()], messages.notAList),
    v.transform((value): unknown => (typeof value === "string" ? jsonText(value) : value)),
    v.array(entry, messages.badList),
  );
}

/** Drops null and "" values, so that they fall back to the defaults as in ContentFlow. */
export function withoutEmptyValues(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== null && value !== ""));
}
