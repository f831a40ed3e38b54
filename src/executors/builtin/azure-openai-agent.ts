// azure_openai_agent: runs the pipeline's `instructions` over data[input_field] with an Azure OpenAI deployment and
// stores the answer in data[output_field] (parsed as JSON with parse_response_as_json). See ai/chat-executor.ts.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, stringSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

const settings = v.object({
  ...chatSettingEntries({ output_field: "agent_response", max_tokens: 400 }),
  instructions: v.optional(stringSetting("instructions"), "You are a helpful AI assistant."),
  parse_response_as_json: v.optional(boolSetting("parse_response_as_json"), false),
});

export const azureOpenAIAgent: ExecutorDefinition<typeof settings> = {
  type: "azure_openai_agent",
  category: "transform",
  description: "Runs instructions over each item's text with an Azure OpenAI deployment and stores the answer",
  settings,
  dataFields: chatDataFields("agent_response"),
  create: (id, s, deps) =>
    createChatExecutor("azure_openai_agent", id, s, deps, {
      instructions: s.instructions,
      parseJson: s.parse_response_as_json,
    }),
};
