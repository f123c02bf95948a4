/** The two live charts: the readings as taken, and the decrypted results, over the readings' time. */
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Title,
  Tooltip,
} from 'chart.js';
import type { Reading } from '../../src/device/reading.ts';
import { fmtTime } from './view.ts';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip, Title);

const MAX_POINTS = 500;
const MINUTE = 60_000;
/** Tick spacings on the time axis: whole quarter hours, hours and days, so ticks read as times. */
const STEPS = [15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE);
const COLOURS = ['#b3261e', '#1b5e9b', '#2e7d32', '#7b3f98', '#a15c00', '#00695c'];

/** Local time, as the person reads it: "08:15", and the date at midnight ("12-02 00:00"). */
const timeLabel = (ms: number) => {
  const full = fmtTime(ms);
  const d = new Date(ms);
  return d.getHours() === 0 && d.getMinutes() === 0 ? full.slice(5) : full.slice(11);
};

/** Keeps points in time order and the time axis on round times. */
function update(chart: Chart<'line', { x: number; y: number }[]>): void {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const d of chart.data.datasets) {
    const n = d.data.length;
    if (n > 1 && (d.data[n - 1] as { x: number }).x < (d.data[n - 2] as { x: number }).x)
      d.data.sort((a, b) => a.x - b.x);
    if (n > 0) {
      min = Math.min(min, (d.data[0] as { x: number }).x);
      max = Math.max(max, (d.data[n - 1] as { x: number }).x);
    }
  }
  const x = chart.options.scales?.x;
  if (x?.ticks && Number.isFinite(min)) {
    const step = STEPS.find((s) => (max - min) / s <= 8) ?? (STEPS.at(-1) as number);
    (x.ticks as { stepSize?: number }).stepSize = step;
    x.min = Math.floor(min / step) * step;
    x.max = Math.max(x.min + step, Math.ceil(max / step) * step);
  }
  chart.update('none');
}

function lineChart(
  canvas: HTMLCanvasElement,
  labels: string[],
  yTitle: string,
): Chart<'line', { x: number; y: number }[]> {
  return new Chart(canvas, {
    type: 'line',
    data: {
      datasets: labels.map((label, i) => ({
        label,
        data: [],
        borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length],
        pointRadius: 2,
        borderWidth: 2,
        tension: 0.2,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: 'time of reading' },
          ticks: { callback: (v) => timeLabel(Number(v)), maxTicksLimit: 10 },
        },
        y: { type: 'linear', title: { display: true, text: yTitle } },
      },
      plugins: {
        tooltip: { callbacks: { title: (items) => fmtTime(items[0]?.parsed.x ?? 0) } },
      },
    },
  });
}

export class ReadingsChart {
  readonly #chart;
  constructor(canvas: HTMLCanvasElement) {
    this.#chart = lineChart(
      canvas,
      ['heart rate (beats/min)', 'systolic (mmHg)', 'diastolic (mmHg)', 'respiratory rate (breaths/min)'],
      'value',
    );
  }

  add(r: Reading): void {
    const values = [r.x, r.z, r.y, r.w];
    this.#chart.data.datasets.forEach((d, i) => {
      d.data.push({ x: r.time, y: values[i] as number });
      if (d.data.length > MAX_POINTS) d.data.shift();
    });
    update(this.#chart);
  }

  clear(): void {
    for (const d of this.#chart.data.datasets) d.data = [];
    const x = this.#chart.options.scales?.x;
    if (x) {
      x.min = undefined;
      x.max = undefined;
    }
    this.#chart.update('none');
  }
}

export class ResultsChart {
  readonly #chart;
  readonly names: readonly string[];
  constructor(canvas: HTMLCanvasElement, names: readonly string[], yTitle: string) {
    this.names = names;
    this.#chart = lineChart(canvas, [...names], yTitle);
  }

  add(time: number, values: Readonly<Record<string, number>>): void {
    this.#chart.data.datasets.forEach((d, i) => {
      const v = values[this.names[i] as string];
      if (v === undefined) return;
      d.data.push({ x: time, y: v });
      if (d.data.length > MAX_POINTS) d.data.shift();
    });
    update(this.#chart);
  }

  destroy(): void {
    this.#chart.destroy();
  }
}
