/**
 * Run the chat example: a silo hosting ChatRoom, its gateway, and the page.
 *   node dist/server.js            (PORT=7071 by default, state in ./.praas-state)
 */
import { Silo, startGateway } from "@praas/silo";
import { ChatRoom } from "./room.js";
import { praasWeb } from "./web.js";

const silo = await Silo.start({ actors: [ChatRoom] });
const gateway = await startGateway(silo, { port: Number(process.env.PORT ?? 7071), fallback: praasWeb });
console.log(`Chat: open ${gateway.url}/ in a browser (several tabs), or`);
console.log(`      node examples/chat/dist/node-client.js ${gateway.wsUrl} lobby ana "hello from node"`);

const stop = async () => {
  await gateway.close();
  await silo.stop();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
