// sentiment_analyser: sentiment of data[input_field] via Azure OpenAI as a JSON object in data[output_field]
// ("sentiment"). Prompt as ContentFlow's SentimentAnalysisExecutor.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, stringListSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

const settings = v.object({
  ...chatSettingEntries({ output_field: "sentiment", max_tokens: 600, temperature: 0.2 }),
  granularity: v.optional(choiceSetting("granularity", ["document", "sentence", "aspect"]), "document"),
  include_confidence: v.optional(boolSetting("include_confidence"), true),
  include_emotions: v.optional(boolSetting("include_emotions"), false),
  aspects: v.optional(stringListSetting("aspects")),
  scale: v.optional(choiceSetting("scale", ["3-point", "5-point"]), "3-point"),
});
type Settings = v.InferOutput<typeof settings>;

export function sentimentInstructions(s: Settings): string {
  let text = "You are an expert sentiment analysis system. ";
  if (s.scale === "5-point") {
    text += "Classify sentiment on a 5-point scale: very positive, positive, neutral, negative, very negative. ";
  } else {
    text += "Classify sentiment as: positive, neutral, or negative. ";
  }
  if (s.granularity === "sentence") text += "Analyze sentiment for each sentence separately. ";
  else if (s.granularity === "aspect" && s.aspects?.length) {
    text += `Analyze sentiment for these specific aspects: ${s.aspects.join(", ")}. `;
  } else text += "Analyze the overall sentiment of the entire text. ";
  if (s.include_confidence) text += "Provide a confidence score (0.0 to 1.0) for your sentiment classification. ";
  if (s.include_emotions) {
    text += "Also identify specific emotions present (e.g., joy, anger, sadness, fear, surprise, disgust). ";
  }
  text += "Return results as a JSON object. ";
  if (s.granularity === "document") {
    text += s.include_emotions
      ? 'Format: {"sentiment": "positive/neutral/negative", "confidence": 0.0-1.0, "emotions": ["emotion1", "emotion2"], "explanation": "brief reason"}. '
      : 'Format: {"sentiment": "positive/neutral/negative", "confidence": 0.0-1.0, "explanation": "brief reason"}. ';
  } else if (s.granularity === "sentence") {
    text +=
      'Format: {"sentences": [{"text": "sentence", "sentiment": "...", "confidence": 0.0-1.0}], "overall": {...}}. ';
  } else {
    text += 'Format: {"aspects": {"aspect_name": {"sentiment": "...", "confidence": 0.0-1.0}}, "overall": {...}}. ';
  }
  text += "Be objective and consistent in your analysis.";
  return text;
}

export const sentimentAnalyser: ExecutorDefinition<typeof settings> = {
  type: "sentiment_analyser",
  category: "transform",
  description: "Classifies the sentiment of each item's text with Azure OpenAI (JSON result)",
  settings,
  dataFields: chatDataFields("sentiment"),
  create: (id, s, deps) =>
    createChatExecutor("sentiment_analyser", id, s, deps, { instructions: sentimentInstructions(s), parseJson: true }),
};
