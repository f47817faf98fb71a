import { build } from "runtime-kit";
import { feature } from "runtime-kit/features/cache";
import { edge } from "edge-only";
import widget from "legacy-widget";

export default {
  fetch(): Response {
    return Response.json({ build, feature, edge, widget: widget() });
  },
};
