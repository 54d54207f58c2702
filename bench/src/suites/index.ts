// Every suite the runner knows. Add yours with one line: export { name } from "./name.js";
// (the runner collects every exported Suite object, whatever the order here).

export { client } from "./client.js";
export { cores } from "./cores.js";
export { dashboard } from "./dashboard.js";
export { durable } from "./durable.js";
export { failover } from "./failover.js";
export { hostile } from "./hostile.js";
export { ipc } from "./ipc.js";
export { latex } from "./latex.js";
export { local } from "./local.js";
export { placement } from "./placement.js";
export { redisMembershipLoad } from "./redis-membership.js";
export { remoteCall } from "./remote-call.js";
export { s3Requests } from "./s3-requests.js";
export { stateless } from "./stateless.js";
export { swap } from "./swap.js";
