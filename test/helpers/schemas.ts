import { readFileSync } from 'node:fs';
import AjvModule from 'ajv';
import { REPO } from './cli.js';

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string; params?: unknown }> | null };
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as new (options: Record<string, unknown>) => {
  compile(schema: unknown): Validate;
};
// strict: a schema keyword Ajv does not know is an error, so a typo in a schema fails the tests.
const ajv = new Ajv({ allErrors: true, strict: true });
const compiled = new Map<string, Validate>();

/** The schemas the repo publishes in schemas/. */
export type SchemaName = 'manifest' | 'inspect' | 'error' | 'doctor' | 'vendors' | 'boot' | 'sysext-create' | 'sysext-check' | 'sysext-build' | 'sysext-recipes' | 'release' | 'flix' | 'flatwrap' | 'convert-torcx' | 'oci-rootfs';
export function schemaErrors(name: SchemaName, data: unknown): string[] {
  let validate = compiled.get(name);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(`${REPO}/schemas/${name}.schema.json`, 'utf8')));
    compiled.set(name, validate);
  }
  return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params ?? {})}`);
}
