// Streaming XML for OOXML parts: the part is inflated step by step (zip.ts), decoded and fed to saxes, so a large
// sheet or document body never exists as one string or one object tree. Element and attribute names are handled
// by local name (the part after the prefix), because generators differ in prefixes ("x:row", "row").
// saxes expands only the predefined XML entities and character references: no DTD or external entities.
import { SaxesParser } from "saxes";
import type { Pacer } from "./limits.ts";
import type { ZipArchive } from "./zip.ts";
import { DocumentError } from "./limits.ts";

export interface XmlTag {
  /** Local name, without prefix. */
  name: string;
  attributes: Record<string, string>;
  selfClosing: boolean;
}

export interface XmlHandlers {
  open?(tag: XmlTag): void;
  close?(name: string): void;
  text?(text: string): void;
}

export function localName(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** The attribute with this exact name, else one whose local name matches ("val" finds "w:val"). */
export function attr(tag: XmlTag, name: string): string | undefined {
  const exact = tag.attributes[name];
  if (exact !== undefined) return exact;
  for (const [key, value] of Object.entries(tag.attributes)) if (localName(key) === name) return value;
  return undefined;
}

/** A prefixed attribute such as r:id or r:embed (the relationship namespace), never the unprefixed one. */
export function prefixedAttr(tag: XmlTag, name: string): string | undefined {
  for (const [key, value] of Object.entries(tag.attributes)) {
    if (key.includes(":") && localName(key) === name) return value;
  }
  return undefined;
}

export async function parseXmlPart(
  zip: ZipArchive,
  part: string,
  pacer: Pacer,
  handlers: XmlHandlers,
  what: string,
): Promise<void> {
  const parser = new SaxesParser({ xmlns: false, position: false });
  parser.on("opentag", (tag) => {
    handlers.open?.({ name: localName(tag.name), attributes: tag.attributes, selfClosing: tag.isSelfClosing });
  });
  parser.on("closetag", (tag) => handlers.close?.(localName(tag.name)));
  if (handlers.text) {
    const onText = handlers.text;
    parser.on("text", onText);
    parser.on("cdata", onText);
  }
  const decoder = new TextDecoder("utf-8");
  try {
    await zip.stream(part, pacer, (chunk) => {
      parser.write(decoder.decode(chunk, { stream: true }));
    });
    parser.write(decoder.decode());
    parser.close();
  } catch (err) {
    if (err instanceof DocumentError || pacer.signal.aborted) throw err;
    throw new DocumentError(`${what}: malformed XML in part '${part}' (${(err as Error).message})`);
  }
}
