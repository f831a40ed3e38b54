// table_row_splitter: one new content item per row of the table at data[table_field] (list of dicts, list of lists,
// CSV text, Word tables, Excel rows). Row ids: `<parent canonical_id>_<row_id_prefix>_<row index or row_id_field>`.
// A missing table field is an error for that item (ContentFlow silently dropped the item). Rows get no executor log
// entry, as in ContentFlow.
import * as v from "valibot";
import { createHash } from "node:crypto";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import { errorText } from "../../util/errors.ts";
import {
  boolSetting,
  choiceSetting,
  csvCharSetting,
  intSetting,
  stringListSetting,
  stringSetting,
} from "../settings.ts";
import { parseCsv } from "../csv.ts";
import { getPath, splitPath } from "../paths.ts";

const settings = v.object({
  table_field: v.optional(stringSetting("table_field"), "table"),
  table_format: v.optional(
    choiceSetting("table_format", ["auto", "list_of_lists", "list_of_dicts", "csv", "word_tables", "excel_rows"]),
    "auto",
  ),
  has_header: v.optional(boolSetting("has_header"), true),
  header_row_index: v.optional(intSetting("header_row_index", { min: 0 }), 0),
  skip_empty_rows: v.optional(boolSetting("skip_empty_rows"), true),
  row_id_field: v.optional(stringSetting("row_id_field")),
  row_id_prefix: v.optional(stringSetting("row_id_prefix"), "row"),
  include_row_index: v.optional(boolSetting("include_row_index"), true),
  include_headers: v.optional(boolSetting("include_headers"), true),
  preserve_parent_data: v.optional(boolSetting("preserve_parent_data"), false),
  parent_data_fields: v.optional(stringListSetting("parent_data_fields")),
  output_format: v.optional(choiceSetting("output_format", ["dict", "list", "both"]), "dict"),
  csv_delimiter: v.optional(csvCharSetting("csv_delimiter"), ","),
  csv_quotechar: v.optional(csvCharSetting("csv_quotechar"), '"'),
  max_rows: v.optional(intSetting("max_rows", { min: 1 })),
  start_row: v.optional(intSetting("start_row", { min: 0 }), 0),
});
type Settings = v.InferOutput<typeof settings>;

type Row = Record<string, unknown> | unknown[];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function detectFormat(table: unknown): Settings["table_format"] {
  if (typeof table === "string") return "csv";
  if (Array.isArray(table) && table.length > 0) {
    if (isRecord(table[0])) return "table_number" in table[0] && "data" in table[0] ? "word_tables" : "list_of_dicts";
    if (Array.isArray(table[0])) return "list_of_lists";
  }
  return "list_of_lists";
}

function expectList(table: unknown, format: string): unknown[] {
  if (!Array.isArray(table)) throw new Error(`table is not a list (format ${format})`);
  return table;
}

export function parseTable(table: unknown, s: Settings): { headers?: string[]; rows: Row[] } {
  const format = s.table_format === "auto" ? detectFormat(table) : s.table_format;
  switch (format) {
    case "list_of_dicts":
    case "excel_rows": {
      const list = expectList(table, format);
      if (list.length === 0) return { rows: [] };
      if (!list.every(isRecord)) throw new Error(`every row must be a mapping (format ${format})`);
      return { headers: Object.keys(list[0] as Record<string, unknown>), rows: list as Row[] };
    }
    case "list_of_lists": {
      const list = expectList(table, format);
      if (!list.every(Array.isArray)) throw new Error("every row must be a list (format list_of_lists)");
      const rows = list as unknown[][];
      if (!s.has_header || rows.length <= s.header_row_index) return { rows };
      return {
        headers: rows[s.header_row_index].map(String),
        rows: [...rows.slice(0, s.header_row_index), ...rows.slice(s.header_row_index + 1)],
      };
    }
    case "csv": {
      if (typeof table !== "string") throw new Error("table is not CSV text (format csv)");
      const rows = parseCsv(table, { delimiter: s.csv_delimiter, quote: s.csv_quotechar });
      if (rows.length === 0) return { rows: [] };
      return s.has_header ? { headers: rows[0], rows: rows.slice(1) } : { rows };
    }
    case "word_tables": {
      const tables = expectList(table, format);
      let headers: string[] | undefined;
      const rows: Row[] = [];
      for (const t of tables) {
        const data = isRecord(t) && Array.isArray(t.data) ? (t.data as unknown[][]) : [];
        if (data.length === 0) continue;
        if (s.has_header && !headers) {
          headers = (data[0] ?? []).map(String);
          rows.push(...data.slice(1));
        } else rows.push(...data);
      }
      return { headers, rows };
    }
  }
  throw new Error(`unsupported table format ${format}`);
}

function isEmptyRow(row: Row): boolean {
  const values = Array.isArray(row) ? row : Object.values(row);
  return values.every((x) => x === null || x === undefined || (typeof x === "string" && x.trim() === ""));
}

export function splitRows(parent: Content, s: Settings): Content[] {
  const table = getPath(parent.data ?? {}, splitPath(s.table_field));
  if (table === undefined || table === null) throw new Error(`table field '${s.table_field}' not found`);
  const parsed = parseTable(table, s);
  let rows = parsed.rows.slice(s.start_row);
  if (s.max_rows !== undefined) rows = rows.slice(0, s.max_rows);
  const headers = parsed.headers;
  const parentId = parent.id.canonical_id;
  const out: Content[] = [];
  rows.forEach((row, index) => {
    if (s.skip_empty_rows && isEmptyRow(row)) return;
    const keyed = s.row_id_field && isRecord(row) ? row[s.row_id_field] : undefined;
    const rowId = `${parentId}_${s.row_id_prefix}_${keyed ?? index}`;
    let dict: Record<string, unknown>;
    let list: unknown[] | null;
    if (isRecord(row)) {
      dict = row;
      list = headers ? Object.values(row) : null;
    } else {
      list = [...row];
      dict = headers && headers.length === list.length
        ? Object.fromEntries(headers.map((h, i) => [h, list![i]]))
        : Object.fromEntries(list.map((x, i) => [`column_${i}`, x]));
    }
    const data: Record<string, unknown> = {};
    if (s.output_format !== "list") data.row_data = dict;
    if (s.output_format !== "dict") data.row_values = list;
    if (s.include_row_index) data.row_index = index;
    if (s.include_headers && headers) data.headers = headers;
    data.parent_id = parentId;
    if (s.preserve_parent_data) {
      const fields = s.parent_data_fields ?? Object.keys(parent.data ?? {}).filter((k) => k !== s.table_field);
      for (const f of fields) {
        if (Object.hasOwn(parent.data ?? {}, f) && !Object.hasOwn(data, f)) data[f] = structuredClone(parent.data![f]);
      }
    }
    out.push({
      id: {
        canonical_id: rowId,
        unique_id: createHash("sha1").update(`${parentId}-${rowId}`).digest("hex"),
        source_name: parent.id.source_name,
        source_type: parent.id.source_type,
        container: parent.id.container,
        path: parent.id.path,
        metadata: { parent_id: parentId, row_index: index, is_table_row: true },
      },
      data,
      summary_data: { row_number: index + 1, total_rows: rows.length, parent_document: parentId },
      executor_logs: [],
    });
  });
  return out;
}

/**
 * The rows of every item, in order. Like ContentFlow's (a plain executor there, not a per-item one), the row items
 * get no executor log entry. An item whose table cannot be read fails the executor, or with fail_pipeline_on_error
 * false passes on unchanged with a failed log entry (ContentFlow dropped it silently).
 */
async function splitAll(id: string, s: Settings, input: Content[], ctx: ExecutorRunContext): Promise<Content[]> {
  const out: Content[] = [];
  for (const item of input) {
    ctx.signal.throwIfAborted();
    const start = nowIso();
    try {
      out.push(...splitRows(item, s));
    } catch (err) {
      if (ctx.failPipelineOnError !== false) throw new Error(`item ${item.id.canonical_id}: ${errorText(err)}`);
      const entry = {
        executor_id: id,
        start_time: start,
        end_time: nowIso(),
        status: "failed",
        details: {},
        errors: [errorText(err)],
      };
      out.push({ ...item, executor_logs: [...(item.executor_logs ?? []), entry] });
    }
  }
  return out;
}

export const tableRowSplitter: ExecutorDefinition<typeof settings> = {
  type: "table_row_splitter",
  category: "transform",
  description: "Turns each row of a table in content.data into its own content item",
  settings,
  create: (id, s) => ({ id, type: "table_row_splitter", process: (input, ctx) => splitAll(id, s, input, ctx) }),
};
