// text_summarizer: an Azure OpenAI summary of data[input_field] in data[output_field] ("summary"), with ContentFlow's
// instructions for summary_length, summary_style, preserve_key_facts and focus_areas.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, stringSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

const LENGTHS = {
  brief: "Provide a very brief summary in 1-2 sentences.",
  short: "Provide a concise summary in 3-5 sentences.",
  medium: "Provide a summary in one paragraph (5-8 sentences).",
  detailed: "Provide a detailed summary in multiple paragraphs.",
};
const STYLES = {
  bullet_points: "Format the summary as bullet points highlighting the main points.",
  paragraph: "Write the summary as a cohesive paragraph.",
  abstract: "Write the summary in an academic abstract style.",
};

const settings = v.object({
  ...chatSettingEntries({ output_field: "summary", max_tokens: 500, temperature: 0.3 }),
  summary_length: v.optional(choiceSetting("summary_length", ["brief", "short", "medium", "detailed"]), "short"),
  summary_style: v.optional(choiceSetting("summary_style", ["bullet_points", "paragraph", "abstract"]), "paragraph"),
  focus_areas: v.optional(stringSetting("focus_areas")),
  preserve_key_facts: v.optional(boolSetting("preserve_key_facts"), true),
});
type Settings = v.InferOutput<typeof settings>;

export function summarizerInstructions(s: Settings): string {
  let text = "You are an expert text summarizer. ";
  text += LENGTHS[s.summary_length];
  text += " " + STYLES[s.summary_style];
  if (s.preserve_key_facts) text += " Ensure all key facts, figures, and important details are preserved.";
  if (s.focus_areas) text += ` Focus particularly on: ${s.focus_areas}.`;
  text += " Maintain objectivity and accuracy in your summaries.";
  return text;
}

export const textSummarizer: ExecutorDefinition<typeof settings> = {
  type: "text_summarizer",
  category: "transform",
  description: "Summarises each item's text with Azure OpenAI (length and style configurable)",
  settings,
  dataFields: chatDataFields("summary"),
  create: (id, s, deps) =>
    createChatExecutor("text_summarizer", id, s, deps, { instructions: summarizerInstructions(s), parseJson: false }),
};
