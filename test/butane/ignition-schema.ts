import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AjvModule from 'ajv';

/**
 * The published Ignition 3.3 schema, copied into test/fixtures/ignition-schemas (origin and
 * license in its README), found relative to this file, never by an absolute path.
 */
export const SCHEMA_URL = new URL('../fixtures/ignition-schemas/ignition-v3.3.schema.json', import.meta.url);

type Schema = Record<string, unknown>;

export function loadIgnitionSchema(url: URL = SCHEMA_URL): Schema {
  const file = fileURLToPath(url);
  if (!existsSync(file)) {
    throw new Error(
      `Ignition 3.3 schema not found at ${file}: it belongs in test/fixtures/ignition-schemas/ of the repository`,
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Schema;
}

export interface IgnitionValidator {
  /** Ajv's verdict on the published schema; the messages, or [] when valid. */
  schemaErrors(config: unknown): string[];
  /**
   * The published schema allows any extra key, so a misspelt `dropin` or `sources` would pass
   * it. This walks the config along the schema and lists every key the schema does not declare.
   */
  undeclaredKeys(config: unknown): string[];
}

export function ignitionValidator(): IgnitionValidator {
  const schema = loadIgnitionSchema();
  // The file declares draft-04, which Ajv 8 has no meta-schema for; the keywords it uses
  // (type, properties, required, items, allOf, $ref, definitions) mean the same in draft-07.
  const { $schema: _declared, ...body } = schema;
  const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as new (
    options: Record<string, unknown>,
  ) => { compile(schema: Schema): ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null } };
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: false });
  const validate = ajv.compile(body);

  function resolve(node: Schema): Schema {
    let current = node;
    while (typeof current.$ref === 'string') {
      const pointer = current.$ref.replace(/^#\//, '').split('/');
      let target: unknown = schema;
      for (const part of pointer) target = (target as Schema)[part];
      current = target as Schema;
    }
    return current;
  }

  /** Declared properties and array item schemas of a node, following $ref and allOf. */
  function shape(node: Schema): { properties: Map<string, Schema[]>; items: Schema[] } {
    const properties = new Map<string, Schema[]>();
    const items: Schema[] = [];
    const visit = (raw: Schema): void => {
      const n = resolve(raw);
      for (const [key, sub] of Object.entries((n.properties ?? {}) as Record<string, Schema>)) {
        properties.set(key, [...(properties.get(key) ?? []), sub]);
      }
      if (n.items && typeof n.items === 'object') items.push(n.items as Schema);
      for (const part of (n.allOf ?? []) as Schema[]) visit(part);
    };
    visit(node);
    return { properties, items };
  }

  function walk(value: unknown, nodes: Schema[], where: string, out: string[]): void {
    if (Array.isArray(value)) {
      const items = nodes.flatMap((n) => shape(n).items);
      value.forEach((element, i) => walk(element, items, `${where}[${i}]`, out));
    } else if (value !== null && typeof value === 'object') {
      const declared = new Map<string, Schema[]>();
      for (const n of nodes) for (const [k, v] of shape(n).properties) declared.set(k, [...(declared.get(k) ?? []), ...v]);
      for (const [key, sub] of Object.entries(value)) {
        const subNodes = declared.get(key);
        if (!subNodes) out.push(`${where}.${key}`);
        else walk(sub, subNodes, `${where}.${key}`, out);
      }
    }
  }

  return {
    schemaErrors(config) {
      if (validate(config)) return [];
      return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'}`);
    },
    undeclaredKeys(config) {
      const out: string[] = [];
      walk(config, [schema], '$', out);
      return out;
    },
  };
}
