import label from "./label.txt";

export interface Job {
  name: string;
  steps: number;
}

export function runJob(job: Job): number {
  if (job.steps < 0) {
    throw new RangeError(`${label} job ${job.name} has a negative step count`);
  }
  return job.steps * 2;
}
