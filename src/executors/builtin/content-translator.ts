// content_translator: translates data[input_field] into target_language via Azure OpenAI; the translation goes to
// data[output_field] ("translated_text"). Prompt as ContentFlow's TranslationExecutor (include_source is accepted and,
// as there, has no effect).
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, mapSetting, stringListSetting, stringSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

const STYLES = {
  formal: "Use formal language and professional tone.",
  informal: "Use casual, conversational language.",
  technical: "Use precise technical terminology appropriate for the domain.",
  literal: "Provide a literal, word-for-word translation where possible.",
  natural: "Provide a natural, fluent translation that reads well in the target language.",
};

const settings = v.object({
  ...chatSettingEntries({ output_field: "translated_text", max_tokens: 600, temperature: 0.3 }),
  target_language: v.pipe(stringSetting("target_language"), v.trim(), v.minLength(1, "target_language is required")),
  source_language: v.optional(v.pipe(stringSetting("source_language"), v.trim())),
  translation_style: v.optional(
    choiceSetting("translation_style", ["formal", "informal", "technical", "literal", "natural"]),
    "natural",
  ),
  preserve_formatting: v.optional(boolSetting("preserve_formatting"), true),
  preserve_terminology: v.optional(stringListSetting("preserve_terminology")),
  glossary: v.optional(mapSetting("glossary", stringSetting("glossary"))),
  include_source: v.optional(boolSetting("include_source"), false),
});
type Settings = v.InferOutput<typeof settings>;

export function translatorInstructions(s: Settings): string {
  let text = "You are an expert translation system. ";
  text += s.source_language
    ? `Translate the following text from ${s.source_language} to ${s.target_language}. `
    : `Translate the following text to ${s.target_language}. `;
  text += STYLES[s.translation_style];
  text += " ";
  if (s.preserve_formatting) {
    text += "Preserve the original text formatting, including line breaks, paragraphs, and structure. ";
  }
  if (s.preserve_terminology?.length) {
    text += `Do NOT translate the following terms (keep them in the original language): ${
      s.preserve_terminology.join(", ")
    }. `;
  }
  const glossary = Object.entries(s.glossary ?? {});
  if (glossary.length > 0) {
    text += "\n\nUse this translation glossary:\n";
    for (const [source, target] of glossary) text += `- '${source}' → '${target}'\n`;
  }
  text += "\nProvide only the translated text without explanations or notes. ";
  text += "Ensure accuracy and cultural appropriateness in the translation.";
  return text;
}

export const contentTranslator: ExecutorDefinition<typeof settings> = {
  type: "content_translator",
  category: "transform",
  description: "Translates each item's text into the target language with Azure OpenAI",
  settings,
  dataFields: chatDataFields("translated_text"),
  create: (id, s, deps) =>
    createChatExecutor("content_translator", id, s, deps, {
      instructions: translatorInstructions(s),
      parseJson: false,
    }),
};
