// Where things are in JSON text: JSON pointer → source range, and FHIRPath location → pointer.
// A small scanner (no dependencies) so issues and results can be highlighted in the text the user
// pasted, exactly where the value is.

/** Map from JSON pointer ('' for the root, '/name/0/given/1') to {start, end} offsets of the value
 *  (and keyStart for object members). Returns an empty map on malformed text, with what it read. */
export function locate(text, base = 0) {
  const out = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const str = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (ptr, keyStart) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') i++;
      else for (;;) {
        ws();
        const ks = i;
        const key = str();
        ws(); i++; // ':'
        value(`${ptr}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, ks);
        ws();
        if (text[i++] !== ',') break;
      }
    } else if (c === '[') {
      i++; ws();
      let n = 0;
      if (text[i] === ']') i++;
      else for (;;) {
        value(`${ptr}/${n++}`);
        ws();
        if (text[i++] !== ',') break;
      }
    } else if (c === '"') str();
    else { while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++; }
    out.set(ptr, { start: base + start, end: base + i, keyStart: keyStart === undefined ? undefined : base + keyStart });
  };
  try { value(''); } catch { /* partial map */ }
  return out;
}

/** `Patient.name[0].given[1]` → `/name/0/given/1` (the leading type name is dropped). */
export function pointerOf(location) {
  const parts = location.split('.');
  if (/^[A-Z]/.test(parts[0])) {
    const m = /^([A-Za-z]+)((?:\[\d+\])*)$/.exec(parts[0]);
    parts[0] = m && m[2] ? m[2] : '';
  }
  let ptr = '';
  for (const part of parts) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) continue;
    if (m[1]) ptr += `/${m[1]}`;
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) ptr += `/${idx[1]}`;
  }
  return ptr;
}

/** The longest pointer present in the map that is a prefix of `ptr` (choice types, `_x` keys). */
export function nearest(map, ptr) {
  let p = ptr;
  for (;;) {
    if (map.has(p)) return { pointer: p, range: map.get(p) };
    // value[x]: Patient.deceased → deceasedBoolean
    const last = p.lastIndexOf('/');
    if (last < 0) return null;
    const parent = p.slice(0, last);
    const name = p.slice(last + 1);
    for (const key of map.keys()) {
      if (key.startsWith(`${parent}/${name}`) && /^[A-Z]/.test(key.slice(parent.length + 1 + name.length))
          && !key.slice(parent.length + 1).includes('/')) {
        return { pointer: key, range: map.get(key) };
      }
    }
    if (p === '') return null;
    p = parent;
  }
}
