// csv_extractor: parses CSV from data[content_field] (text) or the file at data[temp_file_path_field] into
// data[output_field] = {headers, rows (header-keyed), row_count, column_count, text?}; summary rows_extracted,
// columns_detected, csv_extraction_status.
import * as v from "valibot";
import { readFile } from "node:fs/promises";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, csvCharSetting, intSetting, stringSetting } from "../settings.ts";
import { inferType, parseCsv } from "../csv.ts";
import { readableTempFile } from "../temp-files.ts";

/**
 * The decoder for an encoding named as Python names codecs ("utf-8", "latin_1", "cp1252", "utf-16", "shift_jis"…),
 * or undefined when the runtime has none. Python's latin-1 and ascii decode as windows-1252 (a superset of both);
 * "utf-16" follows the byte-order mark as Python's codec does (little-endian without one, as on the machines that
 * write such files); other names go to the runtime's WHATWG decoders, which know most of Python's codecs by the same
 * name once `_` is written `-`.
 */
export function csvDecoderLabel(encoding: string, bytes?: Uint8Array): string | undefined {
  const name = encoding.trim().toLowerCase().replaceAll("_", "-");
  if (name === "utf-8" || name === "utf8" || name === "utf-8-sig" || name === "u8") return "utf-8";
  if (["latin-1", "latin1", "l1", "iso-8859-1", "iso8859-1", "8859", "ascii", "us-ascii"].includes(name)) {
    return "windows-1252";
  }
  if (name === "utf-16" || name === "utf16") return bytes?.[0] === 0xfe && bytes[1] === 0xff ? "utf-16be" : "utf-16le";
  try {
    return new TextDecoder(name).encoding;
  } catch {
    return undefined;
  }
}

const settings = v.object({
  content_field: v.optional(stringSetting("content_field"), "content"),
  temp_file_path_field: v.optional(stringSetting("temp_file_path_field"), "temp_file_path"),
  output_field: v.optional(stringSetting("output_field"), "csv_output"),
  delimiter: v.optional(csvCharSetting("delimiter"), ","),
  quotechar: v.optional(csvCharSetting("quotechar"), '"'),
  has_header: v.optional(boolSetting("has_header"), true),
  encoding: v.optional(
    v.pipe(
      stringSetting("encoding"),
      v.check(
        (e) => csvDecoderLabel(e) !== undefined,
        (issue) => `encoding '${String(issue.input)}' is not a text encoding this runtime can decode`,
      ),
    ),
    "utf-8",
  ),
  max_rows: v.optional(intSetting("max_rows", { min: 0 }), 0),
  skip_empty_rows: v.optional(boolSetting("skip_empty_rows"), true),
  strip_whitespace: v.optional(boolSetting("strip_whitespace"), true),
  infer_types: v.optional(boolSetting("infer_types"), false),
  extract_text: v.optional(boolSetting("extract_text"), false),
});
type Settings = v.InferOutput<typeof settings>;

async function csvText(item: Content, s: Settings): Promise<string> {
  const data = item.data ?? {};
  const inline = data[s.content_field];
  if (typeof inline === "string") return inline.replace(/^\uFEFF/, "");
  const path = data[s.temp_file_path_field];
  if (typeof path === "string" && path !== "") {
    const bytes = await readFile(await readableTempFile(path));
    return new TextDecoder(csvDecoderLabel(s.encoding, bytes)).decode(bytes);
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
