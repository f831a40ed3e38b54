// Plain (unquoted) YAML scalars resolved the way PyYAML's SafeLoader resolves them (YAML 1.1: `017` is octal,
// `1:30` is sexagesimal, `yes`/`off` are booleans, `1e3` stays text), and the way a YAML 1.2 core-schema reader
// would, so that a loader can say where the two differ. The patterns are PyYAML 6's implicit resolvers, tried in
// its order (bool, float, int, merge, null, timestamp).

/** What a plain scalar is. `timestamp` and `merge` carry the text: PyYAML makes a date, or merges a mapping. */
export type PlainScalar =
  | { kind: "null"; value: null }
  | { kind: "bool"; value: boolean }
  | { kind: "int" | "float"; value: number }
  | { kind: "timestamp" | "merge" | "str"; value: string };

const PY_BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const PY_FLOAT = new RegExp(
  "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?" +
    "|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?" +
    "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*" +
    "|[-+]?\\.(?:inf|Inf|INF)" +
    "|\\.(?:nan|NaN|NAN))$",
);
const PY_INT = new RegExp(
  "^(?:[-+]?0b[0-1_]+" +
    "|[-+]?0[0-7_]+" +
    "|[-+]?(?:0|[1-9][0-9_]*)" +
    "|[-+]?0x[0-9a-fA-F_]+" +
    "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
);
const PY_NULL = /^(?:~|null|Null|NULL|)$/;
const PY_TIMESTAMP = new RegExp(
  "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]" +
    "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?" +
    "(?:[Tt]|[ \\t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\\.[0-9]*)?" +
    "(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
);

/** Base-60 parts ("1:30" → 90), as PyYAML sums them. */
function sexagesimal(text: string, part: (s: string) => number): number {
  let value = 0;
  for (const p of text.split(":")) value = value * 60 + part(p);
  return value;
}

/** PyYAML's int constructor: underscores dropped, 0b binary, 0x hex, a leading 0 octal, colons base 60. */
function pyInt(text: string): number | undefined {
  let s = text.replaceAll("_", "");
  const sign = s[0] === "-" ? -1 : 1;
  if (s[0] === "-" || s[0] === "+") s = s.slice(1);
  let value: number;
  if (s === "0") value = 0;
  else if (s.startsWith("0b")) value = s.length > 2 ? parseInt(s.slice(2), 2) : NaN;
  else if (s.startsWith("0x")) value = s.length > 2 ? parseInt(s.slice(2), 16) : NaN;
  else if (s[0] === "0") value = parseInt(s, 8);
  else if (s.includes(":")) value = sexagesimal(s, (p) => parseInt(p, 10));
  else value = parseInt(s, 10);
  // `0b_` or `0x_` match the pattern but hold no digit (PyYAML fails on them): read as text.
  if (Number.isNaN(value)) return undefined;
  return value === 0 ? 0 : sign * value; // Python's -0 is 0
}

/** PyYAML's float constructor: underscores dropped, .inf/.nan, colons base 60. */
function pyFloat(text: string): number {
  let s = text.replaceAll("_", "").toLowerCase();
  const sign = s[0] === "-" ? -1 : 1;
  if (s[0] === "-" || s[0] === "+") s = s.slice(1);
  if (s === ".inf") return sign * Infinity;
  if (s === ".nan") return NaN;
  if (s.includes(":")) return sign * sexagesimal(s, Number);
  return sign * Number(s);
}

/** A plain scalar as PyYAML 6's SafeLoader reads it. */
export function pyYamlPlainScalar(text: string): PlainScalar {
  if (PY_BOOL.test(text)) return { kind: "bool", value: /^(?:yes|true|on)$/i.test(text) };
  if (PY_FLOAT.test(text)) return { kind: "float", value: pyFloat(text) };
  if (PY_INT.test(text)) {
    const value = pyInt(text);
    if (value !== undefined) return { kind: "int", value };
  }
  if (text === "<<") return { kind: "merge", value: text };
  if (PY_NULL.test(text)) return { kind: "null", value: null };
  if (PY_TIMESTAMP.test(text)) return { kind: "timestamp", value: text };
  return { kind: "str", value: text };
}

/**
 * A scalar with an explicit tag (`!!int "017"`) as PyYAML's constructors read its text, or undefined where PyYAML
 * fails on it (`!!int abc`). `!!null` is null whatever the text.
 */
export function pyYamlTaggedScalar(tag: "bool" | "int" | "float" | "null", text: string): PlainScalar | undefined {
  if (tag === "null") return { kind: "null", value: null };
  if (tag === "bool") {
    const lower = text.toLowerCase();
    if (!["yes", "no", "true", "false", "on", "off"].includes(lower)) return undefined;
    return { kind: "bool", value: ["yes", "true", "on"].includes(lower) };
  }
  if (tag === "int") {
    const value = PY_INT.test(text) ? pyInt(text) : undefined;
    return value === undefined ? undefined : { kind: "int", value };
  }
  // Python's float() also takes what the resolver would not (`!!float 1e3` is 1000.0).
  const decimal = /^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;
  if (!PY_FLOAT.test(text) && !decimal.test(text.replaceAll("_", ""))) return undefined;
  return { kind: "float", value: pyFloat(text) };
}

const CORE_NULL = /^(?:~|[Nn]ull|NULL)?$/;
const CORE_BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const CORE_INT = /^[-+]?[0-9]+$/;
const CORE_OCT = /^0o[0-7]+$/;
const CORE_HEX = /^0x[0-9a-fA-F]+$/;
const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const CORE_INF_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

/** A plain scalar as a YAML 1.2 core-schema reader (most editors and linters) reads it. */
export function coreYamlPlainScalar(text: string): null | boolean | number | string {
  if (CORE_NULL.test(text)) return null;
  if (CORE_BOOL.test(text)) return text[0] === "t" || text[0] === "T";
  if (CORE_INT.test(text)) return parseInt(text, 10);
  if (CORE_OCT.test(text)) return parseInt(text.slice(2), 8);
  if (CORE_HEX.test(text)) return parseInt(text.slice(2), 16);
  if (CORE_INF_NAN.test(text)) return /nan/i.test(text) ? NaN : text[0] === "-" ? -Infinity : Infinity;
  if (CORE_FLOAT.test(text)) return Number(text);
  return text;
}
