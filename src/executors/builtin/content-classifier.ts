// content_classifier: classifies data[input_field] into the pipeline's categories via Azure OpenAI; the JSON answer
// goes to data[output_field] ("classification"). Prompt as ContentFlow's ContentClassifierExecutor.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, mapSetting, numberSetting, stringListSetting, stringSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";
import { pythonFloat } from "../ai/prompt-text.ts";

const settings = v.object({
  ...chatSettingEntries({ output_field: "classification", max_tokens: 600, temperature: 0.2 }),
  categories: v.pipe(stringListSetting("categories"), v.minLength(1, "categories must name at least one category")),
  multi_label: v.optional(boolSetting("multi_label"), false),
  include_confidence: v.optional(boolSetting("include_confidence"), true),
  category_descriptions: v.optional(mapSetting("category_descriptions", stringSetting("category_descriptions")), {}),
  min_confidence: v.optional(numberSetting("min_confidence", { min: 0, max: 1 }), 0),
  include_explanation: v.optional(boolSetting("include_explanation"), true),
});
type Settings = v.InferOutput<typeof settings>;

export function classifierInstructions(s: Settings): string {
  const list = s.categories.join(", ");
  let text = "You are an expert text classification system. ";
  text += s.multi_label
    ? `Classify the text into one or more of these categories: ${list}. `
    : `Classify the text into exactly one of these categories: ${list}. `;
  const descriptions = Object.entries(s.category_descriptions);
  if (descriptions.length > 0) {
    text += "\n\nCategory descriptions:\n";
    for (const [category, description] of descriptions) text += `- ${category}: ${description}\n`;
  }
  if (s.include_confidence) {
    text += "Provide a confidence score (0.0 to 1.0) for each classification. ";
    if (s.min_confidence > 0) text += `Only include categories with confidence >= ${pythonFloat(s.min_confidence)}. `;
  }
  if (s.include_explanation) text += "Provide a brief explanation for your classification decision. ";
  text += "\n\nReturn results as a JSON object. ";
  if (s.multi_label) {
    if (s.include_confidence && s.include_explanation) {
      text += 'Format: {"categories": [{"name": "category", "confidence": 0.0-1.0}], "explanation": "reason"}. ';
    } else if (s.include_confidence) {
      text += 'Format: {"categories": [{"name": "category", "confidence": 0.0-1.0}]}. ';
    } else text += 'Format: {"categories": ["category1", "category2"]}. ';
  } else if (s.include_confidence && s.include_explanation) {
    text += 'Format: {"category": "category_name", "confidence": 0.0-1.0, "explanation": "reason"}. ';
  } else if (s.include_confidence) {
    text += 'Format: {"category": "category_name", "confidence": 0.0-1.0}. ';
  } else text += 'Format: {"category": "category_name"}. ';
  text += "Be accurate and consistent in your classifications.";
  return text;
}

export const contentClassifier: ExecutorDefinition<typeof settings> = {
  type: "content_classifier",
  category: "transform",
  description: "Classifies each item's text into the given categories with Azure OpenAI (JSON result)",
  settings,
  dataFields: chatDataFields("classification"),
  create: (id, s, deps) =>
    createChatExecutor("content_classifier", id, s, deps, {
      instructions: classifierInstructions(s),
      parseJson: true,
    }),
};
