/** Wearable sources: the seeded simulator and CSV replay. Imports nothing else of the project. */
export { type SleepSchedule, sleepSchedule } from './circadian.ts';
export {
  CSV_COLUMNS,
  CSV_OPTIONAL_COLUMNS,
  type CsvColumn,
  type CsvOptionalColumn,
  type CsvRead,
  CsvReadingError,
  parseCsv,
  readCsv,
  type ToCsvOptions,
  toCsv,
} from './csv.ts';
export {
  ARTIFACT_SIZE,
  type ArtifactRates,
  DEFAULT_ARTIFACTS,
  type Deterioration,
  MEASUREMENT,
  NO_ARTIFACTS,
  PERSONA_NAMES,
  PERSONAS,
  type PersonaName,
  type PersonaSpec,
  PHYSIOLOGY,
  type Spread,
} from './personas.ts';
export { drawProfile, isPersonaName, type PersonProfile } from './profile.ts';
export {
  ACVPU_LETTERS,
  type ArtifactKind,
  CONSCIOUSNESS_LEVELS,
  type Consciousness,
  OBSERVATION_LIMITS,
  OBSERVATION_NAMES,
  OBSERVATIONS,
  type Observation,
  type Observations,
  READING_LIMITS,
  type Reading,
  type SimulatedReading,
  VITAL_NAMES,
  VITAL_UNITS,
  type Vital,
  type Vitals,
} from './reading.ts';
export {
  type CohortMember,
  type CohortOptions,
  DEFAULT_START,
  type PersonOptions,
  type SimulationOptions,
  simulateCohort,
  simulatePerson,
} from './simulator.ts';
