// Types for www/summarizer.js: the Writing Assistance APIs' Summarizer on a T5 model in a Web
// Worker, with this project's extensions.

export type Availability = 'unavailable' | 'downloadable' | 'downloading' | 'available';
export type SummarizerType = 'tldr' | 'teaser' | 'key-points' | 'headline';
export type SummarizerFormat = 'plain-text' | 'markdown';
export type SummarizerLength = 'short' | 'medium' | 'long';
export type PerformancePreference = 'auto' | 'speed' | 'capability';

/** The specification's SummarizerCreateCoreOptions. */
export interface SummarizerCreateCoreOptions {
  type?: SummarizerType;
  format?: SummarizerFormat;
  length?: SummarizerLength;
  preference?: PerformancePreference;
  expectedInputLanguages?: string[];
  expectedContextLanguages?: string[];
  outputLanguage?: string;
}

export interface ModelDescription {
  id?: string;
  label?: string;
  /** Folder URL holding the files; relative URLs resolve against the page. */
  baseUrl: string;
  files?: { config?: string; tokenizer?: string; weights?: string };
  /** SHA-256 (hex) each file must have, by file name; without it a manifest.json next to the files is checked. */
  sha256?: Record<string, string>;
  /** false: do not look for a manifest.json. */
  manifest?: boolean;
  /** Instruction-tuned (flan-t5): the Summarizer API's contexts go into its task prefix. */
  instructions?: boolean;
}

/** A model from local files (a file picker, drag and drop): read on the device, never downloaded or cached. */
export interface LocalModel {
  id?: string;
  label?: string;
  blobs: { config: Blob; tokenizer: Blob; weights: Blob; manifest?: Blob };
}

/** A catalog id (`'t5-small'`, `'flan-t5-small'`, `'tiny-t5'`), a base URL, a description, or local files. */
export type ModelChoice = string | ModelDescription | LocalModel;

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
  /** Return a per-stage time profile of the run in `DetailedSummary.profile` (a diagnostic; default false). */
  profile?: boolean;
  /** transformers' max_length (counts the decoder start token); maxNewTokens wins. */
  maxLength?: number;
  /** transformers' min_length (counts the decoder start token); minNewTokens wins. */
  minLength?: number;
  /** Beams (1: greedy or sampling). Default: the model's summarization num_beams, else 1. */
  numBeams?: number;
  /** Beam scores are divided by length ** lengthPenalty (default: the model's, else 1). */
  lengthPenalty?: number;
  /** When beam search stops: true (num_beams finished), false (heuristic) or "never". */
  earlyStopping?: boolean | 'never';
  /** No n-gram of this size repeats (0: off; default: the model's). */
  noRepeatNgramSize?: number;
  /** Penalty on tokens already generated (1: off). */
  repetitionPenalty?: number;
  /** Sample the next token instead of taking the most likely one (numBeams must be 1). */
  doSample?: boolean;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Sampling: keep the k most likely tokens (default 50; 0: all). */
  topK?: number;
  /** Sampling: nucleus probability mass (default 1). */
  topP?: number;
  /** Sampling seed: the same seed gives the same summary (default 0). */
  seed?: number;
}

/** The generation settings a model uses when a call sets none. */
export interface GenerationDefaults {
  maxNewTokens: number;
  minNewTokens: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  noRepeatNgramSize: number;
  repetitionPenalty: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

export type SummarizeEvent =
  | { type: 'planned'; pass: number; chunks: number }
  | { type: 'chunk-start'; pass: number; index: number; total: number }
  /** After every decoder step: the newest token and the chunk's current best output as text
   * (with beam search this is the best running hypothesis and may change, not only grow). */
  | { type: 'token'; pass: number; index: number; token: number; text: string }
  | { type: 'chunk-done'; pass: number; index: number; total: number; summary: string; delta: string }
  /** Streaming only: text appended to the summary so far. */
  | { type: 'text'; pass: number; index: number; delta: string };

/** The specification's SummarizerSummarizeOptions, with the extensions. */
export interface SummarizeOptions extends GenerationOptions {
  signal?: AbortSignal;
  /** Context for this call: part of the task prefix of an instruction-tuned model (flan-t5), else ignored. */
  context?: string;
  onProgress?: (event: SummarizeEvent) => void;
}

export interface ChunkSummary {
  inputIds: number[];
  outputIds: number[];
  text: string;
}

export interface DetailedSummary {
  /** The summary, shaped by the summarizer's type, format and length. */
  text: string;
  /** The model's summary before shaping. */
  summary: string;
  /** The generation settings the call ran with (those left out are the model's); null for empty input. */
  settings: GenerationOptions | null;
  /** Chunk summaries of each pass; the last pass produced `text`. */
  passes: ChunkSummary[][];
  /** Run id of this run's metric records (absent when metrics are off); the records follow
   * through `onMetrics` just after the summary. */
  runId?: string;
  /** With `profile: true`: milliseconds and calls per stage (`encoder.attention`,
   * `decoder.self_attention`, `decoder.lm_head`, `search`, `event`, …), in the order they first ran. */
  profile?: { stage: string; ms: number; calls: number }[];
}

/** Alert limits: a breach adds an `alert` record. */
export interface Thresholds {
  minTokensPerSecond?: number | null;
  maxLoadSeconds?: number | null;
  maxErrorRatePercent?: number | null;
}

export interface ModelIdentity {
  id: string;
  url: string | null;
  revision: string | null;
  dtype: string | null;
  sha256: string | null;
}

export interface MemoryFigures {
  currentBytes: number;
  peakBytes: number;
  linearMemoryBytes: number | null;
  modelBytes: number;
  jsHeapBytes: number | null;
}

interface RecordEnvelope {
  schemaVersion: 1;
  /** Unix ms: performance.timeOrigin + performance.now(). */
  timestamp: number;
  sessionId: string;
  runId: string;
  model: ModelIdentity;
  appVersion: string;
  environment: { userAgent: string; hardwareConcurrency: number | null; crossOriginIsolated: boolean };
}

/** One stored measurement; the layout is www/performance_metrics.schema.json. */
export type MetricRecord = RecordEnvelope &
  (
    | {
        type: 'model_loading';
        loadSeconds: number;
        parseSeconds: number | null;
        hashSeconds: number | null;
        device: { backend: string; simd: boolean; threads: number; relaxedSimd?: boolean };
        files: { file: string; bytes: number; cacheHit: boolean; fetchSeconds: number }[];
        memoryBefore: MemoryFigures | null;
        memoryAfter: MemoryFigures;
        modelSizeBytes: number | null;
      }
    | {
        type: 'inference';
        chunkId: string;
        encoderSeconds: number | null;
        timeToFirstTokenSeconds: number | null;
        decodeSeconds: number | null;
        tokenSeconds: number[];
        inferenceSeconds: number;
        inputChars: number;
        outputChars: number;
        inputTokens: number | null;
        outputTokens: number | null;
        charsPerSecond: number;
        tokensPerSecond: number | null;
      }
    | { type: 'preprocessing'; operation: string; seconds: number; textLength: number; chunkCount: number; charsPerSecond: number }
    | {
        type: 'total_processing';
        totalSeconds: number;
        chunkCount: number;
        successCount: number;
        errorCount: number;
        errorRatePercent: number;
        avgSecondsPerChunk: number;
      }
    | { type: 'memory'; memory: MemoryFigures }
    | { type: 'error'; stage: string; message: string; context: Record<string, unknown> }
    | { type: 'alert'; metric: string; direction: 'above' | 'below'; threshold: number; value: number; message: string }
  );

export interface StorageStatus {
  /** True when records persist in IndexedDB. */
  persistent: boolean;
  /** Why records are kept in memory only, when they are. */
  reason: string | null;
  database: string;
  retention: number;
  corruptRecords: number;
  sessionId: string;
}

/** Extension: the monitor's `modelprogress` event, with byte-level detail. */
export declare class ModelProgressEvent extends Event {
  /** Fraction of all model bytes received, 0..1 (1 while the model is parsed). */
  readonly loaded: number;
  readonly phase: 'download' | 'load';
  readonly file: string | null;
  readonly bytesLoaded: number;
  readonly bytesTotal: number | null;
  /** Each file heard of so far, in the order they started (total null when unknown). */
  readonly files: { file: string; loaded: number; total: number | null }[];
}

/** The specification's CreateMonitor: `downloadprogress` ProgressEvents (loaded 0..1, total 1). */
export declare class CreateMonitor extends EventTarget {
  ondownloadprogress: ((e: ProgressEvent) => void) | null;
  addEventListener(type: 'downloadprogress', listener: ((e: ProgressEvent) => void) | null, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: 'modelprogress', listener: ((e: ModelProgressEvent) => void) | null, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** The specification's SummarizerCreateOptions, with the extensions. */
export interface CreateOptions extends SummarizerCreateCoreOptions, GenerationOptions {
  sharedContext?: string;
  model?: ModelChoice;
  /** false switches performance logging off; else where and how the worker logs. */
  metrics?: false | { sessionId?: string; thresholds?: Thresholds; database?: string };
  /** Every batch of metric records the worker logs (load, each run, failures). */
  onMetrics?: (records: MetricRecord[], storage: StorageStatus) => void;
  /**
   * false: always the single-thread wasm build. By default the threaded build (kernels split over
   * a pool of workers) runs when the page is cross-origin isolated.
   */
  threads?: boolean;
  /**
   * false: plain SIMD128 builds only. By default, where the browser runs WebAssembly relaxed SIMD
   * (Chrome, Edge), the builds that use it (fused multiply-add, int8 dot products) run.
   */
  relaxedSimd?: boolean;
  /**
   * 'int8': every linear layer is converted at load to int8 rows with one scale per row, and
   * products accumulate in int32 over the whole row (activations quantized per row to 7 bits);
   * from any weights file (f32/f16 safetensors, q8_0 GGUF). Faster than q8_0 and f32; its logit
   * error against f32 is in the README. `info.dtype` then ends in `→ int8`.
   */
  quantize?: 'int8' | null;
  /** Seconds a download may send nothing before it is resumed (HTTP Range, up to 3 times); default 30. */
  stallSeconds?: number;
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
  /** Precision of the weights file (`f32`, `f16`, `f32+q8_0`, ...). */
  dtype: string;
  /** Generation settings used when a call sets none. */
  generation: GenerationDefaults;
  /** Bytes of the model's tensors in memory. */
  modelBytes: number;
}

/**
 * Errors are DOMExceptions named as the specification says (NetworkError, OperationError,
 * QuotaExceededError, NotSupportedError, InvalidStateError, AbortError, UnknownError) that carry
 * a machine-readable kind; options a create() cannot take are TypeErrors, malformed language
 * tags RangeErrors.
 */
export interface SummarizerError extends DOMException {
  kind: 'download' | 'model-file' | 'integrity' | 'empty-input' | 'invalid-option' | 'tokenizer' | 'compute' | 'crash' | 'out-of-memory' | 'worker' | string;
  /** The worker was lost (a trap, out of memory, a failed worker) and has been restarted. */
  fatal?: boolean;
}

export declare class Summarizer {
  static availability(options?: SummarizerCreateCoreOptions & { model?: ModelChoice }): Promise<Availability>;
  static create(options?: CreateOptions): Promise<Summarizer>;
  readonly sharedContext: string;
  readonly type: SummarizerType;
  readonly format: SummarizerFormat;
  readonly length: SummarizerLength;
  readonly preference: PerformancePreference;
  readonly expectedInputLanguages: readonly string[] | null;
  readonly expectedContextLanguages: readonly string[] | null;
  readonly outputLanguage: string | null;
  /** Infinity: long inputs are summarized chunk by chunk. */
  readonly inputQuota: number;
  /** 0, as the specification asks where the quota is unbounded. */
  measureInputUsage(input: string, options?: { signal?: AbortSignal; context?: string }): Promise<number>;
  /** Extension: tokens the model's tokenizer makes of `input`. */
  countTokens(input: string, options?: { signal?: AbortSignal }): Promise<number>;
  readonly model: ModelDescription & { urls: { config: string; tokenizer: string; weights: string } };
  readonly info: ModelInfo | null;
  readonly files: { file: string; bytes: number; cached: boolean; cacheError?: string }[];
  /**
   * How the files were checked before use: against the catalog's SHA-256, the hub's own file list
   * (SHA-256 of LFS files, git blob SHA-1 of the others) or a manifest.json; `note` names the files
   * nothing could be checked against, and why (null when every file was checked).
   */
  readonly integrity: {
    source: 'catalog' | 'hub' | 'manifest' | null;
    files: Record<string, 'SHA-256' | 'git blob SHA-1' | null>;
    note: string | null;
  } | null;
  readonly simd: boolean;
  /** Which wasm build runs; fallback says why the threaded one was not used (null if it was). */
  readonly runtime: {
    build: 'threads' | 'single';
    threads: number;
    simd: 'relaxed' | 'simd128';
    fallback: string | null;
    /** The app's own files the worker loaded (worker, modules, the build's JS and wasm): what an offline start needs. */
    appFiles: string[];
  } | null;
  readonly identity: ModelIdentity | null;
  readonly storage: StorageStatus | null;
  setThresholds(thresholds: Thresholds): Promise<void>;
  summarize(text: string, options?: SummarizeOptions): Promise<string>;
  summarizeDetailed(text: string, options?: SummarizeOptions): Promise<DetailedSummary>;
  /** Pieces concatenate to the shaped summary of a greedy (unless numBeams says otherwise), unrefined run. */
  summarizeStreaming(text: string, options?: SummarizeOptions): ReadableStream<string>;
  destroy(reason?: unknown): void;
}

/** The generation settings a call may carry (the extension). */
export declare const GENERATION_OPTIONS: readonly string[];

/**
 * Makes this Summarizer the global `Summarizer` of `scope` where there is none (or always, with
 * `force`); `defaults` are extension options every create() and availability() starts from.
 */
export declare function install(options?: { force?: boolean; scope?: object; defaults?: Partial<CreateOptions> }): typeof Summarizer;

/**
 * The performance logger of the calling scope (the seed's `get_performance_logger()`), loading
 * the wasm module there if needed. Its methods (log_model_loading, log_inference_performance,
 * log_preprocessing, log_total_processing, log_error, log_memory, get_performance_summary,
 * records, export_json, export_log, clear, storage_status, set_thresholds) are declared in
 * pkg/t5_summarizer.d.ts.
 */
export declare function getPerformanceLogger(options?: {
  database?: string;
  retention?: number;
  sessionId?: string;
  thresholds?: Thresholds;
}): Promise<import('./pkg/t5_summarizer.js').PerformanceLogger>;
