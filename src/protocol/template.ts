/**
 * Tuple templates (paper §4.1 eq. 2: P = {x, y, z, w, F_1 … F_n}) as versioned data: checked
 * against the JSON Schema, then for meaning (known meta-functions with valid arguments, vitals
 * and profile fields declared, unique names, a batch size for the batch layout).
 */
import { Value } from '@sinclair/typebox/value';
import { ProtocolError } from './errors.ts';
import { metaFunction } from './meta-functions.ts';
import { type Template, TemplateSchema } from './schema.ts';

/**
 * Validates a template received as JSON; returns it typed or throws naming the first problem.
 * Value, not TypeCompiler: the compiler builds its checker with `new Function`, which the browser
 * client's Content-Security-Policy (no 'unsafe-eval') forbids, and a template is checked rarely.
 */
export function checkTemplate(input: unknown): Template {
  if (!Value.Check(TemplateSchema, input)) {
    const first = Value.Errors(TemplateSchema, input).First();
    throw new ProtocolError('BAD_TEMPLATE', `template${first?.path ?? ''}: ${first?.message ?? 'invalid'}`);
  }
  const template = input;
  const names = new Set<string>();
  for (const element of template.elements) {
    if (names.has(element.name)) {
      throw new ProtocolError(
        'BAD_TEMPLATE',
        `template ${template.id}: element "${element.name}" appears twice`,
      );
    }
    names.add(element.name);
    metaFunction(element).check(element);
    const vitals = element.of === undefined ? [] : Array.isArray(element.of) ? element.of : [element.of];
    if (element.fn === 'pulsePressure' || element.fn === 'meanArterialPressure') vitals.push('y', 'z');
    if (element.fn === 'shockIndex') vitals.push('x', 'z');
    for (const v of vitals) {
      if (!template.vitals.includes(v)) {
        throw new ProtocolError(
          'BAD_TEMPLATE',
          `element "${element.name}" reads ${v}, which the template does not list`,
        );
      }
    }
    if (element.field && !template.profile.includes(element.field)) {
      throw new ProtocolError(
        'BAD_TEMPLATE',
        `element "${element.name}" reads profile.${element.field}, which the template does not list`,
      );
    }
  }
  if ((template.layout === 'batch') !== (template.batch !== undefined)) {
    throw new ProtocolError(
      'BAD_TEMPLATE',
      `template ${template.id}: "batch" is required exactly for the batch layout`,
    );
  }
  if (template.copies !== undefined && template.layout !== 'packed') {
    throw new ProtocolError(
      'BAD_TEMPLATE',
      `template ${template.id}: "copies" is only for the packed layout`,
    );
  }
  return template;
}

/** The slot stride of a packed template's copies: the power of two at least its element count. */
export function blockSize(template: Pick<Template, 'elements'>): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, template.elements.length)));
}

/** Names a template version for messages and keys: "early-warning@2". */
export function templateRef(template: Pick<Template, 'id' | 'version'>): string {
  return `${template.id}@${template.version}`;
}
