// Address ranges (CIDR blocks or single addresses, IPv4 and IPv6) and membership tests, for settings that allow
// some client addresses. IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match IPv4 ranges.

export interface IpRange {
  /** The range as written in the setting. */
  text: string;
  family: 4 | 6;
  base: bigint;
  prefix: number;
}

export class IpRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IpRangeError";
  }
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let s = text.toLowerCase();
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".") && lastColon >= 0) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  return value;
}

/** Parses an address; IPv4-mapped IPv6 addresses are returned as IPv4. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  const trimmed = text.trim().replace(/^\[(.*)\]$/, "$1");
  const v4 = parseIpv4(trimmed);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIpv6(trimmed);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/** Parses `10.0.0.0/8`, `192.168.1.7`, `fd00::/8` or `::1`; throws IpRangeError with the reason. */
export function parseIpRange(text: string): IpRange {
  const [addr, bits, extra] = text.trim().split("/");
  if (extra !== undefined) throw new IpRangeError(`'${text}' is not an address or CIDR block`);
  const ip = parseIp(addr);
  if (!ip) throw new IpRangeError(`'${text}' is not an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)`);
  const width = ip.family === 4 ? 32 : 128;
  let prefix = width;
  if (bits !== undefined) {
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > width) {
      throw new IpRangeError(`'${text}': the prefix length must be 0-${width}`);
    }
    prefix = Number(bits);
  }
  const shift = BigInt(width - prefix);
  return { text: text.trim(), family: ip.family, base: (ip.value >> shift) << shift, prefix };
}

export function ipInRange(address: string, range: IpRange): boolean {
  const ip = parseIp(address);
  if (!ip || ip.family !== range.family) return false;
  const shift = BigInt((range.family === 4 ? 32 : 128) - range.prefix);
  return (ip.value >> shift) === (range.base >> shift);
}

export function ipInRanges(address: string | undefined, ranges: readonly IpRange[]): boolean {
  return address !== undefined && ranges.some((r) => ipInRange(address, r));
}
