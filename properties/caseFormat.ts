// The case formats' documentation, generated from their zod schemas: a JSON Schema per kind for
// editors (properties/<name>.schema.json) and one Markdown reference (properties/case-format.md).
//
//   node dist/properties/caseFormat.js --write    regenerate the files
//   node dist/properties/caseFormat.js --check    exit 1 if they are out of date (a test does the same)
//
// A kind of case file is one line of CASE_KINDS: its schema's .describe() texts and .meta()
// titles and ids are the documentation (ids must be unique within a kind: each becomes a section).

import { mountCaseSchema } from './mountCase.js';
import { CROSS_RULES, crossCaseSchema } from './crossCase.js';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CASE_RULES, caseSchema } from './caseSchema.js';

export interface CaseKind {
  /** The file stem of its JSON Schema (`${name}.schema.json`), and the prefix of its anchors. */
  name: string;
  /** The heading of its part of the Markdown reference. */
  title: string;
  schema: z.ZodType;
  /** Rules across fields, which no single field's description can say. */
  rules?: readonly string[];
}

/** Every kind of case file the suite reads. */
export const CASE_KINDS: readonly CaseKind[] = [
  { name: 'case', title: 'Case files', schema: caseSchema, rules: CASE_RULES },
  { name: 'mount-case', title: 'Mount case files', schema: mountCaseSchema },
  { name: 'cross-case', title: 'Cross case files', schema: crossCaseSchema, rules: CROSS_RULES },
];

/** The Markdown reference, beside its schemas. */
export const MARKDOWN_FILE = 'case-format.md';

type Json = Record<string, unknown>;

/** The JSON Schema of a kind (its input: defaulted fields are optional). */
export function jsonSchemaOf(kind: CaseKind): Json {
  return z.toJSONSchema(kind.schema, { io: 'input', unrepresentable: 'any' }) as Json;
}

export function caseJsonSchema(): Json {
  return jsonSchemaOf(CASE_KINDS[0]);
}

export function caseFormatMarkdown(): string {
  return markdownOf(CASE_KINDS);
}

// ---------------------------------------------------------------- Markdown

const SAFE_INT = Number.MAX_SAFE_INTEGER;
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const code = (v: unknown): string => `\`${JSON.stringify(v)}\``;

interface Section {
  anchor: string;
  title: string;
  schema: Json;
}

/**
 * One kind's part of the reference: a section per object (the root, each definition, each object
 * written inline), met from the root on, then one per value type (paths, modes, names).
 */
function markdownOfKind(kind: CaseKind): string {
  const root = jsonSchemaOf(kind);
  const defs = (root.$defs ?? {}) as Record<string, Json>;
  const structures: Section[] = [];
  const values: Section[] = [];
  const byKey = new Map<unknown, Section>();
  const slug = (s: string) => `${kind.name}-${s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
  const isStructure = (s: Json) => s.type === 'object' || Array.isArray(s.oneOf) || Array.isArray(s.anyOf);

  /** The section of a definition or an inline object, made when first met. */
  const sectionOf = (key: unknown, title: string, schema: Json): Section => {
    let sec = byKey.get(key);
    if (!sec) {
      const taken = new Set([...structures, ...values].map((x) => x.anchor));
      let anchor = slug(title);
      for (let n = 2; taken.has(anchor); n++) anchor = `${slug(title)}-${n}`;
      sec = { anchor, title, schema };
      byKey.set(key, sec);
      (isStructure(schema) ? structures : values).push(sec);
    }
    return sec;
  };
  const link = (sec: Section) => `[${sec.title}](#${sec.anchor})`;
  const inlineObject = (s: Json) => s.type === 'object' && s.properties !== undefined && s.$ref === undefined;
  /** The value of the property every alternative of a union has as a constant ("op": "open"). */
  const tagOf = (s: Json): string | undefined => {
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Json>)) if (v.const !== undefined) return `${k} ${JSON.stringify(v.const)}`;
    return undefined;
  };

  /** A type, its allowed values and bounds, in a few words; `name` titles an object written inline. */
  const typeOf = (s: Json, name: string): string => {
    if (typeof s.$ref === 'string') {
      const id = s.$ref.replace('#/$defs/', '');
      const def = defs[id] ?? {};
      return link(sectionOf(id, typeof def.title === 'string' ? def.title : id, def));
    }
    if (inlineObject(s)) return link(sectionOf(s, typeof s.title === 'string' ? s.title : name, s));
    const alts = (s.anyOf ?? s.oneOf) as Json[] | undefined;
    if (alts) return alts.map((a) => typeOf(a, `${name} (${tagOf(a) ?? 'form'})`)).join(', or ');
    if (s.const !== undefined) return code(s.const);
    if (Array.isArray(s.enum)) return `one of ${s.enum.map(code).join(', ')}`;
    if (Array.isArray(s.type)) return s.type.map((t) => typeOf({ ...s, type: t }, name)).join(', or ');
    switch (s.type) {
      case 'string': return `string${typeof s.maxLength === 'number' ? ` (at most ${s.maxLength} characters)` : ''}${typeof s.minLength === 'number' && s.minLength > 0 ? ` (at least ${s.minLength})` : ''}`;
      case 'integer':
      case 'number': {
        const lo = typeof s.minimum === 'number' && s.minimum > -SAFE_INT ? s.minimum : undefined;
        const hi = typeof s.maximum === 'number' && s.maximum < SAFE_INT ? s.maximum : undefined;
        const range = lo !== undefined && hi !== undefined ? ` ${lo} to ${hi}` : lo !== undefined ? ` from ${lo}` : hi !== undefined ? ` up to ${hi}` : '';
        return `${s.type}${range}`;
      }
      case 'boolean': return '`true` or `false`';
      case 'null': return '`null`';
      case 'array': {
        const n = [typeof s.minItems === 'number' ? `at least ${s.minItems}` : '', typeof s.maxItems === 'number' ? `at most ${s.maxItems}` : ''].filter(Boolean).join(', ');
        return `list of ${typeOf((s.items ?? {}) as Json, `${name} item`)}${n ? ` (${n})` : ''}`;
      }
      case 'object': {
        const key = s.propertyNames ? typeOf(s.propertyNames as Json, `${name} key`) : 'string';
        const value = s.additionalProperties && typeof s.additionalProperties === 'object' ? typeOf(s.additionalProperties as Json, `${name} value`) : 'any value';
        return `object of ${key} → ${value}${typeof s.maxProperties === 'number' ? ` (at most ${s.maxProperties})` : ''}`;
      }
    }
    return 'any JSON value';
  };

  const render = (sec: Section, lines: string[], isRoot: boolean) => {
    const { schema } = sec;
    lines.push(`<a id="${sec.anchor}"></a>`, '', `### ${sec.title}`, '');
    if (typeof schema.description === 'string') lines.push(schema.description, '');
    const alts = (schema.oneOf ?? schema.anyOf) as Json[] | undefined;
    if (alts) {
      lines.push('One of:', '');
      for (const a of alts) lines.push(`- ${typeOf(a, `${sec.title} (${tagOf(a) ?? 'form'})`)}`);
      lines.push('');
    } else if (schema.type === 'object' && schema.properties) {
      const required = new Set((schema.required ?? []) as string[]);
      lines.push('| Field | Type | Required | Description |', '| --- | --- | --- | --- |');
      for (const [k, v] of Object.entries(schema.properties as Record<string, Json>)) {
        // A field that only refers to a definition is described there: say it here too.
        const ref = typeof v.$ref === 'string' ? defs[v.$ref.replace('#/$defs/', '')] : undefined;
        const desc = typeof v.description === 'string' ? v.description : typeof ref?.description === 'string' ? ref.description : '';
        lines.push(`| \`${k}\` | ${cell(typeOf(v, k))} | ${required.has(k) ? 'yes' : 'no'} | ${cell(desc)} |`);
      }
      lines.push('', schema.additionalProperties === false ? 'No other fields.' : 'Other fields are kept as they are.', '');
    } else {
      lines.push(`Type: ${typeOf({ ...schema, title: undefined, $ref: undefined }, sec.title)}.`, '');
      const keys = schema.propertyNames as Json | undefined;
      if (keys && typeof keys.description === 'string' && keys.$ref === undefined) lines.push(`Keys: ${keys.description}`, '');
    }
    if (isRoot && kind.rules?.length) lines.push('Rules across fields:', '', ...kind.rules.map((r) => `- ${r}`), '');
  };

  const lines: string[] = [`## ${kind.title}`, '', `JSON Schema: [\`${kind.name}.schema.json\`](${kind.name}.schema.json).`, ''];
  const rootSection: Section = { anchor: slug('root'), title: typeof root.title === 'string' ? root.title : kind.title, schema: root };
  byKey.set(root, rootSection);
  structures.push(rootSection);
  // Rendering a section meets the sections it refers to: each follows the first that refers to it.
  const renderTree = (sec: Section, isRoot = false) => {
    const before = structures.length;
    render(sec, lines, isRoot);
    for (const child of structures.slice(before)) renderTree(child);
  };
  renderTree(rootSection, true);
  for (let i = 0; i < values.length; i++) render(values[i], lines, false);
  return lines.join('\n');
}

/** The Markdown reference of the given kinds. */
export function markdownOf(kinds: readonly CaseKind[]): string {
  const head = [
    '# Case file formats',
    '',
    '<!-- Generated by `node dist/properties/caseFormat.js --write` from the zod schemas (properties/caseSchema.ts). Do not edit. -->',
    '',
    'What a case file may hold, field by field, with every bound. A file that breaks a rule is refused with one line naming the field and the problem (`ovlcheck replay` exits 2).',
    'An editor that reads JSON Schema checks a case as it is written: give the file `"$schema": "./case.schema.json"` (relative to it), or map `properties/cases/*.json` to the schema in the editor\'s settings.',
    '',
  ];
  return [...head, ...kinds.map(markdownOfKind)].join('\n').replace(/\n+$/, '\n');
}

// ---------------------------------------------------------------- files

/** The properties/ dir of the source tree, from here (properties/) or from the build (dist/properties/). */
export function sourceDir(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'properties'))) return join(dir, 'properties');
    if (dirname(dir) === dir) throw new Error('caseFormat: cannot find the source tree (package.json with properties/) above the script');
  }
}

/** The generated files, by name in properties/, with their text. */
export function generatedFiles(kinds: readonly CaseKind[] = CASE_KINDS): { file: string; text: string }[] {
  return [
    ...kinds.map((k) => ({ file: `${k.name}.schema.json`, text: JSON.stringify(jsonSchemaOf(k), null, 2) + '\n' })),
    { file: MARKDOWN_FILE, text: markdownOf(kinds) },
  ];
}

/** The generated files whose copy in dir is missing or differs. */
export function staleFiles(dir = sourceDir(), kinds: readonly CaseKind[] = CASE_KINDS): string[] {
  return generatedFiles(kinds).filter(({ file, text }) => {
    const path = join(dir, file);
    return !existsSync(path) || readFileSync(path, 'utf8') !== text;
  }).map(({ file }) => file);
}

function main(argv: string[]): number {
  const dir = sourceDir();
  if (argv[0] === '--write' && argv.length === 1) {
    for (const { file, text } of generatedFiles()) {
      writeFileSync(join(dir, file), text);
      console.log(`wrote ${join(dir, file)}`);
    }
    return 0;
  }
  if (argv[0] === '--check' && argv.length === 1) {
    const stale = staleFiles(dir);
    for (const f of stale) console.error(`caseFormat: ${join(dir, f)} is out of date: run node dist/properties/caseFormat.js --write`);
    return stale.length ? 1 : 0;
  }
  console.error('usage: node dist/properties/caseFormat.js --write | --check');
  return 2;
}

/** Whether this file is the script node runs (not a module another imports). */
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1]);
  } catch {
    return false;
  }
}

if (isMain()) process.exit(main(process.argv.slice(2)));
