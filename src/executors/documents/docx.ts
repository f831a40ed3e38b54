// Word (.docx) extraction over the streaming XML of word/document.xml, shaped as python-docx shows a document:
// body paragraphs (with their style names), body tables (cells per grid column, merged cells repeated), core
// properties and the images related to the main part.
import { DocumentError, type Pacer } from "./limits.ts";
import {
  contentTypeOf,
  coreProperties,
  mainPart,
  officeProperties,
  type OoxmlPackage,
  openPackage,
  relationships,
} from "./ooxml.ts";
import { attr, parseXmlPart, type XmlTag } from "./xml.ts";

export interface WordParagraph {
  /** 1-based position among all body paragraphs, empty ones included. */
  number: number;
  text: string;
  style: string | null;
}

export interface WordTable {
  rows: string[][];
  columns: number;
}

export interface WordImage {
  contentType: string;
  bytes: Uint8Array;
}

export interface WordDocument {
  paragraphs: WordParagraph[];
  tables: WordTable[];
  properties?: Record<string, unknown>;
  images?: WordImage[];
}

/** Subtrees whose text is not part of the paragraph text (drawings, text boxes, deleted text, field codes). */
const SKIPPED = new Set(["drawing", "pict", "object", "AlternateContent", "del", "txbxContent", "instrText"]);
/** Containers that keep a paragraph or table at body level (content controls). */
const TRANSPARENT = new Set(["sdt", "sdtContent"]);
/** python-docx shows these built-in style names capitalised. */
const UI_NAMES = /^(normal|title|subtitle|caption|header|footer|heading [1-9]|body text|list paragraph|quote)$/;

function uiStyleName(name: string): string {
  return UI_NAMES.test(name) ? name.replace(/(^|\s)([a-z])/g, (_, space, c) => space + c.toUpperCase()) : name;
}

async function paragraphStyles(pkg: OoxmlPackage, part: string) {
  const names = new Map<string, string>();
  let defaultStyle = "Normal";
  let styleId: string | undefined;
  let isDefault = false;
  let depth = 0;
  for (const rel of (await relationships(pkg, part)).values()) {
    if (!rel.type.endsWith("/styles") || !rel.part || !pkg.zip.has(rel.part)) continue;
    await parseXmlPart(pkg.zip, rel.part, pkg.pacer, {
      open(tag) {
        depth++;
        if (tag.name === "style" && depth === 2) {
          styleId = attr(tag, "type") === "paragraph" ? attr(tag, "styleId") : undefined;
          isDefault = attr(tag, "default") === "1" || attr(tag, "default") === "true";
        } else if (tag.name === "name" && depth === 3 && styleId !== undefined) {
          const name = uiStyleName(attr(tag, "val") ?? styleId);
          names.set(styleId, name);
          if (isDefault) defaultStyle = name;
        }
      },
      close(name) {
        if (name === "style" && depth === 2) styleId = undefined;
        depth--;
      },
    }, pkg.what);
  }
  return { names, defaultStyle };
}

interface CellState {
  text: string[];
  span: number;
  /** vMerge continue: the cell shows the text of the cell above. */
  continues: boolean;
}

/**
 * Reads the body of word/document.xml as its XML streams by (open, close and text of each tag): body-level
 * paragraphs with their styles, and body-level tables with merged cells repeated.
 */
class BodyReader {
  readonly paragraphs: WordParagraph[] = [];
  readonly tables: WordTable[] = [];
  private readonly stack: string[] = [];
  bodyDepth = -1;
  private skipDepth = 0;
  private tableDepth = 0;
  // Paragraph being read: body-level, or in a cell of a body-level table.
  private para: { text: string; style: string | undefined; inCell: boolean } | undefined;
  private paraDepth = -1;
  private table: { rows: string[][]; columns: number; above: string[] } | undefined;
  private row: string[] | undefined;
  private cell: CellState | undefined;
  private cellDepth = -1;
  private paragraphCount = 0;

  constructor(private readonly styles: { names: Map<string, string>; defaultStyle: string }) {}

  private atBodyLevel(from: number): boolean {
    for (let i = from; i < this.stack.length; i++) if (!TRANSPARENT.has(this.stack[i])) return false;
    return true;
  }

  readonly open = (tag: XmlTag): void => {
    if (this.skipDepth > 0) {
      this.skipDepth++;
      return;
    }
    const name = tag.name;
    if (SKIPPED.has(name)) {
      this.skipDepth = 1;
      return;
    }
    if (name === "body" && this.bodyDepth < 0) this.bodyDepth = this.stack.length;
    if (this.bodyDepth >= 0) {
      this.openTablePart(tag);
      this.openParagraphPart(tag);
    }
    this.stack.push(name);
  };

  /** Tables, rows, cells and their grid spans and vertical merges. */
  private openTablePart(tag: XmlTag): void {
    const name = tag.name;
    if (name === "tbl") {
      if (this.tableDepth === 0 && this.atBodyLevel(this.bodyDepth + 1)) {
        this.table = { rows: [], columns: 0, above: [] };
      }
      this.tableDepth++;
    } else if (this.table && this.tableDepth === 1) {
      const cell = this.cell;
      if (name === "gridCol") this.table.columns++;
      else if (name === "tr") this.row = [];
      else if (name === "tc" && this.row) {
        this.cell = { text: [], span: 1, continues: false };
        this.cellDepth = this.stack.length;
      } else if (cell && name === "gridSpan") cell.span = Math.max(1, Math.min(1000, Number(attr(tag, "val")) || 1));
      else if (cell && name === "vMerge") cell.continues = (attr(tag, "val") ?? "continue") === "continue";
    }
  }

  /** Paragraphs (body-level or in a cell), their style and the tags that stand for text. */
  private openParagraphPart(tag: XmlTag): void {
    const { name } = tag;
    const { para, stack } = this;
    if (name === "p" && !para) {
      if (this.tableDepth === 0 && this.atBodyLevel(this.bodyDepth + 1)) {
        this.para = { text: "", style: undefined, inCell: false };
        this.paraDepth = stack.length;
      } else if (this.cell && this.tableDepth === 1 && this.atBodyLevel(this.cellDepth + 1)) {
        this.para = { text: "", style: undefined, inCell: true };
        this.paraDepth = stack.length;
      }
    } else if (para) {
      if (name === "pStyle" && stack[stack.length - 1] === "pPr") para.style = attr(tag, "val");
      else if (name === "tab" && stack[stack.length - 1] === "r") para.text += "\t";
      else if (name === "ptab") para.text += "\t";
      else if (name === "br" || name === "cr") {
        const type = attr(tag, "type");
        if (!type || type === "textWrapping") para.text += "\n";
      } else if (name === "noBreakHyphen") para.text += "-";
    }
  }

  // saxes reports a close for self-closing tags too, right after the open.
  readonly close = (name: string): void => {
    if (this.skipDepth > 0) {
      this.skipDepth--;
      return;
    }
    const { stack, para, cell, row, table } = this;
    stack.pop();
    if (name === "p" && para && stack.length === this.paraDepth) {
      if (para.inCell) cell?.text.push(para.text);
      else {
        this.paragraphCount++;
        const { styles } = this;
        const style = para.style !== undefined ? styles.names.get(para.style) ?? para.style : styles.defaultStyle;
        this.paragraphs.push({ number: this.paragraphCount, text: para.text, style });
      }
      this.para = undefined;
    } else if (name === "tc" && cell && stack.length === this.cellDepth && row && table) {
      const col = row.length;
      const text = cell.continues ? table.above[col] ?? "" : cell.text.join("\n");
      for (let i = 0; i < cell.span; i++) row.push(text);
      this.cell = undefined;
    } else if (name === "tr" && row && table && this.tableDepth === 1) {
      table.rows.push(row);
      table.above = row;
      this.row = undefined;
    } else if (name === "tbl") {
      this.tableDepth--;
      if (this.tableDepth === 0 && table) {
        this.tables.push({ rows: table.rows, columns: table.columns });
        this.table = undefined;
      }
    }
  };

  readonly text = (text: string): void => {
    if (this.para && this.skipDepth === 0 && this.stack[this.stack.length - 1] === "t") this.para.text += text;
  };
}

export async function extractDocx(
  bytes: Uint8Array,
  what: string,
  pacer: Pacer,
  opts: { properties: boolean; images: boolean },
): Promise<WordDocument> {
  const pkg = await openPackage(bytes, what, ".doc", pacer);
  const part = await mainPart(pkg, "word/document.xml", "wordprocessingml");
  const body = new BodyReader(await paragraphStyles(pkg, part));
  await parseXmlPart(pkg.zip, part, pacer, { open: body.open, close: body.close, text: body.text }, what);
  if (body.bodyDepth < 0) throw new DocumentError(`${what}: the main part has no document body`);

  const doc: WordDocument = { paragraphs: body.paragraphs, tables: body.tables };
  if (opts.properties) doc.properties = officeProperties(await coreProperties(pkg));
  if (opts.images) {
    doc.images = [];
    for (const rel of (await relationships(pkg, part)).values()) {
      if (!rel.target.includes("image") || !rel.part || !pkg.zip.has(rel.part)) continue;
      doc.images.push({ contentType: contentTypeOf(pkg, rel.part), bytes: await pkg.zip.read(rel.part, pacer) });
    }
  }
  return doc;
}
