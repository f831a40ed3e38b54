// entity_extractor: named entities of data[input_field] via Azure OpenAI, stored in data[output_field] ("entities"),
// parsed as a JSON object when the answer holds one. Prompt as ContentFlow's EntityExtractionExecutor.
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import { boolSetting, choiceSetting, stringListSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor } from "../ai/chat-executor.ts";

export const DEFAULT_ENTITY_TYPES =
  "person,organization,location,date,money,email,phone,url,product,event,quantity,skill,ip-address";

const settings = v.object({
  ...chatSettingEntries({
    output_field: "entities",
    max_tokens: 600,
    temperature: 0.1,
    deployment_name: "gpt-4.1-mini",
  }),
  entity_types: v.optional(stringListSetting("entity_types"), DEFAULT_ENTITY_TYPES.split(",")),
  output_format: v.optional(choiceSetting("output_format", ["structured", "list", "text"]), "structured"),
  include_context: v.optional(boolSetting("include_context"), false),
  custom_entities: v.optional(stringListSetting("custom_entities")),
});
type Settings = v.InferOutput<typeof settings>;

export function entityInstructions(s: Settings): string {
  let text = "You are an expert named entity recognition system. ";
  text += `Extract the following types of entities from the text: ${s.entity_types.join(", ")}. `;
  if (s.custom_entities?.length) text += `Also extract these custom entities: ${s.custom_entities.join(", ")}. `;
  if (s.output_format === "structured") {
    text += "Return the results as a JSON object with entity types as keys and lists of found entities as values. ";
    if (s.include_context) {
      text += "For each entity, include a brief context snippet (5-10 words surrounding the entity). ";
      text += 'Format: {"entity_type": [{"text": "entity_name", "context": "...surrounding text..."}]}. ';
    } else {
      text += 'Format: {"entity_type": ["entity1", "entity2", ...]}. ';
    }
  } else if (s.output_format === "list") {
    text += "Return a simple list of all extracted entities, one per line. ";
  } else {
    text += "Return the extracted entities in a natural text format, grouped by type. ";
  }
  text += "Be thorough and accurate. Only extract entities that are clearly present in the text.";
  return text;
}

export const entityExtractor: ExecutorDefinition<typeof settings> = {
  type: "entity_extractor",
  category: "transform",
  description: "Extracts named entities (people, organisations, places, ...) from each item's text with Azure OpenAI",
  settings,
  dataFields: chatDataFields("entities"),
  create: (id, s, deps) =>
    createChatExecutor("entity_extractor", id, s, deps, { instructions: entityInstructions(s), parseJson: true }),
};
