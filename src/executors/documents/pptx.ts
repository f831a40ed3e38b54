// PowerPoint (.pptx) extraction over the streaming XML of the slides, shaped as python-pptx shows a presentation:
// slides in presentation order, the text of each shape with a text frame, tables of graphic frames, speaker
// notes (the notes slide's body placeholder), layout names, pictures, core properties and the slide size.
import { DocumentError, type Pacer } from "./limits.ts";
import { contentTypeOf, coreProperties, mainPart, officeProperties, openPackage, relationships } from "./ooxml.ts";
import type { OoxmlPackage } from "./ooxml.ts";
import { attr, parseXmlPart, prefixedAttr, type XmlTag } from "./xml.ts";

export interface SlideShape {
  kind: string;
  /** A direct child of the slide's shape tree (python-pptx's slide.shapes); others sit in groups. */
  topLevel: boolean;
  /** Text frame text, paragraphs joined by "\n" (shapes without a text frame: undefined). */
  text?: string;
  placeholderType?: string;
  table?: { rows: string[][]; columns: number };
  /** Relationship id of a picture's image. */
  imageRel?: string;
}

export interface Slide {
  number: number;
  shapes: SlideShape[];
  notes?: string;
  layout?: string | null;
  images: Array<{ contentType: string; bytes: Uint8Array }>;
}

export interface Presentation {
  slides: Slide[];
  slideWidth: number | null;
  slideHeight: number | null;
  properties?: Record<string, unknown>;
}

const SHAPES = new Set(["sp", "grpSp", "graphicFrame", "cxnSp", "pic", "contentPart"]);

/** The shapes of a slide (or notes slide), in document order, with their text, tables and pictures. */
async function readShapes(pkg: OoxmlPackage, part: string): Promise<SlideShape[]> {
  const shapes: SlideShape[] = [];
  const stack: string[] = [];
  let treeDepth = -1;
  const open: Array<{ shape: SlideShape; depth: number }> = []; // shapes being read, innermost last
  let paragraphs: string[] | undefined; // paragraphs of the text body being read
  let paragraph: string | undefined;
  let table: { rows: string[][]; columns: number } | undefined;
  let row: string[] | undefined;
  let cell: string | undefined;

  const onOpen = (tag: XmlTag) => {
    const name = tag.name;
    const parent = stack[stack.length - 1];
    if (name === "spTree" && treeDepth < 0) treeDepth = stack.length;
    else if (treeDepth >= 0 && SHAPES.has(name) && (parent === "spTree" || parent === "grpSp")) {
      const shape: SlideShape = { kind: name, topLevel: stack.length === treeDepth + 1 };
      shapes.push(shape);
      open.push({ shape, depth: stack.length });
    } else if (open.length) {
      const shape = open[open.length - 1].shape;
      if (name === "ph") shape.placeholderType = attr(tag, "type") ?? "body";
      else if (name === "txBody") paragraphs = [];
      else if (name === "p" && paragraphs) paragraph = "";
      else if (name === "br" && paragraph !== undefined) paragraph += "\n";
      else if (name === "tbl" && shape.kind === "graphicFrame" && !table) table = { rows: [], columns: 0 };
      else if (name === "gridCol" && table) table.columns++;
      else if (name === "tr" && table) row = [];
      else if (name === "tc" && row) cell = "";
      else if (name === "blip" && shape.kind === "pic") shape.imageRel = prefixedAttr(tag, "embed");
    }
    stack.push(name);
  };

  const onClose = (name: string) => {
    stack.pop();
    if (!open.length) return;
    const { shape, depth } = open[open.length - 1];
    if (name === "p" && paragraph !== undefined && paragraphs) {
      paragraphs.push(paragraph);
      paragraph = undefined;
    } else if (name === "txBody" && paragraphs) {
      const text = paragraphs.join("\n");
      if (cell !== undefined) cell = text;
      else if (shape.kind === "sp") shape.text = text;
      paragraphs = undefined;
    } else if (name === "tc" && row && cell !== undefined) {
      row.push(cell);
      cell = undefined;
    } else if (name === "tr" && row && table) {
      table.rows.push(row);
      row = undefined;
    } else if (name === "tbl" && table) {
      shape.table = table;
      table = undefined;
    } else if (stack.length === depth && name === shape.kind) {
      open.pop();
    }
  };

  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open: onOpen,
    close: onClose,
    text(text) {
      if (paragraph !== undefined && stack[stack.length - 1] === "t") paragraph += text;
    },
  }, pkg.what);
  return shapes;
}

async function layoutName(pkg: OoxmlPackage, part: string): Promise<string | null> {
  let name: string | null = null;
  await parseXmlPart(pkg.zip, part, pkg.pacer, {
    open(tag) {
      if (tag.name === "cSld" && name === null) name = attr(tag, "name") ?? "";
    },
  }, pkg.what);
  return name;
}

export async function extractPptx(
  bytes: Uint8Array,
  what: string,
  pacer: Pacer,
  opts: { notes: boolean; layouts: boolean; images: boolean; properties: boolean; maxSlides: number },
): Promise<Presentation> {
  const pkg = await openPackage(bytes, what, ".ppt", pacer);
  const part = await mainPart(pkg, "ppt/presentation.xml", "presentationml");
  const slideRels: string[] = [];
  let slideWidth: number | null = null;
  let slideHeight: number | null = null;
  await parseXmlPart(pkg.zip, part, pacer, {
    open(tag) {
      if (tag.name === "sldId") {
        const rel = prefixedAttr(tag, "id");
        if (rel) slideRels.push(rel);
      } else if (tag.name === "sldSz") {
        slideWidth = Number(attr(tag, "cx")) || null;
        slideHeight = Number(attr(tag, "cy")) || null;
      }
    },
  }, what);
  if (slideRels.length > opts.maxSlides) {
    throw new DocumentError(`${what} has ${slideRels.length} slides, more than max_slides ${opts.maxSlides}`);
  }
  const rels = await relationships(pkg, part);
  const slides: Slide[] = [];
  for (const relId of slideRels) {
    await pacer.yieldNow();
    const slidePart = rels.get(relId)?.part;
    if (!slidePart || !pkg.zip.has(slidePart)) {
      throw new DocumentError(`${what}: slide relationship ${relId} points to a missing part`);
    }
    const slide: Slide = { number: slides.length + 1, shapes: await readShapes(pkg, slidePart), images: [] };
    const own = await relationships(pkg, slidePart);
    for (const rel of own.values()) {
      if (!rel.part || !pkg.zip.has(rel.part)) continue;
      if (opts.notes && rel.type.endsWith("/notesSlide")) {
        const body = (await readShapes(pkg, rel.part)).find((s) => s.placeholderType === "body" && s.text);
        if (body?.text) slide.notes = body.text;
      } else if (opts.layouts && rel.type.endsWith("/slideLayout")) {
        slide.layout = await layoutName(pkg, rel.part);
      }
    }
    if (opts.layouts && slide.layout === undefined) slide.layout = null;
    if (opts.images) {
      for (const shape of slide.shapes) {
        const imagePart = shape.imageRel ? own.get(shape.imageRel)?.part : undefined;
        if (!imagePart || !pkg.zip.has(imagePart)) continue;
        slide.images.push({ contentType: contentTypeOf(pkg, imagePart), bytes: await pkg.zip.read(imagePart, pacer) });
      }
    }
    slides.push(slide);
  }
  const presentation: Presentation = { slides, slideWidth, slideHeight };
  if (opts.properties) presentation.properties = officeProperties(await coreProperties(pkg));
  return presentation;
}
