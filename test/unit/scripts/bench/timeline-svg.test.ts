import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTimeline, tickStep } from '../../../../scripts/bench/timeline-svg.ts';

test('tickStep: the smallest spacing with at most 10 intervals', async (t) => {
  const cases = [
    { end: 0.3, step: 0.05 },
    { end: 1.2, step: 0.2 },
    { end: 3.2, step: 0.5 },
    { end: 5, step: 0.5 },
    { end: 5.01, step: 1 },
    { end: 700, step: 60 },
  ];
  for (const c of cases) await t.test(String(c.end), () => assert.equal(tickStep(c.end), c.step));
});

test('renderTimeline: rows, ticks, escaped text', () => {
  const svg = renderTimeline('boot & <phases>', [
    { name: 'kernel', start: 0, end: 0.5 },
    { name: 'node "startup"', start: 0.5, end: 1.2 },
  ]);
  assert.equal(
    svg,
    `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="104" viewBox="0 0 960 104" font-family="sans-serif" font-size="12">
<rect width="960" height="104" fill="white"/>
<text x="8" y="20" font-size="14" font-weight="bold">boot &amp; &lt;phases&gt;</text>
<line x1="360" y1="30" x2="360" y2="78" stroke="#ccc"/>
<text x="360" y="92" text-anchor="middle">0</text>
<line x1="456.7" y1="30" x2="456.7" y2="78" stroke="#ccc"/>
<text x="456.7" y="92" text-anchor="middle">0.2</text>
<line x1="553.3" y1="30" x2="553.3" y2="78" stroke="#ccc"/>
<text x="553.3" y="92" text-anchor="middle">0.4</text>
<line x1="650" y1="30" x2="650" y2="78" stroke="#ccc"/>
<text x="650" y="92" text-anchor="middle">0.6</text>
<line x1="746.7" y1="30" x2="746.7" y2="78" stroke="#ccc"/>
<text x="746.7" y="92" text-anchor="middle">0.8</text>
<line x1="843.3" y1="30" x2="843.3" y2="78" stroke="#ccc"/>
<text x="843.3" y="92" text-anchor="middle">1</text>
<line x1="940" y1="30" x2="940" y2="78" stroke="#ccc"/>
<text x="940" y="92" text-anchor="middle">1.2</text>
<text x="352" y="43" text-anchor="end">kernel 0.50 s</text>
<rect x="360" y="30" width="241.7" height="16" fill="#4e79a7"/>
<text x="352" y="65" text-anchor="end">node &quot;startup&quot; 0.70 s</text>
<rect x="601.7" y="52" width="338.3" height="16" fill="#f28e2b"/>
<text x="344" y="92" text-anchor="end">seconds since the kernel started</text>
</svg>
`,
  );
});

test('renderTimeline: a phase that ends before it starts (two clocks) still gets a visible bar', () => {
  const svg = renderTimeline('t', [
    { name: 'a', start: 0, end: 1 },
    { name: 'b', start: 1, end: 0.98 },
  ]);
  assert.match(svg, /<rect x="940" y="52" width="1" height="16" fill="#f28e2b"\/>/);
  assert.match(svg, /<text x="352" y="65" text-anchor="end">b -0\.02 s<\/text>/);
});

test('renderTimeline: no phases', () => {
  assert.throws(() => renderTimeline('t', []), { message: 'renderTimeline: no phases' });
});
