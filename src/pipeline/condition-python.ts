// How ContentFlow's SecureConditionEvaluator reads a condition our parser (condition.ts) refuses, so that a pipeline
// ContentFlow runs is not refused here: ContentFlow splits the text on " and ", then each part on " or ", and in each
// piece takes the first operator (longest first) that occurs anywhere in it as a substring; the text after it is the
// value, and a value it cannot read (`'en' and`, an unclosed quote) is plain text. So `data.lang == 'en' and` compares
// data.lang with the text "'en' and" — false for every item, silently. condition.ts evaluates such a reading with
// its own operators and warns loudly at compile time. A reading ContentFlow itself fails on (no operator, a bad field
// path, a missing value) gives undefined: ContentFlow fails every item on it, so we refuse it at compile time.

export type PySegment = string | number;

export type PyReading =
  | { k: "and" | "or"; parts: PyReading[] }
  | { k: "cmp"; path: PySegment[]; op: string; value?: unknown };

/** ContentFlow's operators in the order it tries them: longest first, ties in its declaration order. */
const OPERATORS = [
  "not_contains",
  "is_not_empty",
  "starts_with",
  "regex_match",
  "ends_with",
  "contains",
  "is_empty",
  "not_in",
  "==",
  "!=",
  ">=",
  "<=",
  "in",
  ">",
  "<",
];
const FIELD_NAME = /^[a-zA-Z_][a-zA-Z0-9_-]*$/;
const DANGEROUS = [
  "__class__",
  "__name__",
  "__module__",
  "__dict__",
  "__doc__",
  "__bases__",
  "__subclasses__",
  "__mro__",
  "__globals__",
  "__locals__",
  "__builtins__",
  "__import__",
];
const DANGEROUS_CALLS = [
  "eval(",
  "exec(",
  "compile(",
  "__import__(",
  "open(",
  "file(",
  "input(",
  "raw_input(",
  "globals(",
  "locals(",
  "vars(",
  "dir(",
  "getattr(",
  "setattr(",
  "hasattr(",
  "delattr(",
];
const MAX_FIELD_DEPTH = 10;

function quoted(s: string): boolean {
  return (s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'"));
}

/** Python's int() of a whole-number text (underscores between digits allowed). */
const PY_INT = /^[-+]?[0-9]+(?:_[0-9]+)*$/;
/** Python's float() of a text holding a '.' (the only case ContentFlow tries float for). */
const PY_FLOAT = /^[-+]?(?:[0-9]+(?:_[0-9]+)*)?\.(?:[0-9]+(?:_[0-9]+)*)?(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?$/;

/** A value as ContentFlow's _parse_value reads it. */
function pyValue(text: string): unknown {
  const s = text.trim();
  if (quoted(s)) return s.slice(1, -1);
  if (s.startsWith("[") && s.endsWith("]")) {
    const inner = s.slice(1, -1).trim();
    return inner === "" ? [] : inner.split(",").map((item) => pyValue(item));
  }
  const lower = s.toLowerCase();
  if (lower === "true" || lower === "false") return lower === "true";
  if (lower === "null" || lower === "none") return null;
  if (s.includes(".")) {
    if (PY_FLOAT.test(s) && /[0-9]/.test(s)) return Number(s.replaceAll("_", ""));
  } else if (PY_INT.test(s)) return Number(s.replaceAll("_", ""));
  return s;
}

/** A field path as ContentFlow validates and walks it, or undefined where ContentFlow refuses it. */
function pyPath(text: string): PySegment[] | undefined {
  if (text === "" || DANGEROUS.some((d) => text.includes(d))) return undefined;
  const parts = text.split(".");
  if (parts.length > MAX_FIELD_DEPTH) return undefined;
  const path: PySegment[] = [];
  for (const part of parts) {
    if (part === "") return undefined;
    if (part.includes("[") && part.includes("]")) {
      const name = part.split("[")[0];
      const index = part.slice(part.indexOf("[") + 1, part.lastIndexOf("]"));
      if (name !== "" && !FIELD_NAME.test(name)) return undefined;
      if (name !== "") path.push(name);
      if (/^[0-9]+$/.test(index)) path.push(Number(index));
      else if (index.length >= 2 && quoted(index)) path.push(index.slice(1, -1));
      else return undefined;
    } else if (FIELD_NAME.test(part)) path.push(part);
    else return undefined;
  }
  return path;
}

function single(text: string): PyReading | undefined {
  let s = text.trim();
  if (s.startsWith("(") && s.endsWith(")")) s = s.slice(1, -1).trim();
  for (const op of OPERATORS) {
    if (!s.includes(op)) continue;
    if (op === "is_empty" || op === "is_not_empty") {
      const path = pyPath(s.replaceAll(op, "").trim());
      return path && { k: "cmp", path, op };
    }
    const at = s.indexOf(op);
    const path = pyPath(s.slice(0, at).trim());
    if (!path) return undefined;
    const value = pyValue(s.slice(at + op.length));
    // A missing value (`null`, `none`) makes ContentFlow's Condition raise.
    return value === null ? undefined : { k: "cmp", path, op, value };
  }
  return undefined;
}

function group(k: "and" | "or", parts: (PyReading | undefined)[]): PyReading | undefined {
  if (parts.some((p) => p === undefined)) return undefined;
  return parts.length === 1 ? parts[0] : { k, parts: parts as PyReading[] };
}

/** ContentFlow's reading of a condition, or undefined where ContentFlow fails on it. */
export function pythonReading(condition: string): PyReading | undefined {
  const s = condition.trim();
  if (s === "" || s.includes(";")) return undefined;
  if (DANGEROUS_CALLS.some((f) => s.includes(f)) || DANGEROUS.some((d) => s.includes(d))) return undefined;
  const ands = s.split(/\s+and\s+/i);
  return group(
    "and",
    ands.map((part) => {
      const ors = part.trim().split(/\s+or\s+/i);
      return group("or", ors.map((p) => single(p)));
    }),
  );
}

/** The reading as text for a warning: `data.lang == "'en' and"`. */
export function readingText(r: PyReading): string {
  if (r.k !== "cmp") {
    return r.parts.map((p) => (p.k === "cmp" ? readingText(p) : `(${readingText(p)})`)).join(` ${r.k} `);
  }
  const path = r.path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
  return r.op === "is_empty" || r.op === "is_not_empty"
    ? `${path} ${r.op}`
    : `${path} ${r.op} ${JSON.stringify(r.value)}`;
}
