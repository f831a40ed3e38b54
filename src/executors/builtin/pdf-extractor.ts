// pdf_extractor: PDF → data[output_field] (default pdf_output) = {text, pages[{page_number, width, height, text,
// char_count}], images?} as ContentFlow's PyMuPDF executor; summary pages_processed, images_extracted,
// extraction_status. Parsing: documents/pdf.ts (pdf.js from unpdf), on a thread of its own (documents/pdf-thread.ts).
// New: max_pages and max_file_size_mb caps.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, stringSetting } from "../settings.ts";
import { documentBytes } from "../documents/source.ts";
import { maxDocumentBytes } from "../documents/limits.ts";
import { extractorSettings } from "../documents/settings.ts";
import { extractPdfInThread } from "../documents/pdf-thread.ts";
import { imageData } from "../documents/ooxml.ts";

const settings = v.object({
  ...extractorSettings("pdf_output"),
  extract_text: v.optional(boolSetting("extract_text"), true),
  extract_pages: v.optional(boolSetting("extract_pages"), true),
  extract_images: v.optional(boolSetting("extract_images"), false),
  image_format: v.optional(choiceSetting("image_format", ["png", "jpeg", "jpg"]), "png"),
  min_image_size: v.optional(intSetting("min_image_size", { min: 0 }), 100),
  page_separator: v.optional(stringSetting("page_separator"), "\n\n---\n\n"),
  /** A PDF with more pages fails (per item) before any page is read. */
  max_pages: v.optional(intSetting("max_pages", { min: 1, max: 1_000_000 }), 2000),
  /** Images kept per document at most (each is base64 in the item). */
  max_images: v.optional(intSetting("max_images", { min: 0, max: 100_000 }), 200),
});

export const pdfExtractor: ExecutorDefinition<typeof settings> = {
  type: "pdf_extractor",
  category: "extract",
  description: "Extracts text, page chunks and images from PDF documents",
  settings,
  dataFields: { writes: [{ setting: "output_field", fallback: "pdf_output" }] },
  create: (id, s, deps) =>
    perItemExecutor(id, "pdf_extractor", async (item, ctx) => {
      const maxBytes = maxDocumentBytes(s.max_file_size_mb, deps.config.MAX_DOCUMENT_MB);
      const source = await documentBytes(item, {
        contentField: s.content_field,
        tempFileField: s.temp_file_path_field,
        maxBytes,
        kind: "PDF",
      });
      const pdf = await extractPdfInThread(source.bytes, `PDF '${source.name}'`, ctx.signal, {
        maxPages: s.max_pages,
        images: s.extract_images ? { minSize: s.min_image_size, maxImages: s.max_images } : undefined,
      }, deps.config.PDF_THREAD_MAX_MEMORY_MB);
      const output: Record<string, unknown> = {};
      if (s.extract_text) output.text = pdf.pages.map((p) => p.text).join(s.page_separator);
      if (s.extract_pages) {
        output.pages = pdf.pages.map((p) => ({
          page_number: p.number,
          width: p.width,
          height: p.height,
          text: p.text,
          char_count: p.text.length,
        }));
      }
      if (s.extract_images) {
        output.images = pdf.images.map((img) => ({
          page_number: img.pageNumber,
          image_index: img.index,
          width: img.width,
          height: img.height,
          format: "png",
          data: imageData(img.png),
          encoding: "base64",
        }));
      }
      return {
        ...item,
        data: { ...item.data, [s.output_field]: output },
        summary_data: {
          ...item.summary_data,
          pages_processed: pdf.pageCount,
          images_extracted: s.extract_images ? pdf.images.length : 0,
          extraction_status: "success",
        },
      };
    }),
};
