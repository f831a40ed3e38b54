// Settings every document extractor has: where the document is (content_field / temp_file_path_field), where the
// result goes, how images are returned, and the size limit.
import * as v from "valibot";
import { choiceSetting, intSetting, stringSetting } from "../settings.ts";

export function extractorSettings(outputField: string, contentFieldDefault?: string) {
  return {
    content_field: contentFieldDefault === undefined
      ? v.optional(stringSetting("content_field"))
      : v.optional(stringSetting("content_field"), contentFieldDefault),
    temp_file_path_field: v.optional(stringSetting("temp_file_path_field"), "temp_file_path"),
    output_field: v.optional(stringSetting("output_field"), outputField),
    image_output_mode: v.optional(choiceSetting("image_output_mode", ["base64", "bytes"]), "base64"),
    /** Lowers the worker-wide MAX_DOCUMENT_MB for this executor (0 or unset: the worker-wide limit). */
    max_file_size_mb: v.optional(intSetting("max_file_size_mb", { min: 0, max: 4096 })),
  };
}
