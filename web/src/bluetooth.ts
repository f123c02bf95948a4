/**
 * Web Bluetooth: the two standard GATT services a wearable offers, Heart Rate (0x180D,
 * measurement 0x2A37) and Blood Pressure (0x1810, measurement 0x2A35), parsed by
 * src/device/gatt.ts. Web Bluetooth exists only in a page (not in a worker), in Chromium-based
 * browsers, over HTTPS or localhost; elsewhere the buttons say why they are off.
 */
import { parseBloodPressure, parseHeartRate } from '../../src/device/gatt.ts';

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
  | { kind: 'blood-pressure'; systolic: number; diastolic: number; pulseRate: number | undefined };

export const SERVICES = {
  'heart-rate': { service: 0x180d, characteristic: 0x2a37 },
  'blood-pressure': { service: 0x1810, characteristic: 0x2a35 },
} as const;

/** Asks the user to pick a device offering `kind`, and calls `on` for each measurement it sends. */
export async function connect(
  kind: keyof typeof SERVICES,
  on: (m: Measurement) => void,
  onError: (message: string) => void,
  onDisconnect: () => void,
): Promise<{ name: string; disconnect(): void }> {
  const bt = bluetooth();
  if (!bt) throw new Error('Web Bluetooth is not available in this browser');
  const { service, characteristic } = SERVICES[kind];
  const device = await bt.requestDevice({ filters: [{ services: [service] }] });
  if (!device.gatt) throw new Error('the device offers no GATT server');
  const server = await device.gatt.connect();
  const char = await (await server.getPrimaryService(service)).getCharacteristic(characteristic);
  char.addEventListener('characteristicvaluechanged', () => {
    const value = char.value;
    if (!value) return;
    try {
      if (kind === 'heart-rate') {
        const m = parseHeartRate(value);
        on({ kind, heartRate: m.heartRate, contact: m.sensorContact });
      } else {
        const m = parseBloodPressure(value);
        on({ kind, systolic: m.systolic, diastolic: m.diastolic, pulseRate: m.pulseRate });
      }
    } catch (error) {
      onError((error as Error).message);
    }
  });
  device.addEventListener('gattserverdisconnected', onDisconnect);
  await char.startNotifications();
  return { name: device.name ?? kind, disconnect: () => device.gatt?.disconnect() };
}
