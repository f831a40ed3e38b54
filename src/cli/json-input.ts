// JSON from the command line or a file, with errors that say where: JSON.parse's messages differ per runtime and
// often carry no position (Bun: "JSON Parse error: Expected '}'"), so on failure the text is re-scanned here.

export class JsonInputError extends Error {
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
    this.name = "JsonInputError";
  }
}

/** Parses `text`; throws JsonInputError "<what>: invalid JSON at line L, column C: <problem>". */
export function parseJsonInput(text: string, what: string): unknown {
  if (text.trim() === "") throw new JsonInputError(`${what}: empty input, expected JSON`);
  try {
    // A UTF-8 byte order mark (editors on Windows) is not JSON, but harmless.
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    const found = findJsonSyntaxError(text);
    if (!found) throw new JsonInputError(`${what}: invalid JSON (${(err as Error).message})`);
    const { line, column } = lineAndColumn(text, found.offset);
    throw new JsonInputError(`${what}: invalid JSON at line ${line}, column ${column}: ${found.problem}`, line, column);
  }
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return { line, column };
}

/** Offset and description of the first JSON syntax error in `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxError(text: string): { offset: number; problem: string } | undefined {
  let i = 0;
  class Fail {
    constructor(readonly offset: number, readonly problem: string) {}
  }
  const describe = (
    at: number,
  ) => (at >= text.length ? "unexpected end of input" : `unexpected ${JSON.stringify(text[at])}`);
  const fail = (problem?: string, at = i): never => {
    throw new Fail(at, problem ?? describe(at));
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) fail(undefined, i + k);
    i += word.length;
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const ch = text[i];
      if (ch === '"') return void i++;
      if (ch < " ") fail("control character in string (escape it)");
      if (ch === "\\") {
        const esc = text[i + 1];
        if (esc === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape");
          i += 6;
        } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) i += 2;
        else fail("bad escape sequence");
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail("bad number");
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') {
          fail(text[i] === "}" ? "trailing comma before '}'" : "expected a property name in double quotes");
        }
        string();
        ws();
        if (text[i] !== ":") fail("expected ':' after the property name");
        i++;
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") return void i++;
        fail("expected ',' or '}'");
      }
    }
    if (ch === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        ws();
        if (text[i] === "]") fail("trailing comma before ']'");
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") return void i++;
        fail("expected ',' or ']'");
      }
    }
    if (ch === '"') return string();
    if (ch === "t") return literal("true");
    if (ch === "f") return literal("false");
    if (ch === "n") return literal("null");
    if (ch === "-" || (ch >= "0" && ch <= "9")) return number();
    fail(ch === "'" ? "strings need double quotes" : undefined);
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
    value();
    ws();
    if (i < text.length) fail("unexpected text after the JSON value");
    return undefined;
  } catch (err) {
    if (err instanceof Fail) return { offset: err.offset, problem: err.problem };
    throw err;
  }
}
