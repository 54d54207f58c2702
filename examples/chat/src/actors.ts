// What `praas start --actors examples/chat/dist/actors.js` loads: the actor
// class, and the web page served on the gateway's port.
export { type ChatEvents, type ChatMessage, ChatRoom, type ChatState, Post } from "./room.js";
export { praasWeb } from "./web.js";
