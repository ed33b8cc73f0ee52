// Types for www/summarizer.js: a T5 summarizer in a Web Worker, shaped like the built-in
// Summarizer API.

export type Availability = 'unavailable' | 'downloadable' | 'available';

export interface ModelDescription {
  id?: string;
  label?: string;
  /** Folder URL holding the files; relative URLs resolve against the page. */
  baseUrl: string;
  files?: { config?: string; tokenizer?: string; weights?: string };
}

/** A catalog id (`'t5-small'`, `'flan-t5-small'`, `'tiny-t5'`), a base URL, or a description. */
export type ModelChoice = string | ModelDescription;

export interface GenerationOptions {
  /** Most new tokens per chunk summary (default: the model's summarization max_length - 1, else 150). */
  maxNewTokens?: number;
  /** Fewest new tokens per chunk summary (default: the model's min_length - 1, else 0). */
  minNewTokens?: number;
  /** Input tokens per chunk, task prefix and end token included (default 512). */
  maxInputTokens?: number;
  /** Task prefix (default: the model's summarization prefix, else "summarize: "). */
  prefix?: string;
  /** Summarize the merged chunk summaries again while they exceed one chunk (default true). */
  refine?: boolean;
}

export type SummarizeEvent =
  | { type: 'planned'; pass: number; chunks: number }
  | { type: 'chunk-start'; pass: number; index: number; total: number }
  | { type: 'token'; pass: number; index: number; token: number }
  | { type: 'chunk-done'; pass: number; index: number; total: number; summary: string; delta: string };

export interface SummarizeOptions extends GenerationOptions {
  signal?: AbortSignal;
  onProgress?: (event: SummarizeEvent) => void;
}

export interface ChunkSummary {
  inputIds: number[];
  outputIds: number[];
  text: string;
}

export interface DetailedSummary {
  text: string;
  /** Chunk summaries of each pass; the last pass produced `text`. */
  passes: ChunkSummary[][];
}

export declare class ModelProgressEvent extends Event {
  /** Fraction of all model bytes received, 0..1. */
  readonly loaded: number;
  readonly total: 1;
  readonly phase: 'download' | 'load';
  readonly file: string | null;
  readonly bytesLoaded: number;
  readonly bytesTotal: number | null;
}

export interface CreateMonitor extends EventTarget {
  addEventListener(type: 'downloadprogress', listener: (e: ModelProgressEvent) => void): void;
}

export interface CreateOptions extends GenerationOptions {
  model?: ModelChoice;
  monitor?: (m: CreateMonitor) => void;
  signal?: AbortSignal;
}

export interface ModelInfo {
  vocabSize: number;
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  gated: boolean;
  prefix: string;
  maxNewTokens: number;
  minNewTokens: number;
  maxInputTokens: number;
}

/** Errors thrown by the API carry a machine-readable kind. */
export interface SummarizerError extends Error {
  kind: 'download' | 'model-file' | 'empty-input' | 'invalid-option' | 'tokenizer' | 'compute' | 'crash' | 'worker' | string;
  fatal?: boolean;
}

export declare class Summarizer {
  static availability(options?: { model?: ModelChoice }): Promise<Availability>;
  static create(options?: CreateOptions): Promise<Summarizer>;
  readonly model: ModelDescription & { urls: { config: string; tokenizer: string; weights: string } };
  readonly info: ModelInfo | null;
  readonly files: { file: string; bytes: number; cached: boolean; cacheError?: string }[];
  readonly simd: boolean;
  summarize(text: string, options?: SummarizeOptions): Promise<string>;
  summarizeDetailed(text: string, options?: SummarizeOptions): Promise<DetailedSummary>;
  /** Pieces concatenate to `summarize(text, { refine: false })`. */
  summarizeStreaming(text: string, options?: SummarizeOptions): ReadableStream<string>;
  destroy(): void;
}
