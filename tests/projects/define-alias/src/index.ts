import { log, lines } from "node-only-logger";
import { client } from "fetch-lite";

declare const __APP_VERSION__: string;
declare const FEATURES: { search: boolean };

export default {
  fetch(): Response {
    log("served");
    return Response.json({
      version: __APP_VERSION__,
      search: FEATURES.search,
      apiBase: process.env.API_BASE,
      mode: process.env.NODE_ENV,
      client,
      logged: lines,
    });
  },
};
