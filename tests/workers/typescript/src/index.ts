import { area } from "./math";
import { describe } from "./format";
import banner from "./banner.txt";

declare const BUILD_FLAVOUR: string;

interface Env {
  UNIT: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const width = Number(url.searchParams.get("w") ?? 2);
    const height = Number(url.searchParams.get("h") ?? 3);
    return Response.json({
      banner,
      flavour: BUILD_FLAVOUR,
      area: describe(area(width, height), env.UNIT),
      bad: describe("seven", env.UNIT),
    });
  },
} satisfies ExportedHandler<Env>;
