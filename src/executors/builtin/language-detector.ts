// language_detector: the language(s) of data[input_field] via Azure OpenAI in data[output_field] ("language").
// Prompt as ContentFlow's LanguageDetectorExecutor. ContentFlow asked for JSON but set a setting its parent never
// reads (response_as_json), so it stored the JSON text; we parse it unless parse_response_as_json is false.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, numberSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";
import { pythonFloat } from "../ai/prompt-text.ts";

const settings = v.object({
  ...chatSettingEntries({ output_field: "language", max_tokens: 600, temperature: 0.1 }),
  detect_multiple: v.optional(boolSetting("detect_multiple"), false),
  include_confidence: v.optional(boolSetting("include_confidence"), true),
  detect_script: v.optional(boolSetting("detect_script"), false),
  detect_dialect: v.optional(boolSetting("detect_dialect"), false),
  min_confidence: v.optional(numberSetting("min_confidence", { min: 0, max: 1 }), 0.5),
  iso_format: v.optional(choiceSetting("iso_format", ["iso-639-1", "iso-639-3", "name"]), "name"),
  parse_response_as_json: v.optional(boolSetting("parse_response_as_json"), true),
});
type Settings = v.InferOutput<typeof settings>;

export function languageInstructions(s: Settings): string {
  let text = "You are an expert language detection system. ";
  text += s.detect_multiple
    ? "Identify all languages present in the text. "
    : "Identify the primary language of the text. ";
  if (s.iso_format === "iso-639-1") text += "Use ISO 639-1 two-letter language codes (e.g., 'en', 'es', 'fr'). ";
  else if (s.iso_format === "iso-639-3") {
    text += "Use ISO 639-3 three-letter language codes (e.g., 'eng', 'spa', 'fra'). ";
  } else text += "Use full language names (e.g., 'English', 'Spanish', 'French'). ";
  if (s.include_confidence) {
    text += "Provide a confidence score (0.0 to 1.0) for each detected language. ";
    text += `Only report languages with confidence >= ${pythonFloat(s.min_confidence)}. `;
  }
  if (s.detect_script) text += "Also identify the writing script (e.g., Latin, Cyrillic, Arabic, Chinese, etc.). ";
  if (s.detect_dialect) {
    text += "If applicable, identify specific dialects or variants (e.g., 'American English', 'British English'). ";
  }
  text += "\n\nReturn results as a JSON object. ";
  let format: string;
  if (s.detect_multiple) {
    format = '{"languages": [{"language": "...", "confidence": 0.0-1.0';
    if (s.detect_script) format += ', "script": "..."';
    if (s.detect_dialect) format += ', "dialect": "..."';
    format += "}]";
    if (s.detect_script || s.detect_dialect) format += ', "primary_language": "..."';
    format += "}";
  } else {
    format = '{"language": "...", "confidence": 0.0-1.0';
    if (s.detect_script) format += ', "script": "..."';
    if (s.detect_dialect) format += ', "dialect": "..."';
    format += "}";
  }
  text += `Format: ${format}. `;
  text += "Be accurate and only report languages you are confident about.";
  return text;
}

export const languageDetector: ExecutorDefinition<typeof settings> = {
  type: "language_detector",
  category: "transform",
  description: "Detects the language(s) of each item's text with Azure OpenAI (JSON result)",
  settings,
  dataFields: chatDataFields("language"),
  create: (id, s, deps) =>
    createChatExecutor("language_detector", id, s, deps, {
      instructions: languageInstructions(s),
      parseJson: s.parse_response_as_json,
    }),
};
