// A CSV reader with Python csv.reader semantics: a quote char opens a quoted field only at the start of a field,
// a doubled quote inside a quoted field is one quote, quoted fields may span lines, CR LF / LF / CR end records.

export function parseCsv(text: string, opts: { delimiter?: string; quote?: string } = {}): string[][] {
  const delimiter = opts.delimiter ?? ",";
  const quote = opts.quote ?? '"';
  if (delimiter.length !== 1) throw new Error("the CSV delimiter must be a single character");
  if (quote.length !== 1) throw new Error("the CSV quote character must be a single character");
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let inQuotes = false;
  let fieldStarted = false;
  let i = 0;
  const endField = () => {
    row.push(field);
    field = "";
    fieldStarted = false;
  };
  const endRow = () => {
    endField();
    rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (inQuotes) {
      if (c === quote) {
        if (text[i + 1] === quote) {
          field += quote;
          i += 2;
          continue;
        }
        inQuotes = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === quote && !fieldStarted && field === "") {
      inQuotes = true;
      fieldStarted = true;
      i++;
    } else if (c === delimiter) {
      endField();
      i++;
    } else if (c === "\r" || c === "\n") {
      // A blank line is a record with no fields, as in Python (csv.reader yields []).
      if (row.length === 0 && field === "" && !fieldStarted) rows.push([]);
      else endRow();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += c;
      fieldStarted = true;
      i++;
    }
  }
  if (inQuotes) throw new Error("the CSV ends inside a quoted field");
  if (fieldStarted || field !== "" || row.length > 0) endRow();
  return rows;
}

/**
 * Digits with single underscores between them, as Python's int() and float() accept them ("1_000"). Unambiguous
 * (only `_` starts a further group of digits, and nothing else takes digits), so a long cell of digits is matched in
 * linear time.
 */
const DIGITS = String.raw`\d+(?:_\d+)*`;
const INT = new RegExp(`^[-+]?${DIGITS}$`);
const FLOAT = new RegExp(`^[-+]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][-+]?${DIGITS})?$`);

/** int, then float, else the text (ContentFlow's infer_types); inf/nan and unsafe integers stay text. */
export function inferType(value: string): string | number {
  const t = value.trim();
  if (INT.test(t)) {
    const n = Number(t.replaceAll("_", ""));
    return Number.isSafeInteger(n) ? n : value;
  }
  if (FLOAT.test(t)) return Number(t.replaceAll("_", ""));
  return value;
}
