// excel_extractor: Excel (.xlsx/.xlsm) → data[output_field] (default excel_output) = {text, sheets, tables,
// formulas?, comments?, images?, properties?} as ContentFlow's openpyxl executor; summary sheets_processed,
// tables_extracted, images_extracted, extraction_status. Parsing: documents/xlsx.ts (fflate + the XML tokenizer of xml-scanner.ts, streaming).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, intSetting, stringSetting } from "../settings.ts";
import { documentBytes } from "../documents/source.ts";
import { DocumentError, maxDocumentBytes, Pacer } from "../documents/limits.ts";
import { extractorSettings } from "../documents/settings.ts";
import { imageData, unlessInvalidFile } from "../documents/ooxml.ts";
import { type Cell, type CellValue, columnLetter, extractXlsx, parseRef, type Sheet } from "../documents/xlsx.ts";

const settings = v.object({
  ...extractorSettings("excel_output", "content"),
  extract_text: v.optional(boolSetting("extract_text"), true),
  extract_sheets: v.optional(boolSetting("extract_sheets"), true),
  extract_tables: v.optional(boolSetting("extract_tables"), true),
  extract_properties: v.optional(boolSetting("extract_properties"), false),
  extract_images: v.optional(boolSetting("extract_images"), false),
  extract_formulas: v.optional(boolSetting("extract_formulas"), false),
  extract_comments: v.optional(boolSetting("extract_comments"), false),
  sheet_separator: v.optional(stringSetting("sheet_separator"), "\n\n===\n\n"),
  include_empty_cells: v.optional(boolSetting("include_empty_cells"), false),
  max_rows_per_table: v.optional(intSetting("max_rows_per_table", { min: 0 }), 0),
  max_columns_per_table: v.optional(intSetting("max_columns_per_table", { min: 0 }), 0),
  read_only: v.optional(boolSetting("read_only"), true),
  data_only: v.optional(boolSetting("data_only"), true),
  /** Cells with values per workbook, and cells of any dense range (a table, the sheet grid), at most. */
  max_cells: v.optional(intSetting("max_cells", { min: 1, max: 50_000_000 }), 1_000_000),
});
type Settings = v.InferOutput<typeof settings>;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Python's datetime.isoformat(sep) of a UTC date (microseconds only when not zero). */
function pyDate(d: Date, sep: string): string {
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}${sep}` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return d.getUTCMilliseconds() ? `${base}.${pad(d.getUTCMilliseconds(), 3)}000` : base;
}

/** Python's repr of a float ("10.0", "1e-07", "1.5e+16"). */
function pyFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  const s = String(n);
  if (Math.abs(n) >= 1e16 && !s.includes("e")) return n.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

/** str(value) as Python prints the openpyxl value. */
function pyStr(cell: Cell): string {
  const value = cell.value;
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value instanceof Date) return pyDate(value, " ");
  if (typeof value === "number") return cell.isFloat ? pyFloat(value) : String(value);
  return value;
}

/** The value as it lands in JSON (datetime → isoformat). */
function jsonValue(value: CellValue | undefined): unknown {
  if (value === undefined) return null;
  return value instanceof Date ? pyDate(value, "T") : value;
}

function truthy(value: CellValue): boolean {
  return value instanceof Date || Boolean(value);
}

const KEY = (row: number, column: number) => row * 20_000 + column;

async function sheetData(sheet: Sheet, byKey: Map<number, Cell>, s: Settings, what: string, pacer: Pacer) {
  const lines: string[] = [];
  const cells: Record<string, unknown>[] = [];
  let cellCount = 0;
  const keep = (c: Cell) => {
    if (!(s.include_empty_cells || truthy(c.value))) return;
    cellCount++;
    if (cells.length < 1000) {
      cells.push({
        cell: `${columnLetter(c.column)}${c.row}`,
        value: jsonValue(c.value),
        row: c.row,
        column: c.column,
      });
    }
  };
  if (s.include_empty_cells) {
    if (sheet.maxRow * sheet.maxColumn > s.max_cells) {
      throw new DocumentError(
        `${what}: sheet '${sheet.name}' spans ${sheet.maxRow} rows x ${sheet.maxColumn} columns, more than ` +
          `max_cells ${s.max_cells} (include_empty_cells lists every cell)`,
      );
    }
    for (let r = 1; r <= sheet.maxRow; r++) {
      await pacer.tick();
      const values: string[] = [];
      for (let col = 1; col <= sheet.maxColumn; col++) {
        const c = byKey.get(KEY(r, col));
        values.push(c ? pyStr(c) : "");
        if (c) keep(c);
      }
      if (values.length) lines.push(values.join("\t"));
    }
  } else {
    let row = -1;
    let values: string[] = [];
    for (const c of sheet.cells) {
      if (c.row !== row) {
        await pacer.tick();
        if (values.length) lines.push(values.join("\t"));
        values = [];
        row = c.row;
      }
      values.push(pyStr(c));
      keep(c);
    }
    if (values.length) lines.push(values.join("\t"));
  }
  const text = lines.join("\n");
  const info: Record<string, unknown> = {
    sheet_name: sheet.name,
    max_row: sheet.maxRow,
    max_column: sheet.maxColumn,
    cell_count: cellCount,
    char_count: text.length,
  };
  if (cellCount > 1000) info.cells_truncated = true;
  info.cells = cells;
  return { text, info };
}

async function tableRange(
  sheet: Sheet,
  byKey: Map<number, Cell>,
  ref: string,
  name: string,
  s: Settings,
  what: string,
  pacer: Pacer,
) {
  const [from, to = from] = ref.split(":");
  const a = parseRef(from);
  const b = parseRef(to);
  if (!a || !b) return undefined;
  const top = Math.min(a.row, b.row);
  const left = Math.min(a.column, b.column);
  const rows = Math.abs(b.row - a.row) + 1;
  const columns = Math.abs(b.column - a.column) + 1;
  const maxRows = s.max_rows_per_table > 0 ? s.max_rows_per_table : rows;
  const maxCols = s.max_columns_per_table > 0 ? s.max_columns_per_table : columns;
  const keptRows = Math.min(rows, maxRows);
  const keptCols = Math.min(columns, maxCols);
  if (keptRows * keptCols > s.max_cells) {
    throw new DocumentError(
      `${what}: table '${name}' of sheet '${sheet.name}' (${ref}) has ${keptRows * keptCols} cells, more than ` +
        `max_cells ${s.max_cells} (lower max_rows_per_table / max_columns_per_table or raise max_cells)`,
    );
  }
  const data: unknown[][] = [];
  for (let r = 0; r < keptRows; r++) {
    await pacer.tick();
    const row: unknown[] = [];
    for (let col = 0; col < keptCols; col++) row.push(jsonValue(byKey.get(KEY(top + r, left + col))?.value));
    data.push(row);
  }
  const table: Record<string, unknown> = {
    sheet_name: sheet.name,
    table_name: name,
    range: ref,
    rows: keptRows,
    columns: keptCols,
    data,
  };
  if (rows > maxRows) table.truncated_rows = true;
  if (columns > maxCols) table.truncated_columns = true;
  return table;
}

export const excelExtractor: ExecutorDefinition<typeof settings> = {
  type: "excel_extractor",
  category: "extract",
  description: "Extracts text, sheets, tables, formulas, comments, properties and images from Excel (.xlsx) workbooks",
  settings,
  dataFields: { writes: [{ setting: "output_field", fallback: "excel_output" }] },
  create: (id, s, deps) =>
    perItemExecutor(
      id,
      "excel_extractor",
      (item, ctx) =>
        unlessInvalidFile(item, "excel_extraction_status", async () => {
          const maxBytes = maxDocumentBytes(s.max_file_size_mb, deps.config.MAX_DOCUMENT_MB);
          const source = await documentBytes(item, {
            contentField: s.content_field,
            tempFileField: s.temp_file_path_field,
            maxBytes,
            kind: "Excel workbook",
          });
          const what = `Excel workbook '${source.name}'`;
          const pacer = new Pacer(ctx.signal);
          const wb = await extractXlsx(source.bytes, what, pacer, {
            dataOnly: s.data_only,
            comments: s.extract_comments,
            images: s.extract_images,
            properties: s.extract_properties,
            maxCells: s.max_cells,
          });
          const texts: string[] = [];
          const sheets: unknown[] = [];
          const tables: Record<string, unknown>[] = [];
          const formulas: unknown[] = [];
          const comments: unknown[] = [];
          const images: unknown[] = [];
          for (const sheet of wb.sheets) {
            await pacer.tick();
            const byKey = new Map<number, Cell>();
            for (const [i, c] of sheet.cells.entries()) {
              byKey.set(KEY(c.row, c.column), c);
              if (i % 4096 === 0) await pacer.tick();
            }
            const { text, info } = await sheetData(sheet, byKey, s, what, pacer);
            if (s.extract_text && text) texts.push(`Sheet: ${sheet.name}\n${text}`);
            if (s.extract_sheets) sheets.push(info);
            if (s.extract_tables) {
              const found: Record<string, unknown>[] = [];
              // openpyxl's read-only worksheets have no defined tables: ContentFlow saw them only with read_only off.
              if (!s.read_only) {
                for (const t of sheet.tables) {
                  const table = await tableRange(sheet, byKey, t.ref, t.name, s, what, pacer);
                  if (table) found.push(table);
                }
              }
              // An empty sheet has no full_sheet table (openpyxl's read-only range of it is empty, so ContentFlow had none).
              if (!found.length && sheet.cells.length) {
                const ref = `A1:${columnLetter(sheet.maxColumn)}${sheet.maxRow}`;
                const table = await tableRange(sheet, byKey, ref, "full_sheet", s, what, pacer);
                if (table) found.push(table);
              }
              tables.push(...found);
            }
            if (s.extract_formulas && !s.data_only) {
              for (const c of sheet.cells) {
                if (!c.formula) continue;
                const cell = `${columnLetter(c.column)}${c.row}`;
                formulas.push({ sheet_name: sheet.name, cell, formula: c.formula, row: c.row, column: c.column });
              }
            }
            for (const c of sheet.comments) {
              const at = parseRef(c.ref);
              comments.push({
                sheet_name: sheet.name,
                cell: c.ref,
                author: c.author,
                text: c.text,
                row: at?.row ?? null,
                column: at?.column ?? null,
              });
            }
            for (const img of sheet.images) {
              const image: Record<string, unknown> = {
                sheet_name: sheet.name,
                image_index: images.length,
                format: img.format,
                size_bytes: img.bytes.length,
                data: imageData(img.bytes),
                encoding: "base64",
              };
              if (img.anchorCell) image.anchor_cell = img.anchorCell;
              images.push(image);
            }
          }
          const output: Record<string, unknown> = {};
          if (s.extract_text) output.text = texts.join(s.sheet_separator);
          if (s.extract_sheets) output.sheets = sheets;
          if (s.extract_tables) output.tables = tables;
          if (s.extract_formulas) output.formulas = formulas;
          if (s.extract_comments) output.comments = comments;
          if (s.extract_images) output.images = images;
          if (s.extract_properties) {
            const props: Record<string, unknown> = {
              ...wb.properties,
              sheet_count: wb.sheets.length,
              sheet_names: wb.sheets.map((sh) => sh.name),
            };
            if (wb.definedNames.length) props.named_ranges = wb.definedNames;
            output.properties = props;
          }
          return {
            ...item,
            data: { ...item.data, [s.output_field]: output },
            summary_data: {
              ...item.summary_data,
              sheets_processed: wb.sheets.length,
              tables_extracted: tables.length,
              images_extracted: images.length,
              extraction_status: "success",
            },
          };
        }),
    ),
};
