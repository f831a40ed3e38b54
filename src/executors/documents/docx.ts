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

export async function extractDocx(
  bytes: Uint8Array,
  what: string,
  pacer: Pacer,
  opts: { properties: boolean; images: boolean },
): Promise<WordDocument> {
  const pkg = await openPackage(bytes, what, ".doc", pacer);
  const part = await mainPart(pkg, "word/document.xml", "wordprocessingml");
  const styles = await paragraphStyles(pkg, part);

  const paragraphs: WordParagraph[] = [];
  const tables: WordTable[] = [];
  const stack: string[] = [];
  let bodyDepth = -1;
  let skipDepth = 0;
  let tableDepth = 0;
  // Paragraph being read: body-level, or in a cell of a body-level table.
  let para: { text: string; style: string | undefined; inCell: boolean } | undefined;
  let paraDepth = -1;
  let table: { rows: string[][]; columns: number; above: string[] } | undefined;
  let row: string[] | undefined;
  let cell: CellState | undefined;
  let cellDepth = -1;
  let paragraphCount = 0;

  const atBodyLevel = (from: number) => {
    for (let i = from; i < stack.length; i++) if (!TRANSPARENT.has(stack[i])) return false;
    return true;
  };

  const onOpen = (tag: XmlTag) => {
    if (skipDepth > 0) {
      skipDepth++;
      return;
    }
    const name = tag.name;
    if (SKIPPED.has(name)) {
      skipDepth = 1;
      return;
    }
    if (name === "body" && bodyDepth < 0) bodyDepth = stack.length;
    if (bodyDepth >= 0) {
      if (name === "tbl") {
        if (tableDepth === 0 && atBodyLevel(bodyDepth + 1)) table = { rows: [], columns: 0, above: [] };
        tableDepth++;
      } else if (table && tableDepth === 1) {
        if (name === "gridCol") table.columns++;
        else if (name === "tr") row = [];
        else if (name === "tc" && row) {
          cell = { text: [], span: 1, continues: false };
          cellDepth = stack.length;
        } else if (cell && name === "gridSpan") cell.span = Math.max(1, Math.min(1000, Number(attr(tag, "val")) || 1));
        else if (cell && name === "vMerge") cell.continues = (attr(tag, "val") ?? "continue") === "continue";
      }
      if (name === "p" && !para) {
        if (tableDepth === 0 && atBodyLevel(bodyDepth + 1)) {
          para = { text: "", style: undefined, inCell: false };
          paraDepth = stack.length;
        } else if (cell && tableDepth === 1 && atBodyLevel(cellDepth + 1)) {
          para = { text: "", style: undefined, inCell: true };
          paraDepth = stack.length;
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
    stack.push(name);
  };

  // saxes reports a close for self-closing tags too, right after the open.
  const onClose = (name: string) => {
    if (skipDepth > 0) {
      skipDepth--;
      return;
    }
    stack.pop();
    if (name === "p" && para && stack.length === paraDepth) {
      if (para.inCell) cell?.text.push(para.text);
      else {
        paragraphCount++;
        const style = para.style !== undefined ? styles.names.get(para.style) ?? para.style : styles.defaultStyle;
        paragraphs.push({ number: paragraphCount, text: para.text, style });
      }
      para = undefined;
    } else if (name === "tc" && cell && stack.length === cellDepth && row && table) {
      const col = row.length;
      const text = cell.continues ? table.above[col] ?? "" : cell.text.join("\n");
      for (let i = 0; i < cell.span; i++) row.push(text);
      cell = undefined;
    } else if (name === "tr" && row && table && tableDepth === 1) {
      table.rows.push(row);
      table.above = row;
      row = undefined;
    } else if (name === "tbl") {
      tableDepth--;
      if (tableDepth === 0 && table) {
        tables.push({ rows: table.rows, columns: table.columns });
        table = undefined;
      }
    }
  };

  await parseXmlPart(pkg.zip, part, pacer, {
    open: onOpen,
    close: onClose,
    text(text) {
      if (para && skipDepth === 0 && stack[stack.length - 1] === "t") para.text += text;
    },
  }, what);
  if (bodyDepth < 0) throw new DocumentError(`${what}: the main part has no document body`);

  const doc: WordDocument = { paragraphs, tables };
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
