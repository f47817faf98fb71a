import { WorkerEntrypoint } from "cloudflare:workers";

export default class Site extends WorkerEntrypoint {
  async fetch(request) {
    return new Response(`site worker saw ${new URL(request.url).pathname}`);
  }

  async greet(name) {
    return `hello ${name} from the site's RPC`;
  }
}

// A named entrypoint: bindings to it go straight to the Worker, assets or not.
export class Admin extends WorkerEntrypoint {
  async fetch(request) {
    return new Response(`admin entrypoint saw ${new URL(request.url).pathname}`);
  }
}
