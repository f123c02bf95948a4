/**
 * Compiled plans by (model, layout, preset), cached: a plan is a pure function of these three,
 * and compiling one costs milliseconds every upload would otherwise pay. Shared by the contract
 * (which maps failures to its own refusals) and the server (which checks uploads against them).
 */
import type { PresetId } from '../ckks/index.ts';
import type { Layout } from '../protocol/schema.ts';
import { getModel } from './catalogue/index.ts';
import { compile, type Plan } from './compiler.ts';

const plans = new Map<string, Plan>();

/** The plan, compiled once; throws getModel's or compile's error for an unknown or impossible one. */
export function cachedPlan(modelId: string, layout: Layout, presetId: string): Plan {
  const key = `${modelId}|${layout}|${presetId}`;
  let plan = plans.get(key);
  if (!plan) {
    plan = compile(getModel(modelId), { layout, preset: presetId as PresetId });
    plans.set(key, plan);
  }
  return plan;
}
