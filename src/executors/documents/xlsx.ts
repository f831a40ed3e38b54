// Excel (.xlsx/.xlsm) extraction over the streaming XML of the worksheets, with values as openpyxl gives them:
// shared and inline strings, numbers (int or float), booleans, error codes, dates (date number formats, 1900 and
// 1904 systems) and formulas ("=…" when data_only is off). Only cells with a value are kept (sparse), so empty
// rows cost nothing; the number of cells kept and the size of any dense range handed out are capped by max_cells.
import { DocumentError, type Pacer } from "./limits.ts";
import { contentTypeOf, coreProperties, isoDate, mainPart, openPackage, relationships } from "./ooxml.ts";
import type { OoxmlPackage } from "./ooxml.ts";
import { attr, parseXmlPart, prefixedAttr } from "./xml.ts";

export type CellValue = string | number | boolean | Date;

export interface Cell {
  row: number;
  column: number;
  value: CellValue;
  /** Numbers that openpyxl reads as float (a "." or exponent in the XML): str() shows them as "10.0". */
  isFloat?: boolean;
  formula?: string;
}

export interface Sheet {
  name: string;
  /** Cells with a value, row by row, left to right. */
  cells: Cell[];
  maxRow: number;
  maxColumn: number;
  tables: Array<{ name: string; ref: string }>;
  comments: Array<{ ref: string; author: string | null; text: string }>;
  images: Array<{ format: string; contentType: string; bytes: Uint8Array; anchorCell?: string }>;
}

export interface Workbook {
  sheets: Sheet[];
  definedNames: string[];
  properties?: Record<string, unknown>;
}

export interface XlsxOptions {
  dataOnly: boolean;
  comments: boolean;
  images: boolean;
  properties: boolean;
  maxCells: number;
}

export function columnLetter(n: number): string {
  let s = "";
  for (; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

/** "B12" (or "$B$12") → {row: 12, column: 2}; undefined for anything else. Hand-written: it runs for every cell. */
export function parseRef(ref: string): { row: number; column: number } | undefined {
  let i = 0;
  const n = ref.length;
  if (ref.charCodeAt(i) === 36) i++; // $
  let column = 0;
  let letters = 0;
  for (; i < n; i++) {
    const c = ref.charCodeAt(i) | 0x20; // lower case
    if (c < 97 || c > 122) break;
    column = column * 26 + c - 96;
    letters++;
  }
  if (letters === 0 || letters > 3) return undefined;
  if (ref.charCodeAt(i) === 36) i++;
  let row = 0;
  let digits = 0;
  for (; i < n; i++) {
    const c = ref.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    row = row * 10 + c - 48;
    digits++;
  }
  if (digits === 0 || digits > 7) return undefined;
  return { row, column };
}

const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57]);

function isDateFormat(code: string): boolean {
  const stripped = code.replace(/"[^"]*"/g, "").replace(/\\./g, "").replace(/\[[^\]]*\]/g, "");
  return /[dmyhs]/i.test(stripped) && !/^general$/i.test(stripped.trim());
}

/** Excel serial day → Date (UTC), as openpyxl's from_excel (1900 leap-year bug below serial 60). */
export function excelDate(serial: number, date1904: boolean): Date {
  let base = date1904 ? Date.UTC(1904, 0, 1) : Date.UTC(1899, 11, 30);
  if (!date1904 && serial < 60) base += 86_400_000;
  return new Date(base + Math.round(serial * 86_400_000));
}

/** Shifts the relative A1 references of a shared formula from its anchor cell to another cell. */
function translateFormula(formula: string, rowShift: number, colShift: number): string {
  if (!rowShift && !colShift) return formula;
  return formula.split(/("[^"]*")/).map((part, i) => {
    if (i % 2 === 1) return part; // a string literal
    return part.replace(/(^|[^A-Za-z0-9_.!'])(\$?)([A-Z]{1,3})(\$?)(\d{1,7})(?![A-Za-z0-9_(])/g, (
      whole,
      lead: string,
      colAbs: string,
      col: string,
      rowAbs: string,
      row: string,
    ) => {
      const ref = parseRef(`${col}${row}`);
      if (!ref) return whole;
      const c = colAbs ? ref.column : ref.column + colShift;
      const r = rowAbs ? ref.row : ref.row + rowShift;
      if (c < 1 || r < 1) return whole;
      return `${lead}${colAbs}${columnLetter(c)}${rowAbs}${r}`;
    });
  }).join("");
}

async function sharedStrings(pkg: OoxmlPackage, part: string | undefined): Promise<string[]> {
  const strings: string[] = [];
  if (!part || !pkg.zip.has(part)) return strings;
  let current: string | undefined;
  let inPhonetic = 0;
  let inText = false;
  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open(tag) {
      if (tag.name === "si") current = "";
      else if (tag.name === "rPh") inPhonetic++;
      else if (tag.name === "t") inText = true;
    },
    close(name) {
      if (name === "si") {
        strings.push(current ?? "");
        current = undefined;
      } else if (name === "rPh") inPhonetic--;
      else if (name === "t") inText = false;
    },
    text(text) {
      if (current !== undefined && inText && !inPhonetic) current += text;
    },
  }, pkg.what);
  return strings;
}

/** For each cell style index: whether its number format shows a date. */
async function dateStyles(pkg: OoxmlPackage, part: string | undefined): Promise<boolean[]> {
  const custom = new Map<number, string>();
  const xfs: number[] = [];
  if (!part || !pkg.zip.has(part)) return [];
  let inCellXfs = false;
  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open(tag) {
      if (tag.name === "numFmt") custom.set(Number(attr(tag, "numFmtId")), attr(tag, "formatCode") ?? "");
      else if (tag.name === "cellXfs") inCellXfs = true;
      else if (tag.name === "xf" && inCellXfs) xfs.push(Number(attr(tag, "numFmtId") ?? 0));
    },
    close(name) {
      if (name === "cellXfs") inCellXfs = false;
    },
  }, pkg.what);
  return xfs.map((id) => (custom.has(id) ? isDateFormat(custom.get(id)!) : BUILTIN_DATE_FORMATS.has(id)));
}

interface SheetContext {
  strings: string[];
  dates: boolean[];
  date1904: boolean;
  dataOnly: boolean;
  cellBudget: { left: number; max: number };
}

async function readCells(pkg: OoxmlPackage, part: string, name: string, ctx: SheetContext): Promise<Sheet> {
  const sheet: Sheet = { name, cells: [], maxRow: 0, maxColumn: 0, tables: [], comments: [], images: [] };
  const shared = new Map<string, { formula: string; row: number; column: number }>();
  let rowNumber = 0;
  let columnNumber = 0;
  let cell:
    | { row: number; column: number; type: string; style: number; v?: string; f?: string; inline?: string }
    | undefined;
  let formulaTag: { shared?: string; ref?: string } | undefined;
  let textTarget: "v" | "f" | "t" | undefined;
  let inInline = false;
  let inPhonetic = 0;
  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open(tag) {
      switch (tag.name) {
        case "row": {
          const r = Number(attr(tag, "r"));
          rowNumber = Number.isInteger(r) && r > 0 ? r : rowNumber + 1;
          columnNumber = 0;
          break;
        }
        case "c": {
          const ref = attr(tag, "r");
          const parsed = ref ? parseRef(ref) : undefined;
          columnNumber = parsed ? parsed.column : columnNumber + 1;
          if (parsed) rowNumber = parsed.row;
          cell = {
            row: rowNumber,
            column: columnNumber,
            type: attr(tag, "t") ?? "n",
            style: Number(attr(tag, "s") ?? 0),
          };
          break;
        }
        case "v":
          if (cell) (textTarget = "v"), (cell.v = "");
          break;
        case "f":
          if (cell) {
            textTarget = "f";
            cell.f = "";
            formulaTag = attr(tag, "t") === "shared" ? { shared: attr(tag, "si"), ref: attr(tag, "ref") } : {};
          }
          break;
        case "is":
          inInline = true;
          if (cell) cell.inline = "";
          break;
        case "rPh":
          inPhonetic++;
          break;
        case "t":
          if (inInline) textTarget = "t";
          break;
      }
    },
    close(tagName) {
      if (tagName === "v" || tagName === "f" || tagName === "t") textTarget = undefined;
      else if (tagName === "is") inInline = false;
      else if (tagName === "rPh") inPhonetic--;
      else if (tagName === "c" && cell) {
        const c = cell;
        cell = undefined;
        let formula: string | undefined;
        if (c.f !== undefined && formulaTag) {
          if (formulaTag.shared !== undefined) {
            const master = shared.get(formulaTag.shared);
            if (c.f !== "") shared.set(formulaTag.shared, { formula: c.f, row: c.row, column: c.column });
            else if (master) formula = translateFormula(master.formula, c.row - master.row, c.column - master.column);
          }
          formula ??= c.f;
        }
        let stored: Cell | undefined;
        if (!ctx.dataOnly && formula) {
          stored = { row: c.row, column: c.column, value: `=${formula}`, formula: `=${formula}` };
        } else {
          const value = cellValue(c, ctx);
          if (value === undefined) return;
          stored = { row: c.row, column: c.column, value };
          if (typeof value === "number" && c.v !== undefined && /[.eE]/.test(c.v)) stored.isFloat = true;
        }
        if (--ctx.cellBudget.left < 0) {
          throw new DocumentError(
            `${pkg.what}: more than max_cells ${ctx.cellBudget.max} cells with values (sheet '${name}')`,
          );
        }
        sheet.cells.push(stored);
        if (c.row > sheet.maxRow) sheet.maxRow = c.row;
        if (c.column > sheet.maxColumn) sheet.maxColumn = c.column;
      }
    },
    text(text) {
      if (!cell || !textTarget || inPhonetic) return;
      if (textTarget === "v") cell.v += text;
      else if (textTarget === "f") cell.f += text;
      else cell.inline += text;
    },
  }, pkg.what);
  return sheet;
}

function cellValue(
  c: { type: string; style: number; v?: string; inline?: string },
  ctx: SheetContext,
): CellValue | undefined {
  switch (c.type) {
    case "s":
      return ctx.strings[Number(c.v)];
    case "inlineStr":
      return c.inline;
    case "str":
    case "e":
      return c.v;
    case "b":
      return c.v === undefined ? undefined : c.v.trim() === "1" || c.v.trim() === "true";
    case "d": {
      const d = c.v ? new Date(c.v.endsWith("Z") || /[+-]\d\d:\d\d$/.test(c.v) ? c.v : `${c.v}Z`) : undefined;
      return d && !Number.isNaN(d.getTime()) ? d : undefined;
    }
    default: {
      if (c.v === undefined || c.v.trim() === "") return undefined;
      const n = Number(c.v);
      if (!Number.isFinite(n)) return c.v;
      return ctx.dates[c.style] ? excelDate(n, ctx.date1904) : n;
    }
  }
}

async function sheetExtras(pkg: OoxmlPackage, part: string, sheet: Sheet, opts: XlsxOptions): Promise<void> {
  for (const rel of (await relationships(pkg, part)).values()) {
    if (!rel.part || !pkg.zip.has(rel.part)) continue;
    if (rel.type.endsWith("/table")) {
      await parseXmlPart(pkg.zip, rel.part, pkg.pacer, {
        open(tag) {
          if (tag.name !== "table") return;
          const ref = attr(tag, "ref");
          if (ref) sheet.tables.push({ name: attr(tag, "name") ?? attr(tag, "displayName") ?? "table", ref });
        },
      }, pkg.what);
    } else if (opts.comments && rel.type.endsWith("/comments")) {
      const authors: string[] = [];
      let author: string | undefined;
      let comment: { ref: string; author: string | null; text: string } | undefined;
      let inText = false;
      let inPhonetic = 0;
      await parseXmlPart(pkg.zip, rel.part, pkg.pacer, {
        open(tag) {
          if (tag.name === "author") author = "";
          else if (tag.name === "comment") {
            comment = { ref: attr(tag, "ref") ?? "", author: authors[Number(attr(tag, "authorId"))] ?? null, text: "" };
          } else if (tag.name === "t") inText = true;
          else if (tag.name === "rPh") inPhonetic++;
        },
        close(name) {
          if (name === "author" && author !== undefined) {
            authors.push(author);
            author = undefined;
          } else if (name === "comment" && comment) {
            sheet.comments.push(comment);
            comment = undefined;
          } else if (name === "t") inText = false;
          else if (name === "rPh") inPhonetic--;
        },
        text(text) {
          if (author !== undefined) author += text;
          else if (comment && inText && !inPhonetic) comment.text += text;
        },
      }, pkg.what);
    } else if (opts.images && rel.type.endsWith("/drawing")) {
      const drawingRels = await relationships(pkg, rel.part);
      const pictures: Array<{ rel: string; anchorCell?: string }> = [];
      let from: { col?: string; row?: string } | undefined;
      let field: "col" | "row" | undefined;
      let anchor: string | undefined;
      await parseXmlPart(pkg.zip, rel.part, pkg.pacer, {
        open(tag) {
          if (tag.name === "from") from = {};
          else if (from && (tag.name === "col" || tag.name === "row")) (field = tag.name), (from[tag.name] = "");
          else if (tag.name === "blip") {
            const embed = prefixedAttr(tag, "embed");
            if (embed) pictures.push({ rel: embed, anchorCell: anchor });
          }
        },
        close(name) {
          if (name === "from" && from) {
            const col = Number(from.col);
            const row = Number(from.row);
            anchor = Number.isInteger(col) && Number.isInteger(row) ? `${columnLetter(col + 1)}${row + 1}` : undefined;
            from = undefined;
          } else if (name === "col" || name === "row") field = undefined;
          else if (name === "twoCellAnchor" || name === "oneCellAnchor" || name === "absoluteAnchor") {
            anchor = undefined;
          }
        },
        text(text) {
          if (from && field) from[field] += text;
        },
      }, pkg.what);
      for (const pic of pictures) {
        const imagePart = drawingRels.get(pic.rel)?.part;
        if (!imagePart || !pkg.zip.has(imagePart)) continue;
        sheet.images.push({
          format: imagePart.slice(imagePart.lastIndexOf(".") + 1).toLowerCase(),
          contentType: contentTypeOf(pkg, imagePart),
          bytes: await pkg.zip.read(imagePart, pkg.pacer),
          anchorCell: pic.anchorCell,
        });
      }
    }
  }
}

export async function extractXlsx(
  bytes: Uint8Array,
  what: string,
  pacer: Pacer,
  opts: XlsxOptions,
): Promise<Workbook> {
  const pkg = await openPackage(bytes, what, ".xls", pacer);
  const part = await mainPart(pkg, "xl/workbook.xml", "spreadsheetml");
  const entries: Array<{ name: string; rel: string }> = [];
  const definedNames: string[] = [];
  let date1904 = false;
  await parseXmlPart(pkg.zip, part, pacer, {
    open(tag) {
      if (tag.name === "sheet") {
        entries.push({ name: attr(tag, "name") ?? `Sheet${entries.length + 1}`, rel: prefixedAttr(tag, "id") ?? "" });
      } else if (tag.name === "definedName") {
        const n = attr(tag, "name");
        if (n && !n.startsWith("_xlnm.")) definedNames.push(n);
      } else if (tag.name === "workbookPr") {
        const v = attr(tag, "date1904");
        date1904 = v === "1" || v === "true";
      }
    },
  }, what);
  const rels = await relationships(pkg, part);
  let stringsPart: string | undefined;
  let stylesPart: string | undefined;
  for (const rel of rels.values()) {
    if (rel.type.endsWith("/sharedStrings")) stringsPart = rel.part;
    else if (rel.type.endsWith("/styles")) stylesPart = rel.part;
  }
  const ctx: SheetContext = {
    strings: await sharedStrings(pkg, stringsPart),
    dates: await dateStyles(pkg, stylesPart),
    date1904,
    dataOnly: opts.dataOnly,
    cellBudget: { left: opts.maxCells, max: opts.maxCells },
  };
  const sheets: Sheet[] = [];
  for (const entry of entries) {
    await pacer.yieldNow();
    const rel = rels.get(entry.rel);
    const sheetPart = rel?.part;
    if (!rel || !sheetPart || !pkg.zip.has(sheetPart)) {
      throw new DocumentError(`${what}: sheet '${entry.name}' points to a missing part`);
    }
    if (!rel.type.endsWith("/worksheet")) {
      // Chart sheets and dialog sheets hold no cells.
      sheets.push({ name: entry.name, cells: [], maxRow: 0, maxColumn: 0, tables: [], comments: [], images: [] });
      continue;
    }
    const sheet = await readCells(pkg, sheetPart, entry.name, ctx);
    // openpyxl (read-only) takes the size from <dimension ref="A1"> of an empty sheet: 1 row, 1 column.
    if (sheet.maxRow === 0) [sheet.maxRow, sheet.maxColumn] = [1, 1];
    await sheetExtras(pkg, sheetPart, sheet, opts);
    sheets.push(sheet);
  }
  const workbook: Workbook = { sheets, definedNames };
  if (opts.properties) {
    const core = await coreProperties(pkg);
    workbook.properties = {
      title: core.title || null,
      creator: core.creator || null,
      subject: core.subject || null,
      keywords: core.keywords || null,
      description: core.description || null,
      category: core.category || null,
      created: isoDate(core.created),
      modified: isoDate(core.modified),
      last_modified_by: core.lastModifiedBy || null,
      revision: core.revision || null,
      version: core.version || null,
    };
  }
  return workbook;
}
