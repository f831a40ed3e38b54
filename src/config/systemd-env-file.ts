// Reads an env file the way systemd's EnvironmentFile= does (systemd.exec(5), "EnvironmentFile="; the parser is
// parse_env_file_internal in systemd's src/basic/env-file.c), so that `config --env-file /etc/contentflow-worker/env`
// shows the values the unit will pass:
// - lines starting with `#` or `;` (after leading whitespace) are comments; there are no comments after a value,
//   so `N=3 # three` is the value `3 # three`;
// - an unquoted value keeps interior whitespace, loses leading and trailing whitespace, and `\x` stands for `x`;
//   a backslash at the end of a line continues the value on the next line;
// - single quotes keep everything verbatim up to the next single quote (newlines included); double quotes the
//   same, except that `\"`, `\\`, `` \` `` and `\$` stand for the character and a backslash before a newline drops
//   both; text right after a closing quote is appended;
// - whitespace around the key is dropped; a key that is not a valid variable name is ignored, as systemd does.

const WHITESPACE = new Set([" ", "\t", "\r"]);
const VALID_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type State =
  | "pre-key"
  | "key"
  | "pre-value"
  | "value"
  | "value-escape"
  | "single-quote"
  | "double-quote"
  | "double-quote-escape"
  | "comment"
  | "comment-escape";

export function parseSystemdEnvironmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let state: State = "pre-key";
  let key = "";
  let value = "";
  /** Length of `value` before its trailing unescaped whitespace (only meaningful in the unquoted states). */
  let kept = 0;

  const push = () => {
    const name = key.trim();
    if (VALID_NAME.test(name)) out[name] = value;
    key = "";
    value = "";
    kept = 0;
  };

  for (const c of text.replace(/^\uFEFF/, "")) {
    switch (state) {
      case "pre-key":
        if (c === "#" || c === ";") state = "comment";
        else if (c !== "\n" && !WHITESPACE.has(c)) {
          state = "key";
          key = c;
        }
        break;
      case "key":
        if (c === "\n") {
          state = "pre-key"; // a line without '=' is ignored
          key = "";
        } else if (c === "=") state = "pre-value";
        else key += c;
        break;
      case "pre-value":
        if (c === "\n") {
          state = "pre-key";
          push();
        } else if (c === "'") state = "single-quote";
        else if (c === '"') state = "double-quote";
        else if (c === "\\") state = "value-escape";
        else if (!WHITESPACE.has(c)) {
          state = "value";
          value += c;
          kept = value.length;
        }
        break;
      case "value":
        if (c === "\n") {
          value = value.slice(0, kept);
          state = "pre-key";
          push();
        } else if (c === "\\") state = "value-escape";
        else {
          value += c;
          if (!WHITESPACE.has(c)) kept = value.length;
        }
        break;
      case "value-escape":
        state = "value";
        if (c !== "\n") {
          value += c;
          kept = value.length;
        }
        break;
      case "single-quote":
        if (c === "'") state = "pre-value";
        else value += c;
        kept = value.length;
        break;
      case "double-quote":
        if (c === '"') state = "pre-value";
        else if (c === "\\") state = "double-quote-escape";
        else value += c;
        kept = value.length;
        break;
      case "double-quote-escape":
        state = "double-quote";
        if (c === '"' || c === "\\" || c === "`" || c === "$") value += c;
        else if (c !== "\n") value += `\\${c}`;
        kept = value.length;
        break;
      case "comment":
        if (c === "\\") state = "comment-escape";
        else if (c === "\n") state = "pre-key";
        break;
      case "comment-escape":
        // Since systemd 254 a backslash at the end of a comment no longer continues it.
        state = c === "\n" ? "pre-key" : "comment";
        break;
    }
  }
  switch (state) {
    case "value":
    case "value-escape":
      value = value.slice(0, kept);
      push();
      break;
    case "pre-value":
    case "single-quote":
    case "double-quote":
    case "double-quote-escape":
      push();
      break;
  }
  return out;
}
