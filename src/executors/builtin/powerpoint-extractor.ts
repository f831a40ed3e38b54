// powerpoint_extractor: PowerPoint (.pptx) → data[output_field] (default pptx_output) = {text, slides, tables,
// notes?, images?, properties?} as ContentFlow's python-pptx executor; summary slides_processed, tables_extracted,
// images_extracted, extraction_status. Parsing: documents/pptx.ts (fflate + the XML tokenizer of xml-scanner.ts, streaming).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, intSetting, stringSetting } from "../settings.ts";
import { documentBytes } from "../documents/source.ts";
import { maxDocumentBytes, Pacer } from "../documents/limits.ts";
import { extractorSettings } from "../documents/settings.ts";
import { imageData, unlessInvalidFile } from "../documents/ooxml.ts";
import { extractPptx } from "../documents/pptx.ts";

const settings = v.object({
  ...extractorSettings("pptx_output"),
  extract_text: v.optional(boolSetting("extract_text"), true),
  extract_slides: v.optional(boolSetting("extract_slides"), true),
  extract_tables: v.optional(boolSetting("extract_tables"), true),
  extract_notes: v.optional(boolSetting("extract_notes"), false),
  extract_properties: v.optional(boolSetting("extract_properties"), false),
  extract_images: v.optional(boolSetting("extract_images"), false),
  slide_separator: v.optional(stringSetting("slide_separator"), "\n\n---\n\n"),
  include_slide_layouts: v.optional(boolSetting("include_slide_layouts"), false),
  /** A presentation with more slides fails (per item) before any slide is read. */
  max_slides: v.optional(intSetting("max_slides", { min: 1, max: 1_000_000 }), 5000),
});

export const powerpointExtractor: ExecutorDefinition<typeof settings> = {
  type: "powerpoint_extractor",
  category: "extract",
  description: "Extracts text, slides, tables, notes, properties and images from PowerPoint (.pptx) presentations",
  settings,
  dataFields: { writes: [{ setting: "output_field", fallback: "pptx_output" }] },
  create: (id, s, deps) =>
    perItemExecutor(
      id,
      "powerpoint_extractor",
      (item, ctx) =>
        unlessInvalidFile(item, "pptx_extraction_status", async () => {
          const maxBytes = maxDocumentBytes(s.max_file_size_mb, deps.config.MAX_DOCUMENT_MB);
          const source = await documentBytes(item, {
            contentField: s.content_field,
            tempFileField: s.temp_file_path_field,
            maxBytes,
            kind: "PowerPoint file",
          });
          const prs = await extractPptx(source.bytes, `PowerPoint file '${source.name}'`, new Pacer(ctx.signal), {
            notes: s.extract_notes,
            layouts: s.include_slide_layouts,
            images: s.extract_images,
            properties: s.extract_properties,
            maxSlides: s.max_slides,
          });
          const texts: string[] = [];
          const slides: Record<string, unknown>[] = [];
          const tables: Record<string, unknown>[] = [];
          const notes: Record<string, unknown>[] = [];
          const images: Record<string, unknown>[] = [];
          for (const slide of prs.slides) {
            const text = slide.shapes.filter((sh) => sh.kind === "sp" && sh.text).map((sh) => sh.text).join("\n");
            texts.push(text);
            const slideTables = s.extract_tables
              ? slide.shapes.filter((sh) => sh.table).map((sh) => ({
                slide_number: slide.number,
                rows: sh.table!.rows.length,
                columns: sh.table!.columns,
                data: sh.table!.rows,
              }))
              : [];
            tables.push(...slideTables);
            const info: Record<string, unknown> = {
              slide_number: slide.number,
              text,
              char_count: text.length,
              shape_count: slide.shapes.filter((sh) => sh.topLevel).length,
            };
            if (s.include_slide_layouts) info.layout = slide.layout ?? null;
            if (slideTables.length) info.tables = slideTables;
            slides.push(info);
            if (s.extract_notes && slide.notes?.trim()) {
              notes.push({ slide_number: slide.number, text: slide.notes, char_count: slide.notes.length });
            }
            for (const img of slide.images) {
              images.push({
                slide_number: slide.number,
                image_index: images.length,
                format: img.contentType.includes("/") ? img.contentType.split("/").pop() : "unknown",
                size_bytes: img.bytes.length,
                content_type: img.contentType,
                data: imageData(img.bytes),
                encoding: "base64",
              });
            }
          }
          const output: Record<string, unknown> = {};
          if (s.extract_text) output.text = texts.join(s.slide_separator);
          if (s.extract_slides) output.slides = slides;
          if (s.extract_tables) output.tables = tables;
          if (s.extract_notes) output.notes = notes;
          if (s.extract_images) output.images = images;
          if (s.extract_properties) {
            output.properties = {
              ...prs.properties,
              slide_count: prs.slides.length,
              slide_width: prs.slideWidth,
              slide_height: prs.slideHeight,
            };
          }
          return {
            ...item,
            data: { ...item.data, [s.output_field]: output },
            summary_data: {
              ...item.summary_data,
              slides_processed: prs.slides.length,
              tables_extracted: tables.length,
              images_extracted: images.length,
              extraction_status: "success",
            },
          };
        }),
    ),
};
