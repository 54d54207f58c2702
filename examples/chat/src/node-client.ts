/**
 * A Node chat client: joins a room, prints what others post, posts lines.
 *   node dist/node-client.js ws://127.0.0.1:7071/ws lobby ana "hi all" "second line"
 * With messages given it posts them and exits; without, it listens until Ctrl-C.
 */
import { type Client, connect } from "@praas/client";
import type { ChatEvents, ChatMessage, ChatRoom } from "./room.js";

export interface ChatSession {
  readonly client: Client;
  /** Messages received since joining (from anyone). */
  readonly received: ChatMessage[];
  /** History returned when joining. */
  readonly history: readonly ChatMessage[];
  post(text: string): Promise<number>;
  close(): Promise<void>;
}

/** Join `room` as `user`; `onMessage` sees every message posted after joining. */
export async function joinChat(
  url: string,
  room: string,
  user: string,
  onMessage: (m: ChatMessage) => void = () => {},
  token?: string,
): Promise<ChatSession> {
  const client = await connect(url, { token });
  const ref = client.ref<ChatRoom, ChatEvents>("ChatRoom", room);
  const received: ChatMessage[] = [];
  // Subscribe before joining, so nothing posted in between is missed.
  await ref.on("message", (m) => {
    received.push(m);
    onMessage(m);
  }).ready;
  const history = await ref.join(user);
  return {
    client,
    received,
    history,
    post: (text) => ref.post({ user, text }),
    close: () => client.close(),
  };
}

const isMain = process.argv[1]?.endsWith("node-client.js") === true;
if (isMain) {
  const [url = "ws://127.0.0.1:7071/ws", room = "lobby", user = "node", ...lines] = process.argv.slice(2);
  const show = (m: ChatMessage) => console.log(`[${m.at.toISOString().slice(11, 19)}] ${m.user}: ${m.text}`);
  const session = await joinChat(url, room, user, show, process.env.PRAAS_TOKEN);
  console.log(`joined ${room} as ${user} (${session.history.length} earlier messages)`);
  for (const m of session.history) show(m);
  for (const line of lines) await session.post(line);
  if (lines.length > 0) await session.close();
  else process.once("SIGINT", () => void session.close());
}
