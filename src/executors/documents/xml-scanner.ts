// A small streaming XML tokenizer for OOXML parts, written for speed (saxes, which this replaced, spent most of the
// extraction time in its character-by-character state machine; see docs/executors/documents.md). It reports start
// tags with their attributes, end tags (also right after a self-closing tag) and text; it checks that tags nest
// and close, that attributes are quoted, and that only the five predefined entities and character references
// occur. DOCTYPE declarations are refused, so no entity can be declared or expanded (no XXE, no billion laughs).
// Comments and processing instructions are skipped. Text and attribute values are decoded.
// Linear in the input however it is cut into chunks: when a construct (tag, comment, text run, …) is not complete
// at the end of a chunk, the scanner remembers what ends it and looks only at the new chunks for that end, joining
// them once it arrives (before, every chunk rescanned the whole unfinished tag: an 8 MiB attribute took seconds).

export class XmlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XmlSyntaxError";
  }
}

export interface ScanHandlers {
  open(name: string, attributes: Record<string, string>, selfClosing: boolean): void;
  close(name: string): void;
  text?(text: string): void;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const ENTITY = /&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]+);|&/g;

function decode(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(ENTITY, (whole, body: string | undefined) => {
    if (body === undefined) throw new XmlSyntaxError("a bare '&' (not an entity reference)");
    if (body[0] === "#") {
      const code = body[1] === "x" ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
      if (!(code > 0 && code <= 0x10ffff)) throw new XmlSyntaxError(`invalid character reference ${whole}`);
      return String.fromCodePoint(code);
    }
    const value = ENTITIES[body];
    if (value === undefined) throw new XmlSyntaxError(`undefined entity ${whole}`);
    return value;
  });
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/**
 * What ends the construct left unfinished at the end of the buffer: a fixed text (`-->`, `]]>`, `?>`, or `<` after
 * a text run), or the `>` of a tag (a `<` outside quotes too, which is an error scan() reports).
 */
type Awaiting = { kind: "text"; end: string; tail: string } | { kind: "tag"; quote: number };

export class XmlScanner {
  private buffer = "";
  /** Chunks received while awaiting the end of an unfinished construct, not yet joined to the buffer. */
  private parts: string[] = [];
  private awaiting: Awaiting | undefined;
  private readonly stack: string[] = [];
  private rootSeen = false;
  private examined = 0;

  constructor(private readonly handlers: ScanHandlers) {}

  /** Characters looked at so far (for tests: stays proportional to the input, however it is chunked). */
  get scannedChars(): number {
    return this.examined;
  }

  write(chunk: string): void {
    if (this.awaiting && !this.ends(chunk, this.awaiting)) {
      this.parts.push(chunk);
      return;
    }
    this.buffer = this.buffer + this.parts.join("") + chunk;
    this.parts = [];
    this.awaiting = undefined;
    this.scan(false);
  }

  end(): void {
    this.buffer += this.parts.join("");
    this.parts = [];
    this.awaiting = undefined;
    this.scan(true);
    if (this.stack.length) {
      throw new XmlSyntaxError(`unexpected end: <${this.stack[this.stack.length - 1]}> is not closed`);
    }
    if (!this.rootSeen) throw new XmlSyntaxError("no root element");
  }

  /** Whether `chunk` holds the end the unfinished construct awaits (updating the quote state of a tag). */
  private ends(chunk: string, awaiting: Awaiting): boolean {
    this.examined += chunk.length;
    if (awaiting.kind === "text") {
      const text = awaiting.tail + chunk;
      if (text.includes(awaiting.end)) return true;
      awaiting.tail = text.slice(text.length - (awaiting.end.length - 1));
      return false;
    }
    const at = tagEnd(chunk, 0, awaiting.quote);
    if (at.end >= 0) return true;
    awaiting.quote = at.quote;
    return false;
  }

  private textOut(raw: string): void {
    if (!raw) return;
    if (!this.stack.length) {
      for (let i = 0; i < raw.length; i++) {
        if (!isSpace(raw.charCodeAt(i))) throw new XmlSyntaxError("text outside the root element");
      }
      return;
    }
    this.handlers.text?.(decode(raw));
  }

  /** Handles every complete construct in the buffer and keeps the unfinished rest, noting what it awaits. */
  private scan(final: boolean): void {
    const s = this.buffer;
    const n = s.length;
    this.examined += n;
    let i = 0;
    while (i < n) {
      const lt = s.indexOf("<", i);
      if (lt < 0) {
        if (final) {
          this.textOut(s.slice(i));
          i = n;
        } else this.awaiting = awaitText(s, "<");
        break;
      }
      if (lt > i) this.textOut(s.slice(i, lt));
      i = lt;
      const next = s.charCodeAt(lt + 1);
      if (Number.isNaN(next)) break; // need more input
      if (next === 33 /* ! */) {
        if (n - lt < 9 && !final) break;
        if (s.startsWith("<!--", lt)) {
          const end = s.indexOf("-->", lt + 4);
          if (end < 0) {
            this.awaiting = awaitText(s, "-->");
            break;
          }
          i = end + 3;
        } else if (s.startsWith("<![CDATA[", lt)) {
          const end = s.indexOf("]]>", lt + 9);
          if (end < 0) {
            this.awaiting = awaitText(s, "]]>");
            break;
          }
          if (!this.stack.length) throw new XmlSyntaxError("CDATA outside the root element");
          this.handlers.text?.(s.slice(lt + 9, end));
          i = end + 3;
        } else if (s.startsWith("<!DOCTYPE", lt)) {
          throw new XmlSyntaxError("DOCTYPE declarations are not allowed");
        } else {
          throw new XmlSyntaxError(`unexpected markup '${s.slice(lt, lt + 9)}'`);
        }
        continue;
      }
      if (next === 63 /* ? */) {
        const end = s.indexOf("?>", lt + 2);
        if (end < 0) {
          this.awaiting = awaitText(s, "?>");
          break;
        }
        i = end + 2;
        continue;
      }
      const tag = tagEnd(s, lt + 1, 0);
      if (tag.end < 0) {
        this.awaiting = { kind: "tag", quote: tag.quote };
        break;
      }
      const end = tag.end;
      if (s.charCodeAt(end) === 60) throw new XmlSyntaxError("'<' inside a tag");
      if (next === 47 /* / */) this.endTag(s.slice(lt + 2, end));
      else this.startTag(s, lt + 1, end);
      i = end + 1;
    }
    this.buffer = i >= n ? "" : s.slice(i);
  }

  private endTag(raw: string): void {
    const name = raw.trimEnd();
    const open = this.stack.pop();
    if (open !== name) {
      throw new XmlSyntaxError(open === undefined ? `unexpected </${name}>` : `</${name}> closes <${open}>`);
    }
    this.handlers.close(localOf(name));
  }

  private startTag(s: string, from: number, end: number): void {
    const selfClosing = s.charCodeAt(end - 1) === 47;
    const stop = selfClosing ? end - 1 : end;
    let i = from;
    while (i < stop && !isSpace(s.charCodeAt(i))) i++;
    const name = s.slice(from, i);
    if (!name) throw new XmlSyntaxError("a tag without a name");
    if (!this.stack.length && this.rootSeen) throw new XmlSyntaxError(`a second root element <${name}>`);
    const attributes: Record<string, string> = {};
    while (i < stop) {
      while (i < stop && isSpace(s.charCodeAt(i))) i++;
      if (i >= stop) break;
      const nameStart = i;
      while (i < stop && s.charCodeAt(i) !== 61 && !isSpace(s.charCodeAt(i))) i++;
      const key = s.slice(nameStart, i);
      while (i < stop && isSpace(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) !== 61) throw new XmlSyntaxError(`attribute '${key}' of <${name}> has no value`);
      i++;
      while (i < stop && isSpace(s.charCodeAt(i))) i++;
      const quote = s.charCodeAt(i);
      if (quote !== 34 && quote !== 39) throw new XmlSyntaxError(`attribute '${key}' of <${name}> is not quoted`);
      const close = s.indexOf(String.fromCharCode(quote), i + 1);
      if (close < 0 || close >= stop) throw new XmlSyntaxError(`attribute '${key}' of <${name}> is not closed`);
      if (Object.hasOwn(attributes, key)) throw new XmlSyntaxError(`attribute '${key}' repeated in <${name}>`);
      attributes[key] = decode(s.slice(i + 1, close));
      i = close + 1;
    }
    this.rootSeen = true;
    const local = localOf(name);
    this.handlers.open(local, attributes, selfClosing);
    if (selfClosing) this.handlers.close(local);
    else this.stack.push(name);
  }
}

/** Awaiting `end` after the buffer `s` (whose last characters may begin it). */
function awaitText(s: string, end: string): Awaiting {
  return { kind: "text", end, tail: s.slice(s.length - (end.length - 1)) };
}

/**
 * The first '>' (the tag's end) or '<' (an error) outside quoted attribute values in `s` from `from`, starting
 * inside the quote `quote` (0: none); -1 and the quote state at the end when there is none.
 */
function tagEnd(s: string, from: number, quote: number): { end: number; quote: number } {
  for (let j = from; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (quote) {
      if (c === quote) quote = 0;
    } else if (c === 34 || c === 39) quote = c;
    else if (c === 62 || c === 60) return { end: j, quote };
  }
  return { end: -1, quote };
}

function localOf(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}
