// Pipeline YAML text → plain data, read the way ContentFlow's PyYAML reads it where the strict YAML 1.2 parser
// (the `yaml` package) would refuse the document, with the package's alias limit as the guard against alias bombs.
//
// The one difference handled: PyYAML ignores indentation inside a quoted scalar that spans several lines, so a
// multi-line '...' or "..." value may close on a line indented no deeper than its key (ContentFlow's own sample
// 16-spreadsheet-pipeline does this). Lines of a multi-line quoted scalar are folded with their leading whitespace
// dropped, so indenting such a line further does not change the value. When the strict parse fails on a quoted
// scalar it could not close, the scalar is located with the package's own CST parser, its under-indented
// continuation lines are indented just past its parent, and the text is parsed again (a bounded number of times).
import { CST, parse, Parser, YAMLParseError } from "yaml";

/** A YAML document that does not parse; the message names the line and column. */
export class YamlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "YamlSyntaxError";
  }
}

/** Aliases a document may use (each alias expands its anchor: a few hundred nested ones can exhaust memory). */
const MAX_ALIAS_COUNT = 100;
/** Quoted scalars re-indented at most per document (each repair is one more parse of the text). */
const MAX_REPAIRS = 20;

/**
 * Parses one YAML document to plain data (mappings → objects, sequences → arrays). Throws YamlSyntaxError, whose
 * message names the line and column (re-indenting adds spaces inside lines, never lines, so line numbers hold).
 */
export function parseYamlDocument(text: string): unknown {
  let current = text;
  for (let repairs = 0;; repairs++) {
    try {
      return parse(current, { maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      // Not a syntax error: the alias limit ("Excessive alias count …").
      if (!(err instanceof YAMLParseError)) throw new YamlSyntaxError((err as Error).message.split("\n")[0]);
      const repaired = repairs < MAX_REPAIRS ? reindentUnclosedQuote(current) : undefined;
      if (repaired === undefined) throw syntaxError(current, err);
      current = repaired;
    }
  }
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
