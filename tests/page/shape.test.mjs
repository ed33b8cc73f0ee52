// The Summarizer API's type / format / length rules (www/summary-shape.js), in Node: no browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lengthBudget, sentences, shapeSummary, ShapedStream } from '../../www/summary-shape.js';

const TEXT = 'The river rose after a week of rain. The bridge was closed on Monday! Was anyone hurt? ' +
  'Nobody was. Repairs begin "soon." Traffic moved to the old road. Shops stayed open. The mayor spoke.';

test('sentences split after a stop before a space, a closing quote kept with its sentence', () => {
  const s = sentences(TEXT);
  assert.equal(s.length, 8);
  assert.equal(s[4], 'Repairs begin "soon."');
  assert.deepEqual(sentences('  '), []);
});

test('key points: 3, 5 or 7 sentences, "- " items in markdown, bare lines in plain text', () => {
  for (const [length, n] of [['short', 3], ['medium', 5], ['long', 7]]) {
    const md = shapeSummary(TEXT, { type: 'key-points', format: 'markdown', length }).split('\n');
    assert.equal(md.length, n);
    assert.ok(md.every((l) => l.startsWith('- ')));
    const plain = shapeSummary(TEXT, { type: 'key-points', format: 'plain-text', length }).split('\n');
    assert.deepEqual(plain, sentences(TEXT).slice(0, n));
  }
});

test('a headline is the first sentence in at most 12, 17 or 22 words, without its stop', () => {
  const long = `${Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ')}. Next.`;
  for (const [length, n] of [['short', 12], ['medium', 17], ['long', 22]]) {
    const h = shapeSummary(long, { type: 'headline', format: 'markdown', length });
    assert.equal(h.split(' ').length, n);
  }
  assert.equal(shapeSummary(TEXT, { type: 'headline', format: 'plain-text', length: 'long' }), 'The river rose after a week of rain');
});

test('tldr and teaser: one sentence when short, the whole summary otherwise', () => {
  for (const type of ['tldr', 'teaser']) {
    assert.equal(shapeSummary(TEXT, { type, format: 'markdown', length: 'short' }), 'The river rose after a week of rain.');
    assert.equal(shapeSummary(TEXT, { type, format: 'plain-text', length: 'long' }), sentences(TEXT).join(' '));
  }
  assert.equal(shapeSummary('', { type: 'tldr', format: 'markdown', length: 'short' }), '');
});

test('token budgets grow with the length, for every type', () => {
  for (const type of ['tldr', 'teaser', 'key-points', 'headline']) {
    const [s, m, l] = ['short', 'medium', 'long'].map((len) => lengthBudget(type, len));
    assert.ok(s < m && m < l, type);
  }
});

test('a shaped stream of word pieces adds up to the shape of the whole text', () => {
  for (const type of ['tldr', 'teaser', 'key-points', 'headline']) {
    for (const length of ['short', 'medium', 'long']) {
      for (const format of ['markdown', 'plain-text']) {
        const shape = { type, format, length };
        const stream = new ShapedStream(shape);
        const words = TEXT.split(' ');
        let out = '';
        words.forEach((w, i) => (out += stream.push(i ? ` ${w}` : w)));
        out += stream.finish(TEXT);
        assert.equal(out, shapeSummary(TEXT, shape), JSON.stringify(shape));
      }
    }
  }
});
