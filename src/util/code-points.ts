// Text lengths as ContentFlow's Python counts them: in code points, where JavaScript's .length counts UTF-16 units
// (an emoji or other character outside the Basic Multilingual Plane is 1 in Python, 2 in JavaScript).

/** len(text) in Python. */
export function codePointLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** text[-n:] in Python: the last n code points (the whole text when it has fewer; "" for n <= 0). */
export function lastCodePoints(text: string, n: number): string {
  if (n <= 0) return "";
  let at = text.length;
  for (let taken = 0; taken < n && at > 0; taken++) {
    const low = text.charCodeAt(at - 1);
    const high = at >= 2 ? text.charCodeAt(at - 2) : 0;
    at -= low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? 2 : 1;
  }
  return text.slice(at);
}
