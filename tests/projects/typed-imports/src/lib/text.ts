export function slugify(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

export const shout = (text: string): string => `${text.toUpperCase()}!`;

export default function initials(text: string): string {
  return text.split(/\s+/).map((word) => word[0]).join("");
}
