// How a setting written as text reads as a boolean or a whole number. One rule for environment settings
// (config/schema.ts) and pipeline settings (executors/settings.ts, where ${VAR} substitution always yields text).
// ContentFlow-compatible: Python's int() takes a sign and spaces around ("+5", " 7 "); ContentFlow's boolean
// settings read true/1/yes as true, and we also take on/off, while anything else is an error rather than false.
import * as v from "valibot";

const TRUE_WORDS = ["true", "1", "yes", "on"];
const FALSE_WORDS = ["false", "0", "no", "off"];

/** true/false, 1/0, yes/no or on/off, in any case, spaces around allowed; undefined for anything else. */
export function parseBooleanText(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  return undefined;
}

/** Digits with an optional sign, spaces around allowed ("+5", " -3 "); undefined for anything else. */
export function parseIntegerText(text: string): number | undefined {
  const trimmed = text.trim();
  return /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

/** valibot: a string read by parseBooleanText; `message` when it is not a string or not one of the words. */
export function booleanText(message: string) {
  return v.pipe(
    v.string(message),
    v.check((s) => parseBooleanText(s) !== undefined, message),
    v.transform((s) => parseBooleanText(s)!),
  );
}

/** valibot: a string read by parseIntegerText; `message` when it is not a string or not a whole number. */
export function integerText(message: string) {
  return v.pipe(
    v.string(message),
    v.check((s) => parseIntegerText(s) !== undefined, message),
    v.transform((s) => parseIntegerText(s)!),
  );
}
