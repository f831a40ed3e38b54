// Safe evaluator for `settings.condition` (ContentFlow's operator vocabulary) over a content item's JSON.
// A tokenizer and a recursive-descent parser; no eval. `and` binds tighter than `or`; parentheses group.
export class ConditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConditionError";
  }
}

type Token =
  | { t: "str"; v: string }
  | { t: "num"; v: number }
  | { t: "word"; v: string }
  | { t: "op"; v: string }
  | { t: "punct"; v: string };

const SYMBOL_OPS = ["==", "!=", ">=", "<=", ">", "<"];
const WORD_OPS = new Set([
  "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", "regex_match", "is_empty", "is_not_empty",
]);
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

function tokenize(src: string): Token[] {
  if (src.length > 2000) throw new ConditionError("condition is longer than 2000 characters");
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new ConditionError(`unterminated string starting at position ${i}`);
      out.push({ t: "str", v: src.slice(i + 1, end) });
      i = end + 1;
    } else if ("()[],.".includes(c) && !(c === "." && /\d/.test(src[i + 1] ?? "") && out.at(-1)?.t !== "word")) {
      out.push({ t: "punct", v: c });
      i++;
    } else if (SYMBOL_OPS.some((op) => src.startsWith(op, i))) {
      const op = SYMBOL_OPS.find((o) => src.startsWith(o, i))!;
      out.push({ t: "op", v: op });
      i += op.length;
    } else if (/[-\d.]/.test(c)) {
      const m = /^-?(\d+\.?\d*|\.\d+)/.exec(src.slice(i));
      if (!m) throw new ConditionError(`unexpected '${c}' at position ${i}`);
      out.push({ t: "num", v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!;
      out.push({ t: "word", v: m[0] });
      i += m[0].length;
    } else {
      throw new ConditionError(`unexpected '${c}' at position ${i}`);
    }
  }
  return out;
}

type Node =
  | { k: "or" | "and"; a: Node; b: Node }
  | { k: "not"; a: Node }
  | { k: "cmp"; path: Array<string | number>; op: string; value?: unknown };

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}
  private peek(): Token | undefined {
    return this.toks[this.i];
  }
  private next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ConditionError("condition ends unexpectedly");
    return t;
  }
  private isWord(v: string): boolean {
    const t = this.peek();
    return t?.t === "word" && t.v.toLowerCase() === v;
  }
  private expectPunct(v: string): void {
    const t = this.next();
    if (t.t !== "punct" || t.v !== v) throw new ConditionError(`expected '${v}'`);
  }
  parse(): Node {
    const n = this.or();
    if (this.peek()) throw new ConditionError(`unexpected '${String(this.peek()!.v)}'`);
    return n;
  }
  private or(): Node {
    let n = this.and();
    while (this.isWord("or")) {
      this.i++;
      n = { k: "or", a: n, b: this.and() };
    }
    return n;
  }
  private and(): Node {
    let n = this.unary();
    while (this.isWord("and")) {
      this.i++;
      n = { k: "and", a: n, b: this.unary() };
    }
    return n;
  }
  private unary(): Node {
    if (this.isWord("not")) {
      this.i++;
      return { k: "not", a: this.unary() };
    }
    const t = this.peek();
    if (t?.t === "punct" && t.v === "(") {
      this.i++;
      const n = this.or();
      this.expectPunct(")");
      return n;
    }
    return this.comparison();
  }
  private path(): Array<string | number> {
    const first = this.next();
    if (first.t !== "word") throw new ConditionError(`expected a field path, got '${String(first.v)}'`);
    const path: Array<string | number> = [first.v];
    for (;;) {
      const t = this.peek();
      if (t?.t === "punct" && t.v === ".") {
        this.i++;
        const seg = this.next();
        if (seg.t !== "word" && seg.t !== "num") throw new ConditionError("expected a name after '.'");
        path.push(seg.t === "num" ? seg.v : seg.v);
      } else if (t?.t === "punct" && t.v === "[") {
        this.i++;
        const key = this.next();
        if (key.t !== "num" && key.t !== "str") throw new ConditionError("expected an index or a quoted key in [...]");
        path.push(key.v);
        this.expectPunct("]");
      } else break;
    }
    if (path.length > 10) throw new ConditionError("field path is deeper than 10");
    for (const seg of path) if (typeof seg === "string" && FORBIDDEN.has(seg)) throw new ConditionError(`field '${seg}' is not allowed`);
    return path;
  }
  private literal(): unknown {
    const t = this.next();
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
      if (this.peek()?.t === "punct" && this.peek()!.v === "]") {
        this.i++;
        return items;
      }
      for (;;) {
        items.push(this.literal());
        const sep = this.next();
        if (sep.t === "punct" && sep.v === "]") return items;
        if (sep.t !== "punct" || sep.v !== ",") throw new ConditionError("expected ',' or ']' in a list");
      }
    }
    throw new ConditionError(`expected a value, got '${String(t.v)}'`);
  }
  private comparison(): Node {
    const path = this.path();
    const t = this.next();
    const op = t.t === "op" ? t.v : t.t === "word" && WORD_OPS.has(t.v.toLowerCase()) ? t.v.toLowerCase() : undefined;
    if (!op) throw new ConditionError(`expected an operator after ${path.join(".")}, got '${String(t.v)}'`);
    if (op === "is_empty" || op === "is_not_empty") return { k: "cmp", path, op };
    return { k: "cmp", path, op, value: this.literal() };
  }
}

function resolvePath(root: unknown, path: Array<string | number>): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof seg === "number") cur = Array.isArray(cur) ? cur[seg] : (cur as Record<string, unknown>)[String(seg)];
    else if (typeof cur === "object" && Object.prototype.hasOwnProperty.call(cur, seg)) cur = (cur as Record<string, unknown>)[seg];
    else return undefined;
  }
  return cur;
}

function compare(field: unknown, op: string, value: unknown): boolean {
  switch (op) {
    case "==":
      return field === value || (field !== null && value !== null && typeof field !== "object" && String(field) === String(value) && typeof field === typeof value);
    case "!=":
      return !compare(field, "==", value);
    case ">":
    case "<":
    case ">=":
    case "<=": {
      if (field === undefined || field === null) return false;
      const [a, b] = typeof value === "number" ? [Number(field), value] : [String(field), String(value)];
      if (typeof a === "number" && Number.isNaN(a)) return false;
      return op === ">" ? a > b : op === "<" ? a < b : op === ">=" ? a >= b : a <= b;
    }
    case "in":
      return Array.isArray(value) ? value.some((v) => compare(field, "==", v)) : typeof value === "string" && String(field).length > 0 && value.includes(String(field));
    case "not_in":
      return !compare(field, "in", value);
    case "contains":
      if (Array.isArray(field)) return field.some((v) => compare(v, "==", value));
      return typeof field === "string" && field.includes(String(value));
    case "not_contains":
      return !compare(field, "contains", value);
    case "starts_with":
      return field !== undefined && field !== null && String(field).startsWith(String(value));
    case "ends_with":
      return field !== undefined && field !== null && String(field).endsWith(String(value));
    case "regex_match": {
      if (field === undefined || field === null) return false;
      const pattern = String(value);
      if (pattern.length > 500) throw new ConditionError("regular expression is longer than 500 characters");
      return new RegExp(pattern).test(String(field));
    }
    case "is_empty":
      return field === undefined || field === null || field === "" || (Array.isArray(field) && field.length === 0);
    case "is_not_empty":
      return !compare(field, "is_empty", undefined);
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
      return compare(resolvePath(root, node.path), node.op, node.value);
  }
}

export interface CompiledCondition {
  source: string;
  test(item: unknown): boolean;
}

/** Parses once (errors surface when the pipeline is compiled), evaluates per item. */
export function compileCondition(source: string): CompiledCondition {
  const ast = new Parser(tokenize(source)).parse();
  return { source, test: (item) => evaluate(ast, item) };
}
