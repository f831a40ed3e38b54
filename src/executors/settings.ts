// valibot building blocks for executor settings. Settings come from YAML written by people and from ${VAR}
// substitution (always a string), so numbers and booleans also accept their string forms, lists accept a YAML list,
// a JSON list or a comma-separated string, and maps accept a YAML mapping or a JSON object string (the catalog's
// form). Null and blank strings mean "not set", and strings are stripped (ContentFlow's get_setting), see
// withoutEmptyValues.
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

/**
 * One character of CSV syntax (delimiter, quote character). Surrounding spaces are stripped as ContentFlow strips
 * them (" | " is "|"), but a value that is only whitespace stays (a tab delimiter: ContentFlow turned it into ","),
 * and the two characters \\t mean a tab.
 */
export function csvCharSetting(name: string) {
  return v.pipe(
    v.string(`${name} must be one character`),
    v.transform((c) => (c.trim() === "" ? c : c.trim())),
    v.transform((c) => (c === "\\t" ? "\t" : c)),
    v.length(1, `${name} must be one character`),
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

/** A YAML list, a JSON list string ('["a","b"]') or a comma-separated string ("a, b", entries trimmed). */
export function stringListSetting(name: string) {
  const message = `${name} must be a list of strings, a JSON list or a comma-separated string`;
  return v.pipe(
    v.union([v.array(v.union([v.string(), v.number()]), message), v.string(message)], message),
    v.transform((value): unknown => {
      if (Array.isArray(value)) return value;
      const trimmed = value.trim();
      if (trimmed.startsWith("[")) return jsonText(trimmed);
      return trimmed.split(",").map((s) => s.trim());
    }),
    v.array(v.union([v.string(), v.number()]), `${name}: a JSON list must hold strings`),
    // Entries of a list are taken as written (ContentFlow does not strip them either); empty ones are dropped.
    v.transform((list) => list.map(String).filter((s) => s.length > 0)),
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

/**
 * How ContentFlow's stripping applies to a setting, by name, where it would lose what the setting says:
 * - "as-written": separators, whose whitespace is part of the value (the default page separator "\n\n---\n\n",
 *   " | ");
 * - "unless-blank": delimiters and quote characters, one character that may itself be whitespace (a tab
 *   delimiter); spaces around another character are stripped (" ; " is ";");
 * - "strip": every other setting.
 */
export function whitespaceRule(name: string): "as-written" | "unless-blank" | "strip" {
  if (/separator/.test(name)) return "as-written";
  if (/delimiter|quotechar/.test(name)) return "unless-blank";
  return "strip";
}

/**
 * ContentFlow's get_setting: every string setting is stripped of surrounding whitespace, and null or a blank string
 * means "not set", so the default applies. Where that loses what the setting says (its default separators lose
 * their newlines, a tab delimiter becomes ","), whitespaceRule keeps it. Nested values (inside maps and lists) are
 * left as they are, as in ContentFlow.
 */
export function withoutEmptyValues(settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value === null || value === "") continue;
    if (typeof value !== "string") {
      out[key] = value;
      continue;
    }
    const stripped = value.trim();
    const rule = whitespaceRule(key);
    if (rule === "as-written" || (rule === "unless-blank" && stripped === "")) out[key] = value;
    else if (stripped !== "") out[key] = stripped;
  }
  return out;
}
