// keyword_extractor: keywords (and optionally topics) of data[input_field] via Azure OpenAI as a JSON object in
// data[output_field] ("keywords"). Prompt as ContentFlow's KeywordExtractorExecutor.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, intSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

const RANKING = {
  relevance: "based on their relevance to the main topics",
  frequency: "based on their frequency of occurrence",
  importance: "based on their semantic importance",
};

const settings = v.object({
  ...chatSettingEntries({ output_field: "keywords", max_tokens: 600, temperature: 0.2 }),
  max_keywords: v.optional(intSetting("max_keywords", { min: 1, max: 1000 }), 10),
  keyword_type: v.optional(choiceSetting("keyword_type", ["single_words", "phrases", "both"]), "both"),
  include_score: v.optional(boolSetting("include_score"), true),
  extract_topics: v.optional(boolSetting("extract_topics"), false),
  min_word_length: v.optional(intSetting("min_word_length", { min: 1, max: 100 }), 3),
  context_aware: v.optional(boolSetting("context_aware"), true),
  ranking_method: v.optional(choiceSetting("ranking_method", ["relevance", "frequency", "importance"]), "relevance"),
});
type Settings = v.InferOutput<typeof settings>;

export function keywordInstructions(s: Settings): string {
  let text = "You are an expert keyword extraction system. ";
  text += `Extract up to ${s.max_keywords} `;
  if (s.keyword_type === "single_words") {
    text += "single-word keywords ";
    text += `(minimum ${s.min_word_length} characters) `;
  } else if (s.keyword_type === "phrases") {
    text += "key phrases (2-5 words) ";
  } else {
    text += "keywords and key phrases ";
    text += `(single words must be at least ${s.min_word_length} characters) `;
  }
  text += "that best represent the main concepts and topics in the text. ";
  if (s.context_aware && s.keyword_type !== "single_words") {
    text += "Consider the context to identify meaningful multi-word phrases. ";
  }
  text += `Rank keywords ${RANKING[s.ranking_method]}. `;
  if (s.include_score) text += "Provide a relevance score (0.0 to 1.0) for each keyword. ";
  if (s.extract_topics) text += "Also identify 2-3 main topics or themes. ";
  text += "\n\nReturn results as a JSON object. ";
  if (s.extract_topics) {
    text += s.include_score
      ? 'Format: {"keywords": [{"term": "keyword", "score": 0.0-1.0}], "topics": ["topic1", "topic2"]}. '
      : 'Format: {"keywords": ["keyword1", "keyword2", ...], "topics": ["topic1", "topic2"]}. ';
  } else {
    text += s.include_score
      ? 'Format: {"keywords": [{"term": "keyword", "score": 0.0-1.0}]}. '
      : 'Format: {"keywords": ["keyword1", "keyword2", ...]}. ';
  }
  text += "Focus on extracting keywords that would be useful for search, indexing, or understanding the content. ";
  text += "Avoid generic stopwords and overly common terms.";
  return text;
}

export const keywordExtractor: ExecutorDefinition<typeof settings> = {
  type: "keyword_extractor",
  category: "transform",
  description: "Extracts ranked keywords (and optionally topics) from each item's text with Azure OpenAI",
  settings,
  dataFields: chatDataFields("keywords"),
  create: (id, s, deps) =>
    createChatExecutor("keyword_extractor", id, s, deps, { instructions: keywordInstructions(s), parseJson: true }),
};
