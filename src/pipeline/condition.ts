// Safe evaluator for `settings.condition`, with ContentFlow's operator vocabulary, over a content item's JSON
// (`id.…`, `data.…`, `summary_data.…`, `executor_logs…`, or any other top-level field). A tokenizer and a
// recursive-descent parser: no eval, no property access beyond own data properties. Unlike ContentFlow, which split
// conditions on operator substrings, operators are whole tokens, quoted strings may hold spaces and the words
// and/or, and parentheses group. Precedence follows ContentFlow, which splits on " and " first: `or` binds tighter than `and`, so
// `a or b and c` means `(a or b) and c`; a condition that mixes them without parentheses compiles with a warning.
// `regex_match` uses RE2 (re2js): matching time is linear in the input, so no pattern can block the worker.
// Grammar:
//   expr    := any ("and" any)*
//   any     := unary ("or" unary)*
//   unary   := "not" unary | "(" expr ")" | compare
//   compare := path (binop value | "is_empty" | "is_not_empty")
//   path    := name ("." (name | index) | "[" (index | string) "]")*
//   value   := string | number | true | false | null | none | bare-word | "[" value ("," value)* "]"
import { type LinearRegex, linearRegex } from "../util/linear-regex.ts";
import { type PyReading, pythonReading, readingText } from "./condition-python.ts";

export class ConditionError extends Error {
  /**
   * A limit we set on purpose (length, depth, names, RE2 patterns), not a syntax error: the condition is refused
   * even where ContentFlow would read it.
   */
  readonly refusal: boolean;
  constructor(message: string, opts: { refusal?: boolean } = {}) {
    super(message);
    this.name = "ConditionError";
    this.refusal = opts.refusal ?? false;
  }
}

const REFUSAL = { refusal: true };

const MAX_LENGTH = 4000;
const MAX_NESTING = 32;
const MAX_PATH_DEPTH = 10;
const MAX_REGEX_LENGTH = 500;
const FORBIDDEN = new Set(["__proto__", "prototype", "constructor"]);
const SYMBOL_OPS = ["==", "!=", ">=", "<=", ">", "<"];
const WORD_OPS = new Set([
  "in",
  "not_in",
  "contains",
  "not_contains",
  "starts_with",
  "ends_with",
  "regex_match",
  "is_empty",
  "is_not_empty",
]);

type Token =
  | { t: "str"; v: string; at: number }
  | { t: "num"; v: number; at: number }
  | { t: "word"; v: string; at: number }
  | { t: "op"; v: string; at: number }
  | { t: "punct"; v: string; at: number };

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"' };

function tokenize(src: string): Token[] {
  if (src.length > MAX_LENGTH) throw new ConditionError(`condition is longer than ${MAX_LENGTH} characters`, REFUSAL);
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const at = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let text = "";
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\" && i + 1 < src.length) {
          text += ESCAPES[src[i + 1]] ?? src[i] + src[i + 1];
          i += 2;
        } else text += src[i++];
      }
      if (i >= src.length) throw new ConditionError(`unterminated string starting at position ${at}`);
      i++;
      out.push({ t: "str", v: text, at });
    } else if (SYMBOL_OPS.some((op) => src.startsWith(op, i))) {
      const op = SYMBOL_OPS.find((o) => src.startsWith(o, i))!;
      out.push({ t: "op", v: op, at });
      i += op.length;
    } else if (
      /\d/.test(c) ||
      ((c === "-" || c === "+" || c === ".") && /\d/.test(src[i + 1] ?? "") && out.at(-1)?.t !== "word" &&
        !(c === "." && out.at(-1)?.t === "punct" && out.at(-1)?.v === "]"))
    ) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i))!;
      out.push({ t: "num", v: Number(m[0]), at });
      i += m[0].length;
    } else if ("()[],.".includes(c)) {
      out.push({ t: "punct", v: c, at });
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!;
      out.push({ t: "word", v: m[0], at });
      i += m[0].length;
    } else {
      throw new ConditionError(`unexpected '${c}' at position ${i}`);
    }
  }
  return out;
}

type Segment = string | number;

type Node =
  | { k: "or" | "and"; a: Node; b: Node }
  | { k: "not"; a: Node }
  | { k: "cmp"; path: Segment[]; op: string; value?: unknown; regex?: LinearRegex };

class Parser {
  private i = 0;
  private depth = 0;
  /** Set when one level mixes `and` and `or` without parentheses (read the ContentFlow way, worth a warning). */
  mixedAndOr = false;
  constructor(private readonly toks: Token[]) {}

  parse(): Node {
    if (this.toks.length === 0) throw new ConditionError("condition is empty");
    const n = this.expr();
    const rest = this.toks[this.i];
    if (rest) throw new ConditionError(`unexpected '${String(rest.v)}' at position ${rest.at}`);
    return n;
  }

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private next(what: string): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ConditionError(`condition ends where ${what} was expected`);
    return t;
  }

  private isWord(word: string): boolean {
    const t = this.peek();
    return t?.t === "word" && t.v.toLowerCase() === word;
  }

  private isPunct(p: string): boolean {
    const t = this.peek();
    return t?.t === "punct" && t.v === p;
  }

  private expectPunct(p: string): void {
    const t = this.next(`'${p}'`);
    if (t.t !== "punct" || t.v !== p) {
      throw new ConditionError(`expected '${p}' at position ${t.at}, got '${String(t.v)}'`);
    }
  }

  private nested<T>(fn: () => T): T {
    if (++this.depth > MAX_NESTING) {
      throw new ConditionError(`condition is nested more than ${MAX_NESTING} levels deep`, REFUSAL);
    }
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  /** An `and` chain of `or` chains: ContentFlow splits on " and " first, so `or` binds tighter. */
  private expr(): Node {
    const first = this.orChain();
    let n = first.node;
    let sawOr = first.chained;
    let sawAnd = false;
    while (this.isWord("and")) {
      this.i++;
      sawAnd = true;
      const next = this.orChain();
      sawOr ||= next.chained;
      n = { k: "and", a: n, b: next.node };
    }
    if (sawAnd && sawOr) this.mixedAndOr = true;
    return n;
  }

  /** `chained`: this level has an `or` of its own (one inside parentheses does not count). */
  private orChain(): { node: Node; chained: boolean } {
    let node = this.unary();
    let chained = false;
    while (this.isWord("or")) {
      this.i++;
      chained = true;
      node = { k: "or", a: node, b: this.unary() };
    }
    return { node, chained };
  }

  private unary(): Node {
    return this.nested(() => {
      if (this.isWord("not")) {
        this.i++;
        return { k: "not", a: this.unary() };
      }
      if (this.isPunct("(")) {
        this.i++;
        const n = this.expr();
        this.expectPunct(")");
        return n;
      }
      return this.comparison();
    });
  }

  private path(): Segment[] {
    const first = this.next("a field path");
    if (first.t !== "word") {
      throw new ConditionError(`expected a field path at position ${first.at}, got '${String(first.v)}'`);
    }
    const path: Segment[] = [first.v];
    for (;;) {
      if (this.isPunct(".")) {
        this.i++;
        const seg = this.next("a name after '.'");
        if (seg.t === "word") path.push(seg.v);
        else if (seg.t === "num" && Number.isInteger(seg.v) && seg.v >= 0) path.push(seg.v);
        else throw new ConditionError(`expected a name after '.' at position ${seg.at}`);
      } else if (this.isPunct("[")) {
        this.i++;
        const key = this.next("an index or a quoted key");
        if (key.t === "num" && Number.isInteger(key.v) && key.v >= 0) path.push(key.v);
        else if (key.t === "str") path.push(key.v);
        else throw new ConditionError(`expected an index or a quoted key in [...] at position ${key.at}`);
        this.expectPunct("]");
      } else break;
      if (path.length > MAX_PATH_DEPTH) {
        throw new ConditionError(`field path is deeper than ${MAX_PATH_DEPTH}`, REFUSAL);
      }
    }
    for (const seg of path) {
      if (typeof seg === "string" && FORBIDDEN.has(seg)) {
        throw new ConditionError(`field name '${seg}' is not allowed`, REFUSAL);
      }
    }
    return path;
  }

  private value(): unknown {
    return this.nested(() => {
      const t = this.next("a value");
      if (t.t === "str" || t.t === "num") return t.v;
      if (t.t === "word") {
        const w = t.v.toLowerCase();
        if (w === "true") return true;
        if (w === "false") return false;
        if (w === "null" || w === "none") return null;
        return t.v;
      }
      if (t.t === "punct" && t.v === "[") {
        const items: unknown[] = [];
        if (this.isPunct("]")) {
          this.i++;
          return items;
        }
        for (;;) {
          items.push(this.value());
          const sep = this.next("',' or ']'");
          if (sep.t === "punct" && sep.v === "]") return items;
          if (sep.t !== "punct" || sep.v !== ",") throw new ConditionError(`expected ',' or ']' at position ${sep.at}`);
        }
      }
      throw new ConditionError(`expected a value at position ${t.at}, got '${String(t.v)}'`);
    });
  }

  private comparison(): Node {
    const path = this.path();
    const t = this.next(`an operator after ${path.join(".")}`);
    const op = t.t === "op" ? t.v : t.t === "word" && WORD_OPS.has(t.v.toLowerCase()) ? t.v.toLowerCase() : undefined;
    if (!op) {
      throw new ConditionError(
        `expected an operator after ${path.join(".")} at position ${t.at}, got '${String(t.v)}'`,
      );
    }
    if (op === "is_empty" || op === "is_not_empty") return { k: "cmp", path, op };
    const value = this.value();
    if (op === "regex_match") {
      if (typeof value !== "string") throw new ConditionError("regex_match needs a quoted pattern");
      if (value.length > MAX_REGEX_LENGTH) {
        throw new ConditionError(`regular expression is longer than ${MAX_REGEX_LENGTH} characters`, REFUSAL);
      }
      try {
        return { k: "cmp", path, op, value, regex: linearRegex(value) };
      } catch (err) {
        throw new ConditionError(
          `invalid regular expression '${value}': ${(err as Error).message} (regex_match uses RE2 syntax, which has ` +
            "no backreferences or lookaround, so that matching takes linear time)",
          REFUSAL,
        );
      }
    }
    if ((op === "in" || op === "not_in") && !Array.isArray(value) && typeof value !== "string") {
      throw new ConditionError(`${op} needs a list or a string`);
    }
    return { k: "cmp", path, op, value };
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function resolvePath(root: unknown, path: Segment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === "number") cur = cur[seg];
    else if (isRecord(cur) && Object.hasOwn(cur, String(seg))) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

function typeName(x: unknown): string {
  if (x === null || x === undefined) return "null";
  if (Array.isArray(x)) return "list";
  return typeof x;
}

/** Python-like equality on JSON values: no coercion between types (5 == "5" is false). */
function equal(a: unknown, b: unknown): boolean {
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => equal(x, (b as unknown[])[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length &&
    ka.every((k) => Object.hasOwn(b, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function isNumericString(x: unknown): x is string {
  // Unambiguous (\d+(?:\.\d*)? rather than \d+\.?\d*), so a long run of digits is matched in linear time.
  return typeof x === "string" && /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/.test(x);
}

function order(field: unknown, op: string, value: unknown): boolean {
  if (field === undefined || field === null) return false;
  let a = field;
  let b = value;
  if (typeof b === "number" && isNumericString(a)) a = Number(a);
  if (typeof a === "number" && isNumericString(b)) b = Number(b);
  const comparable = (typeof a === "number" && typeof b === "number") ||
    (typeof a === "string" && typeof b === "string");
  if (!comparable) throw new ConditionError(`cannot compare ${typeName(field)} with ${typeName(value)} using ${op}`);
  const x = a as number | string;
  const y = b as number | string;
  return op === ">" ? x > y : op === "<" ? x < y : op === ">=" ? x >= y : x <= y;
}

function contains(field: unknown, value: unknown): boolean {
  if (Array.isArray(field)) return field.some((x) => equal(x, value));
  if (typeof field === "string") return field.includes(String(value));
  if (isRecord(field)) return typeof value === "string" && Object.hasOwn(field, value);
  return false;
}

/** ContentFlow's test: None, "" or [] (an empty mapping is not empty). */
function isEmpty(field: unknown): boolean {
  return field === undefined || field === null || field === "" || (Array.isArray(field) && field.length === 0);
}

/** Python's repr() of a float: shortest digits, exponent form below 1e-4 and from 1e16, "e-05" style exponents. */
function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const [digits, exp] = x.toExponential().split("e");
  const e = Number(exp);
  if (e < -4 || e >= 16) {
    return `${digits}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(x);
}

/** Python's repr() of a JSON value (strings quoted as Python quotes them). */
function pyRepr(x: unknown): string {
  if (typeof x === "string") {
    const q = x.includes("'") && !x.includes('"') ? '"' : "'";
    const body = x.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll("\r", "\\r").replaceAll("\t", "\\t");
    return q + (q === "'" ? body.replaceAll("'", "\\'") : body) + q;
  }
  return text(x);
}

/**
 * Python's str() of a field, which ContentFlow's starts_with, ends_with and regex_match compare: a missing field is
 * "None", true is "True", a list is "['a', 1]", a mapping "{'k': None}". Numbers as json.loads gives them (a whole
 * number is an int: 5, not 5.0).
 */
function text(field: unknown): string {
  if (field === undefined || field === null) return "None";
  if (typeof field === "boolean") return field ? "True" : "False";
  if (typeof field === "number") {
    return Number.isInteger(field) && Math.abs(field) < 1e16 ? String(field) : pyFloat(field);
  }
  if (typeof field === "string") return field;
  if (Array.isArray(field)) return `[${field.map(pyRepr).join(", ")}]`;
  if (isRecord(field)) return `{${Object.entries(field).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(", ")}}`;
  return String(field);
}

function compare(node: Extract<Node, { k: "cmp" }>, field: unknown): boolean {
  const { op, value } = node;
  switch (op) {
    case "==":
      return equal(field, value);
    case "!=":
      return !equal(field, value);
    case ">":
    case "<":
    case ">=":
    case "<=":
      return order(field, op, value);
    case "in":
      return Array.isArray(value)
        ? value.some((x) => equal(field, x))
        : typeof field === "string" && (value as string).includes(field);
    case "not_in":
      return !(Array.isArray(value)
        ? value.some((x) => equal(field, x))
        : typeof field === "string" && (value as string).includes(field));
    case "contains":
      return contains(field, value);
    case "not_contains":
      return !contains(field, value);
    case "starts_with":
      return text(field).startsWith(text(value));
    case "ends_with":
      return text(field).endsWith(text(value));
    case "regex_match":
      return node.regex!.test(text(field));
    case "is_empty":
      return isEmpty(field);
    case "is_not_empty":
      return !isEmpty(field);
  }
  throw new ConditionError(`unknown operator ${op}`);
}

function evaluate(node: Node, root: unknown): boolean {
  switch (node.k) {
    case "or":
      return evaluate(node.a, root) || evaluate(node.b, root);
    case "and":
      return evaluate(node.a, root) && evaluate(node.b, root);
    case "not":
      return !evaluate(node.a, root);
    case "cmp":
      return compare(node, resolvePath(root, node.path));
  }
}

export interface CompiledCondition {
  source: string;
  /** Things to tell the pipeline's author once (a condition that mixes and/or without parentheses). */
  warnings: string[];
  /** True when the item meets the condition; throws ConditionError when it cannot be evaluated. */
  test(item: unknown): boolean;
}

/** A comparison of ContentFlow's reading, checked as our parser checks its own (undefined: refused). */
function readingNode(r: PyReading): Node | undefined {
  if (r.k !== "cmp") {
    const parts = r.parts.map(readingNode);
    if (parts.some((p) => p === undefined)) return undefined;
    return (parts as Node[]).reduce((a, b) => ({ k: r.k as "and" | "or", a, b }));
  }
  const { path, op, value } = r;
  if (path.length > MAX_PATH_DEPTH || path.some((seg) => typeof seg === "string" && FORBIDDEN.has(seg))) {
    return undefined;
  }
  if ((op === "in" || op === "not_in") && !Array.isArray(value) && typeof value !== "string") return undefined;
  if (op !== "regex_match") return { k: "cmp", path, op, value };
  if (typeof value !== "string" || value.length > MAX_REGEX_LENGTH) return undefined;
  try {
    return { k: "cmp", path, op, value, regex: linearRegex(value) };
  } catch {
    return undefined;
  }
}

/**
 * Parses once (syntax errors surface when the pipeline is compiled), evaluates per item. A condition our grammar
 * refuses but ContentFlow reads (condition-python.ts: `data.lang == 'en' and`, an unclosed quote) is evaluated as
 * ContentFlow reads it, with a warning; one ContentFlow fails on too is refused.
 */
export function compileCondition(source: string): CompiledCondition {
  let parser: Parser;
  let ast: Node;
  try {
    parser = new Parser(tokenize(source));
    ast = parser.parse();
  } catch (err) {
    if (!(err instanceof ConditionError) || err.refusal) throw err;
    const reading = pythonReading(source);
    const node = reading && readingNode(reading);
    if (!reading || !node) throw err;
    return {
      source,
      warnings: [
        `condition '${source}' is malformed (${err.message}); it is evaluated as ContentFlow reads it, ` +
        `${readingText(reading)}, which is probably not what you mean: fix the condition`,
      ],
      test: (item) => evaluate(node, item),
    };
  }
  const warnings = parser.mixedAndOr
    ? [
      `condition '${source}' mixes 'and' and 'or' without parentheses; as in ContentFlow, 'or' binds tighter ` +
      "('a or b and c' means '(a or b) and c'); add parentheses to say which you mean",
    ]
    : [];
  return { source, warnings, test: (item) => evaluate(ast, item) };
}
