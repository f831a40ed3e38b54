// word_extractor: Word (.docx) → data[output_field] (default word_output) = {text, paragraphs, tables,
// properties?, images?} as ContentFlow's python-docx executor; summary paragraphs_processed, tables_extracted,
// images_extracted, extraction_status. Parsing: documents/docx.ts (fflate + the XML tokenizer of xml-scanner.ts, streaming).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, stringSetting } from "../settings.ts";
import { documentBytes } from "../documents/source.ts";
import { maxDocumentBytes, Pacer } from "../documents/limits.ts";
import { extractorSettings } from "../documents/settings.ts";
import { extractDocx } from "../documents/docx.ts";
import { imageData, unlessInvalidFile } from "../documents/ooxml.ts";

const settings = v.object({
  ...extractorSettings("word_output"),
  extract_text: v.optional(boolSetting("extract_text"), true),
  extract_paragraphs: v.optional(boolSetting("extract_paragraphs"), true),
  extract_tables: v.optional(boolSetting("extract_tables"), true),
  extract_properties: v.optional(boolSetting("extract_properties"), false),
  extract_images: v.optional(boolSetting("extract_images"), false),
  paragraph_separator: v.optional(stringSetting("paragraph_separator"), "\n"),
  include_empty_paragraphs: v.optional(boolSetting("include_empty_paragraphs"), false),
});

export const wordExtractor: ExecutorDefinition<typeof settings> = {
  type: "word_extractor",
  category: "extract",
  description: "Extracts text, paragraphs, tables, properties and images from Word (.docx) documents",
  settings,
  dataFields: { writes: [{ setting: "output_field", fallback: "word_output" }] },
  create: (id, s, deps) =>
    perItemExecutor(id, "word_extractor", (item, ctx) =>
      unlessInvalidFile(item, "word_extraction_status", async () => {
        const maxBytes = maxDocumentBytes(s.max_file_size_mb, deps.config.MAX_DOCUMENT_MB);
        const source = await documentBytes(item, {
          contentField: s.content_field,
          tempFileField: s.temp_file_path_field,
          maxBytes,
          kind: "Word document",
        });
        const doc = await extractDocx(source.bytes, `Word document '${source.name}'`, new Pacer(ctx.signal), {
          properties: s.extract_properties,
          images: s.extract_images,
        });
        const kept = doc.paragraphs.filter((p) => s.include_empty_paragraphs || p.text.trim() !== "");
        const output: Record<string, unknown> = {};
        if (s.extract_text) output.text = kept.map((p) => p.text).join(s.paragraph_separator);
        if (s.extract_paragraphs) {
          output.paragraphs = kept.map((p) => ({
            paragraph_number: p.number,
            text: p.text,
            char_count: p.text.length,
            style: p.style,
          }));
        }
        if (s.extract_tables) {
          output.tables = doc.tables.map((t, i) => ({
            table_number: i + 1,
            rows: t.rows.length,
            columns: t.rows.length ? t.columns : 0,
            data: t.rows,
          }));
        }
        if (s.extract_properties) output.properties = doc.properties;
        const images = (doc.images ?? []).map((img, i) => ({
          image_index: i,
          format: img.contentType.includes("/") ? img.contentType.split("/").pop() : "unknown",
          size_bytes: img.bytes.length,
          content_type: img.contentType,
          data: imageData(img.bytes),
          encoding: "base64",
        }));
        if (s.extract_images) output.images = images;
        return {
          ...item,
          data: { ...item.data, [s.output_field]: output },
          summary_data: {
            ...item.summary_data,
            paragraphs_processed: s.extract_paragraphs ? kept.length : 0,
            tables_extracted: s.extract_tables ? doc.tables.length : 0,
            images_extracted: images.length,
            extraction_status: "success",
          },
        };
      })),
};
