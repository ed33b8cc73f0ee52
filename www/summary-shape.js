// How the Summarizer API's `type`, `length` and `format` turn the model's summary into the one a
// caller gets. T5 writes a summary as plain sentences whatever it is asked, so the options act
// in two places:
//   - `length` (with `type`) sets the token budget of each chunk summary (`lengthBudget`);
//   - `type` and `format` shape the finished text (`shapeSummary`):
//       tldr, teaser   short: the first sentence; medium, long: the whole summary
//       headline       the first sentence, at most 12 / 17 / 22 words, without its final stop
//       key-points     the first 3 / 5 / 7 sentences, one per line: "- " items in markdown,
//                      bare lines in plain text
// `format` changes nothing else: the model writes no markup, so its text is valid plain text
// and valid markdown. A teaser is summarized like a tldr (the model knows no "intriguing").

/** Most new tokens per chunk summary, by type, for short / medium / long. */
const BUDGETS = {
  tldr: [40, 80, 128],
  teaser: [40, 80, 128],
  'key-points': [64, 112, 160],
  headline: [24, 32, 40],
};
const LENGTHS = ['short', 'medium', 'long'];
const HEADLINE_WORDS = [12, 17, 22];
const KEY_POINTS = [3, 5, 7];

/** The token budget of one chunk summary for `type` and `length`. */
export function lengthBudget(type, length) {
  return BUDGETS[type][LENGTHS.indexOf(length)];
}

/** The sentences of `text`: split after . ! or ? (and a closing quote or bracket) before a space. */
export function sentences(text) {
  return text
    .trim()
    .split(/(?<=[.!?]["'”’)\]]?)\s+/)
    .filter(Boolean);
}

/**
 * The summary `text` shaped for `{ type, format, length }` (see the top of this file). Also
 * right for a summary still growing at its end: the shape of a longer text starts with the
 * shape of a shorter one (but for a headline's final stop, left off until the end).
 */
export function shapeSummary(text, { type, format, length }) {
  const at = LENGTHS.indexOf(length);
  const all = sentences(text);
  if (!all.length) return '';
  if (type === 'headline') {
    const words = all[0].split(/\s+/).slice(0, HEADLINE_WORDS[at]).join(' ');
    return words.replace(/[.!?]+$/, '');
  }
  if (type === 'key-points') {
    const points = all.slice(0, KEY_POINTS[at]);
    return points.map((s) => (format === 'markdown' ? `- ${s}` : s)).join('\n');
  }
  return length === 'short' ? all[0] : all.join(' ');
}

/**
 * Shapes a summary that arrives in pieces: `push(delta)` and `finish(text)` return what to
 * append to what was already given out, so the pieces concatenate to `shapeSummary(text)`.
 */
export class ShapedStream {
  #shape;
  #raw = '';
  #shown = '';

  constructor(shape) {
    this.#shape = shape;
  }

  /** Adds `delta` to the summary so far; returns the new piece of its shape ('' if none). */
  push(delta) {
    this.#raw += delta;
    return this.#advance(shapeSummary(this.#raw, this.#shape));
  }

  /** The summary is `text` (what the pieces added up to): returns the last piece. */
  finish(text) {
    return this.#advance(shapeSummary(text, this.#shape));
  }

  #advance(next) {
    if (!next.startsWith(this.#shown)) return '';
    const piece = next.slice(this.#shown.length);
    this.#shown = next;
    return piece;
  }
}
