// Pipeline YAML text → plain data, read the way ContentFlow's PyYAML (6, SafeLoader) reads it, with notes where that
// reading may surprise an author (for `pipeline check`).
//
// The `yaml` package parses the text to nodes (its failsafe schema: every scalar stays text); this module turns the
// nodes into data as PyYAML constructs them:
// - plain scalars by PyYAML's YAML 1.1 rules (yaml-scalars.ts): `017` is 15, `1:30` is 90, `yes`/`off` are
//   booleans, `1e3` is text; a note where a YAML 1.2 reader would read the scalar differently. Timestamps stay text
//   (PyYAML makes date objects, which a pipeline cannot carry anyway), with a note.
// - merge keys `<<: *anchor` and `<<: [*a, *b]`: the merged keys first, earlier sources winning, the mapping's own
//   keys over them, a later `<<` over an earlier one.
// - duplicate keys: the last one wins, as in PyYAML, with a note.
// - aliases are the anchored value itself (shared, as PyYAML shares the object); the values all aliases expand to
//   may hold at most MAX_ALIAS_EXPANSION nodes (an alias bomb is refused), merges included; a recursive alias is
//   refused.
//
// PyYAML ignores indentation inside a quoted scalar that spans several lines, so a multi-line '...' or "..." value
// may close on a line indented no deeper than its key (ContentFlow's own sample 16-spreadsheet-pipeline does this).
// Lines of a multi-line quoted scalar are folded with their leading whitespace dropped, so indenting such a line
// further does not change the value. When the strict parse fails on a quoted scalar it could not close, the scalar
// is located with the package's own CST parser, its under-indented continuation lines are indented just past its
// parent, and the text is parsed again (a bounded number of times).
import {
  type Alias,
  CST,
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  type Pair,
  parseDocument,
  Parser,
  type Scalar,
  YAMLParseError,
} from "yaml";
import { coreYamlPlainScalar, type PlainScalar, pyYamlPlainScalar, pyYamlTaggedScalar } from "./yaml-scalars.ts";

/** A YAML document that does not parse; the message names the line and column. */
export class YamlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "YamlSyntaxError";
  }
}

/** Nodes all aliases of a document may expand to together (nested aliases multiply: an alias bomb). */
export const MAX_ALIAS_EXPANSION = 100_000;
/** Quoted scalars re-indented at most per document (each repair is one more parse of the text). */
const MAX_REPAIRS = 20;
/** Notes kept per document (the rest are counted in the last). */
const MAX_NOTES = 50;

/** A parsed document and what its author may not expect of the reading (each note names its line). */
export interface YamlDocument {
  value: unknown;
  notes: string[];
}

/**
 * Parses one YAML document to plain data (mappings → objects, sequences → arrays). Throws YamlSyntaxError, whose
 * message names the line and column (re-indenting adds spaces inside lines, never lines, so line numbers hold).
 */
export function parseYamlDocument(text: string): unknown {
  return readYamlDocument(text).value;
}

/** parseYamlDocument, with the notes. */
export function readYamlDocument(text: string): YamlDocument {
  let current = text;
  for (let repairs = 0;; repairs++) {
    let doc: Document.Parsed;
    try {
      doc = parseDocument(current, { schema: "failsafe", uniqueKeys: false, merge: false });
      if (doc.errors.length > 0) throw doc.errors[0];
    } catch (err) {
      if (!(err instanceof YAMLParseError)) throw new YamlSyntaxError((err as Error).message.split("\n")[0]);
      const repaired = repairs < MAX_REPAIRS ? reindentUnclosedQuote(current) : undefined;
      if (repaired === undefined) throw syntaxError(current, err);
      current = repaired;
      continue;
    }
    return new Constructor(current).document(doc);
  }
}

const TAG = "tag:yaml.org,2002:";

/** Builds data from the nodes of one document as PyYAML's SafeConstructor does. */
class Constructor {
  private readonly values = new Map<Node, unknown>();
  /** Expanded size (nodes) of each constructed node, aliases counted in full. */
  private readonly sizes = new Map<Node, number>();
  private readonly inProgress = new Set<Node>();
  private readonly anchors = new Map<string, Node>();
  private expanded = 0;
  private readonly notes: string[] = [];
  private dropped = 0;

  constructor(private readonly text: string) {}

  document(doc: Document.Parsed): YamlDocument {
    const value = doc.contents === null ? null : this.node(doc.contents as Node).value;
    const notes = this.dropped > 0 ? [...this.notes, `… and ${this.dropped} more such notes`] : this.notes;
    return { value, notes };
  }

  private note(node: Node | Scalar, message: string): void {
    if (this.notes.length >= MAX_NOTES) {
      this.dropped++;
      return;
    }
    const [line] = node.range ? lineAndColumn(this.text, node.range[0]) : [0];
    this.notes.push(line > 0 ? `line ${line}: ${message}` : message);
  }

  private where(node: Node): string {
    if (!node.range) return "";
    const [line, column] = lineAndColumn(this.text, node.range[0]);
    return ` at line ${line}, column ${column}`;
  }

  private node(node: Node): { value: unknown; size: number } {
    if (isAlias(node)) return this.alias(node);
    const done = this.values.get(node);
    if (done !== undefined || this.values.has(node)) return { value: done, size: this.sizes.get(node)! };
    if (node.anchor) this.anchors.set(node.anchor, node);
    this.inProgress.add(node);
    let result: { value: unknown; size: number };
    if (isScalar(node)) result = { value: this.scalar(node), size: 1 };
    else if (isSeq(node)) {
      const list: unknown[] = [];
      let size = 1;
      for (const item of node.items) {
        const r = this.node(item as Node);
        list.push(r.value);
        size += r.size;
      }
      result = { value: list, size };
    } else if (isMap(node)) result = this.mapping(node);
    else if (isPair(node as unknown)) {
      // An entry of an `!!omap` or `!!pairs` list: a (key, value) tuple in PyYAML.
      const pair = node as unknown as Pair<Node | null, Node | null>;
      const key = pair.key === null ? null : this.node(pair.key);
      const value = pair.value === null ? null : this.node(pair.value);
      result = { value: [key?.value ?? null, value?.value ?? null], size: 1 + (key?.size ?? 1) + (value?.size ?? 1) };
    } else throw new YamlSyntaxError(`unsupported YAML node${this.where(node)}`);
    this.inProgress.delete(node);
    this.values.set(node, result.value);
    this.sizes.set(node, result.size);
    return result;
  }

  private alias(alias: Alias): { value: unknown; size: number } {
    const target = this.anchors.get(alias.source);
    if (target === undefined) {
      throw new YamlSyntaxError(`alias *${alias.source}${this.where(alias)} names no anchor defined before it`);
    }
    if (this.inProgress.has(target)) {
      throw new YamlSyntaxError(`alias *${alias.source}${this.where(alias)} is inside the value it names (recursive)`);
    }
    const result = this.node(target);
    this.expanded += result.size;
    if (this.expanded > MAX_ALIAS_EXPANSION) {
      throw new YamlSyntaxError(
        `Excessive alias count: the aliases expand to more than ${MAX_ALIAS_EXPANSION} values` +
          `${this.where(alias)} (a resource exhaustion attack?)`,
      );
    }
    return result;
  }

  private scalar(node: Scalar): unknown {
    const text = String(node.value);
    const tag = node.tag?.startsWith(TAG) ? node.tag.slice(TAG.length) : undefined;
    if (tag === "str" || tag === "binary" || tag === "timestamp") return text;
    if (tag === "bool" || tag === "int" || tag === "float" || tag === "null") {
      const tagged = pyYamlTaggedScalar(tag, text);
      if (tagged === undefined) {
        throw new YamlSyntaxError(`'${text}'${this.where(node)} is not a valid !!${tag} value`);
      }
      return tagged.value;
    }
    if (node.type !== "PLAIN") return text;
    return this.plain(node, text);
  }

  private plain(node: Scalar, text: string): unknown {
    const py = pyYamlPlainScalar(text);
    if (py.kind === "timestamp") {
      this.note(
        node,
        `${text} is a date for PyYAML; it is read as the text '${text}' (quote it to say so and silence this note)`,
      );
      return text;
    }
    if (py.kind === "merge") return text;
    const core = coreYamlPlainScalar(text);
    if (!sameValue(py.value, core)) {
      this.note(
        node,
        `${text} is read as ${shown(py)}, as PyYAML (YAML 1.1) reads it; a YAML 1.2 reader gives ` +
          `${typeof core === "string" ? `the text '${core}'` : String(core)} (quote it if you mean the text)`,
      );
    }
    return py.value;
  }

  /** A mapping key as text (JSON objects have text keys); a note where PyYAML's key is not text. */
  private key(node: Node | null, pairAt: Node): string {
    if (node === null) return "";
    const target = isAlias(node) ? this.anchors.get(node.source) : node;
    if (!isScalar(target)) {
      throw new YamlSyntaxError(`a mapping key${this.where(node ?? pairAt)} must be a scalar, not a collection`);
    }
    if (target.anchor && target === node) this.anchors.set(target.anchor, target);
    const text = String(target.value);
    if (target.type !== "PLAIN" || target.tag) {
      const value = this.scalar(target);
      return value === null ? "" : String(value);
    }
    const py = pyYamlPlainScalar(text);
    if (py.kind !== "str" && py.kind !== "timestamp" && py.kind !== "merge") {
      this.note(node, `the key ${text} is ${shown(py)} for PyYAML; it is read as the text '${text}'`);
    }
    return text;
  }

  private mapping(node: Extract<Node, { items: unknown[] }> & { items: { key: unknown; value: unknown }[] }): {
    value: Record<string, unknown>;
    size: number;
  } {
    const merged: [string, unknown][] = [];
    const own: [string, unknown, Node][] = [];
    let size = 1;
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      if (isScalar(keyNode) && keyNode.type === "PLAIN" && keyNode.value === "<<" && !keyNode.tag) {
        const r = this.merge(valueNode, keyNode);
        merged.push(...r.entries);
        size += r.size;
        continue;
      }
      const key = this.key(keyNode, node);
      const r = valueNode === null ? { value: null, size: 1 } : this.node(valueNode);
      size += r.size + 1;
      own.push([key, r.value, (keyNode ?? node) as Node]);
    }
    const out: Record<string, unknown> = {};
    const set = (k: string, v: unknown) =>
      Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
    for (const [k, v] of merged) set(k, v);
    const seen = new Set<string>();
    for (const [k, v, at] of own) {
      if (seen.has(k)) {
        this.note(at, `the key '${k}' appears again in the same mapping; the last value is used, as in PyYAML`);
      }
      seen.add(k);
      set(k, v);
    }
    return { value: out, size };
  }

  /** The entries a `<<` key merges, in the order PyYAML applies them (later ones win). */
  private merge(value: Node | null, at: Node): { entries: [string, unknown][]; size: number } {
    const mapOf = (n: Node | null): { map: Record<string, unknown>; size: number } => {
      const target = n !== null && isAlias(n) ? this.anchors.get(n.source) : n;
      if (target === undefined || target === null || !isMap(target)) {
        throw new YamlSyntaxError(`a merge key (<<)${this.where(n ?? at)} takes a mapping or a list of mappings`);
      }
      const r = this.node(n!);
      return { map: r.value as Record<string, unknown>, size: r.size };
    };
    if (value !== null && isSeq(value)) {
      // Earlier mappings in the list win: PyYAML applies them last.
      const maps = value.items.map((item) => mapOf(item as Node));
      return {
        entries: maps.reverse().flatMap((m) => Object.entries(m.map)),
        size: maps.reduce((sum, m) => sum + m.size, 1),
      };
    }
    const m = mapOf(value);
    return { entries: Object.entries(m.map), size: m.size };
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

function shown(py: PlainScalar): string {
  if (py.kind === "int" || py.kind === "float") return `the number ${py.value}`;
  return shownValue(py.value);
}

function shownValue(value: unknown): string {
  if (typeof value === "boolean") return `the boolean ${value}`;
  if (typeof value === "number") return `the number ${value}`;
  if (value === null) return "null";
  return `the text '${String(value)}'`;
}

/** The first line of the package's message ("… at line L, column C"), plus where an unclosed quote opened. */
function syntaxError(text: string, err: YAMLParseError): YamlSyntaxError {
  const message = err.message.split("\n")[0].replace(/:$/, "");
  const unclosed = unclosedQuotedScalars(text)[0];
  if (err.code === "MISSING_CHAR" && unclosed !== undefined) {
    const [line, column] = lineAndColumn(text, unclosed.offset);
    return new YamlSyntaxError(
      `${message} (the ${unclosed.source[0]}-quoted value that starts at line ${line}, column ${column} is not closed)`,
    );
  }
  return new YamlSyntaxError(message);
}

function lineAndColumn(text: string, offset: number): [number, number] {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf("\n") + 1;
  return [before.split("\n").length, offset - lineStart + 1];
}

/**
 * The index of the quote that closes the quoted scalar opening at `start`, scanning as PyYAML does (across lines,
 * whatever their indentation): '' is an escaped quote in '…', \" and \\ are escapes in "…". -1 when none does.
 */
export function closingQuote(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i];
    if (quote === "'" && ch === "'") {
      if (text[i + 1] === "'") i++;
      else return i;
    } else if (quote === '"' && ch === "\\") {
      i++;
    } else if (quote === '"' && ch === '"') {
      return i;
    }
  }
  return -1;
}

/** Quoted scalar tokens of the CST whose source stops before their closing quote, in document order. */
function unclosedQuotedScalars(text: string): CST.FlowScalar[] {
  const found: CST.FlowScalar[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (typeof node !== "object" || node === null) return;
    const token = node as CST.FlowScalar;
    if (
      (token.type === "single-quoted-scalar" || token.type === "double-quoted-scalar") &&
      closingQuote(token.source, 0) !== token.source.length - 1
    ) {
      found.push(token);
    }
    for (const value of Object.values(node)) if (typeof value === "object") visit(value);
  };
  for (const token of new Parser().parse(text)) visit(token);
  return found.sort((a, b) => a.offset - b.offset);
}

/** A line opening with a document marker: PyYAML refuses it inside a quoted scalar, so it is never re-indented. */
const DOCUMENT_MARKER = /^(---|\.\.\.)(\s|$)/;
/** What may follow a closing quote on its line: nothing, a comment, or what ends a key or a flow item. */
const AFTER_CLOSING_QUOTE = /^[ \t]*(#.*|[,\]}:].*)?$/;

/**
 * The text with the first unclosed quoted scalar's continuation lines indented past its parent's indentation, or
 * undefined when there is nothing to repair: no unclosed quoted scalar, no closing quote at all (a genuinely unclosed
 * quote), a document marker inside it, or something other than a comment or a flow indicator after the closing quote.
 */
function reindentUnclosedQuote(text: string): string | undefined {
  const token = unclosedQuotedScalars(text)[0];
  if (token === undefined) return undefined;
  const close = closingQuote(text, token.offset);
  if (close < 0) return undefined;
  const lineEnd = text.indexOf("\n", close);
  if (!AFTER_CLOSING_QUOTE.test(text.slice(close + 1, lineEnd < 0 ? text.length : lineEnd).replace(/\r$/, ""))) {
    return undefined;
  }
  const indent = " ".repeat(token.indent + 1);
  const firstBreak = text.indexOf("\n", token.offset);
  if (firstBreak < 0 || firstBreak > close) return undefined;
  const lines = text.slice(firstBreak + 1, close).split("\n");
  const fixed: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (DOCUMENT_MARKER.test(line)) return undefined;
    const spaces = /^ */.exec(line)![0].length;
    // A line of spaces only is an empty line whatever its indentation; a tab counts as content for the parser.
    const empty = i < lines.length - 1 && /^ *\r?$/.test(line);
    fixed.push(empty || spaces > token.indent ? line : indent.slice(spaces) + line);
  }
  const repaired = text.slice(0, firstBreak + 1) + fixed.join("\n") + text.slice(close);
  return repaired === text ? undefined : repaired;
}
