import { Actor } from "@praas/silo";
import { Schema } from "effect";

/** What a client posts. Checked by the gateway before the actor sees it. */
export const Post = Schema.Struct({
  user: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(32)),
  text: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(500)),
});
export type Post = typeof Post.Type;

/** A message as the room keeps and broadcasts it. */
export interface ChatMessage {
  readonly seq: number;
  readonly user: string;
  readonly text: string;
  readonly at: Date;
}

/** The events a room emits (for typed `on` in clients). */
export type ChatEvents = {
  message: ChatMessage;
  joined: { readonly user: string };
};

export interface ChatState {
  /** The most recent messages, oldest first, at most `ChatRoom.maxHistory`. */
  history: ChatMessage[];
  /** Number of the last message ever posted (keeps counting past the history bound). */
  posted: number;
}

/**
 * A chat room: one actor per room name. Its history is its persisted state, so
 * a room swapped out when idle comes back with its messages.
 */
export class ChatRoom extends Actor<ChatState> {
  static readonly maxHistory = 100;

  static initialState(): ChatState {
    return { history: [], posted: 0 };
  }

  static schemas = {
    post: Schema.Tuple([Post]),
    join: Schema.Tuple([Post.fields.user]),
    history: Schema.Tuple([
      Schema.optional(Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 100 }))),
    ]),
  };

  /** Announce a user; returns the recent history so the newcomer can catch up. */
  join(user: string): ChatMessage[] {
    this.emit("joined", { user });
    return this.state.history;
  }

  /** Post a message; everyone subscribed to "message" receives it. Returns its number. */
  post(p: Post): number {
    const message: ChatMessage = { seq: ++this.state.posted, user: p.user, text: p.text, at: new Date() };
    const history = this.state.history;
    history.push(message);
    if (history.length > ChatRoom.maxHistory) history.splice(0, history.length - ChatRoom.maxHistory);
    this.emit("message", message);
    return message.seq;
  }

  /** The last `n` messages (default all that are kept). */
  history(n?: number): ChatMessage[] {
    const h = this.state.history;
    return n === undefined ? h : h.slice(-n);
  }

  /** How many clients listen to this room right now. */
  listeners(): number {
    return this.subscriberCount("message");
  }
}
