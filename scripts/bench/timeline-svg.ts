/** One boot's phases as an SVG Gantt chart: a row per phase, on one time axis from the kernel's start. */

export interface TimelinePhase {
  name: string;
  start: number;
  end: number;
}

const WIDTH = 960;
const LABEL_WIDTH = 360;
const RIGHT_MARGIN = 20;
const TITLE_HEIGHT = 30;
const ROW_HEIGHT = 22;
const BAR_HEIGHT = 16;
const AXIS_HEIGHT = 30;
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
/** Tick spacings to choose from: the smallest that gives at most MAX_TICKS intervals. */
const TICK_STEPS = [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
const MAX_TICKS = 10;

const xml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** One decimal and no trailing zeros: coordinates that print the same on every machine. */
const num = (value: number): string => String(Math.round(value * 10) / 10);

/** The tick spacing for an axis that has to reach `end` seconds. */
export function tickStep(end: number): number {
  return TICK_STEPS.find((step) => Math.ceil(end / step) <= MAX_TICKS) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
}

export function renderTimeline(title: string, phases: readonly TimelinePhase[]): string {
  if (phases.length === 0) throw new Error('renderTimeline: no phases');
  const last = Math.max(...phases.map((phase) => phase.end));
  const step = tickStep(last);
  const axisEnd = Math.max(step, Math.ceil(last / step - 1e-9) * step);
  const x = (t: number) => LABEL_WIDTH + (t / axisEnd) * PLOT_WIDTH;
  const axisY = TITLE_HEIGHT + phases.length * ROW_HEIGHT;
  const height = axisY + AXIS_HEIGHT;
  const rows = phases.map((phase, index) => {
    const y = TITLE_HEIGHT + index * ROW_HEIGHT;
    const width = Math.max(1, x(phase.end) - x(phase.start));
    const label = `${phase.name} ${(phase.end - phase.start).toFixed(2)} s`;
    return [
      `<text x="${LABEL_WIDTH - 8}" y="${num(y + BAR_HEIGHT - 3)}" text-anchor="end">${xml(label)}</text>`,
      `<rect x="${num(x(phase.start))}" y="${y}" width="${num(width)}" height="${BAR_HEIGHT}" fill="${COLOURS[index % COLOURS.length]}"/>`,
    ];
  });
  const ticks = Array.from({ length: Math.round(axisEnd / step) + 1 }, (_, index) => index * step).map((t) => [
    `<line x1="${num(x(t))}" y1="${TITLE_HEIGHT}" x2="${num(x(t))}" y2="${axisY + 4}" stroke="#ccc"/>`,
    `<text x="${num(x(t))}" y="${axisY + 18}" text-anchor="middle">${num(t)}</text>`,
  ]);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${xml(title)}</text>`,
    ...ticks.flat(),
    ...rows.flat(),
    `<text x="${LABEL_WIDTH - 16}" y="${axisY + 18}" text-anchor="end">seconds since the kernel started</text>`,
    '</svg>',
    '',
  ].join('\n');
}
