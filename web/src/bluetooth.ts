/**
 * Web Bluetooth: the standard GATT services a wearable offers, Heart Rate (0x180D, measurement
 * 0x2A37), Blood Pressure (0x1810, measurement 0x2A35), Pulse Oximeter (0x1822: PLX Continuous
 * Measurement 0x2A5F, else PLX Spot-check Measurement 0x2A5E) and Health Thermometer (0x1809,
 * Temperature Measurement 0x2A1C), parsed by src/device/gatt.ts. Web Bluetooth exists only in a
 * page (not in a worker), in Chromium-based browsers, over HTTPS or localhost; elsewhere the
 * buttons say why they are off.
 */
import {
  parseBloodPressure,
  parseHeartRate,
  parsePlxContinuous,
  parsePlxSpotCheck,
  parseTemperature,
  plxUnusable,
} from '../../src/device/gatt.ts';

/** The few Web Bluetooth types used here (TypeScript's DOM library has none). */
interface Characteristic extends EventTarget {
  value?: DataView;
  startNotifications(): Promise<Characteristic>;
}
interface Device extends EventTarget {
  name?: string;
  gatt?: {
    connect(): Promise<{
      getPrimaryService(service: string | number): Promise<{
        getCharacteristic(characteristic: string | number): Promise<Characteristic>;
      }>;
    }>;
    disconnect(): void;
  };
}
interface Bluetooth {
  requestDevice(options: { filters: { services: (string | number)[] }[] }): Promise<Device>;
}

export const bluetooth = (): Bluetooth | undefined =>
  (navigator as Navigator & { bluetooth?: Bluetooth }).bluetooth;

export type Measurement =
  | { kind: 'heart-rate'; heartRate: number; contact: boolean | undefined }
  | { kind: 'blood-pressure'; systolic: number; diastolic: number; pulseRate: number | undefined }
  | { kind: 'pulse-oximeter'; spo2: number; pulseRate: number }
  /** Always °C (a °F thermometer is converted by the parser). */
  | { kind: 'thermometer'; temperature: number };

/** Each kind's service and its measurement characteristics, the first the device has being used. */
export const SERVICES = {
  'heart-rate': { service: 0x180d, characteristics: [0x2a37] },
  'blood-pressure': { service: 0x1810, characteristics: [0x2a35] },
  'pulse-oximeter': { service: 0x1822, characteristics: [0x2a5f, 0x2a5e] },
  thermometer: { service: 0x1809, characteristics: [0x2a1c] },
} as const;

type Kind = keyof typeof SERVICES;

/** One notification or indication → a measurement (throws GattError on a malformed or special value). */
function measurementOf(kind: Kind, characteristic: number, value: DataView): Measurement {
  switch (kind) {
    case 'heart-rate': {
      const m = parseHeartRate(value);
      return { kind, heartRate: m.heartRate, contact: m.sensorContact };
    }
    case 'blood-pressure': {
      const m = parseBloodPressure(value);
      return { kind, systolic: m.systolic, diastolic: m.diastolic, pulseRate: m.pulseRate };
    }
    case 'pulse-oximeter': {
      const m = characteristic === 0x2a5e ? parsePlxSpotCheck(value) : parsePlxContinuous(value);
      const unusable = plxUnusable(m);
      if (unusable) throw new Error(unusable);
      return { kind, spo2: m.spo2, pulseRate: m.pulseRate };
    }
    case 'thermometer':
      return { kind, temperature: parseTemperature(value).temperature };
  }
}

/** Asks the user to pick a device offering `kind`, and calls `on` for each measurement it sends. */
export async function connect(
  kind: Kind,
  on: (m: Measurement) => void,
  onError: (message: string) => void,
  onDisconnect: () => void,
): Promise<{ name: string; disconnect(): void }> {
  const bt = bluetooth();
  if (!bt) throw new Error('Web Bluetooth is not available in this browser');
  const { service, characteristics } = SERVICES[kind];
  const device = await bt.requestDevice({ filters: [{ services: [service] }] });
  if (!device.gatt) throw new Error('the device offers no GATT server');
  const server = await device.gatt.connect();
  const primary = await server.getPrimaryService(service);
  // An oximeter has the continuous measurement, the spot-check one, or both: the first found.
  let found: { char: Characteristic; uuid: number } | undefined;
  let lastError: unknown;
  for (const uuid of characteristics) {
    try {
      found = { char: await primary.getCharacteristic(uuid), uuid };
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!found) throw lastError ?? new Error(`the device has no ${kind} measurement`);
  const { char, uuid } = found;
  char.addEventListener('characteristicvaluechanged', () => {
    const value = char.value;
    if (!value) return;
    try {
      on(measurementOf(kind, uuid, value));
    } catch (error) {
      onError((error as Error).message);
    }
  });
  device.addEventListener('gattserverdisconnected', onDisconnect);
  await char.startNotifications();
  return { name: device.name ?? kind, disconnect: () => device.gatt?.disconnect() };
}
