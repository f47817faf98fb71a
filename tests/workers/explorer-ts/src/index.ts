import { explode } from "./boom";

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/boom") explode("bundled");
    return new Response("fine");
  },
};
