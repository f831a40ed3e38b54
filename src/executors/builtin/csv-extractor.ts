// csv_extractor: parses CSV from data[content_field] (text) or the file at data[temp_file_path_field] into
// data[output_field] = {headers, rows (header-keyed), row_count, column_count, text?}; summary rows_extracted,
// columns_detected, csv_extraction_status.
import * as v from "valibot";
import { readFile } from "node:fs/promises";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, stringSetting } from "../settings.ts";
import { inferType, parseCsv } from "../csv.ts";
import { readableTempFile } from "../temp-files.ts";

const ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "iso-8859-1", "ascii", "cp1252"] as const;

const settings = v.object({
  content_field: v.optional(stringSetting("content_field"), "content"),
  temp_file_path_field: v.optional(stringSetting("temp_file_path_field"), "temp_file_path"),
  output_field: v.optional(stringSetting("output_field"), "csv_output"),
  delimiter: v.optional(
    v.pipe(v.string(), v.transform((d) => (d === "\\t" ? "\t" : d)), v.length(1, "delimiter must be one character")),
    ",",
  ),
  quotechar: v.optional(v.pipe(v.string(), v.length(1, "quotechar must be one character")), '"'),
  has_header: v.optional(boolSetting("has_header"), true),
  encoding: v.optional(choiceSetting("encoding", ENCODINGS), "utf-8"),
  max_rows: v.optional(intSetting("max_rows", { min: 0 }), 0),
  skip_empty_rows: v.optional(boolSetting("skip_empty_rows"), true),
  strip_whitespace: v.optional(boolSetting("strip_whitespace"), true),
  infer_types: v.optional(boolSetting("infer_types"), false),
  extract_text: v.optional(boolSetting("extract_text"), false),
});
type Settings = v.InferOutput<typeof settings>;

/** WHATWG TextDecoder labels; latin-1 and ascii decode as windows-1252 there (a superset). */
function decoderLabel(encoding: Settings["encoding"]): string {
  return encoding === "utf-8" || encoding === "utf-8-sig" ? "utf-8" : "windows-1252";
}

async function csvText(item: Content, s: Settings): Promise<string> {
  const data = item.data ?? {};
  const inline = data[s.content_field];
  if (typeof inline === "string") return inline.replace(/^\uFEFF/, "");
  const path = data[s.temp_file_path_field];
  if (typeof path === "string" && path !== "") {
    const bytes = await readFile(await readableTempFile(path));
    return new TextDecoder(decoderLabel(s.encoding)).decode(bytes);
  }
  throw new Error(
    `CSV content missing: data needs '${s.content_field}' (text) or '${s.temp_file_path_field}' (a file path)`,
  );
}

export function extractCsv(text: string, s: Settings): Record<string, unknown> {
  const records = parseCsv(text, { delimiter: s.delimiter, quote: s.quotechar });
  let headers: string[] | undefined;
  let start = 0;
  if (s.has_header) {
    headers = records[0] ?? [];
    start = 1;
  }
  const rows: Record<string, unknown>[] = [];
  for (const record of records.slice(start)) {
    headers ??= record.map((_, i) => `col_${i}`);
    if (s.skip_empty_rows && record.every((cell) => cell.trim() === "")) continue;
    if (s.max_rows > 0 && rows.length >= s.max_rows) break;
    const row: Record<string, unknown> = {};
    headers.forEach((header, i) => {
      let value = record[i] ?? "";
      if (s.strip_whitespace) value = value.trim();
      row[s.strip_whitespace ? header.trim() : header] = s.infer_types ? inferType(value) : value;
    });
    rows.push(row);
  }
  const finalHeaders = (headers ?? []).map((h) => (s.strip_whitespace ? h.trim() : h));
  const out: Record<string, unknown> = {
    headers: finalHeaders,
    rows,
    row_count: rows.length,
    column_count: finalHeaders.length,
  };
  if (s.extract_text) {
    const lines: string[] = [];
    if (finalHeaders.length) {
      lines.push(finalHeaders.join(" | "));
      lines.push("-".repeat(lines[0].length));
    }
    for (const row of rows) lines.push(finalHeaders.map((h) => String(row[h] ?? "")).join(" | "));
    out.text = lines.join("\n");
  }
  return out;
}

export const csvExtractor: ExecutorDefinition<typeof settings> = {
  type: "csv_extractor",
  category: "extract",
  description: "Parses CSV text or a downloaded CSV file into header-keyed rows",
  settings,
  dataFields: { writes: [{ setting: "output_field", fallback: "csv_output" }] },
  create: (id, s) =>
    perItemExecutor(id, "csv_extractor", async (item) => {
      const output = extractCsv(await csvText(item, s), s);
      return {
        ...item,
        data: { ...item.data, [s.output_field]: output },
        summary_data: {
          ...item.summary_data,
          rows_extracted: output.row_count,
          columns_detected: output.column_count,
          csv_extraction_status: "success",
        },
      };
    }),
};
