/** The little XML the vendor descriptors need (OVF, Parallels DiskDescriptor.xml and config.pvs). Pure. */

/** Escapes text and attribute values (double-quoted). */
export function xmlEscape(value: string | number): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export type XmlAttributes = ReadonlyArray<readonly [string, string | number]>;

/** ` a="1" b="2"`, in the order given (descriptors are compared with the SDK's by eye, so order is kept). */
export function xmlAttributes(attributes: XmlAttributes = []): string {
  return attributes.map(([k, v]) => ` ${k}="${xmlEscape(v)}"`).join('');
}

/** `<name a="1">text</name>`, or `<name a="1"/>` without text. */
export function xmlElement(name: string, attributes: XmlAttributes = [], text?: string | number): string {
  return text === undefined ? `<${name}${xmlAttributes(attributes)}/>` : `<${name}${xmlAttributes(attributes)}>${xmlEscape(text)}</${name}>`;
}

/** Indents every line of `lines` by `depth` steps of `unit`. */
export function indent(lines: readonly string[], depth: number, unit = '  '): string[] {
  const pad = unit.repeat(depth);
  return lines.map((l) => pad + l);
}
