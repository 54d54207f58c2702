/**
 * Messages between the pool (event loop) and a worker thread. Arguments,
 * results and errors travel as codec bytes (CBOR, as on the network), never
 * as structured clones: a value that could not cross the network does not
 * cross a thread either, and comes back as the same CodecError.
 */

/** Event loop → thread: run one call. */
export interface RunMessage {
  readonly id: number;
  readonly type: string;
  /** The key the caller named (a keyed type's `this.key`; "" for a stateless one). */
  readonly key: string;
  readonly module: string;
  readonly exportName: string | undefined;
  readonly method: string;
  /** The encoded argument array. */
  readonly args: Uint8Array;
}

/** Thread → event loop: how a call ended (`value` or `error`: encoded result, or encoded SerializedError). */
export type ReplyMessage =
  | { readonly id: number; readonly ok: true; readonly value: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly error: Uint8Array };
