import config from "../../shared/plans.json";
import { plans } from "../../shared/plans.json";

export default {
  fetch(_request: Request, env: { REGION: string }): Response {
    return Response.json({
      region: env.REGION,
      plans: plans.map((plan) => plan.id),
      seats: config.plans.reduce((total, plan) => total + plan.seats, 0),
    });
  },
};
