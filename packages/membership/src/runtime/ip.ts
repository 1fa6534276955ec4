/**
 * IP addresses as memberlist puts them on the wire: raw `net.IP` bytes, 4 for IPv4 and 16 for
 * IPv6. Go renders an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the dotted quad, and so
 * does {@link ipFromBytes}.
 */

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith('0'))) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  if (text.length > 45) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (half: string): string[] => (half.length === 0 ? [] : half.split(':'));
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  const words: number[] = [];
  const pushGroups = (list: string[], target: number[]): boolean => {
    for (let i = 0; i < list.length; i++) {
      const group = list[i] ?? '';
      if (i === list.length - 1 && group.includes('.')) {
        const v4 = parseIpv4(group);
        if (v4 === null) return false;
        target.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
      target.push(Number.parseInt(group, 16));
    }
    return true;
  };
  const tailWords: number[] = [];
  if (!pushGroups(head, words) || !pushGroups(tail, tailWords)) return null;
  if (halves.length === 2) {
    const missing = 8 - words.length - tailWords.length;
    if (missing < 1) return null;
    for (let i = 0; i < missing; i++) words.push(0);
  }
  words.push(...tailWords);
  if (words.length !== 8) return null;
  const out = new Uint8Array(16);
  words.forEach((word, i) => {
    out[2 * i] = word >> 8;
    out[2 * i + 1] = word & 0xff;
  });
  return out;
}

/** The wire bytes of an IP literal (4 bytes for IPv4, 16 for IPv6), or `null` if it is not one. */
export function ipToBytes(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** True when `text` is an IPv4 or IPv6 literal. */
export function isIpLiteral(text: string): boolean {
  return ipToBytes(text) !== null;
}

/** The text form of wire address bytes, or `null` unless they are 4 or 16 bytes long. */
export function ipFromBytes(bytes: Uint8Array | null): string | null {
  if (bytes === null) return null;
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) return null;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.subarray(12).join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // Shorten the longest run of zero groups to '::', as the canonical text form does.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return words.join(':');
  return `${words.slice(0, bestStart).join(':')}::${words.slice(bestStart + bestLength).join(':')}`;
}
