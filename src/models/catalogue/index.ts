/** The model catalogue: every model a user can choose with setup(m). */
import type { Model } from '../model.ts';
import { bloodPressure } from './blood-pressure.ts';
import { chdRisk, chdRiskPaper } from './chd-risk.ts';
import { earlyWarning } from './early-warning.ts';

export const CATALOGUE: readonly Model[] = Object.freeze([
  earlyWarning,
  bloodPressure,
  chdRisk,
  chdRiskPaper,
]);

export function getModel(id: string): Model {
  const model = CATALOGUE.find((m) => m.id === id);
  if (!model) throw new Error(`unknown model "${id}"; known: ${CATALOGUE.map((m) => m.id).join(', ')}`);
  return model;
}
