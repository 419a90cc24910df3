/**
 * A small declarative schema for JSON configs: one table says each field's type, default, bounds and
 * meaning, and serves both validation (unknown or invalid fields rejected with their dotted name) and the
 * generated reference in docs/config.md, so the two cannot drift apart.
 */
export type FieldSpec =
  | { type: 'number' | 'integer'; doc: string; default?: number | null; min?: number; max?: number; exclusiveMin?: boolean; nullable?: boolean }
  | { type: 'boolean'; doc: string; default?: boolean }
  | { type: 'string'; doc: string; default?: string | null; enum?: readonly string[]; nullable?: boolean }
  | { type: 'numbers' | 'integers'; doc: string; default?: readonly number[] | null; minLength?: number; nullable?: boolean }
  | { type: 'object'; doc: string; fields: Record<string, FieldSpec> }
  /** Free-form object validated elsewhere (named in the doc). */
  | { type: 'json'; doc: string; default?: Record<string, unknown> | null; nullable?: boolean };

export type ObjectSpec = Record<string, FieldSpec>;

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function checkNumber(path: string, v: unknown, spec: Extract<FieldSpec, { type: 'number' | 'integer' }>): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${path} must be a ${spec.type === 'integer' ? 'whole number' : 'number'}, got ${describe(v)}`);
  if (spec.type === 'integer' && !Number.isInteger(v)) throw new Error(`${path} must be a whole number, got ${v}`);
  if (spec.min !== undefined && (spec.exclusiveMin ? v <= spec.min : v < spec.min)) throw new Error(`${path} must be ${spec.exclusiveMin ? '>' : '>='} ${spec.min}, got ${v}`);
  if (spec.max !== undefined && v > spec.max) throw new Error(`${path} must be <= ${spec.max}, got ${v}`);
  return v;
}

function validateField(path: string, v: unknown, spec: FieldSpec): unknown {
  if (v === undefined) {
    if (spec.type === 'object') return validateObject(path, {}, spec.fields);
    if (!('default' in spec)) throw new Error(`${path} is required: ${spec.doc}`);
    return spec.default;
  }
  if (v === null && 'nullable' in spec && spec.nullable) return null;
  switch (spec.type) {
    case 'number':
    case 'integer':
      return checkNumber(path, v, spec);
    case 'boolean':
      if (typeof v !== 'boolean') throw new Error(`${path} must be true or false, got ${describe(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string') throw new Error(`${path} must be a string, got ${describe(v)}`);
      if (spec.enum && !spec.enum.includes(v)) throw new Error(`${path} must be one of ${spec.enum.map((e) => `"${e}"`).join(', ')}, got "${v}"`);
      return v;
    case 'numbers':
    case 'integers':
      if (!Array.isArray(v)) throw new Error(`${path} must be a list of ${spec.type}, got ${describe(v)}`);
      if (spec.minLength !== undefined && v.length < spec.minLength) throw new Error(`${path} needs at least ${spec.minLength} entries, got ${v.length}`);
      v.forEach((x, i) => checkNumber(`${path}[${i}]`, x, { type: spec.type === 'integers' ? 'integer' : 'number', doc: '' }));
      return [...v];
    case 'object':
      return validateObject(path, v, spec.fields);
    case 'json':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path} must be an object, got ${describe(v)}`);
      return v;
  }
}

/** Validates `value` against `fields`, fills defaults, and rejects unknown fields by their dotted name. */
export function validateObject(path: string, value: unknown, fields: ObjectSpec): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path || 'config'} must be an object, got ${describe(value)}`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (!(key in fields)) {
      const near = Object.keys(fields).find((k) => k.toLowerCase() === key.toLowerCase());
      throw new Error(`${path ? `${path}.` : ''}${key} is not a known setting${near ? ` (did you mean ${near}?)` : ''}; known: ${Object.keys(fields).join(', ')}`);
    }
  }
  for (const [key, spec] of Object.entries(fields)) {
    out[key] = validateField(path ? `${path}.${key}` : key, (value as Record<string, unknown>)[key], spec);
  }
  return out;
}

/** Keys that would reach an object's prototype instead of a setting: never a config field. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function checkKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw new Error(`${where}: "${key}" is not a setting name (it would reach JavaScript's object prototype)`);
}

/** checkKey on every key of a parsed JSON value, at any depth. */
function checkKeysDeep(value: unknown, where: string): void {
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    checkKey(k, where);
    checkKeysDeep(v, where);
  }
}

/** Deep merge of plain objects (arrays and scalars replace). */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    checkKey(k, 'config');
    out[k] = mergeConfig(out[k], v);
  }
  return out;
}

/** Sets a dotted path (from a --set a.b=value flag) in a plain object; the value is parsed as JSON when it can be. */
export function setPath(target: Record<string, unknown>, dotted: string, raw: string): void {
  const keys = dotted.split('.');
  for (const k of keys) checkKey(k, `--set ${dotted}`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  checkKeysDeep(value, `--set ${dotted}`);
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

/** Markdown reference of every field: dotted name, type, default, meaning. */
export function documentSchema(fields: ObjectSpec, prefix = ''): string[] {
  const rows: string[] = [];
  for (const [key, spec] of Object.entries(fields)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (spec.type === 'object') {
      rows.push(`| \`${name}\` | object | | ${spec.doc} |`);
      rows.push(...documentSchema(spec.fields, name));
      continue;
    }
    let type: string = spec.type;
    if (spec.type === 'string' && spec.enum) type = spec.enum.map((e) => `"${e}"`).join(' \\| ');
    if ((spec.type === 'number' || spec.type === 'integer') && (spec.min !== undefined || spec.max !== undefined)) {
      type += ` ${spec.min !== undefined ? `${spec.exclusiveMin ? '>' : '≥'} ${spec.min}` : ''}${spec.min !== undefined && spec.max !== undefined ? ', ' : ''}${spec.max !== undefined ? `≤ ${spec.max}` : ''}`;
    }
    if ('nullable' in spec && spec.nullable) type += ' or null';
    const def = 'default' in spec ? `\`${JSON.stringify(spec.default)}\`` : 'required';
    rows.push(`| \`${name}\` | ${type} | ${def} | ${spec.doc} |`);
  }
  return rows;
}
